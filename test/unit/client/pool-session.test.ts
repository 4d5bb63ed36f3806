/**
 * PoolSession against a scripted registrar. Subscribed mode: the current element's failed / maintenance /
 * deregistered / unreachable status moves the session at once, to the replacement when it is cached, else
 * to the policy's next choice, with the cookie echo built from the old element's last cookie; draining
 * moves new requests only and lets in-flight ones finish. Standard mode: reportFailure() sends one
 * ENDPOINT_UNREACHABLE and switches, refreshing a stale cache first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../core/clock.js';
import { encodeCookie } from '../../../core/client/control-channel.js';
import type { CurrentChange, DrainEvent, DrainedEvent, FailoverEvent, PoolSession, PoolSessionOptions } from '../../../core/client/pool-session.js';
import { PoolUser, type PoolUserOptions } from '../../../core/client/pool-user.js';
import { PolicyType } from '../../../core/wire/policy.js';
import { PeStatusCode, PeStatusReason, type AsapHandleResolutionResponse, type PeStatus, type PoolElement as WirePoolElement } from '../../../core/wire/types.js';
import { msg, tlv, u8 } from '../../support/wire-bytes.js';
import { ScriptedRegistrar, element, once, sleep, text } from './scripted-registrar.js';

function user(registrar: ScriptedRegistrar, options: Partial<PoolUserOptions> = {}): PoolUser {
  return new PoolUser({ registrars: [`127.0.0.1:${registrar.port}`], hunt: { retryDelayMs: 20 }, ...options });
}

function status(peId: number, code: number, sequence: number, extra: Partial<PeStatus> = {}): PeStatus {
  return { peId, status: code, reason: PeStatusReason.unspecified, sequence, eventTimeMs: Date.now(), ...extra };
}

function push(poolElements: readonly WirePoolElement[], peStatus: readonly PeStatus[], extra: Partial<AsapHandleResolutionResponse> = {}): AsapHandleResolutionResponse {
  return { protocol: 'asap', type: 'handleResolutionResponse', accepted: true, poolHandle: text('web'), overallPolicy: { type: PolicyType.priority }, poolElements, peStatus, ...extra };
}

/** Priority pool: the policy's choice is always the highest priority left, so every pick is predictable. */
const prio = (id: number, priority: number): WirePoolElement => element(id, 8000 + id, { type: PolicyType.priority, priority });

async function openSession(pu: PoolUser, subscribe: boolean, options: Omit<PoolSessionOptions, 'subscribe'> = {}): Promise<PoolSession> {
  const opened = await pu.session('web', { subscribe, ...options });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  return opened.value;
}

function collect<T>(emitter: { on(event: string, listener: (value: T) => void): unknown }, event: string): T[] {
  const seen: T[] = [];
  emitter.on(event, (value: T) => seen.push(value));
  return seen;
}

