/**
 * The console over an ENRP deployment: two console runtimes (registrar + history file each) peered with
 * ENRP show each other in the Registrars view, record the peer events in their histories, and an admin
 * state set through one console is known to the other one — in its view, in its admin-state book and in its
 * database, so it survives that registrar's restart too.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { startConsoleRuntime, type ConsoleRuntime } from '../../../core/console/console-runtime.js';
import type { ConsoleEvent } from '../../../core/console/contract.js';
import { EnrpServer } from '../../../core/enrp/enrp-server.js';
import { PolicyType } from '../../../core/wire/policy.js';
import type { Message } from '../../../core/wire/types.js';
import { AsapTestPeer, handle } from '../../support/asap-test-peer.js';
import { FAST_TIMERS, freePort, waitFor } from '../enrp/enrp-support.js';

async function node(t: TestContext, dir: string, name: string, serverId: number, port: number, peers: number[]): Promise<{ runtime: ConsoleRuntime; enrp: EnrpServer; db: string }> {
  const db = path.join(dir, `${name}.db`);
  const started = await startConsoleRuntime({ registrar: { asap: { host: '127.0.0.1', port: 0 }, announce: 'off', serverId }, history: { kind: 'file', path: db } });
  assert.ok(started.ok, started.ok ? '' : started.error);
  const runtime = started.value;
  const enrp = await EnrpServer.start(runtime.registrar, { ...FAST_TIMERS, listen: { host: '127.0.0.1', port }, peers: peers.map((p) => ({ host: '127.0.0.1', port: p })) });
  assert.ok(enrp.ok, enrp.ok ? '' : enrp.error);
  runtime.console.attachEnrp(enrp.value);
  t.after(async () => {
    await enrp.value.close();
    await runtime.close('test over');
  });
  return { runtime, enrp: enrp.value, db };
}

function rows<T>(db: string, sql: string): T[] {
  const connection = new Sqlite(db, { readonly: true });
  try {
    return connection.prepare(sql).all() as T[];
  } finally {
    connection.close();
  }
}

test('two consoles over ENRP: the Registrars view, peer events in the history, admin state carried to the peer', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-console-enrp-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await node(t, dir, 'a', 0x0a, portA, [portB]);
  const events: ConsoleEvent[] = [];
  const b = await node(t, dir, 'b', 0x0b, portB, [portA]);
  b.runtime.console.subscribe({ actor: 'test', role: 'viewer' }, undefined, (m) => {
    if (m.kind === 'events') events.push(...m.events);
  });
  await waitFor('both registrars see each other', () => [a, b].every((n) => n.runtime.console.snapshot().registrars.some((r) => r.role !== 'self' && r.state === 'active')));
  const view = b.runtime.console.snapshot().registrars;
  assert.equal(view[0]?.role, 'self');
  assert.equal(view[0]?.serverId, '0x0000000b');
  assert.ok(view.some((r) => r.serverId === '0x0000000a'));

  const pe = (await AsapTestPeer.connect(a.runtime.registrar.asapAddress.port)).answerKeepAlives();
  t.after(() => pe.close());
  for (const id of [1, 2]) {
    const registration: Message = { protocol: 'asap', type: 'registration', poolHandle: handle('shared'), poolElement: { id, homeServerId: 0, registrationLife: 600_000, userTransport: { kind: 'tcp', port: 7300 + id, transportUse: 0, address: '127.0.0.1' }, policy: { type: PolicyType.roundRobin } } };
    await pe.request(registration, 'registrationResponse', (m) => m.peId === id);
  }
  await waitFor('B learns both elements', () => b.runtime.registrar.handlespace.pool(handle('shared'))?.size === 2);
  const drained = await a.runtime.console.command({ actor: 'ops', role: 'operator' }, 'drain', { pool: 'shared', peId: 1 }, { reason: 'firmware' });
  assert.ok(drained.ok, drained.ok ? '' : drained.error.message);
  await waitFor('B shows element 1 draining', () => b.runtime.console.snapshot().pools.find((p) => p.name === 'shared')?.elements.find((e) => e.peId === 1)?.admin.state === 'draining');
  await b.runtime.history?.barrier();
  assert.deepEqual(rows(b.db, 'SELECT pe_id AS peId, state, actor FROM admin_states'), [{ peId: 1, state: 'draining', actor: 'registrar 0x0000000a' }], "B keeps A's drain for its own restarts");
  const peerEvents = rows<{ event: string }>(b.db, "SELECT event FROM deployment_events WHERE source = 'enrp' ORDER BY id").map((r) => r.event);
  assert.ok(peerEvents.includes('peerUp'), `peer events recorded: ${peerEvents.join(', ')}`);
  assert.ok(events.some((e) => e.type === 'registrarsChanged'), 'the live stream tells the Registrars view');
});
