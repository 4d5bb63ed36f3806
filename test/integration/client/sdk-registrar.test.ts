/**
 * The client SDKs against the real registrar over loopback TCP: a pool element registers, answers the
 * registrar's keep-alives, re-registers with its new load, deregisters on close, is rejected with the
 * registrar's cause, survives a registrar restart on the same port, fails over to a second registrar, and
 * finds a registrar from its (unicast) announces; a pool user resolves, selects and reports unreachable
 * elements. Each test starts its own registrar(s) on ephemeral ports.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { PoolElement, RegistrationError, type PoolElementOptions, type RegisteredEvent } from '../../../core/client/pool-element.js';
import { PoolUser } from '../../../core/client/pool-user.js';
import { RegistrarDiscovery } from '../../../core/client/registrar-discovery.js';
import { Registrar, type ElementRemoved, type RegistrarStartOptions } from '../../../core/registrar/registrar.js';
import { PolicyType } from '../../../core/wire/policy.js';

const handle = (text: string): Uint8Array => new TextEncoder().encode(text);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function startRegistrar(t: TestContext, options: RegistrarStartOptions = {}): Promise<Registrar> {
  const registrar = await Registrar.start({ asap: { host: '127.0.0.1', port: 0 }, announce: 'off', ...options });
  t.after(() => registrar.close());
  return registrar;
}

function poolElement(t: TestContext, registrars: readonly Registrar[], options: Partial<PoolElementOptions> = {}): PoolElement {
  const pe = new PoolElement({
    poolHandle: 'echo',
    userTransport: { host: '127.0.0.1', port: 7000 },
    registrars: registrars.map((r) => r.asapAddress),
    hunt: { retryDelayMs: 20 },
    ...options,
  });
  t.after(() => pe.close());
  return pe;
}

function until<T>(emitter: { once(event: string, listener: (value: T) => void): unknown }, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('register, resolve, select: the registrar lists the element with its user transport and home', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = poolElement(t, [registrar], { identifier: 0x5eed });
  await pe.register();
  const record = registrar.handlespace.element(handle('echo'), 0x5eed);
  assert.ok(record);
  assert.equal(record.homeServerId, registrar.serverId);

  const pu = new PoolUser({ registrars: [registrar.asapAddress] });
  t.after(() => pu.close());
  const resolved = await pu.resolve('echo');
  assert.ok(resolved.ok);
  assert.deepStrictEqual(resolved.value.elements.map((e) => e.id), [0x5eed]);
  assert.deepStrictEqual(resolved.value.elements[0]?.userTransport, { kind: 'tcp', port: 7000, transportUse: 0, address: '127.0.0.1' });
  const chosen = pu.select('echo');
  assert.ok(chosen.ok && chosen.value.id === 0x5eed);

  const unknown = await pu.resolve('nobody');
  assert.ok(!unknown.ok && unknown.error.code === 'unknownPoolHandle' && unknown.error.cause === 0x9);
});

test('keep-alives from the registrar are answered: the element stays registered past several keep-alive rounds', async (t) => {
  const registrar = await startRegistrar(t, { keepAliveIntervalMs: 300, keepAliveTimeoutMs: 300 });
  const pe = poolElement(t, [registrar], { identifier: 0x4a });
  let keepAlives = 0;
  pe.on('keepAlive', () => keepAlives++);
  let removed: ElementRemoved | undefined;
  registrar.on('elementRemoved', (event) => (removed = event));
  await pe.register();
  await sleep(1500);
  assert.ok(keepAlives >= 2, `only ${keepAlives} keep-alives`);
  assert.equal(removed, undefined);
  assert.ok(registrar.handlespace.element(handle('echo'), 0x4a));
});

test('setLoad: the registrar holds the new load at once', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = poolElement(t, [registrar], { identifier: 0x10ad, policy: { type: PolicyType.leastUsed, load: 0 } });
  await pe.register();
  const updated = until<RegisteredEvent>(pe, 'registered');
  pe.setLoad(0x40000000);
  assert.equal((await updated).reason, 'policyChange');
  assert.equal(registrar.handlespace.element(handle('echo'), 0x10ad)?.policy.load, 0x40000000);
});

test('close deregisters: the registrar removes the element with reason "deregistered"', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = poolElement(t, [registrar], { identifier: 0xd0 });
  await pe.register();
  const removed = until<ElementRemoved>(registrar, 'elementRemoved');
  await pe.close();
  const event = await removed;
  assert.equal(event.reason, 'deregistered');
  assert.equal(event.element.id, 0xd0);
});

test('a registration inconsistent with the pool is rejected with the registrar\'s cause (0x5)', async (t) => {
  const registrar = await startRegistrar(t);
  const first = poolElement(t, [registrar], { identifier: 1, policy: { type: PolicyType.roundRobin } });
  await first.register();
  const second = poolElement(t, [registrar], { identifier: 2, policy: { type: PolicyType.random } });
  await assert.rejects(second.register(), (error: unknown) => error instanceof RegistrationError && error.kind === 'rejected' && error.causeCode === 0x5);
});

test('registrar restart on the same port: the element re-registers with the same PE id', async (t) => {
  const first = await Registrar.start({ asap: { host: '127.0.0.1', port: 0 }, announce: 'off' });
  const { port } = first.asapAddress;
  const pe = poolElement(t, [first], { identifier: 0xcafe });
  await pe.register();
  const lost = until(pe, 'registrarLost');
  await first.close();
  await lost;
  const again = until<RegisteredEvent>(pe, 'registered');
  const second = await startRegistrar(t, { asap: { host: '127.0.0.1', port } });
  assert.equal((await again).reason, 'reconnect');
  assert.ok(second.handlespace.element(handle('echo'), 0xcafe));
});

test('failover: when its registrar goes away the element re-registers with the other one at once', async (t) => {
  const a = await Registrar.start({ asap: { host: '127.0.0.1', port: 0 }, announce: 'off' });
  const b = await startRegistrar(t);
  const pe = poolElement(t, [a, b], { identifier: 0xf0, hunt: { retryDelayMs: 20, parallel: 1 } });
  await pe.register();
  assert.deepStrictEqual(pe.registrar, a.asapAddress);
  const again = until<RegisteredEvent>(pe, 'registered');
  await a.close();
  await again;
  assert.deepStrictEqual(pe.registrar, b.asapAddress);
  assert.ok(b.handlespace.element(handle('echo'), 0xf0));
});

test('discovery: an element with no static list finds the registrar from its unicast announces', async (t) => {
  const discovery = new RegistrarDiscovery();
  t.after(() => discovery.close());
  const bound = await discovery.listen({ host: '127.0.0.1', port: 0, multicastGroup: false });
  assert.ok(bound.ok);
  const registrar = await startRegistrar(t, { announceTargets: [{ host: '127.0.0.1', port: bound.value.port }], announceIntervalMs: 100 });
  const pe = poolElement(t, [], { discovery, identifier: 0xa11 });
  await pe.register();
  assert.deepStrictEqual(pe.registrar, registrar.asapAddress);
  assert.equal(discovery.serverIdOf(registrar.asapAddress), registrar.serverId);
  assert.equal(pe.homeServerId, registrar.serverId);
});

test('unreachable report: sent once; the registrar probes the element, which answers and stays', async (t) => {
  const registrar = await startRegistrar(t);
  const pe = poolElement(t, [registrar], { identifier: 0xbad });
  await pe.register();
  const pu = new PoolUser({ registrars: [registrar.asapAddress] });
  t.after(() => pu.close());
  assert.ok((await pu.resolve('echo')).ok);
  const probed = until(pe, 'keepAlive');
  assert.deepStrictEqual(await pu.reportUnreachable('echo', 0xbad), { ok: true, value: 'sent' });
  assert.deepStrictEqual(await pu.reportUnreachable('echo', 0xbad), { ok: true, value: 'alreadyReported' });
  await probed;
  await eventually(() => registrar.counters.get('keepAlive.acked') >= 1, 'the probe to be answered');
  assert.equal(registrar.counters.get('unreachable.reports'), 1);
  assert.ok(registrar.handlespace.element(handle('echo'), 0xbad));
});