test('subscribed: the current element fails → failover at once to the cached replacement, with the cookie echo of its last cookie', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(1, 9), prio(2, 5), prio(3, 7)] });
  const pu = user(registrar);
  try {
    const session = await openSession(pu, true);
    assert.equal(session.subscribed, true);
    assert.equal(session.current()?.id, 1);
    // Element 1 sent a cookie (on the application's control channel).
    assert.ok(pu.receiveControlMessage(1, encodeCookie(u8(0xca, 0xfe, 0x01))).ok);
    const request = session.begin();
    assert.ok(request.ok && request.value.element.id === 1);

    const failover = once<FailoverEvent>(session, 'failover');
    const currents = collect<CurrentChange>(session, 'current');
    // The replacement (2) is not the policy's choice (3 has the higher priority): the registrar's word wins.
    const failed = status(1, PeStatusCode.failed, 1, { reason: PeStatusReason.connectionLost, replacementPeId: 2 });
    registrar.send(push([prio(3, 7), prio(2, 5)], [failed]));
    const event = await failover;
    assert.equal(event.from.id, 1);
    assert.equal(event.to?.id, 2);
    assert.deepStrictEqual(event.reason, failed);
    assert.equal(event.inFlight, 1);
    // ASAP_COOKIE_ECHO (0x0c) carrying the cookie unchanged: header, Cookie TLV (0x000d, length 7), padding.
    assert.deepStrictEqual(Buffer.from(event.cookieEcho ?? []), Buffer.from(msg(0x0c, 0, tlv(0x000d, u8(0xca, 0xfe, 0x01)), 11)));
    assert.deepStrictEqual(Buffer.from(event.cookieEcho ?? []), Buffer.from([0x0c, 0, 0, 0x0b, 0x00, 0x0d, 0x00, 0x07, 0xca, 0xfe, 0x01, 0]));
    assert.equal(session.current()?.id, 2);
    assert.deepStrictEqual(currents.map((c) => [c.previous?.id, c.element?.id]), [[1, 2]]);
    const next = session.begin();
    assert.ok(next.ok && next.value.element.id === 2);
    request.value.end();
    next.value.end();
    assert.equal(session.inFlight(), 0);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('subscribed: replacement unknown to the cache → the policy\'s next choice; maintenance, deregistered and unreachable fail over too', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(1, 9), prio(2, 5), prio(3, 7), prio(4, 1)] });
  const pu = user(registrar);
  try {
    const session = await openSession(pu, true);
    assert.equal(session.current()?.id, 1);
    const failovers = collect<FailoverEvent>(session, 'failover');

    let next = once<FailoverEvent>(session, 'failover');
    registrar.send(push([prio(3, 7), prio(2, 5), prio(4, 1)], [status(1, PeStatusCode.maintenance, 1, { replacementPeId: 0x99 })]));
    await next;
    assert.equal(session.current()?.id, 3, 'highest priority left');

    next = once<FailoverEvent>(session, 'failover');
    registrar.send(push([prio(2, 5), prio(4, 1)], [status(3, PeStatusCode.deregistered, 2, { reason: PeStatusReason.deregisteredByElement })]));
    await next;
    assert.equal(session.current()?.id, 2);

    next = once<FailoverEvent>(session, 'failover');
    registrar.send(push([prio(4, 1)], [status(2, PeStatusCode.unreachable, 3, { reason: PeStatusReason.unreachableReports, replacementPeId: 4 })]));
    await next;
    assert.equal(session.current()?.id, 4);
    assert.deepStrictEqual(
      failovers.map((f) => [f.from.id, f.to?.id, typeof f.reason === 'string' ? f.reason : f.reason.status]),
      [
        [1, 3, PeStatusCode.maintenance],
        [3, 2, PeStatusCode.deregistered],
        [2, 4, PeStatusCode.unreachable],
      ],
    );
    // No cookie was ever received: nothing to echo.
    assert.ok(failovers.every((f) => f.cookieEcho === undefined));
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('subscribed: up and load-changed statuses, and statuses of other elements, leave the session where it is', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(1, 9), prio(2, 5)] });
  const pu = user(registrar);
  try {
    const session = await openSession(pu, true);
    const moves = collect<CurrentChange>(session, 'current');
    const update = once(pu, 'update');
    registrar.send(
      push([prio(5, 20), prio(1, 9)], [
        status(1, PeStatusCode.loadChanged, 1, { load: 50 }),
        status(5, PeStatusCode.up, 2),
        status(2, PeStatusCode.failed, 3),
        status(1, PeStatusCode.up, 4, { reason: PeStatusReason.reregistered }),
      ]),
    );
    await update;
    assert.equal(session.current()?.id, 1, 'a working element is kept even when a better one appears');
    assert.deepStrictEqual(moves, []);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('subscribed: draining → new requests go elsewhere, in-flight ones finish on the draining element ("drain", then "drained")', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(1, 9), prio(2, 5), prio(3, 7)] });
  const pu = user(registrar);
  try {
    const session = await openSession(pu, true);
    pu.rememberCookie(1, u8(1, 2, 3, 4));
    const first = session.begin();
    let finishTracked: (value: string) => void = () => undefined;
    const tracked = session.track((element) => {
      assert.equal(element.id, 1);
      return new Promise<string>((resolve) => (finishTracked = resolve));
    });
    assert.ok(first.ok && tracked.ok);
    assert.equal(session.inFlight(1), 2);

    const drained = collect<DrainedEvent>(session, 'drained');
    const failovers = collect<FailoverEvent>(session, 'failover');
    const drain = once<DrainEvent>(session, 'drain');
    registrar.send(push([prio(3, 7), prio(2, 5)], [status(1, PeStatusCode.draining, 1, { reason: PeStatusReason.operatorDrain, replacementPeId: 3, reasonText: 'kernel upgrade' })]));
    const event = await drain;
    assert.equal(event.element.id, 1);
    assert.equal(event.to?.id, 3);
    assert.equal(event.inFlight, 2);
    assert.equal(event.status.reasonText, 'kernel upgrade');
    assert.deepStrictEqual(Buffer.from(event.cookieEcho ?? []), Buffer.from(msg(0x0c, 0, tlv(0x000d, u8(1, 2, 3, 4)))));
    assert.equal(failovers.length, 0, 'a drain is not a failover');

    // New work goes to 3; the two requests on 1 are still counted there.
    assert.equal(session.current()?.id, 3);
    const fresh = session.begin();
    assert.ok(fresh.ok && fresh.value.element.id === 3);
    assert.equal(session.inFlight(1), 2);

    first.value.end();
    first.value.end();
    assert.equal(session.inFlight(1), 1);
    assert.equal(drained.length, 0);
    finishTracked('done');
    assert.equal(await tracked.value, 'done');
    assert.deepStrictEqual(drained.map((d) => d.element.id), [1]);
    assert.equal(session.inFlight(1), 0);
    fresh.value.end();
    assert.deepStrictEqual(drained.map((d) => d.element.id), [1], 'element 3 never drained');
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('subscribed: draining with nothing in flight → "drain" then "drained" at once; a non-current element with requests in flight drains too', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(1, 9), prio(2, 5), prio(3, 7)] });
  const pu = user(registrar);
  try {
    const session = await openSession(pu, true);
    const order: string[] = [];
    session.on('drain', (e) => order.push(`drain ${e.element.id}→${e.to?.id}`));
    session.on('drained', (e) => order.push(`drained ${e.element.id}`));
    const update = once(pu, 'update');
    registrar.send(push([prio(3, 7), prio(2, 5)], [status(1, PeStatusCode.draining, 1, { replacementPeId: 3 })]));
    await update;
    assert.deepStrictEqual(order, ['drain 1→3', 'drained 1']);

    // A request on 3, then the session leaves 3 (it fails over), then 3 drains: its request may finish.
    const onThree = session.begin();
    assert.ok(onThree.ok && onThree.value.element.id === 3);
    const moved = once(session, 'failover');
    registrar.send(push([prio(2, 5), prio(3, 7)], [status(3, PeStatusCode.unreachable, 2, { replacementPeId: 2 })]));
    await moved;
    order.length = 0;
    const again = once(pu, 'update');
    registrar.send(push([prio(2, 5)], [status(3, PeStatusCode.draining, 3)]));
    await again;
    assert.deepStrictEqual(order, ['drain 3→2']);
    onThree.value.end();
    assert.deepStrictEqual(order, ['drain 3→2', 'drained 3']);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('subscribed: the pool empties (0x9 + A) → failover to nothing; when an element comes back the session takes it, with the cookie echo', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(1, 9)] });
  const pu = user(registrar);
  try {
    const session = await openSession(pu, true);
    pu.rememberCookie(1, u8(0xab));
    const failover = once<FailoverEvent>(session, 'failover');
    registrar.send(push([], [status(1, PeStatusCode.failed, 1, { reason: PeStatusReason.keepAliveTimeout })], { error: [{ code: 0x9 }] }));
    const event = await failover;
    assert.equal(event.to, undefined);
    assert.equal(session.current(), undefined);
    const refused = session.begin();
    assert.ok(!refused.ok && refused.error.code === 'noElement');
    assert.equal(session.subscribed, true);

    const current = once<CurrentChange>(session, 'current');
    registrar.send(push([prio(6, 3)], [status(6, PeStatusCode.up, 2, { reason: PeStatusReason.registered })]));
    const back = await current;
    assert.equal(back.element?.id, 6);
    assert.equal(back.previous?.id, 1);
    assert.deepStrictEqual(Buffer.from(back.cookieEcho ?? []), Buffer.from(msg(0x0c, 0, tlv(0x000d, u8(0xab)), 9)));
    assert.equal(session.current()?.id, 6);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('standard mode: reportFailure sends ENDPOINT_UNREACHABLE once and switches to the next cached element', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(1, 9), prio(2, 5), prio(3, 7)] });
  const pu = user(registrar, { staleCacheMs: 60_000 });
  try {
    const session = await openSession(pu, false);
    assert.equal(session.subscribed, false);
    pu.rememberCookie(1, u8(9, 9));
    const first = session.begin();
    const second = session.begin();
    assert.ok(first.ok && second.ok);
    const failovers = collect<FailoverEvent>(session, 'failover');

    // Both requests time out; each reports it. Only the first switches and sends.
    const [a, b] = await Promise.all([session.reportFailure({ reason: 'timeout', element: first.value.element }), session.reportFailure({ element: 1 })]);
    assert.ok(a.ok && b.ok);
    assert.equal(a.value.switched, true);
    assert.equal(a.value.to?.id, 3);
    assert.deepStrictEqual(a.value.report, { ok: true, value: 'sent' });
    assert.equal(b.value.switched, false);
    assert.equal(b.value.to?.id, 3);
    assert.deepStrictEqual(b.value.report, { ok: true, value: 'alreadyReported' });
    assert.equal(failovers.length, 1);
    assert.equal(failovers[0]?.reason, 'timeout');
    assert.equal(failovers[0]?.inFlight, 2);
    assert.deepStrictEqual(Buffer.from(failovers[0]?.cookieEcho ?? []), Buffer.from(msg(0x0c, 0, tlv(0x000d, u8(9, 9)), 10)));
    const { message } = await registrar.next((m) => m.type === 'endpointUnreachable');
    assert.deepStrictEqual(message, { protocol: 'asap', type: 'endpointUnreachable', poolHandle: text('web'), peId: 1 });
    await sleep(50);
    assert.equal(registrar.count('endpointUnreachable'), 1);
    assert.equal(registrar.count('handleResolution'), 1, 'the cache was fresh: no refresh');

    // Connection refused on 3: reason 'unreachable'.
    const refused = await session.reportFailure({ reason: 'unreachable' });
    assert.ok(refused.ok && refused.value.switched && refused.value.to?.id === 2);
    assert.equal(failovers[1]?.reason, 'unreachable');
    first.value.end();
    second.value.end();
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('standard mode: a stale cache is refreshed before the switch, and an element the session saw fail is avoided while the registrar still lists it', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(1, 9), prio(2, 5), prio(3, 7)] });
  const clock = new ManualClock();
  const pu = user(registrar, { clock, staleCacheMs: 1000 });
  try {
    const session = await openSession(pu, false, { failureMemoryMs: 10_000 });
    assert.equal(session.current()?.id, 1);
    clock.advance(1500);
    const first = await session.reportFailure();
    assert.ok(first.ok && first.value.switched);
    // The refresh still lists 1 (the registrar has not probed it yet): the session avoids it.
    assert.equal(registrar.count('handleResolution'), 2);
    assert.equal(first.value.to?.id, 3);

    clock.advance(1500);
    const second = await session.reportFailure();
    assert.ok(second.ok && second.value.switched);
    assert.equal(registrar.count('handleResolution'), 3);
    assert.equal(second.value.to?.id, 2, '1 and 3 both failed recently');

    // Everything failed recently: the least bad choice is still a choice.
    clock.advance(1500);
    const third = await session.reportFailure();
    assert.ok(third.ok && third.value.switched);
    assert.equal(third.value.to?.id, 1);
    assert.equal(registrar.count('endpointUnreachable'), 3);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('no element left: failover to nothing, acquire() picks again; session errors are values; close()', async () => {
  const registrar = await ScriptedRegistrar.start();
  const pu = user(registrar, { staleCacheMs: 0 });
  try {
    const unknown = await pu.session('web');
    assert.ok(!unknown.ok && unknown.error.code === 'unknownPoolHandle');

    registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(1, 9)] });
    const session = await openSession(pu, false);
    const failover = once<FailoverEvent>(session, 'failover');
    const failed = await session.reportFailure();
    // The only element failed: nothing to switch to.
    assert.ok(failed.ok && failed.value.switched && failed.value.to === undefined);
    assert.equal((await failover).to, undefined);
    assert.equal(session.current(), undefined);
    const refused = session.begin();
    assert.ok(!refused.ok && refused.error.code === 'noElement');
    assert.ok(!session.track(() => Promise.resolve(1)).ok);
    // acquire() asks again; the failed element is all there is, so it is the answer.
    const retried = await session.acquire();
    assert.ok(retried.ok && retried.value.id === 1);
    assert.equal(session.current()?.id, 1);

    registrar.pools.set('web', { overallPolicy: { type: PolicyType.priority }, elements: [prio(4, 2)] });
    const moved = await session.reportFailure();
    assert.ok(moved.ok && moved.value.to?.id === 4);

    session.close();
    assert.ok(session.isClosed);
    const closed = session.begin();
    assert.ok(!closed.ok && closed.error.code === 'closed');
    assert.ok(!(await session.reportFailure()).ok);
    assert.ok(!(await session.acquire()).ok);
  } finally {
    await pu.close();
    await registrar.stop();
  }
});

test('closing the pool user closes its sessions', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.pools.set('web', { elements: [element(1, 8001)] });
  const pu = user(registrar);
  try {
    const session = await openSession(pu, true);
    await pu.close();
    assert.ok(session.isClosed);
    const result = await session.acquire();
    assert.ok(!result.ok && result.error.code === 'closed');
  } finally {
    await pu.close();
    await registrar.stop();
  }
});
