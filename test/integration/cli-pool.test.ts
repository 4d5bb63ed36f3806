/**
 * `handlespace pe` and `handlespace pu` against a real registrar: the echo service registers, echoes,
 * reports its load (Least Used), shows up in `pu` output, and deregisters when stopped; `pu --watch`
 * prints the pushed status notifications.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { main } from '../../core/cli/main.js';
import { peCommand, puCommand } from '../../core/cli/pool-commands.js';
import { parsePolicy } from '../../core/cli/policy-argument.js';
import { Registrar } from '../../core/registrar/registrar.js';
import { PolicyType } from '../../core/wire/policy.js';
import { memoryIo } from '../support/memory-io.js';
import { AsapTestPeer } from '../support/asap-test-peer.js';


const handle = (s: string): Uint8Array => new TextEncoder().encode(s);

test('pe registers an echo service that reports its load; pu lists it; stopping pe deregisters', async (t) => {
  const registrar = await Registrar.start({ asap: { host: '127.0.0.1', port: 0 }, announce: 'off' });
  t.after(() => registrar.close());
  const registrarArg = `127.0.0.1:${registrar.asapAddress.port}`;
  let stop: (s: string) => void = () => {};
  let registered: (id: number, port: number) => void = () => {};
  const ready = new Promise<[number, number]>((r) => (registered = (id, port) => r([id, port])));
  const io = memoryIo();
  const running = peCommand(['--pool', 'echo', '--listen', '127.0.0.1:0', '--registrar', registrarArg, '--policy', 'lu', '--capacity', '2'], io, {
    stopSignal: new Promise((r) => (stop = r)),
    onRegistered: (element, service) => registered(element.identifier, service.port),
  });
  const [id, port] = await ready;
  assert.equal(registrar.handlespace.element(handle('echo'), id)?.policy.type, PolicyType.leastUsed);

  // The service echoes, and one of two connections is half the capacity: load 0x7fffffff or so.
  const client = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((r) => client.once('connect', () => r()));
  const echoed = new Promise<string>((r) => client.once('data', (d: Buffer) => r(d.toString())));
  client.write('ping');
  assert.equal(await echoed, 'ping');
  const deadline = Date.now() + 3000;
  while ((registrar.handlespace.element(handle('echo'), id)?.policy.load ?? 0) < 0x70000000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok((registrar.handlespace.element(handle('echo'), id)?.policy.load ?? 0) >= 0x70000000, 'the load reached the registrar');

  const pu = memoryIo();
  assert.equal(await main(['pu', '--pool', 'echo', '--registrar', registrarArg], pu), 0, pu.err());
  const listed = JSON.parse(pu.out()) as { pool: string; elements: { id: string; userTransport: { port: number } }[] };
  assert.equal(listed.pool, 'echo');
  assert.deepStrictEqual(listed.elements.map((e) => [e.id, e.userTransport.port]), [[`0x${id.toString(16).padStart(8, '0')}`, port]]);

  client.destroy();
  stop('SIGTERM');
  assert.equal(await running, 0);
  assert.equal(registrar.handlespace.element(handle('echo'), id), undefined, 'deregistered on stop');
  const unknown = memoryIo();
  assert.equal(await main(['pu', '--pool', 'echo', '--registrar', registrarArg], unknown), 1);
  assert.match(unknown.out(), /unknownPoolHandle/);
});

test('policy arguments: every policy parses, bad ones say why', () => {
  assert.deepStrictEqual(parsePolicy('wrr:5'), { ok: true, value: { type: PolicyType.weightedRoundRobin, weight: 5 } });
  assert.deepStrictEqual(parsePolicy('prio:0x10'), { ok: true, value: { type: PolicyType.priority, priority: 16 } });
  assert.deepStrictEqual(parsePolicy('lud:50%'), { ok: true, value: { type: PolicyType.leastUsedDegradation, load: 0, loadDegradation: 2147483648 } });
  for (const ok of ['rr', 'rand', 'wrand:1', 'lu', 'plu:1%', 'rlu']) assert.ok(parsePolicy(ok).ok, ok);
  for (const bad of ['wrr', 'rr:3', 'lud:150%', 'xyz', 'wrr:-1', 'prio:1:2']) {
    const r = parsePolicy(bad);
    assert.ok(!r.ok && r.error.length > 0, bad);
  }
});

test('pe and pu refuse missing or bad options with exit status 2', async () => {
  const io = memoryIo();
  assert.equal(await main(['pe', '--pool', 'x'], io), 2);
  assert.match(io.err(), /--listen HOST:PORT is required/);
  assert.equal(await main(['pe', '--pool', 'x', '--listen', '127.0.0.1:0', '--policy', 'nope'], memoryIo()), 2);
  assert.equal(await main(['pu'], memoryIo()), 2);
});

test('pu --watch prints one JSON line per pushed status (drain, then connection lost)', async (t) => {
  const registrar = await Registrar.start({ asap: { host: '127.0.0.1', port: 0 }, announce: 'off' });
  t.after(() => registrar.close());
  const pe = await AsapTestPeer.connect(registrar.asapAddress.port);
  t.after(() => pe.close());
  for (const id of [1, 2]) {
    await pe.request(
      { protocol: 'asap', type: 'registration', poolHandle: handle('watch'), poolElement: { id, homeServerId: 0, registrationLife: 60_000, userTransport: { kind: 'tcp', port: 7000 + id, transportUse: 0, address: '127.0.0.1' }, policy: { type: PolicyType.roundRobin } } },
      'registrationResponse',
      (m) => m.peId === id,
    );
  }
  const io = memoryIo();
  let stop: (s: string) => void = () => {};
  let subscribed: () => void = () => {};
  const ready = new Promise<void>((r) => (subscribed = r));
  const watching = puCommand(['--pool', 'watch', '--registrar', `127.0.0.1:${registrar.asapAddress.port}`, '--watch'], io, { stopSignal: new Promise((r) => (stop = r)), onSubscribed: () => subscribed() });
  await ready;
  registrar.operate(handle('watch'), 1, 'drain', 'kernel upgrade');
  const lines = async (n: number): Promise<Record<string, unknown>[]> => {
    for (let i = 0; i < 200 && io.out().trim().split('\n').length < n; i++) await new Promise((r) => setTimeout(r, 10));
    return io.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  const first = await lines(2);
  assert.deepStrictEqual(first[0]?.['elements'], ['0x00000001', '0x00000002']);
  assert.equal(first[0]?.['subscribed'], true);
  assert.equal(first[1]?.['status'], 'draining');
  assert.equal(first[1]?.['reason'], 'operatorDrain');
  assert.equal(first[1]?.['element'], '0x00000001');
  assert.equal(first[1]?.['reasonText'], 'kernel upgrade');
  assert.equal(first[1]?.['replacement'], '0x00000002');
  assert.equal(first[1]?.['sequence'], 1);
  await pe.close();
  const all = await lines(4);
  const lost = all.slice(2);
  // Both elements leave with their connection, in one push: sequences 2 and 3, in either element order.
  assert.deepStrictEqual(lost.map((l) => l['sequence']), [2, 3]);
  assert.deepStrictEqual(lost.map((l) => [l['element'], l['status'], l['reason']]).sort(), [
    ['0x00000001', 'failed', 'connectionLost'],
    ['0x00000002', 'failed', 'connectionLost'],
  ]);
  stop('SIGINT');
  assert.equal(await watching, 0);
});
