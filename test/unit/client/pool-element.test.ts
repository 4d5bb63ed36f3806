/**
 * PoolElement against a scripted registrar: what the registration carries, rejection with a cause (not
 * retried), keep-alive answers (and what is ignored), re-registration with the new load (coalesced),
 * periodic re-registration on a ManualClock, deregistration on close, re-registration with the same PE id
 * after the registrar restarts, and the hunt past a dead first registrar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../core/clock.js';
import { PoolElement, RegistrationError, type DeregisteredEvent, type KeepAliveEvent, type RegisteredEvent, type RegistrarLostEvent, type RegistrationFailure } from '../../../core/client/pool-element.js';
import { PolicyType } from '../../../core/wire/policy.js';
import type { AsapMessage, AsapRegistration } from '../../../core/wire/types.js';
import { ScriptedRegistrar, deadPort, once, sleep, text } from './scripted-registrar.js';

const isRegistration = (m: AsapMessage): m is AsapRegistration => m.type === 'registration';

async function registration(registrar: ScriptedRegistrar): Promise<AsapRegistration> {
  const { message } = await registrar.next(isRegistration);
  assert.ok(isRegistration(message));
  return message;
}

function element(registrar: ScriptedRegistrar, extra: Partial<ConstructorParameters<typeof PoolElement>[0]> = {}): PoolElement {
  return new PoolElement({
    poolHandle: 'echo',
    identifier: 0x1234abcd,
    userTransport: { host: '127.0.0.1', port: 7000 },
    registrars: [`127.0.0.1:${registrar.port}`],
    hunt: { retryDelayMs: 20 },
    ...extra,
  });
}

test('register: the registration carries handle, PE id, life = 3 × interval (ms), TCP transport and policy', async () => {
  const registrar = await ScriptedRegistrar.start();
  const pe = element(registrar, { reregistrationIntervalMs: 10_000, policy: { type: PolicyType.leastUsed, load: 5 }, userTransport: { host: '127.0.0.1', port: 7000, transportUse: 'dataAndControl' } });
  try {
    const registered = once<RegisteredEvent>(pe, 'registered');
    await pe.register();
    assert.equal(pe.state, 'registered');
    const event = await registered;
    assert.equal(event.reason, 'initial');
    assert.deepStrictEqual(event.registrar, registrar.address);
    const sent = await registration(registrar);
    assert.deepStrictEqual(sent.poolHandle, text('echo'));
    assert.deepStrictEqual(sent.poolElement, {
      id: 0x1234abcd,
      homeServerId: 0,
      registrationLife: 30_000,
      userTransport: { kind: 'tcp', port: 7000, transportUse: 1, address: '127.0.0.1' },
      policy: { type: PolicyType.leastUsed, load: 5 },
    });
    // Already registered: resolves at once, sends nothing.
    await pe.register();
    assert.equal(registrar.count('registration'), 1);
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('default PE identifier: random, non-zero, 32-bit; bad options throw RangeError', () => {
  const ids = new Set<number>();
  for (let i = 0; i < 50; i++) ids.add(new PoolElement({ poolHandle: 'p', userTransport: { host: '127.0.0.1', port: 1 }, registrars: ['127.0.0.1:1'] }).identifier);
  assert.ok(ids.size > 45);
  for (const id of ids) assert.ok(Number.isInteger(id) && id > 0 && id <= 0xffffffff);
  assert.throws(() => new PoolElement({ poolHandle: '', userTransport: { host: '127.0.0.1', port: 1 } }), RangeError);
  assert.throws(() => new PoolElement({ poolHandle: 'x'.repeat(33), userTransport: { host: '127.0.0.1', port: 1 } }), RangeError);
  assert.throws(() => new PoolElement({ poolHandle: 'p', identifier: 0, userTransport: { host: '127.0.0.1', port: 1 } }), RangeError);
  const pe = new PoolElement({ poolHandle: 'p', userTransport: { host: '127.0.0.1', port: 1 }, registrars: ['127.0.0.1:1'], policy: { type: PolicyType.leastUsed } });
  assert.throws(() => pe.setLoad(-1), RangeError);
  assert.throws(() => pe.setLoad(2 ** 32), RangeError);
  assert.throws(() => pe.setPolicy({ type: PolicyType.leastUsed, load: -5 }), RangeError);
  // Host names have no wire form: refused at once, not inside the registration loop.
  assert.throws(() => new PoolElement({ poolHandle: 'p', userTransport: { host: 'localhost', port: 1 }, registrars: ['127.0.0.1:1'] }), RangeError);
  assert.throws(() => new PoolElement({ poolHandle: 'p', userTransport: { host: '127.0.0.1', port: 70000 }, registrars: ['127.0.0.1:1'] }), RangeError);
});

test('a rejection rejects register() with the cause code and is not retried unchanged', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.respond = (m) =>
    m.type === 'registration'
      ? [{ protocol: 'asap', type: 'registrationResponse', reject: true, poolHandle: m.poolHandle, peId: m.poolElement.id, error: [{ code: 0x5, policy: { type: PolicyType.random } }] }]
      : [];
  const pe = element(registrar);
  try {
    const failed = once<RegistrationFailure>(pe, 'registrationFailed');
    await assert.rejects(pe.register(), (error: unknown) => {
      assert.ok(error instanceof RegistrationError);
      assert.equal(error.kind, 'rejected');
      assert.equal(error.causeCode, 0x5);
      assert.deepStrictEqual(error.causes[0]?.policy, { type: PolicyType.random });
      return true;
    });
    const failure = await failed;
    assert.equal(failure.kind, 'rejected');
    assert.equal(failure.kind === 'rejected' && failure.causeCode, 0x5);
    assert.equal(pe.state, 'rejected');
    await sleep(200);
    assert.equal(registrar.count('registration'), 1);
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('keep-alive: answered with an ACK (handle + own PE id); other handle or other PE id ignored; H flag adopts the home', async () => {
  const registrar = await ScriptedRegistrar.start();
  const pe = element(registrar, { reregistrationIntervalMs: 60_000 });
  try {
    await pe.register();
    const keepAlives: KeepAliveEvent[] = [];
    pe.on('keepAlive', (event) => keepAlives.push(event));
    registrar.send({ protocol: 'asap', type: 'endpointKeepAlive', home: false, serverId: 0x51, poolHandle: text('other'), peId: 0x1234abcd });
    registrar.send({ protocol: 'asap', type: 'endpointKeepAlive', home: false, serverId: 0x51, poolHandle: text('echo'), peId: 0x999 });
    registrar.send({ protocol: 'asap', type: 'endpointKeepAlive', home: false, serverId: 0x51, poolHandle: text('echo') });
    const ack = await registrar.next((m) => m.type === 'endpointKeepAliveAck');
    assert.deepStrictEqual(ack.message, { protocol: 'asap', type: 'endpointKeepAliveAck', poolHandle: text('echo'), peId: 0x1234abcd });
    await sleep(100);
    // Only the matching keep-alive was answered.
    assert.equal(registrar.count('endpointKeepAliveAck'), 1);
    assert.equal(keepAlives.length, 1);
    assert.equal(keepAlives[0]?.homeChanged, false);
    assert.equal(pe.homeServerId, 0);

    registrar.send({ protocol: 'asap', type: 'endpointKeepAlive', home: true, serverId: 0x77, poolHandle: text('echo'), peId: 0x1234abcd });
    await registrar.next((m) => m.type === 'endpointKeepAliveAck');
    assert.equal(pe.homeServerId, 0x77);
    assert.equal(keepAlives[1]?.homeChanged, true);
    // The next registration names the adopted home.
    await registration(registrar);
    pe.setPolicy({ type: PolicyType.roundRobin });
    assert.equal((await registration(registrar)).poolElement.homeServerId, 0x77);
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('setLoad re-registers promptly with the new load; a burst of changes is coalesced', async () => {
  const registrar = await ScriptedRegistrar.start();
  const pe = element(registrar, { policy: { type: PolicyType.leastUsed, load: 0 }, policyUpdateSpacingMs: 100, reregistrationIntervalMs: 60_000 });
  try {
    await pe.register();
    await registration(registrar);
    const registered: RegisteredEvent[] = [];
    pe.on('registered', (event) => registered.push(event));
    pe.setLoad(1000);
    const first = await registration(registrar);
    assert.equal(first.poolElement.policy.load, 1000);
    // Within the spacing: four changes, one registration carrying the last value.
    pe.setLoad(2000);
    pe.setLoad(3000);
    pe.setLoad(4000);
    pe.setLoad(0x80000000);
    const second = await registration(registrar);
    assert.equal(second.poolElement.policy.load, 0x80000000);
    assert.equal(second.poolElement.id, 0x1234abcd);
    await sleep(250);
    assert.equal(registrar.count('registration'), 3);
    assert.deepStrictEqual(registered.map((event) => event.reason), ['policyChange', 'policyChange']);
    // A field the policy does not carry (weight in LU) sends nothing.
    pe.setWeight(5);
    await sleep(150);
    assert.equal(registrar.count('registration'), 3);
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('periodic re-registration every interval, on the injected clock', async () => {
  const registrar = await ScriptedRegistrar.start();
  const clock = new ManualClock();
  const pe = element(registrar, { clock, reregistrationIntervalMs: 10_000 });
  try {
    await pe.register();
    await registration(registrar);
    const periodic = once<RegisteredEvent>(pe, 'registered');
    clock.advance(9_999);
    await sleep(50);
    assert.equal(registrar.count('registration'), 1);
    clock.advance(1);
    assert.equal((await registration(registrar)).poolElement.registrationLife, 30_000);
    assert.equal((await periodic).reason, 'periodic');
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('close deregisters (handle + PE id), waits for the response, then closes the connection', async () => {
  const registrar = await ScriptedRegistrar.start();
  const pe = element(registrar);
  await pe.register();
  const deregistered = once<DeregisteredEvent>(pe, 'deregistered');
  await pe.close();
  const { message } = await registrar.next((m) => m.type === 'deregistration');
  assert.deepStrictEqual(message, { protocol: 'asap', type: 'deregistration', poolHandle: text('echo'), peId: 0x1234abcd });
  const event = await deregistered;
  assert.equal(event.initiator, 'element');
  assert.equal(event.confirmed, true);
  assert.equal(pe.state, 'closed');
  await sleep(50);
  assert.equal(registrar.sockets.size, 0);
  await assert.rejects(pe.register(), RegistrationError);
  await pe.close();
  await registrar.stop();
});

test('close does not hang when the registrar never answers the deregistration', async () => {
  const registrar = await ScriptedRegistrar.start();
  const pe = element(registrar, { deregistrationTimeoutMs: 100 });
  await pe.register();
  registrar.respond = () => [];
  const deregistered = once<DeregisteredEvent>(pe, 'deregistered');
  const started = Date.now();
  await pe.close();
  assert.ok(Date.now() - started < 1000);
  assert.equal((await deregistered).confirmed, false);
  await registrar.stop();
});

test('registrar restart: the element hunts and re-registers at once with the same PE id', async () => {
  const registrar = await ScriptedRegistrar.start();
  const port = registrar.port;
  const pe = element(registrar, { reregistrationIntervalMs: 60_000 });
  try {
    await pe.register();
    await registration(registrar);
    const lost = once<RegistrarLostEvent>(pe, 'registrarLost');
    await registrar.stop();
    assert.deepStrictEqual((await lost).registrar, { host: '127.0.0.1', port });
    assert.equal(pe.state, 'registering');
    await sleep(50);
    const again = once<RegisteredEvent>(pe, 'registered');
    await registrar.listen(port);
    const event = await again;
    assert.equal(event.reason, 'reconnect');
    const sent = await registration(registrar);
    assert.equal(sent.poolElement.id, 0x1234abcd);
    assert.equal(pe.state, 'registered');
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('hunt over a static list with a dead first entry: registers with the live one', async () => {
  const registrar = await ScriptedRegistrar.start();
  const dead = await deadPort();
  const pe = element(registrar, { registrars: [`127.0.0.1:${dead}`, `127.0.0.1:${registrar.port}`] });
  try {
    await pe.register();
    assert.deepStrictEqual(pe.registrar, registrar.address);
    assert.equal((await registration(registrar)).poolElement.id, 0x1234abcd);
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('no registration response: after MAX-REG-ATTEMPT (2) attempts register() fails with "timeout"', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.respond = () => [];
  const pe = element(registrar, { requestTimeoutMs: 100 });
  try {
    const failures: RegistrationFailure[] = [];
    pe.on('registrationFailed', (failure) => failures.push(failure));
    await assert.rejects(pe.register(), (error: unknown) => error instanceof RegistrationError && error.kind === 'timeout');
    assert.equal(registrar.count('registration'), 2);
    assert.deepStrictEqual(failures.map((f) => f.kind), ['timeout', 'timeout']);
    assert.equal(pe.state, 'idle');
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('aborting register() stops the attempt (and deregisters what may have landed); register() works again later', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.respond = (m) => (m.type === 'registration' ? [] : registrar.defaultAnswer(m));
  const pe = element(registrar);
  try {
    const controller = new AbortController();
    const pending = pe.register(controller.signal);
    await registration(registrar);
    controller.abort();
    await assert.rejects(pending, (error: unknown) => error instanceof RegistrationError && error.kind === 'aborted');
    await registrar.next((m) => m.type === 'deregistration');
    for (let i = 0; i < 50 && pe.state !== 'idle'; i++) await sleep(10);
    assert.equal(pe.state, 'idle');
    registrar.respond = (m) => registrar.defaultAnswer(m);
    await pe.register();
    assert.equal(pe.state, 'registered');
    assert.equal(registrar.count('registration'), 2);
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('aborting register() while no registrar is reachable ends the hunt', async () => {
  const dead = await deadPort();
  const pe = new PoolElement({ poolHandle: 'echo', userTransport: { host: '127.0.0.1', port: 7000 }, registrars: [`127.0.0.1:${dead}`], hunt: { retryDelayMs: 20 } });
  const controller = new AbortController();
  const pending = pe.register(controller.signal);
  await sleep(50);
  controller.abort();
  await assert.rejects(pending, (error: unknown) => error instanceof RegistrationError && error.kind === 'aborted');
  await pe.close();
  assert.equal(pe.state, 'closed');
});

test('the registrar dropping the element on its own (lifetime expiry) is a "deregistered" event', async () => {
  const registrar = await ScriptedRegistrar.start();
  const pe = element(registrar, { reregistrationIntervalMs: 60_000 });
  try {
    await pe.register();
    const deregistered = once<DeregisteredEvent>(pe, 'deregistered');
    registrar.send({ protocol: 'asap', type: 'deregistrationResponse', poolHandle: text('echo'), peId: 0x1234abcd });
    const event = await deregistered;
    assert.equal(event.initiator, 'registrar');
    assert.equal(pe.state, 'registering');
  } finally {
    await pe.close();
    await registrar.stop();
  }
});

test('a registrar that drops every connection at once is redialled with back-off, not in a tight loop', async () => {
  const registrar = await ScriptedRegistrar.start();
  registrar.respond = (_m, peer) => {
    peer.destroy();
    return [];
  };
  const pe = element(registrar);
  try {
    const pending = pe.register();
    pending.catch(() => undefined);
    await sleep(600);
    // Immediate retry, then 250 ms, 500 ms, …: a handful of attempts, not hundreds.
    const attempts = registrar.count('registration');
    assert.ok(attempts >= 2 && attempts <= 5, `${attempts} registrations in 600 ms`);
  } finally {
    await pe.close();
    await registrar.stop();
  }
});
