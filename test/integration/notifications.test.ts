/**
 * Pushed status over real loopback TCP: subscription with the S / A flags, one notification per change kind
 * with the right status and reason to every subscriber of the pool and to no one else, strictly increasing
 * per-pool sequence numbers, batching, the emptied pool (0x9 with A), load coalescing, the overflow
 * snapshot, unsubscribe, and no subscription left behind by a vanished pool user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../core/clock.js';
import { Cause } from '../../core/wire/constants.js';
import { PolicyType } from '../../core/wire/policy.js';
import { PeStatusCode, PeStatusReason, type AsapHandleResolutionResponse, type Message, type PoolElement } from '../../core/wire/types.js';
import { AsapTestPeer, handle } from '../support/asap-test-peer.js';
import { connect, startRegistrar } from '../support/registrar-fixture.js';


function element(id: number, overrides: Partial<PoolElement> = {}): PoolElement {
  return {
    id,
    homeServerId: 0,
    registrationLife: 600_000,
    userTransport: { kind: 'tcp', port: 7000 + id, transportUse: 0, address: '127.0.0.1' },
    policy: { type: PolicyType.roundRobin },
    ...overrides,
  };
}

const registration = (pool: string, pe: PoolElement): Message => ({ protocol: 'asap', type: 'registration', poolHandle: handle(pool), poolElement: pe });

async function register(peer: AsapTestPeer, pool: string, pe: PoolElement): Promise<void> {
  const r = await peer.request(registration(pool, pe), 'registrationResponse', (m) => m.peId === pe.id);
  assert.equal(r.reject, false);
}

async function subscribe(peer: AsapTestPeer, pool: string): Promise<AsapHandleResolutionResponse> {
  return peer.request({ protocol: 'asap', type: 'handleResolution', subscribe: true, poolHandle: handle(pool) }, 'handleResolutionResponse');
}

const push = (peer: AsapTestPeer, timeoutMs = 3000): Promise<AsapHandleResolutionResponse> => peer.next('handleResolutionResponse', (m) => m.accepted, timeoutMs);
const settle = (ms = 40): Promise<void> => new Promise((r) => setTimeout(r, ms));

function statusOf(p: AsapHandleResolutionResponse): [number, number, number][] {
  return p.peStatus.map((s) => [s.peId, s.status, s.reason]);
}

test('subscribe: S on a known pool is answered with A; on an unknown pool it is refused without A', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  await register(pe, 'sub', element(1));
  const answer = await subscribe(pu, 'sub');
  assert.equal(answer.accepted, true);
  assert.deepStrictEqual(answer.poolElements.map((e) => e.id), [1]);
  const unknown = await subscribe(pu, 'nothing');
  assert.equal(unknown.accepted, false);
  assert.equal(unknown.error?.[0]?.code, Cause.unknownPoolHandle);
  assert.equal(registrar.notifications.subscriptionCount, 1);
});

test('each change kind yields exactly one notification, with its status and reason, to every subscriber of the pool and no one else', async (t) => {
  const clock = new ManualClock();
  const registrar = await startRegistrar(t, { clock, keepAliveIntervalMs: 300_000, keepAliveTimeoutMs: 1000, maxBadPeReports: 2, random: () => 0.5 });
  const peA = (await connect(t, registrar)).answerKeepAlives();
  const peB = await connect(t, registrar);
  const subscribers = [await connect(t, registrar), await connect(t, registrar)];
  const otherPool = await connect(t, registrar);
  const bystander = await connect(t, registrar);
  await register(peA, 'watched', element(1));
  await register(peA, 'other', element(50));
  for (const s of subscribers) assert.equal((await subscribe(s, 'watched')).accepted, true);
  assert.equal((await subscribe(otherPool, 'other')).accepted, true);
  await bystander.request({ protocol: 'asap', type: 'handleResolution', subscribe: false, poolHandle: handle('watched') }, 'handleResolutionResponse');

  const sequences: number[] = [];
  async function expectOne(what: string, peId: number, status: number, reason: number, action: () => void | Promise<void>): Promise<AsapHandleResolutionResponse[]> {
    await action();
    const pushes = await Promise.all(subscribers.map((s) => push(s)));
    for (const p of pushes) {
      assert.deepStrictEqual(statusOf(p), [[peId, status, reason]], what);
      assert.ok(p.peStatus[0]!.eventTimeMs > 0);
    }
    assert.equal(pushes[0]!.peStatus[0]!.sequence, pushes[1]!.peStatus[0]!.sequence, 'same sequence for everyone');
    sequences.push(pushes[0]!.peStatus[0]!.sequence);
    await settle();
    for (const s of subscribers) assert.equal(s.received.filter((m) => m.type === 'handleResolutionResponse').length, 0, `${what}: exactly one push`);
    assert.equal(otherPool.received.length, 0, `${what}: nothing to another pool's subscriber`);
    assert.equal(bystander.received.length, 0, `${what}: nothing to a non-subscriber`);
    return pushes;
  }

  const S = PeStatusCode;
  const R = PeStatusReason;
  await expectOne('registered', 2, S.up, R.registered, () => register(peB, 'watched', element(2)));
  await expectOne('re-registered with a new transport', 2, S.up, R.reregistered, () => register(peB, 'watched', element(2, { userTransport: { kind: 'tcp', port: 9999, transportUse: 0, address: '127.0.0.1' } })));
  const drained = await expectOne('drained', 2, S.draining, R.operatorDrain, () => {
    assert.ok(registrar.operate(handle('watched'), 2, 'drain', 'kernel upgrade').ok);
  });
  assert.equal(drained[0]!.peStatus[0]!.reasonText, 'kernel upgrade');
  assert.equal(drained[0]!.peStatus[0]!.replacementPeId, 1, 'the element the policy picks instead');
  assert.deepStrictEqual(drained[0]!.poolElements.map((e) => e.id), [1], 'the push carries the current selection');
  await expectOne('returned to ready', 2, S.up, R.operatorReady, () => void registrar.operate(handle('watched'), 2, 'ready', 'done'));
  await expectOne('maintenance', 2, S.maintenance, R.operatorMaintenance, () => void registrar.operate(handle('watched'), 2, 'maintenance', 'disk'));
  await expectOne('ready again', 2, S.up, R.operatorReady, () => void registrar.operate(handle('watched'), 2, 'ready', 'fixed'));
  const failedOver = await expectOne('failed over by an operator', 2, S.failed, R.operatorFailover, () => void registrar.operate(handle('watched'), 2, 'failover', 'move now'));
  assert.equal(failedOver[0]!.peStatus[0]!.replacementPeId, 1);
  await expectOne('ready after failover', 2, S.up, R.operatorReady, () => void registrar.operate(handle('watched'), 2, 'ready', 'back'));
  await expectOne('deregistered by the element', 2, S.deregistered, R.deregisteredByElement, async () => {
    await peB.request({ protocol: 'asap', type: 'deregistration', poolHandle: handle('watched'), peId: 2 }, 'deregistrationResponse');
  });
  await expectOne('registered again', 3, S.up, R.registered, () => register(peB, 'watched', element(3)));
  await expectOne('declared unreachable by reports', 3, S.unreachable, R.unreachableReports, () => {
    for (let i = 0; i < 2; i++) bystander.send({ protocol: 'asap', type: 'endpointUnreachable', poolHandle: handle('watched'), peId: 3 });
  });
  await expectOne('registered (4)', 4, S.up, R.registered, () => register(peB, 'watched', element(4)));
  await expectOne('deregistered by an operator', 4, S.deregistered, R.operatorDeregister, () => void registrar.operate(handle('watched'), 4, 'deregister', 'retired'));
  await expectOne('registered (5)', 5, S.up, R.registered, () => register(peB, 'watched', element(5, { registrationLife: 5000 })));
  await expectOne('lifetime expired', 5, S.deregistered, R.lifetimeExpired, () => clock.advance(5000));
  await expectOne('registered (6)', 6, S.up, R.registered, () => register(peB, 'watched', element(6)));
  await expectOne('keep-alive failed', 6, S.failed, R.keepAliveTimeout, async () => {
    // Elements 1 and 50 (registered at the start) are due first, 300 s in; peA answers their keep-alives.
    clock.advance(295_000);
    for (let i = 0; i < 100 && registrar.counters.get('keepAlive.acked') < 2; i++) await settle(10);
    assert.equal(registrar.counters.get('keepAlive.acked'), 2, JSON.stringify(registrar.counters.snapshot()));
    // Element 6 was registered 5 s in: its keep-alive goes out now, and peB never answers it.
    clock.advance(5000);
    await peB.next('endpointKeepAlive', (m) => m.peId === 6);
    clock.advance(1000);
  });
  await expectOne('registered (7)', 7, S.up, R.registered, () => register(peB, 'watched', element(7)));
  await expectOne('connection lost', 7, S.failed, R.connectionLost, () => peB.close());

  for (let i = 1; i < sequences.length; i++) assert.ok(sequences[i]! > sequences[i - 1]!, `sequence ${sequences[i]} after ${sequences[i - 1]}`);
  assert.equal(sequences[0], 1);
  assert.equal(sequences.length, 19);
});

test('a load change is pushed as load-changed, coalesced to one per interval and only above the threshold', async (t) => {
  const clock = new ManualClock();
  const registrar = await startRegistrar(t, { clock, keepAliveIntervalMs: 300_000, notifications: { loadChangeIntervalMs: 1000, loadChangeThreshold: 0x10000000 } });
  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  const lu = (id: number, load: number): PoolElement => element(id, { policy: { type: PolicyType.leastUsed, load } });
  await register(pe, 'load', lu(1, 0));
  await subscribe(pu, 'load');
  await register(pe, 'load', lu(1, 0x08000000)); // below the threshold: nothing
  await settle();
  assert.equal(pu.received.length, 0);
  await register(pe, 'load', lu(1, 0x40000000));
  const first = await push(pu);
  assert.deepStrictEqual(statusOf(first), [[1, PeStatusCode.loadChanged, PeStatusReason.loadChanged]]);
  assert.equal(first.peStatus[0]!.load, 0x40000000);
  // Within the interval: coalesced into one push when it ends, carrying the latest load.
  await register(pe, 'load', lu(1, 0x60000000));
  await register(pe, 'load', lu(1, 0x80000000));
  await settle();
  assert.equal(pu.received.length, 0, 'nothing inside the interval');
  clock.advance(1000);
  const coalesced = await push(pu);
  assert.equal(coalesced.peStatus.length, 1);
  assert.equal(coalesced.peStatus[0]!.load, 0x80000000);
  assert.equal(coalesced.peStatus[0]!.sequence, first.peStatus[0]!.sequence + 1);
});

test('changes in one event-loop turn are batched into one push per pool', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  for (let i = 1; i <= 5; i++) await register(pe, 'batch', element(i));
  await subscribe(pu, 'batch');
  for (let i = 1; i <= 3; i++) registrar.operate(handle('batch'), i, 'drain', 'batch');
  const p = await push(pu);
  assert.deepStrictEqual(p.peStatus.map((s) => s.peId), [1, 2, 3]);
  assert.deepStrictEqual(p.peStatus.map((s) => s.sequence), [1, 2, 3]);
  await settle();
  assert.equal(pu.received.length, 0);
});

test('an emptied pool is pushed with cause 0x9 and the A flag; the subscription stays and sees elements return', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  await register(pe, 'empty', element(1));
  await subscribe(pu, 'empty');
  await pe.request({ protocol: 'asap', type: 'deregistration', poolHandle: handle('empty'), peId: 1 }, 'deregistrationResponse');
  const gone = await push(pu);
  assert.equal(gone.accepted, true);
  assert.equal(gone.error?.[0]?.code, Cause.unknownPoolHandle);
  assert.equal(gone.poolElements.length, 0);
  assert.equal(gone.peStatus[0]?.replacementPeId, undefined, 'no element to suggest');
  await register(pe, 'empty', element(2));
  const back = await push(pu);
  assert.deepStrictEqual(back.poolElements.map((e) => e.id), [2]);
  assert.equal(back.error, undefined);
});

test('a resolution without S ends the subscription; a vanished pool user leaves no subscription behind', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  const vanishing = await connect(t, registrar);
  await register(pe, 'end', element(1));
  await register(pe, 'end2', element(2));
  await subscribe(pu, 'end');
  await subscribe(vanishing, 'end');
  await subscribe(vanishing, 'end2');
  assert.equal(registrar.notifications.subscriptionCount, 3);
  const plain = await pu.request({ protocol: 'asap', type: 'handleResolution', subscribe: false, poolHandle: handle('end') }, 'handleResolutionResponse');
  assert.equal(plain.accepted, false);
  assert.equal(registrar.notifications.subscriptionCount, 2);
  await vanishing.close();
  for (let i = 0; i < 50 && registrar.notifications.subscriptionCount > 0; i++) await settle(10);
  assert.equal(registrar.notifications.subscriptionCount, 0);
  assert.equal(registrar.notifications.subscribersOf(handle('end')), 0);
  registrar.operate(handle('end'), 1, 'drain', 'nobody listens');
  await settle();
  assert.equal(pu.received.length, 0);
  assert.equal(registrar.counters.get('notifications.sent'), 0);
});

test('a pool user that reconnects and re-subscribes converges on the current state', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  await register(pe, 'conv', element(1));
  await register(pe, 'conv', element(2));
  const first = await connect(t, registrar);
  await subscribe(first, 'conv');
  await first.close();
  registrar.operate(handle('conv'), 1, 'drain', 'while away');
  const again = await connect(t, registrar);
  const answer = await subscribe(again, 'conv');
  assert.equal(answer.accepted, true);
  assert.deepStrictEqual(answer.poolElements.map((e) => e.id), [2]);
  registrar.operate(handle('conv'), 1, 'ready', 'back');
  const p = await push(again);
  assert.deepStrictEqual(p.poolElements.map((e) => e.id).sort(), [1, 2]);
  assert.equal(registrar.notifications.subscriptionCount, 1);
});

test('a slow subscriber overflows its bounded queue and gets one snapshot instead of the missed updates', async (t) => {
  const registrar = await startRegistrar(t, { notifications: { maxQueuedMessages: 4, socketHighWaterBytes: 16 * 1024 } });
  const pe = await connect(t, registrar);
  const slow = await connect(t, registrar);
  const fast = await connect(t, registrar);
  for (let i = 1; i <= 128; i++) pe.send(registration('flood', element(i)));
  await pe.next('registrationResponse', (m) => m.peId === 128);
  // Ask for 128 items so every push is ~7 KB, and stop reading on the slow side.
  await slow.request({ protocol: 'asap', type: 'handleResolution', subscribe: true, poolHandle: handle('flood'), items: 128 }, 'handleResolutionResponse');
  await fast.request({ protocol: 'asap', type: 'handleResolution', subscribe: true, poolHandle: handle('flood'), items: 128 }, 'handleResolutionResponse');
  slow.socket.pause();
  const rounds = 1500;
  for (let round = 0; round < rounds; round++) {
    registrar.operate(handle('flood'), 1 + (round % 128), round % 2 === 0 ? 'drain' : 'ready', 'flood');
    await new Promise((r) => setImmediate(r));
    if (registrar.notifications.stats().find((s) => s.connectionId !== undefined && s.overflows > 0)) break;
  }
  const stats = registrar.notifications.stats();
  const slowStats = stats.find((s) => s.overflows > 0);
  assert.ok(slowStats, `an overflow happened: ${JSON.stringify(stats)}`);
  assert.ok(slowStats.maxQueued <= 5, 'the queue stays bounded');
  // Resume: the backlog drains and a snapshot (no PE Status) arrives after the deltas that made it.
  slow.socket.resume();
  const snapshot = await slow.next('handleResolutionResponse', (m) => m.accepted && m.peStatus.length === 0, 15_000);
  assert.equal(snapshot.poolElements.length > 0, true);
  assert.ok(registrar.counters.get('notifications.snapshots') >= 1);
  // The fast subscriber got every update, in order, without a gap or a snapshot.
  await settle(200);
  const fastSequences = fast.received.flatMap((m) => (m.type === 'handleResolutionResponse' ? m.peStatus.map((s) => s.sequence) : []));
  assert.ok(fastSequences.length > 10);
  fastSequences.forEach((seq, i) => assert.equal(seq, i + 1));
  assert.ok(fast.received.every((m) => m.type !== 'handleResolutionResponse' || m.peStatus.length > 0));
});
