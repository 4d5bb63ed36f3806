/**
 * PoolUser subscriptions against a scripted registrar, as docs/protocol.md "Subscriptions and pushed
 * status" defines them: a push with PE Status replaces the cached list by the registrar's selection and
 * yields typed 'pe-status' events; a push without PE Status is a snapshot that resets the sequence base;
 * cause 0x9 with the A flag empties the pool but keeps the subscription; sequence gaps (RFC 1982) start a
 * background re-resolution with the S flag; pushes never pass for answers, and an answer older than an
 * applied push does not overwrite it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../core/clock.js';
import { PE_STATUS_LATENCY_WINDOW_MS, PoolUser, serialAfter, type PeStatusEvent, type PoolUpdate, type PoolUserOptions } from '../../../core/client/pool-user.js';
import { encodeMessage } from '../../../core/wire/encoder.js';
import { PolicyType } from '../../../core/wire/policy.js';
import { PeStatusCode, PeStatusReason, type AsapHandleResolutionResponse, type PeStatus, type PoolElement as WirePoolElement } from '../../../core/wire/types.js';
import { ScriptedRegistrar, element, once, sleep, text } from './scripted-registrar.js';

const EVENT_TIME = 1_700_000_000_000;

function user(registrar: ScriptedRegistrar, options: Partial<PoolUserOptions> = {}): PoolUser {
  return new PoolUser({ registrars: [`127.0.0.1:${registrar.port}`], hunt: { retryDelayMs: 20 }, ...options });
}

function status(peId: number, code: number, sequence: number, extra: Partial<PeStatus> = {}): PeStatus {
  return { peId, status: code, reason: PeStatusReason.unspecified, sequence, eventTimeMs: EVENT_TIME, ...extra };
}

function push(pool: string, poolElements: readonly WirePoolElement[], peStatus: readonly PeStatus[], extra: Partial<AsapHandleResolutionResponse> = {}): AsapHandleResolutionResponse {
  return { protocol: 'asap', type: 'handleResolutionResponse', accepted: true, poolHandle: text(pool), poolElements, peStatus, ...extra };
}

/** Collects events of one kind until read. */
function collect<T>(emitter: { on(event: string, listener: (value: T) => void): unknown }, event: string): T[] {
  const seen: T[] = [];
  emitter.on(event, (value: T) => seen.push(value));
  return seen;
}

test('serialAfter: RFC 1982 comparison for 32-bit sequence numbers, across the wrap', () => {
  assert.equal(serialAfter(2, 1), true);
  assert.equal(serialAfter(1, 2), false);
  assert.equal(serialAfter(5, 5), false);
  assert.equal(serialAfter(0, 0xffffffff), true);
  assert.equal(serialAfter(0xffffffff, 0), false);
  assert.equal(serialAfter(0x7fffffff, 0), true);
  assert.equal(serialAfter(0x80000000, 0), false);
});

