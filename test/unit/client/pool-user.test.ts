/**
 * PoolUser against a scripted registrar: cache fresh / stale on a ManualClock, the unknown-pool error
 * value, client-side selection per policy, unreachable reports (once per event, only for known elements),
 * cookie echo bytes, business cards, and subscriptions with pushed updates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../core/clock.js';
import { PoolUser, type PoolUpdate, type PoolUserOptions } from '../../../core/client/pool-user.js';
import { selectElement } from '../../../core/client/element-selection.js';
import { encodeBusinessCard, encodeCookie, parseBusinessCard } from '../../../core/client/control-channel.js';
import { PolicyType } from '../../../core/wire/policy.js';
import { PeStatusCode, PeStatusReason, type Policy, type PoolElement as WirePoolElement } from '../../../core/wire/types.js';
import { msg, tlv, u8 } from '../../support/wire-bytes.js';
import { ScriptedRegistrar, element, once, sleep, text } from './scripted-registrar.js';

function user(registrar: ScriptedRegistrar, options: Partial<PoolUserOptions> = {}): PoolUser {
  return new PoolUser({ registrars: [`127.0.0.1:${registrar.port}`], hunt: { retryDelayMs: 20 }, ...options });
}

test('cache: a fresh hit sends nothing, a stale entry is refreshed (stale_cache_value on the injected clock)', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001), element(2, 8002)] });
  const clock = new ManualClock();
  const pu = user(registrar, { clock, staleCacheMs: 5000 });
  try {
    const first = await pu.resolve('web');
    assert.ok(first.ok);
    assert.deepStrictEqual(first.value.elements.map((e) => e.id), [1, 2]);
    assert.deepStrictEqual(first.value.overallPolicy, { type: PolicyType.roundRobin });
    assert.equal(first.value.receivedAt, clock.now());
    assert.equal(registrar.count('handleResolution'), 1);

    clock.advance(4999);
    const hit = await pu.resolve('web');
    assert.ok(hit.ok);
    assert.equal(hit.value.receivedAt, first.value.receivedAt);
    assert.equal(registrar.count('handleResolution'), 1);

    registrar.pools.set('web', { elements: [element(3, 8003)] });
    clock.advance(1);
    const refreshed = await pu.resolve('web');
    assert.ok(refreshed.ok);
    assert.deepStrictEqual(refreshed.value.elements.map((e) => e.id), [3]);
    assert.equal(registrar.count('handleResolution'), 2);

    // refresh: true asks even when fresh; items travel as the Handle Resolution Option.
    await pu.resolve('web', { refresh: true, items: 7 });
    const { message } = await registrar.next((m) => m.type === 'handleResolution' && m.items === 7);
    assert.ok(message.type === 'handleResolution' && !message.subscribe);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('unknown pool: an error value with cause 0x9, and the cached entry is dropped', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001)] });
  const pu = user(registrar, { staleCacheMs: 0 });
  try {
    assert.ok((await pu.resolve('web')).ok);
    registrar.pools.delete('web');
    const result = await pu.resolve('web');
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.error.code === 'unknownPoolHandle' && result.error.cause === 0x9);
    assert.equal(pu.cached('web'), undefined);
    assert.equal(pu.select('web').ok, false);

    registrar.respond = (m) =>
      m.type === 'handleResolution' ? [{ protocol: 'asap', type: 'handleResolutionResponse', accepted: false, poolHandle: m.poolHandle, poolElements: [], error: [{ code: 0x6 }], peStatus: [] }] : [];
    const other = await pu.resolve('web');
    assert.ok(!other.ok && other.error.code === 'operationError' && other.error.cause === 0x6);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('resolve: no answer → resent (MAX-REQUEST-RETRANSMIT), then a timeout error value', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.respond = () => [];
  const pu = user(registrar, { requestTimeoutMs: 60, maxRequestRetransmit: 2 });
  try {
    const result = await pu.resolve('web');
    assert.ok(!result.ok && result.error.code === 'timeout');
    assert.equal(registrar.count('handleResolution'), 3);
    const controller = new AbortController();
    controller.abort();
    const aborted = await pu.resolve('web', { signal: controller.signal });
    assert.ok(!aborted.ok && aborted.error.code === 'aborted');
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

const pe = (id: number, policy: Policy): WirePoolElement => element(id, 9000 + id, policy);

test('select per policy: RR in order then from the start; PRIO highest; LU first returned; RAND and RLU by the random source', () => {
  const rr = [pe(1, { type: PolicyType.roundRobin }), pe(2, { type: PolicyType.roundRobin }), pe(3, { type: PolicyType.roundRobin })];
  const state = { rrCursor: 0 };
  const picks = Array.from({ length: 5 }, () => selectElement({ type: PolicyType.roundRobin }, rr, state, Math.random)?.id);
  assert.deepStrictEqual(picks, [1, 2, 3, 1, 2]);

  const prio = [pe(1, { type: PolicyType.priority, priority: 3 }), pe(2, { type: PolicyType.priority, priority: 9 }), pe(3, { type: PolicyType.priority, priority: 9 })];
  assert.equal(selectElement({ type: PolicyType.priority }, prio, { rrCursor: 0 }, Math.random)?.id, 2);

  const lu = [pe(4, { type: PolicyType.leastUsed, load: 10 }), pe(5, { type: PolicyType.leastUsed, load: 0 })];
  for (const type of [PolicyType.leastUsed, PolicyType.leastUsedDegradation, PolicyType.priorityLeastUsed]) {
    assert.equal(selectElement({ type }, lu, { rrCursor: 0 }, Math.random)?.id, 4);
  }

  const rand = [pe(1, { type: PolicyType.random }), pe(2, { type: PolicyType.random }), pe(3, { type: PolicyType.random })];
  assert.equal(selectElement({ type: PolicyType.random }, rand, { rrCursor: 0 }, () => 0.7)?.id, 3);
  assert.equal(selectElement({ type: PolicyType.weightedRandom }, rand, { rrCursor: 0 }, () => 0.1)?.id, 1);

  // RLU: weight 0xffffffff − load. One element fully loaded gets nothing.
  const rlu = [pe(1, { type: PolicyType.randomizedLeastUsed, load: 0xffffffff }), pe(2, { type: PolicyType.randomizedLeastUsed, load: 0 })];
  for (const r of [0, 0.3, 0.999]) assert.equal(selectElement({ type: PolicyType.randomizedLeastUsed }, rlu, { rrCursor: 0 }, () => r)?.id, 2);
  const half = [pe(1, { type: PolicyType.randomizedLeastUsed, load: 0x7fffffff }), pe(2, { type: PolicyType.randomizedLeastUsed, load: 0 })];
  assert.equal(selectElement({ type: PolicyType.randomizedLeastUsed }, half, { rrCursor: 0 }, () => 0.2)?.id, 1);
  assert.equal(selectElement({ type: PolicyType.randomizedLeastUsed }, half, { rrCursor: 0 }, () => 0.5)?.id, 2);

  assert.equal(selectElement({ type: PolicyType.roundRobin }, [], { rrCursor: 0 }, Math.random), undefined);
});

test('select from the cache: the overall policy decides, RR restarts when the list is refreshed, exclude skips tried elements', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [pe(1, { type: 5, priority: 1 }), pe(2, { type: 5, priority: 7 }), pe(3, { type: 5, priority: 3 })] });
  registrar.pools.set('rr', { elements: [element(1, 1), element(2, 2)] });
  const pu = user(registrar, { staleCacheMs: 0 });
  try {
    assert.ok(!pu.select('web').ok);
    await pu.resolve('web');
    const best = pu.select('web');
    assert.ok(best.ok && best.value.id === 2);
    const next = pu.select('web', { exclude: [2] });
    assert.ok(next.ok && next.value.id === 3);
    const none = pu.select('web', { exclude: [1, 2, 3] });
    assert.ok(!none.ok && none.error.code === 'noElements');

    await pu.resolve('rr');
    assert.deepStrictEqual([pu.select('rr'), pu.select('rr'), pu.select('rr')].map((r) => r.ok && r.value.id), [1, 2, 1]);
    // A new answer: round robin starts from the beginning again (RFC 5356 §4.1, PU side).
    await pu.resolve('rr');
    const restarted = pu.select('rr');
    assert.ok(restarted.ok && restarted.value.id === 1);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('reportUnreachable: sent once per failure event, the element leaves the cache, unknown elements are not reported', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001), element(2, 8002)] });
  const pu = user(registrar, { staleCacheMs: 60_000 });
  try {
    await pu.resolve('web');
    const first = await pu.reportUnreachable('web', 1);
    assert.deepStrictEqual(first, { ok: true, value: 'sent' });
    const { message } = await registrar.next((m) => m.type === 'endpointUnreachable');
    assert.deepStrictEqual(message, { protocol: 'asap', type: 'endpointUnreachable', poolHandle: text('web'), peId: 1 });
    assert.deepStrictEqual(pu.cached('web')?.elements.map((e) => e.id), [2]);
    assert.deepStrictEqual(await pu.reportUnreachable('web', 1), { ok: true, value: 'alreadyReported' });
    const unknown = await pu.reportUnreachable('web', 99);
    assert.ok(!unknown.ok && unknown.error.code === 'unknownElement');
    await sleep(50);
    assert.equal(registrar.count('endpointUnreachable'), 1);
    // All selections avoid it now.
    for (let i = 0; i < 3; i++) {
      const chosen = pu.select('web');
      assert.ok(chosen.ok && chosen.value.id === 2);
    }

    // The registrar lists it again: a new failure may be reported again.
    await pu.resolve('web', { refresh: true });
    assert.deepStrictEqual(await pu.reportUnreachable('web', 1), { ok: true, value: 'sent' });
    await registrar.next((m) => m.type === 'endpointUnreachable');
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('cookie echo: the latest cookie of the failed element, byte for byte; nothing for the same element', () => {
  const pu = new PoolUser({ registrars: ['127.0.0.1:1'] });
  assert.equal(pu.cookieEchoFor(2), undefined);
  pu.rememberCookie(1, u8(0xde, 0xad, 0xbe));
  const received = pu.receiveControlMessage(1, encodeCookie(u8(0xca, 0xfe, 0xba, 0xbe, 0x01)));
  assert.ok(received.ok && received.value.type === 'cookie');
  // ASAP_COOKIE_ECHO (0x0c): header + Cookie TLV (0x000d, length 9) = 13, the final 3 padding bytes not counted.
  const expected = msg(0x0c, 0, tlv(0x000d, u8(0xca, 0xfe, 0xba, 0xbe, 0x01)), 13);
  assert.deepStrictEqual(Buffer.from(pu.cookieEchoFor(2) ?? []), Buffer.from(expected));
  assert.deepStrictEqual(Buffer.from(expected), Buffer.from([0x0c, 0x00, 0x00, 0x0d, 0x00, 0x0d, 0x00, 0x09, 0xca, 0xfe, 0xba, 0xbe, 0x01, 0, 0, 0]));
  assert.equal(pu.cookieEchoFor({ ...element(1, 1) }), undefined);
  pu.rememberCookie(3, u8(7));
  assert.deepStrictEqual(Buffer.from(pu.cookieEchoFor(2, 1) ?? []), Buffer.from(expected));
  assert.equal(pu.receiveControlMessage(1, u8(0x0c, 0, 0, 2)).ok, false);
});

test('business card: parsed to a failover order, used by failoverOrder() minus the failed element', async () => {
  const card = encodeBusinessCard('web', [element(3, 3), element(1, 1), element(2, 2)]);
  const parsed = parseBusinessCard(card);
  assert.ok(parsed.ok);
  assert.deepStrictEqual(parsed.value.poolHandle, text('web'));
  assert.deepStrictEqual(parsed.value.failoverOrder.map((e) => e.id), [3, 1, 2]);
  assert.equal(parseBusinessCard(encodeCookie(u8(1))).ok, false);

  const pu = new PoolUser({ registrars: ['127.0.0.1:1'] });
  assert.ok(pu.receiveControlMessage(3, card).ok);
  assert.deepStrictEqual(pu.businessCard('web')?.failoverOrder.map((e) => e.id), [3, 1, 2]);
  assert.deepStrictEqual(pu.failoverOrder('web', 3).map((e) => e.id), [1, 2]);
  await pu.close();
});

test('subscribe: S flag sent; pushed updates with PE Status update the cache and come out as "update" events', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001), element(2, 8002)] });
  const clock = new ManualClock();
  const pu = user(registrar, { clock, staleCacheMs: 1000 });
  try {
    const resolved = await pu.resolve('web', { subscribe: true });
    assert.ok(resolved.ok && resolved.value.subscribed);
    const { message } = await registrar.next((m) => m.type === 'handleResolution');
    assert.ok(message.type === 'handleResolution' && message.subscribe);

    const status = (peId: number, code: number, sequence: number, load?: number) => ({
      peId,
      status: code,
      reason: PeStatusReason.unspecified,
      sequence,
      eventTimeMs: 1_700_000_000_000,
      ...(load !== undefined ? { load } : {}),
    });
    // Element 1 drains; element 3 comes up. The push lists the registrar's current selection.
    const update = once<PoolUpdate>(pu, 'update');
    registrar.send({
      protocol: 'asap',
      type: 'handleResolutionResponse',
      accepted: true,
      poolHandle: text('web'),
      poolElements: [element(2, 8002), element(3, 8003)],
      peStatus: [status(1, PeStatusCode.draining, 10), status(3, PeStatusCode.up, 11)],
    });
    const pushed = await update;
    assert.equal(pushed.source, 'push');
    assert.equal(pushed.gap, false);
    assert.equal(pushed.snapshot, false);
    assert.deepStrictEqual(pushed.pool?.elements.map((e) => e.id), [2, 3]);
    assert.deepStrictEqual(pushed.statuses.map((s) => s.peId), [1, 3]);

    // A subscribed entry stays fresh past the stale timer: no new request.
    clock.advance(10_000);
    const cached = await pu.resolve('web');
    assert.ok(cached.ok && cached.value.subscribed);
    assert.equal(registrar.count('handleResolution'), 1);

    // A sequence gap (12 missing) marks the entry stale and resolves again (S flag) in the background.
    // A push with statuses but no Pool Element merges them into the cached list.
    const gapped = once<PoolUpdate>(pu, 'update');
    const resynced = new Promise<PoolUpdate>((resolve) => pu.on('update', (u) => u.source === 'resync' && resolve(u)));
    registrar.send({ protocol: 'asap', type: 'handleResolutionResponse', accepted: true, poolHandle: text('web'), poolElements: [], peStatus: [status(2, PeStatusCode.loadChanged, 13, 99)] });
    const gap = await gapped;
    assert.equal(gap.gap, true);
    assert.deepStrictEqual(gap.pool?.elements.map((e) => e.id), [2, 3]);
    assert.equal(gap.pool?.elements.find((e) => e.id === 2)?.policy.load, 99);
    const resync = await resynced;
    assert.deepStrictEqual(resync.pool?.elements.map((e) => e.id), [1, 2]);
    assert.equal(registrar.count('handleResolution'), 2);
    const again = await registrar.next((m) => m.type === 'handleResolution' && m.subscribe);
    assert.ok(again.message.type === 'handleResolution');

    // The pool disappears (cause 0x9 without the A flag): entry and subscription are gone.
    const gone = once<PoolUpdate>(pu, 'update');
    registrar.send({ protocol: 'asap', type: 'handleResolutionResponse', accepted: false, poolHandle: text('web'), poolElements: [], error: [{ code: 0x9 }], peStatus: [] });
    assert.equal((await gone).pool, undefined);
    assert.equal(pu.cached('web'), undefined);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('a pushed update without PE Status (plain RFC form) replaces the cached list', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001), element(2, 8002)] });
  const pu = user(registrar);
  try {
    await pu.resolve('web', { subscribe: true });
    const update = once<PoolUpdate>(pu, 'update');
    registrar.send({ protocol: 'asap', type: 'handleResolutionResponse', accepted: true, poolHandle: text('web'), overallPolicy: { type: PolicyType.random }, poolElements: [element(5, 8005)], peStatus: [] });
    const pushed = await update;
    assert.deepStrictEqual(pushed.pool?.elements.map((e) => e.id), [5]);
    assert.deepStrictEqual(pu.cached('web')?.overallPolicy, { type: PolicyType.random });
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('subscriptions are re-made after the registrar restarts', async () => {
  const registrar = await ScriptedRegistrar.start();
  const port = registrar.port;
  registrar.pools.set('web', { elements: [element(1, 8001)] });
  const pu = user(registrar);
  try {
    await pu.resolve('web', { subscribe: true });
    const lost = once<{ subscriptions: readonly Uint8Array[] }>(pu, 'registrarLost');
    await registrar.stop();
    assert.deepStrictEqual((await lost).subscriptions, [text('web')]);
    registrar.pools.set('web', { elements: [element(2, 8002)] });
    const resubscribed = once<PoolUpdate>(pu, 'update', 5000);
    await registrar.listen(port);
    const update = await resubscribed;
    assert.equal(update.source, 'resubscribe');
    assert.deepStrictEqual(update.pool?.elements.map((e) => e.id), [2]);
    const { message } = await registrar.next((m) => m.type === 'handleResolution');
    assert.ok(message.type === 'handleResolution' && message.subscribe);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('close(): later calls are error values, not exceptions', async () => {
  const pu = new PoolUser({ registrars: ['127.0.0.1:1'] });
  await pu.close();
  const result = await pu.resolve('web');
  assert.ok(!result.ok && result.error.code === 'closed');
  const report = await pu.reportUnreachable('web', 1);
  assert.ok(!report.ok && report.error.code === 'closed');
  await pu.close();
});
