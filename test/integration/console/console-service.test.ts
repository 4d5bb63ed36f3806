/**
 * The console's operator commands and live stream against a real runtime (registrar on loopback, history
 * in a real SQLite file): reasons required, viewers refused, every command and refusal audited and durable
 * before the answer, the last-ready-element guard and force, admin states kept across re-registration and
 * restart (a drained element never becomes ready by itself), maintenance after drain (zero load and
 * timeout), fail-over telling subscribed pool users with the replacement, and the event stream resuming
 * after a reconnect without gaps or duplicates.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { startConsoleRuntime, type ConsoleRuntime } from '../../../core/console/console-runtime.js';
import type { ConsoleEvent, EventStreamMessage, Identity, StreamPosition } from '../../../core/console/contract.js';
import { PolicyType } from '../../../core/wire/policy.js';
import { PeStatusCode, PeStatusReason, type AsapHandleResolutionResponse, type Message, type PoolElement } from '../../../core/wire/types.js';
import { AsapTestPeer, handle } from '../../support/asap-test-peer.js';

const operator: Identity = { actor: 'test operator', role: 'operator' };
const viewer: Identity = { actor: 'test viewer', role: 'viewer' };

function tempDb(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-console-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'history.db');
}

async function start(t: TestContext, file: string): Promise<ConsoleRuntime> {
  const started = await startConsoleRuntime({ registrar: { asap: { host: '127.0.0.1', port: 0 }, announce: 'off' }, history: { kind: 'file', path: file } });
  assert.ok(started.ok, started.ok ? '' : started.error);
  t.after(() => started.value.close('test over'));
  return started.value;
}

function element(id: number, overrides: Partial<PoolElement> = {}): PoolElement {
  return { id, homeServerId: 0, registrationLife: 600_000, userTransport: { kind: 'tcp', port: 7000 + (id % 1000), transportUse: 0, address: '127.0.0.1' }, policy: { type: PolicyType.roundRobin }, ...overrides };
}

async function peer(t: TestContext, runtime: ConsoleRuntime): Promise<AsapTestPeer> {
  const p = (await AsapTestPeer.connect(runtime.registrar.asapAddress.port)).answerKeepAlives();
  t.after(() => p.close());
  return p;
}

async function register(p: AsapTestPeer, pool: string, pe: PoolElement): Promise<void> {
  const message: Message = { protocol: 'asap', type: 'registration', poolHandle: handle(pool), poolElement: pe };
  const r = await p.request(message, 'registrationResponse', (m) => m.peId === pe.id);
  assert.equal(r.reject, false);
}

async function subscribe(p: AsapTestPeer, pool: string): Promise<AsapHandleResolutionResponse> {
  return p.request({ protocol: 'asap', type: 'handleResolution', subscribe: true, poolHandle: handle(pool) }, 'handleResolutionResponse');
}

function auditRows(file: string): { action: string; result: string; actor: string; reason: string; before: string | null; after: string | null }[] {
  const db = new Sqlite(file, { readonly: true });
  try {
    return db.prepare('SELECT action, result, actor, reason, before, after FROM audit ORDER BY id').all() as never;
  } finally {
    db.close();
  }
}

function adminRows(file: string): { pe_id: number; state: string }[] {
  const db = new Sqlite(file, { readonly: true });
  try {
    return db.prepare('SELECT pe_id, state FROM admin_states ORDER BY pe_id').all() as never;
  } finally {
    db.close();
  }
}

test('commands: a reason is required, viewers are refused, unknown targets are 404s; every refusal is audited', async (t) => {
  const file = tempDb(t);
  const runtime = await start(t, file);
  const pe = await peer(t, runtime);
  await register(pe, 'echo', element(1));
  await register(pe, 'echo', element(2));
  const c = runtime.console;
  const noReason = await c.command(operator, 'drain', { pool: 'echo', peId: 1 }, { reason: '   ' });
  assert.ok(!noReason.ok && noReason.error.code === 'badRequest' && noReason.error.field === 'reason');
  const byViewer = await c.command(viewer, 'drain', { pool: 'echo', peId: 1 }, { reason: 'look' });
  assert.ok(!byViewer.ok && byViewer.error.code === 'forbidden');
  const unknown = await c.command(operator, 'drain', { pool: 'echo', peId: 99 }, { reason: 'x' });
  assert.ok(!unknown.ok && unknown.error.code === 'notFound');
  const badPool = await c.command(operator, 'drain', { pool: '0xzz', peId: 1 }, { reason: 'x' });
  assert.ok(!badPool.ok && badPool.error.code === 'badRequest' && badPool.error.field === 'pool');
  const badTimeout = await c.command(operator, 'drain', { pool: 'echo', peId: 1 }, { reason: 'x', afterDrainTimeoutMs: 5000 });
  assert.ok(!badTimeout.ok && badTimeout.error.field === 'afterDrainTimeoutMs');
  assert.equal(runtime.registrar.handlespace.element(handle('echo'), 1)?.admin.state, 'ready', 'nothing changed');
  await runtime.history?.barrier();
  const rows = auditRows(file);
  assert.deepEqual(rows.map((r) => [r.action, r.result]), [['drain', 'badRequest'], ['drain', 'forbidden'], ['drain', 'notFound'], ['drain', 'badRequest'], ['drain', 'badRequest']]);
  assert.equal(rows[1]?.actor, 'test viewer');
});

test('drain / ready: audited with before and after, durable before the answer; conflicts refused; a drained element never becomes ready by itself', async (t) => {
  const file = tempDb(t);
  const runtime = await start(t, file);
  const pe = await peer(t, runtime);
  await register(pe, 'echo', element(1));
  await register(pe, 'echo', element(2));
  const drained = await runtime.console.command(operator, 'drain', { pool: 'echo', peId: 1 }, { reason: 'kernel upgrade' });
  assert.ok(drained.ok, drained.ok ? '' : drained.error.message);
  assert.equal(drained.value.before, 'ready');
  assert.equal(drained.value.after, 'draining');
  assert.equal(drained.value.replacementPeId, 2);
  // Durable at the answer: a second connection sees the audit row and the admin state right now.
  const rows = auditRows(file);
  assert.deepEqual(rows.map((r) => [r.action, r.result, r.reason]), [['drain', 'ok', 'kernel upgrade']]);
  assert.deepEqual(JSON.parse(rows[0]?.before ?? 'null'), { admin: 'ready', health: 'up' });
  assert.deepEqual(JSON.parse(rows[0]?.after ?? 'null'), { admin: 'draining', health: 'up' });
  assert.deepEqual(adminRows(file), [{ pe_id: 1, state: 'draining' }]);
  const again = await runtime.console.command(operator, 'drain', { pool: 'echo', peId: 1 }, { reason: 'twice' });
  assert.ok(!again.ok && again.error.code === 'conflict');
  // The element renews its registration (same values): still draining.
  await register(pe, 'echo', element(1));
  assert.equal(runtime.registrar.handlespace.element(handle('echo'), 1)?.admin.state, 'draining');
  const ready = await runtime.console.command(operator, 'ready', { pool: 'echo', peId: 1 }, { reason: 'done' });
  assert.ok(ready.ok);
  assert.equal(ready.value.after, 'ready');
  assert.deepEqual(adminRows(file), []);
});

test('the last ready element is not taken out without force; force does it and says so in the audit', async (t) => {
  const file = tempDb(t);
  const runtime = await start(t, file);
  const pe = await peer(t, runtime);
  await register(pe, 'solo', element(1));
  await register(pe, 'solo', element(2));
  assert.ok((await runtime.console.command(operator, 'maintenance', { pool: 'solo', peId: 2 }, { reason: 'disk' })).ok);
  for (const command of ['drain', 'maintenance', 'failover', 'deregister'] as const) {
    const refused = await runtime.console.command(operator, command, { pool: 'solo', peId: 1 }, { reason: 'oops' });
    assert.ok(!refused.ok && refused.error.code === 'lastReadyElement', command);
  }
  assert.equal(runtime.registrar.handlespace.element(handle('solo'), 1)?.admin.state, 'ready');
  const forced = await runtime.console.command(operator, 'drain', { pool: 'solo', peId: 1 }, { reason: 'whole pool goes', force: true });
  assert.ok(forced.ok);
  assert.equal(forced.value.replacementPeId, null);
  const rows = auditRows(file);
  assert.deepEqual(rows.map((r) => r.result), ['ok', 'lastReadyElement', 'lastReadyElement', 'lastReadyElement', 'lastReadyElement', 'ok']);
});

test('admin states persist: re-applied when the element registers again and after a restart of the registrar', async (t) => {
  const file = tempDb(t);
  {
    const runtime = await start(t, file);
    const pe = await peer(t, runtime);
    await register(pe, 'keep', element(1));
    await register(pe, 'keep', element(2));
    assert.ok((await runtime.console.command(operator, 'drain', { pool: 'keep', peId: 1 }, { reason: 'rack move' })).ok);
    // The element goes away (connection lost) and comes back on a new connection: still draining.
    await pe.close();
    await waitFor(() => runtime.registrar.handlespace.element(handle('keep'), 1) === undefined);
    const back = await peer(t, runtime);
    await register(back, 'keep', element(1));
    const record = runtime.registrar.handlespace.element(handle('keep'), 1);
    assert.equal(record?.admin.state, 'draining');
    assert.match(record?.admin.cause ?? '', /rack move/);
    const closed = await runtime.close('restart');
    assert.ok(closed.ok);
  }
  const runtime = await start(t, file);
  assert.equal(runtime.restoredAdminStates, 1);
  const pu = await peer(t, runtime);
  const pe = await peer(t, runtime);
  await register(pe, 'keep', element(2));
  await subscribe(pu, 'keep');
  const pushed = pu.next('handleResolutionResponse', (m) => m.accepted && m.peStatus.some((s) => s.peId === 1));
  await register(pe, 'keep', element(1));
  assert.equal(runtime.registrar.handlespace.element(handle('keep'), 1)?.admin.state, 'draining');
  const push = await pushed;
  const status = push.peStatus.find((s) => s.peId === 1);
  assert.equal(status?.status, PeStatusCode.draining, 'subscribers hear it as draining, never as up');
  assert.ok(!push.poolElements.some((e) => e.id === 1), 'not offered to pool users');
  const snapshot = runtime.console.snapshot();
  const view = snapshot.pools.find((p) => p.name === 'keep')?.elements.find((e) => e.peId === 1);
  assert.equal(view?.admin.state, 'draining');
});

test('failover: subscribed pool users are told the element failed and where to go; maintenance follows', async (t) => {
  const file = tempDb(t);
  const runtime = await start(t, file);
  const pe = await peer(t, runtime);
  const pu = await peer(t, runtime);
  await register(pe, 'fo', element(1));
  await register(pe, 'fo', element(2));
  await subscribe(pu, 'fo');
  const pushed = pu.next('handleResolutionResponse', (m) => m.accepted && m.peStatus.length > 0);
  const result = await runtime.console.command(operator, 'failover', { pool: 'fo', peId: 1 }, { reason: 'bad NIC' });
  assert.ok(result.ok, result.ok ? '' : result.error.message);
  const push = await pushed;
  const status = push.peStatus[0];
  assert.equal(status?.status, PeStatusCode.failed);
  assert.equal(status?.reason, PeStatusReason.operatorFailover);
  assert.equal(status?.replacementPeId, 2);
  assert.equal(status?.reasonText, 'bad NIC');
  assert.equal(result.value.replacementPeId, 2);
  assert.equal(result.value.after, 'maintenance');
});

test('maintenance after drain: enters maintenance when the element reports zero load, or at the timeout', async (t) => {
  const file = tempDb(t);
  const runtime = await start(t, file);
  const pe = await peer(t, runtime);
  const lu = (id: number, load: number): PoolElement => element(id, { policy: { type: PolicyType.leastUsed, load } });
  await register(pe, 'lu', lu(1, 0x40000000));
  await register(pe, 'lu', lu(2, 0x40000000));
  await register(pe, 'lu', lu(3, 0x40000000));
  const started = await runtime.console.command(operator, 'maintenance', { pool: 'lu', peId: 1 }, { reason: 'swap disk', afterDrainTimeoutMs: 60_000 });
  assert.ok(started.ok, started.ok ? '' : started.error.message);
  assert.equal(started.value.after, 'draining');
  assert.ok(started.value.pendingMaintenance);
  await register(pe, 'lu', lu(1, 0));
  await waitFor(() => runtime.registrar.handlespace.element(handle('lu'), 1)?.admin.state === 'maintenance');
  // The timeout path, with the shortest allowed timeout.
  const timed = await runtime.console.command(operator, 'maintenance', { pool: 'lu', peId: 2 }, { reason: 'cable', afterDrainTimeoutMs: 1000 });
  assert.ok(timed.ok);
  assert.equal(runtime.registrar.handlespace.element(handle('lu'), 2)?.admin.state, 'draining');
  await waitFor(() => runtime.registrar.handlespace.element(handle('lu'), 2)?.admin.state === 'maintenance', 4000);
  await runtime.history?.barrier();
  const rows = auditRows(file);
  assert.deepEqual(rows.map((r) => [r.action, r.result]), [['maintenance', 'ok'], ['maintenance (after drain)', 'ok'], ['maintenance', 'ok'], ['maintenance (after drain)', 'ok']]);
  assert.match(rows[1]?.reason ?? '', /swap disk \(the element reports zero load\)/);
  assert.match(rows[3]?.reason ?? '', /cable \(the drain timeout passed\)/);
  assert.deepEqual(adminRows(file), [{ pe_id: 1, state: 'maintenance' }, { pe_id: 2, state: 'maintenance' }]);
});

test('event stream: a reconnecting subscriber resumes without gaps or duplicates; a position too old or from another run resyncs', async (t) => {
  const file = tempDb(t);
  const runtime = await start(t, file);
  const pe = await peer(t, runtime);
  const seen: ConsoleEvent[] = [];
  let position: StreamPosition | undefined;
  const listener = (m: EventStreamMessage): void => {
    if (m.kind === 'hello') position = { epoch: m.epoch, sequence: m.sequence };
    if (m.kind === 'resync') position = { epoch: position?.epoch ?? '', sequence: m.snapshot.sequence };
    if (m.kind === 'events') {
      seen.push(...m.events);
      const last = m.events.at(-1);
      if (last && position) position = { epoch: position.epoch, sequence: last.seq };
    }
  };
  let stop = runtime.console.subscribe(operator, undefined, listener);
  for (let i = 1; i <= 5; i++) await register(pe, 'stream', element(i));
  await waitFor(() => seen.length >= 5);
  stop();
  // Disconnected while events keep coming.
  for (let i = 6; i <= 10; i++) await register(pe, 'stream', element(i));
  assert.ok(position);
  const messages: EventStreamMessage[] = [];
  stop = runtime.console.subscribe(operator, position, (m) => {
    messages.push(m);
    listener(m);
  });
  for (let i = 11; i <= 12; i++) await register(pe, 'stream', element(i));
  await waitFor(() => seen.length >= 12);
  stop();
  assert.ok(!messages.some((m) => m.kind === 'resync'), 'resumed, not resynced');
  const seqs = seen.map((e) => e.seq);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => (seqs[0] ?? 0) + i), 'no gaps, no duplicates');
  assert.deepEqual(seen.filter((e) => e.type === 'elementUpdated').map((e) => (e.type === 'elementUpdated' ? e.element.peId : 0)), Array.from({ length: 12 }, (_, i) => i + 1));
  // Another run's position: resync with a snapshot that has every element.
  const other: EventStreamMessage[] = [];
  runtime.console.subscribe(operator, { epoch: 'another-run', sequence: 3 }, (m) => other.push(m))();
  const resync = other.find((m) => m.kind === 'resync');
  assert.ok(resync && resync.kind === 'resync');
  assert.equal(resync.snapshot.pools.find((p) => p.name === 'stream')?.elements.length, 12);
  assert.equal(resync.snapshot.sequence, runtime.console.sequence);
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 10));
  }
}