test('push with PE Status: the listed selection replaces the cache, taken-away elements leave it, one typed pe-status event per status', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001), element(2, 8002), element(3, 8003)] });
  const clock = new ManualClock(EVENT_TIME + 40);
  const pu = user(registrar, { clock });
  try {
    assert.ok((await pu.resolve('web', { subscribe: true })).ok);
    const order: string[] = [];
    const statuses = collect<PeStatusEvent>(pu, 'pe-status');
    pu.on('pe-status', () => order.push('pe-status'));
    pu.on('update', () => order.push('update'));
    const update = once<PoolUpdate>(pu, 'update');
    // Element 1 fails; 4 comes up; 3 is listed although its status says draining (it is left out anyway);
    // a status the SDK does not know (99) is passed through.
    registrar.send(
      push('web', [element(4, 8004), element(2, 8002), element(3, 8003)], [
        status(1, PeStatusCode.failed, 7, { reason: PeStatusReason.connectionLost, replacementPeId: 4 }),
        status(4, PeStatusCode.up, 8, { reason: PeStatusReason.registered, eventTimeMs: EVENT_TIME - PE_STATUS_LATENCY_WINDOW_MS }),
        status(3, PeStatusCode.draining, 9, { reason: PeStatusReason.operatorDrain, reasonText: 'kernel upgrade', eventTimeMs: EVENT_TIME + 1000 }),
        status(2, 99, 10, { reason: 77 }),
      ]),
    );
    const pushed = await update;
    assert.deepStrictEqual(pushed.pool?.elements.map((e) => e.id), [4, 2]);
    assert.deepStrictEqual(pu.cached('web')?.elements.map((e) => e.id), [4, 2]);
    assert.equal(pushed.snapshot, false);
    assert.deepStrictEqual(order, ['pe-status', 'pe-status', 'pe-status', 'pe-status', 'update']);

    assert.equal(statuses.length, 4);
    const [failed, up, draining, unknown] = statuses;
    assert.deepStrictEqual(failed, {
      poolHandle: text('web'),
      status: status(1, PeStatusCode.failed, 7, { reason: PeStatusReason.connectionLost, replacementPeId: 4 }),
      statusName: 'failed',
      reasonName: 'connectionLost',
      receivedAt: EVENT_TIME + 40,
      latencyMs: 40,
    });
    assert.equal(up?.statusName, 'up');
    assert.equal(up?.reasonName, 'registered');
    // 60 s and 40 ms apart: not comparable clocks, no latency. An event time after the arrival: neither.
    assert.equal(up?.latencyMs, undefined);
    assert.equal(draining?.latencyMs, undefined);
    assert.equal(draining?.status.reasonText, 'kernel upgrade');
    assert.equal(draining?.reasonName, 'operatorDrain');
    assert.equal(unknown?.statusName, 'unknown');
    assert.equal(unknown?.reasonName, 'unknown');
    assert.equal(unknown?.status.status, 99);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('snapshot (push without PE Status): replaces the list and resets the sequence base', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001), element(2, 8002)] });
  const pu = user(registrar);
  try {
    assert.ok((await pu.resolve('web', { subscribe: true })).ok);
    const updates = collect<PoolUpdate>(pu, 'update');
    let next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(1, 8001), element(2, 8002)], [status(2, PeStatusCode.loadChanged, 5)]));
    assert.equal((await next).gap, false);

    next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(7, 8007)], [], { overallPolicy: { type: PolicyType.random } }));
    const snapshot = await next;
    assert.equal(snapshot.snapshot, true);
    assert.deepStrictEqual(snapshot.pool?.elements.map((e) => e.id), [7]);
    assert.deepStrictEqual(pu.cached('web')?.overallPolicy, { type: PolicyType.random });

    // 100 is far from 5, but after a snapshot it is simply the new base; 101 follows it.
    next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(7, 8007), element(8, 8008)], [status(8, PeStatusCode.up, 100)]));
    assert.equal((await next).gap, false);
    next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(8, 8008)], [status(7, PeStatusCode.failed, 101)]));
    assert.equal((await next).gap, false);
    await sleep(50);
    assert.equal(registrar.count('handleResolution'), 1, 'no re-resolution without a gap');
    assert.ok(updates.every((u) => u.source === 'push'));
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('sequence numbers wrap (0xffffffff → 0) without a gap; a gap re-resolves with S in the background, then pushes continue from a new base', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001), element(2, 8002)] });
  const pu = user(registrar);
  try {
    assert.ok((await pu.resolve('web', { subscribe: true })).ok);
    let next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(1, 8001), element(2, 8002)], [status(1, PeStatusCode.loadChanged, 0xfffffffe), status(2, PeStatusCode.loadChanged, 0xffffffff)]));
    assert.equal((await next).gap, false);
    next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(1, 8001), element(2, 8002)], [status(1, PeStatusCode.loadChanged, 0)]));
    assert.equal((await next).gap, false);

    // 1 and 2 are missed.
    registrar.pools.set('web', { elements: [element(2, 8002), element(3, 8003)] });
    const resynced = new Promise<PoolUpdate>((resolve) => pu.on('update', (u) => u.source === 'resync' && resolve(u)));
    next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(2, 8002)], [status(1, PeStatusCode.failed, 3)]));
    const gapped = await next;
    assert.equal(gapped.gap, true);
    assert.deepStrictEqual(gapped.pool?.elements.map((e) => e.id), [2]);
    const resync = await resynced;
    assert.equal(resync.snapshot, true);
    assert.deepStrictEqual(resync.pool?.elements.map((e) => e.id), [2, 3]);
    assert.ok(resync.pool?.subscribed);
    const requests = registrar.log.filter((r) => r.message.type === 'handleResolution').map((r) => r.message);
    assert.equal(requests.length, 2);
    assert.ok(requests.every((m) => m.type === 'handleResolution' && m.subscribe));

    // The answer reset the base: whatever comes next is accepted.
    next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(2, 8002), element(3, 8003)], [status(3, PeStatusCode.loadChanged, 40)]));
    assert.equal((await next).gap, false);
    await sleep(50);
    assert.equal(registrar.count('handleResolution'), 2);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('cause 0x9 with the A flag: no selectable element now, the cache is empty but the pool stays subscribed; pushes bring elements back', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001)] });
  const pu = user(registrar);
  try {
    assert.ok((await pu.resolve('web', { subscribe: true })).ok);
    const statuses = collect<PeStatusEvent>(pu, 'pe-status');
    let next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [], [status(1, PeStatusCode.maintenance, 1, { reason: PeStatusReason.operatorMaintenance })], { error: [{ code: 0x9 }] }));
    const emptied = await next;
    assert.ok(emptied.pool, 'the pool is not gone');
    assert.deepStrictEqual(emptied.pool.elements, []);
    assert.ok(emptied.pool.subscribed);
    assert.deepStrictEqual(statuses.map((s) => s.statusName), ['maintenance']);
    const none = pu.select('web');
    assert.ok(!none.ok && none.error.code === 'noElements');
    // Still subscribed, still fresh: resolve() answers from the cache.
    const cached = await pu.resolve('web');
    assert.ok(cached.ok && cached.value.elements.length === 0 && cached.value.subscribed);
    assert.equal(registrar.count('handleResolution'), 1);

    next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(1, 8001)], [status(1, PeStatusCode.up, 2, { reason: PeStatusReason.operatorReady })]));
    assert.deepStrictEqual((await next).pool?.elements.map((e) => e.id), [1]);
    assert.ok(pu.select('web').ok);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('subscribing to a pool with no selectable element: A flag + cause 0x9 is a subscription with no elements, not an error', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.respond = (m) =>
    m.type === 'handleResolution' ? [{ protocol: 'asap', type: 'handleResolutionResponse', accepted: m.subscribe, poolHandle: m.poolHandle, poolElements: [], error: [{ code: 0x9 }], peStatus: [] }] : [];
  const pu = user(registrar);
  try {
    const subscribed = await pu.resolve('web', { subscribe: true });
    assert.ok(subscribed.ok);
    assert.deepStrictEqual(subscribed.value.elements, []);
    assert.equal(subscribed.value.subscribed, true);
    const next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(5, 8005)], [status(5, PeStatusCode.up, 1)]));
    assert.deepStrictEqual((await next).pool?.elements.map((e) => e.id), [5]);

    // Without S the same answer has no A flag: an unknown pool.
    const plain = await pu.resolve('other');
    assert.ok(!plain.ok && plain.error.code === 'unknownPoolHandle');
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('a re-resolution answered with A flag + cause 0x9 empties the cache even after pushes were applied', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001)] });
  const pu = user(registrar);
  try {
    assert.ok((await pu.resolve('web', { subscribe: true })).ok);
    const next = once<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(1, 8001), element(2, 8002)], [status(2, PeStatusCode.up, 1)]));
    await next;
    registrar.respond = (m) =>
      m.type === 'handleResolution' ? [{ protocol: 'asap', type: 'handleResolutionResponse', accepted: m.subscribe, poolHandle: m.poolHandle, poolElements: [], error: [{ code: 0x9 }], peStatus: [] }] : [];
    const refreshed = await pu.resolve('web', { refresh: true });
    assert.ok(refreshed.ok);
    assert.deepStrictEqual(refreshed.value.elements, []);
    assert.deepStrictEqual(pu.cached('web')?.elements, []);
    assert.equal(refreshed.value.subscribed, true);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('a push with PE Status is never taken for the answer to a pending resolution', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001), element(2, 8002)] });
  const pu = user(registrar);
  try {
    assert.ok((await pu.resolve('web', { subscribe: true })).ok);
    // The registrar pushes a change just before it answers the refresh.
    registrar.respond = (m, peer) => {
      if (m.type !== 'handleResolution') return [];
      const update = push('web', [element(2, 8002)], [status(1, PeStatusCode.failed, 1)]);
      const answer = registrar.defaultAnswer(m);
      void peer;
      return [update, ...answer];
    };
    registrar.pools.set('web', { elements: [element(2, 8002), element(3, 8003)] });
    const statuses = collect<PeStatusEvent>(pu, 'pe-status');
    const refreshed = await pu.resolve('web', { refresh: true });
    assert.ok(refreshed.ok);
    assert.deepStrictEqual(refreshed.value.elements.map((e) => e.id), [2, 3]);
    assert.deepStrictEqual(statuses.map((s) => [s.status.peId, s.statusName]), [[1, 'failed']]);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('an answer that arrived before a push in the same read does not overwrite the push', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001), element(2, 8002)] });
  const pu = user(registrar);
  try {
    assert.ok((await pu.resolve('web', { subscribe: true })).ok);
    registrar.respond = (m) => {
      if (m.type !== 'handleResolution') return [];
      const [answer] = registrar.defaultAnswer(m);
      if (!answer) return [];
      // Answer, then a newer push, in one write: the push's listener runs before the answer's awaiter.
      const a = encodeMessage(answer);
      const b = encodeMessage(push('web', [element(2, 8002)], [status(1, PeStatusCode.failed, 1)]));
      const both = new Uint8Array(a.length + b.length);
      both.set(a);
      both.set(b, a.length);
      return [both];
    };
    const refreshed = await pu.resolve('web', { refresh: true });
    assert.ok(refreshed.ok);
    assert.deepStrictEqual(pu.cached('web')?.elements.map((e) => e.id), [2]);
    assert.ok(pu.cached('web')?.subscribed);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('once subscribed every resolution keeps the S flag; unsubscribe() sends one without it and later pushes are ignored', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001)] });
  const clock = new ManualClock();
  const pu = user(registrar, { clock, staleCacheMs: 1000 });
  try {
    assert.ok((await pu.resolve('web', { subscribe: true })).ok);
    assert.ok((await pu.resolve('web', { refresh: true })).ok);
    assert.ok((await pu.resolve('web', { refresh: true, subscribe: false })).ok);
    const sent = registrar.log.filter((r) => r.message.type === 'handleResolution').map((r) => r.message.type === 'handleResolution' && r.message.subscribe);
    assert.deepStrictEqual(sent, [true, true, true]);

    pu.unsubscribe('web');
    const { message } = await registrar.next((m) => m.type === 'handleResolution' && !m.subscribe);
    assert.ok(message.type === 'handleResolution');
    assert.equal(pu.cached('web')?.subscribed, false);
    const updates = collect<PoolUpdate>(pu, 'update');
    registrar.send(push('web', [element(9, 8009)], [status(1, PeStatusCode.failed, 1)]));
    await sleep(50);
    assert.deepStrictEqual(updates, []);
    assert.deepStrictEqual(pu.cached('web')?.elements.map((e) => e.id), [1]);
    // Unsubscribed, the entry ages like any other.
    clock.advance(1000);
    assert.ok((await pu.resolve('web')).ok);
    assert.equal(registrar.count('handleResolution'), 5);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('a registrar that does not do subscriptions (no A flag): the pool is not kept as subscribed', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001)] });
  registrar.respond = (m) => registrar.defaultAnswer(m).map((answer) => (answer.type === 'handleResolutionResponse' ? { ...answer, accepted: false } : answer));
  const pu = user(registrar, { staleCacheMs: 0 });
  try {
    const first = await pu.resolve('web', { subscribe: true });
    assert.ok(first.ok && !first.value.subscribed);
    assert.ok((await pu.resolve('web')).ok);
    const flags = registrar.log.filter((r) => r.message.type === 'handleResolution').map((r) => r.message.type === 'handleResolution' && r.message.subscribe);
    assert.deepStrictEqual(flags, [true, false]);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});
