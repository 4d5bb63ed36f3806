/**
 * The registrar over real loopback TCP: registration rules and every error cause, deregistration, handle
 * resolution, keep-alive monitoring (manual clock and one real-time run), connection loss, unreachable
 * reports with probing, lifetime expiry, limits, rate limits, malformed input, and 1,000 elements from 50
 * connections. Each test starts its own registrar on an ephemeral port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../core/clock.js';
import type { ElementRemoved, Registrar } from '../../core/registrar/registrar.js';
import { Cause } from '../../core/wire/constants.js';
import { PolicyType } from '../../core/wire/policy.js';
import type { Message, Policy, PoolElement, UserTransport } from '../../core/wire/types.js';
import { AsapTestPeer, handle } from '../support/asap-test-peer.js';
import { connect, startRegistrar } from '../support/registrar-fixture.js';
import { concat, msg, u16, u32 } from '../support/wire-bytes.js';



const tcp = (port: number, address = '127.0.0.1', transportUse = 0): UserTransport => ({ kind: 'tcp', port, transportUse, address });

function element(id: number, overrides: Partial<PoolElement> = {}): PoolElement {
  return { id, homeServerId: 0, registrationLife: 60_000, userTransport: tcp(7000 + (id % 1000)), policy: { type: PolicyType.roundRobin }, ...overrides };
}

function registration(pool: string, pe: PoolElement): Message {
  return { protocol: 'asap', type: 'registration', poolHandle: handle(pool), poolElement: pe };
}

async function register(peer: AsapTestPeer, pool: string, pe: PoolElement) {
  return peer.request(registration(pool, pe), 'registrationResponse', (r) => r.peId === pe.id);
}

async function resolve(peer: AsapTestPeer, pool: string, items?: number) {
  return peer.request({ protocol: 'asap', type: 'handleResolution', subscribe: false, poolHandle: handle(pool), ...(items !== undefined ? { items } : {}) }, 'handleResolutionResponse');
}

function removedEvent(registrar: Registrar, id: number, timeoutMs = 3000): Promise<ElementRemoved> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`element 0x${id.toString(16)} was not removed within ${timeoutMs} ms`)), timeoutMs);
    const listener = (event: ElementRemoved): void => {
      if (event.element.id !== id) return;
      clearTimeout(timer);
      registrar.off('elementRemoved', listener);
      resolve(event);
    };
    registrar.on('elementRemoved', listener);
  });
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));

test('registration is accepted, recorded with the connection as ASAP transport, and resolvable', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  const response = await register(pe, 'echo', element(0x101));
  assert.equal(response.reject, false);
  assert.equal(response.error, undefined);
  const record = registrar.handlespace.element(handle('echo'), 0x101);
  assert.equal(record?.homeServerId, registrar.serverId);
  assert.equal(record?.asapTransport?.kind, 'tcp');
  assert.equal(record?.asapTransport?.kind === 'tcp' && record.asapTransport.port, pe.socket.localPort);

  const pu = await connect(t, registrar);
  const answer = await resolve(pu, 'echo');
  assert.equal(answer.error, undefined);
  assert.deepStrictEqual(answer.poolElements.map((e) => e.id), [0x101]);
  assert.equal(answer.poolElements[0]?.homeServerId, registrar.serverId);
  assert.equal(answer.overallPolicy, undefined, 'Round Robin, the default, is not sent');
});

test('an element registering on 0.0.0.0 is recorded at the address its connection comes from', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  await register(pe, 'wild', element(1, { userTransport: tcp(7001, '0.0.0.0') }));
  const record = registrar.handlespace.element(handle('wild'), 1);
  assert.deepStrictEqual(record?.userTransport, tcp(7001, '127.0.0.1'));
});

test('re-registration from the same connection updates in place (load, lifetime)', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  const lu = (load: number): Policy => ({ type: PolicyType.leastUsed, load });
  await register(pe, 'lu', element(5, { policy: lu(10) }));
  const events: string[][] = [];
  registrar.on('elementRegistered', (e) => events.push([e.outcome.kind, ...e.outcome.changed]));
  const again = await register(pe, 'lu', element(5, { policy: lu(99), registrationLife: 30_000 }));
  assert.equal(again.reject, false);
  assert.equal(registrar.handlespace.element(handle('lu'), 5)?.policy.load, 99);
  assert.equal(registrar.handlespace.element(handle('lu'), 5)?.registrationLife, 30_000);
  assert.equal(registrar.handlespace.elementCount, 1);
  assert.equal(events[0]?.[0], 'reregistered');
  assert.ok(events[0]?.includes('load'));
});

test('the same PE identifier from another connection is rejected with cause 0x4', async (t) => {
  const registrar = await startRegistrar(t);
  const first = await connect(t, registrar);
  const second = await connect(t, registrar);
  await register(first, 'pool', element(7));
  const response = await register(second, 'pool', element(7));
  assert.equal(response.reject, true);
  assert.equal(response.error?.[0]?.code, Cause.nonUniquePeIdentifier);
});

test('inconsistent policy (0x5, with the pool policy), transport (0x7, with a transport) and data/control use (0x8)', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  await register(pe, 'fixed', element(1));
  const policy = await register(pe, 'fixed', element(2, { policy: { type: PolicyType.weightedRoundRobin, weight: 1 } }));
  assert.equal(policy.reject, true);
  assert.equal(policy.error?.[0]?.code, Cause.inconsistentPoolingPolicy);
  assert.equal(policy.error?.[0]?.policy?.type, PolicyType.roundRobin);
  const transport = await register(pe, 'fixed', element(3, { userTransport: { kind: 'udp', port: 9, reserved: 0, address: '127.0.0.1' } }));
  assert.equal(transport.error?.[0]?.code, Cause.inconsistentTransportType);
  assert.equal(transport.error?.[0]?.transport?.kind, 'tcp');
  const use = await register(pe, 'fixed', element(4, { userTransport: tcp(7004, '127.0.0.1', 1) }));
  assert.equal(use.error?.[0]?.code, Cause.inconsistentDataControlConfiguration);
  assert.equal(registrar.handlespace.pool(handle('fixed'))?.size, 1);
});

test('an unsupported policy is rejected with Invalid Values and a reason', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  const notices: string[] = [];
  registrar.on('notice', (n) => notices.push(n.message));
  const response = await register(pe, 'dpf', element(1, { policy: { type: PolicyType.leastUsedDpf, load: 1, loadDpf: 2, distance: 3 } }));
  assert.equal(response.reject, true);
  assert.equal(response.error?.[0]?.code, Cause.invalidValues);
  assert.ok(notices.some((n) => /rejected/.test(n)));
});

test('deregistration: own element removed (and the emptied pool), unknown element succeeds, another connection refused', async (t) => {
  const registrar = await startRegistrar(t);
  const owner = await connect(t, registrar);
  const other = await connect(t, registrar);
  await register(owner, 'dereg', element(9));
  const refused = await other.request({ protocol: 'asap', type: 'deregistration', poolHandle: handle('dereg'), peId: 9 }, 'deregistrationResponse');
  assert.equal(refused.error?.[0]?.code, Cause.rejectedDueToSecurity);
  assert.ok(registrar.handlespace.element(handle('dereg'), 9));
  const removed = removedEvent(registrar, 9);
  const ok = await owner.request({ protocol: 'asap', type: 'deregistration', poolHandle: handle('dereg'), peId: 9 }, 'deregistrationResponse');
  assert.equal(ok.error, undefined);
  assert.equal((await removed).reason, 'deregistered');
  assert.equal(registrar.handlespace.pool(handle('dereg')), undefined, 'an empty pool is removed');
  const unknown = await owner.request({ protocol: 'asap', type: 'deregistration', poolHandle: handle('nothing'), peId: 1 }, 'deregistrationResponse');
  assert.equal(unknown.error, undefined);
});

test('handle resolution: unknown pool gets 0x9; default 3 items; the option asks for more, 0xffffffff for up to 128', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  const unknown = await resolve(pu, 'missing');
  assert.equal(unknown.error?.[0]?.code, Cause.unknownPoolHandle);
  assert.equal(unknown.poolElements.length, 0);
  for (let i = 1; i <= 200; i++) pe.send(registration('big', element(i, { policy: { type: PolicyType.leastUsed, load: i } })));
  await pe.next('registrationResponse', (r) => r.peId === 200);
  assert.equal((await resolve(pu, 'big')).poolElements.length, 3);
  assert.equal((await resolve(pu, 'big', 10)).poolElements.length, 10);
  const all = await resolve(pu, 'big', 0xffffffff);
  assert.equal(all.poolElements.length, 128);
  assert.equal(all.overallPolicy?.type, PolicyType.leastUsed);
  assert.deepStrictEqual(all.poolElements.slice(0, 3).map((e) => e.id), [1, 2, 3], 'Least Used: lowest load first');
});

test('draining and maintenance elements are left out of resolutions; a pool with none left answers 0x9', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  await register(pe, 'admin', element(1));
  await register(pe, 'admin', element(2));
  registrar.handlespace.setAdminState(handle('admin'), 1, 'draining', 'test');
  assert.deepStrictEqual((await resolve(pu, 'admin')).poolElements.map((e) => e.id), [2]);
  registrar.handlespace.setAdminState(handle('admin'), 2, 'maintenance', 'test');
  assert.equal((await resolve(pu, 'admin')).error?.[0]?.code, Cause.unknownPoolHandle);
  registrar.handlespace.setAdminState(handle('admin'), 1, 'ready', 'test');
  assert.deepStrictEqual((await resolve(pu, 'admin')).poolElements.map((e) => e.id), [1]);
});

test('keep-alive (manual clock): answered keep-alives keep an element, a missed ACK fails and removes it', async (t) => {
  const clock = new ManualClock();
  // random() = 0.5 makes the jittered interval exactly 5000 ms.
  const registrar = await startRegistrar(t, { clock, keepAliveIntervalMs: 5000, keepAliveTimeoutMs: 5000, random: () => 0.5 });
  const good = await connect(t, registrar);
  const silent = await connect(t, registrar);
  await register(good, 'ka', element(1));
  await register(silent, 'ka', element(2));
  const answer = async (): Promise<void> => {
    const ka = await good.next('endpointKeepAlive', (m) => m.peId === 1);
    assert.equal(ka.serverId, registrar.serverId);
    assert.deepStrictEqual(ka.poolHandle, handle('ka'));
    good.send({ protocol: 'asap', type: 'endpointKeepAliveAck', poolHandle: handle('ka'), peId: 1 });
    await settle();
  };
  clock.advance(4999);
  assert.equal(good.received.length + silent.received.length, 0, 'no keep-alive before the interval');
  clock.advance(1); // t = 5000: both are probed
  await answer();
  await silent.next('endpointKeepAlive', (m) => m.peId === 2);
  const removed = removedEvent(registrar, 2);
  clock.advance(4999);
  assert.ok(registrar.handlespace.element(handle('ka'), 2), 'not before the timeout');
  clock.advance(1); // t = 10000: the silent element's ACK is overdue; the good one gets its next keep-alive
  const event = await removed;
  assert.equal(event.reason, 'keepAliveTimeout');
  assert.equal(event.element.health.state, 'failed');
  await answer();
  clock.advance(5000);
  await answer();
  assert.ok(registrar.handlespace.element(handle('ka'), 1), 'the answering element stays');
  assert.equal(registrar.handlespace.element(handle('ka'), 2), undefined);
  assert.equal(registrar.counters.get('keepAlive.acked'), 3);
});

test('keep-alive (real time): an element that stops answering is gone within interval × 1.5 + timeout', async (t) => {
  const registrar = await startRegistrar(t, { keepAliveIntervalMs: 300, keepAliveTimeoutMs: 150 });
  const pe = await connect(t, registrar);
  await register(pe, 'rt', element(1));
  const started = Date.now();
  const removed = await removedEvent(registrar, 1, 2000);
  const elapsed = Date.now() - started;
  assert.equal(removed.reason, 'keepAliveTimeout');
  assert.ok(elapsed >= 150 && elapsed <= 300 * 1.5 + 150 + 250, `removed after ${elapsed} ms`);
  assert.ok(pe.received.some((m) => m.type === 'endpointKeepAlive'));
});

test('a lost connection removes all its elements at once', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  for (let i = 1; i <= 5; i++) await register(pe, 'conn', element(i));
  const removals: ElementRemoved[] = [];
  registrar.on('elementRemoved', (e) => removals.push(e));
  await pe.close();
  for (let i = 0; i < 50 && removals.length < 5; i++) await settle();
  assert.equal(removals.length, 5);
  assert.ok(removals.every((r) => r.reason === 'connectionLost'));
  assert.equal(registrar.handlespace.pool(handle('conn')), undefined);
});

test('unreachable report: the element is probed at once; no answer removes it, an answer keeps it', async (t) => {
  const clock = new ManualClock();
  const registrar = await startRegistrar(t, { clock, keepAliveIntervalMs: 60_000, keepAliveTimeoutMs: 1000 });
  const answering = await connect(t, registrar);
  const dead = await connect(t, registrar);
  const pu = await connect(t, registrar);
  await register(answering, 'ur', element(1));
  await register(dead, 'ur', element(2));
  pu.send({ protocol: 'asap', type: 'endpointUnreachable', poolHandle: handle('ur'), peId: 1 });
  pu.send({ protocol: 'asap', type: 'endpointUnreachable', poolHandle: handle('ur'), peId: 2 });
  await answering.next('endpointKeepAlive', (m) => m.peId === 1 && !m.home);
  await dead.next('endpointKeepAlive', (m) => m.peId === 2);
  assert.equal(registrar.handlespace.element(handle('ur'), 2)?.health.state, 'suspect');
  answering.send({ protocol: 'asap', type: 'endpointKeepAliveAck', poolHandle: handle('ur'), peId: 1 });
  await settle();
  const removed = removedEvent(registrar, 2);
  clock.advance(1000);
  assert.equal((await removed).reason, 'unreachable');
  assert.equal(registrar.handlespace.element(handle('ur'), 1)?.health.state, 'up');
});

test('unreachable reports reaching max-bad-pe-reports remove the element', async (t) => {
  const registrar = await startRegistrar(t, { maxBadPeReports: 3, keepAliveTimeoutMs: 60_000 });
  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  await register(pe, 'bad', element(1));
  const removed = removedEvent(registrar, 1);
  for (let i = 0; i < 3; i++) pu.send({ protocol: 'asap', type: 'endpointUnreachable', poolHandle: handle('bad'), peId: 1 });
  const event = await removed;
  assert.equal(event.reason, 'unreachable');
  assert.match(event.detail, /3 unreachable reports/);
});

test('lifetime expiry removes the element and sends it a deregistration response', async (t) => {
  const clock = new ManualClock();
  const registrar = await startRegistrar(t, { clock, keepAliveIntervalMs: 300_000 });
  const pe = await connect(t, registrar);
  await register(pe, 'life', element(1, { registrationLife: 2000 }));
  await register(pe, 'life', element(2, { registrationLife: -1 }));
  const removed = removedEvent(registrar, 1);
  clock.advance(1999);
  assert.ok(registrar.handlespace.element(handle('life'), 1));
  clock.advance(1);
  assert.equal((await removed).reason, 'lifetimeExpired');
  const response = await pe.next('deregistrationResponse', (m) => m.peId === 1);
  assert.deepStrictEqual(response.poolHandle, handle('life'));
  // Life -1 is infinite: ten days later the element has not expired (keep-alives, unanswered by this test
  // peer, are what may remove it).
  const reasons: string[] = [];
  registrar.on('elementRemoved', (e) => reasons.push(e.reason));
  assert.equal(registrar.handlespace.element(handle('life'), 2)?.expiresAt, Infinity);
  clock.advance(10 * 86_400_000);
  assert.ok(!reasons.includes('lifetimeExpired'), reasons.join(', '));
});

test('limits: elements per connection, pools, elements per pool and connections answer Lack of Resources', async (t) => {
  const registrar = await startRegistrar(t, { maxElementsPerConnection: 2, maxPools: 2, maxElementsPerPool: 2, maxConnections: 3 });
  const a = await connect(t, registrar);
  const b = await connect(t, registrar);
  await register(a, 'p1', element(1));
  await register(a, 'p1', element(2));
  assert.equal((await register(a, 'p1', element(3))).error?.[0]?.code, Cause.lackOfResources, 'per connection');
  assert.equal((await register(b, 'p1', element(4))).error?.[0]?.code, Cause.lackOfResources, 'per pool');
  await register(b, 'p2', element(5));
  assert.equal((await register(b, 'p3', element(6))).error?.[0]?.code, Cause.lackOfResources, 'pools');
  const c = await connect(t, registrar);
  void c;
  const d = await connect(t, registrar);
  const error = await d.next('error');
  assert.equal(error.error[0]?.code, Cause.lackOfResources, 'connections');
  await d.ended;
});

test('rate limit: resolutions beyond the per-PU rate are answered with Lack of Resources', async (t) => {
  const registrar = await startRegistrar(t, { maxHandleResolutionRate: 5 });
  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  await register(pe, 'rate', element(1));
  const answers = [];
  for (let i = 0; i < 8; i++) answers.push(await resolve(pu, 'rate'));
  const limited = answers.filter((a) => a.error?.[0]?.code === Cause.lackOfResources).length;
  assert.ok(limited >= 2, `${limited} limited`);
  assert.ok(registrar.counters.get('rateLimited.handleResolution') >= 2);
});

test('malformed input: the RFC error response, counters, and a connection that keeps sending garbage is closed', async (t) => {
  const registrar = await startRegistrar(t, { maxConsecutiveErrors: 3 });
  const good = await connect(t, registrar);
  await register(good, 'safe', element(1));
  const bad = await connect(t, registrar);
  // Unknown parameter with action bits 01 → Unrecognized Parameter with the TLV.
  bad.send(msg(0x05, 0, concat(u16(0x9), u16(8), new TextEncoder().encode('pool'), u16(0x4031), u16(4))));
  const unrecognized = await bad.next('error');
  assert.equal(unrecognized.error[0]?.code, Cause.unrecognizedParameter);
  // Unknown message type with action bits 01 → Unrecognized Message.
  bad.send(msg(0x45, 0, u32(1)));
  assert.equal((await bad.next('error')).error[0]?.code, Cause.unrecognizedMessage);
  // A valid message resets the run of errors; three bad ones in a row close the connection.
  bad.send({ protocol: 'asap', type: 'handleResolution', subscribe: false, poolHandle: handle('safe') });
  await bad.next('handleResolutionResponse');
  for (let i = 0; i < 3; i++) bad.send(msg(0x01, 0, concat(u16(0x9), u16(200))));
  await bad.ended;
  assert.ok(registrar.counters.get('decode.errors') >= 5);
  assert.ok(registrar.counters.get('decode.cause.0x3') >= 3);
  assert.equal(registrar.counters.get('sessions.closedForErrors'), 1);
  // The registrar keeps serving everyone else.
  const pu = await connect(t, registrar);
  assert.deepStrictEqual((await resolve(pu, 'safe')).poolElements.map((e) => e.id), [1]);
});

test('a framing error (length below 4) closes only that connection', async (t) => {
  const registrar = await startRegistrar(t);
  const bad = await connect(t, registrar);
  bad.send(new Uint8Array([1, 0, 0, 2]));
  await bad.ended;
  assert.equal(registrar.counters.get('framing.errors'), 1);
  const pu = await connect(t, registrar);
  assert.equal((await resolve(pu, 'x')).error?.[0]?.code, Cause.unknownPoolHandle);
});

test('1,000 elements from 50 connections register and resolve', async (t) => {
  const registrar = await startRegistrar(t);
  const peers = await Promise.all(Array.from({ length: 50 }, () => connect(t, registrar)));
  await Promise.all(
    peers.map(async (peer, p) => {
      for (let i = 0; i < 20; i++) peer.send(registration(`pool-${p % 5}`, element(p * 100 + i + 1)));
      await peer.next('registrationResponse', (r) => r.peId === p * 100 + 20);
    }),
  );
  assert.equal(registrar.handlespace.elementCount, 1000);
  assert.equal(registrar.handlespace.poolCount, 5);
  assert.equal(registrar.counters.get('registration.new'), 1000);
  const pu = await connect(t, registrar);
  for (let p = 0; p < 5; p++) assert.equal((await resolve(pu, `pool-${p}`, 0xffffffff)).poolElements.length, 128);
});
