/**
 * Pushed status end to end: the real registrar (core/registrar, with its notification center) on loopback,
 * pool elements registered through the PE SDK (or a raw socket, to crash one), each serving requests on a
 * small TCP service, and a pool user whose PoolSession sends requests to them.
 *
 *   subscribed:  an element's connection dies → the session fails over within 100 ms, to the registrar's
 *                replacement; an operator drain → new requests go elsewhere while the in-flight one
 *                finishes on the draining element; the pool empties (A flag + cause 0x9) and comes back.
 *   standard:    no push; the application's request timeout finds the silent element, reportFailure()
 *                sends ENDPOINT_UNREACHABLE to the registrar and switches.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { PoolElement } from '../../../core/client/pool-element.js';
import type { CurrentChange, DrainEvent, DrainedEvent, FailoverEvent, PoolSession } from '../../../core/client/pool-session.js';
import { PoolUser, type PeStatusEvent } from '../../../core/client/pool-user.js';
import { Registrar } from '../../../core/registrar/registrar.js';
import { encodeMessage } from '../../../core/wire/encoder.js';
import { PolicyType } from '../../../core/wire/policy.js';
import { PeStatusCode, PeStatusReason, type PoolElement as WirePoolElement } from '../../../core/wire/types.js';

const POOL = 'echo';
const handle = (text: string): Uint8Array => new TextEncoder().encode(text);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function startRegistrar(t: TestContext): Promise<Registrar> {
  const registrar = await Registrar.start({ asap: { host: '127.0.0.1', port: 0 }, announce: 'off' });
  t.after(() => registrar.close());
  return registrar;
}

/** A pool element's service: answers each request with its name after `delayMs`; a silent one never answers. */
async function service(t: TestContext, name: string, options: { delayMs?: number; silent?: boolean } = {}): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', () => {
      if (options.silent) return;
      setTimeout(() => {
        if (!socket.destroyed) socket.end(name);
      }, options.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** One application request to an element's user transport; rejects on error or after `timeoutMs`. */
function request(element: WirePoolElement, timeoutMs: number): Promise<string> {
  const transport = element.userTransport;
  if (transport.kind !== 'tcp') return Promise.reject(new Error(`not a TCP element: ${transport.kind}`));
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: '127.0.0.1', port: transport.port });
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.write('request');
  });
}

async function element(t: TestContext, registrar: Registrar, id: number, priority: number, servicePort: number): Promise<PoolElement> {
  const pe = new PoolElement({
    poolHandle: POOL,
    identifier: id,
    userTransport: { host: '127.0.0.1', port: servicePort },
    policy: { type: PolicyType.priority, priority },
    registrars: [registrar.asapAddress],
    hunt: { retryDelayMs: 20 },
  });
  t.after(() => pe.close());
  await pe.register();
  return pe;
}

/** An element registered over a raw socket, so the test can kill its connection like a crash. */
async function rawElement(registrar: Registrar, id: number, priority: number, servicePort: number): Promise<net.Socket> {
  const socket = net.createConnection({ host: registrar.asapAddress.host, port: registrar.asapAddress.port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    encodeMessage({
      protocol: 'asap',
      type: 'registration',
      poolHandle: handle(POOL),
      poolElement: {
        id,
        homeServerId: 0,
        registrationLife: 60_000,
        userTransport: { kind: 'tcp', port: servicePort, transportUse: 0, address: '127.0.0.1' },
        policy: { type: PolicyType.priority, priority },
      },
    }),
  );
  await eventually(() => registrar.handlespace.element(handle(POOL), id) !== undefined, `element 0x${id.toString(16)} registered`);
  return socket;
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function until<T>(emitter: { once(event: string, listener: (value: T) => void): unknown }, event: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

async function openSession(t: TestContext, registrar: Registrar, subscribe: boolean): Promise<{ pu: PoolUser; session: PoolSession }> {
  const pu = new PoolUser({ registrars: [registrar.asapAddress] });
  t.after(() => pu.close());
  const opened = await pu.session(POOL, { subscribe });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  return { pu, session: opened.value };
}

test('subscribed: the current element\'s connection dies → the session fails over within 100 ms to the registrar\'s replacement', async (t) => {
  const registrar = await startRegistrar(t);
  const victimPort = await service(t, 'victim');
  const victim = await rawElement(registrar, 0xa1, 9, victimPort);
  await element(t, registrar, 0xb2, 5, await service(t, 'b2'));
  await element(t, registrar, 0xc3, 7, await service(t, 'c3'));

  const { pu, session } = await openSession(t, registrar, true);
  assert.equal(session.subscribed, true);
  assert.equal(registrar.notifications.subscriptionCount, 1);
  assert.equal(session.current()?.id, 0xa1, 'highest priority');
  const first = session.track((pe) => request(pe, 2000));
  assert.ok(first.ok);
  assert.equal(await first.value, 'victim');

  const statuses: PeStatusEvent[] = [];
  pu.on('pe-status', (event) => statuses.push(event));
  const failover = until<FailoverEvent>(session, 'failover');
  const killedAt = performance.now();
  victim.destroy();
  const event = await failover;
  const elapsed = performance.now() - killedAt;
  t.diagnostic(`failover ${elapsed.toFixed(1)} ms after the element's connection was killed`);
  assert.ok(elapsed < 100, `failover took ${elapsed.toFixed(1)} ms`);

  assert.equal(event.from.id, 0xa1);
  assert.ok(typeof event.reason !== 'string');
  assert.equal(event.reason.status, PeStatusCode.failed);
  assert.equal(event.reason.reason, PeStatusReason.connectionLost);
  assert.ok(event.to);
  assert.equal(event.to.id, event.reason.replacementPeId ?? event.to.id);
  assert.equal(event.to.id, 0xc3);
  assert.equal(session.current()?.id, 0xc3);

  const status = statuses.find((s) => s.status.peId === 0xa1);
  assert.ok(status);
  assert.equal(status.statusName, 'failed');
  assert.equal(status.reasonName, 'connectionLost');
  assert.ok(status.latencyMs !== undefined && status.latencyMs >= 0, 'same host: the clocks are comparable');

  const next = session.track((pe) => request(pe, 2000));
  assert.ok(next.ok);
  assert.equal(await next.value, 'c3');
  assert.deepStrictEqual(pu.cached(POOL)?.elements.map((e) => e.id).sort(), [0xb2, 0xc3]);
});

test('subscribed: an operator drain moves new requests at once while the in-flight one finishes on the draining element', async (t) => {
  const registrar = await startRegistrar(t);
  await element(t, registrar, 0xa1, 9, await service(t, 'a1', { delayMs: 300 }));
  await element(t, registrar, 0xb2, 5, await service(t, 'b2', { delayMs: 10 }));
  const { session } = await openSession(t, registrar, true);
  assert.equal(session.current()?.id, 0xa1);

  const inFlight = session.track((pe) => request(pe, 3000));
  assert.ok(inFlight.ok);
  assert.equal(session.inFlight(0xa1), 1);
  const drained = until<DrainedEvent>(session, 'drained');
  const drain = until<DrainEvent>(session, 'drain');
  const operated = registrar.operate(handle(POOL), 0xa1, 'drain', 'kernel upgrade');
  assert.ok(operated.ok);
  const event = await drain;
  assert.equal(event.element.id, 0xa1);
  assert.equal(event.to?.id, 0xb2);
  assert.equal(event.inFlight, 1);
  assert.equal(event.status.status, PeStatusCode.draining);
  assert.equal(event.status.reason, PeStatusReason.operatorDrain);
  assert.equal(event.status.reasonText, 'kernel upgrade');

  // New work goes to b2 and is answered while a1 is still working on the old request.
  assert.equal(session.current()?.id, 0xb2);
  const fresh = session.track((pe) => request(pe, 3000));
  assert.ok(fresh.ok);
  assert.equal(await fresh.value, 'b2');
  assert.equal(session.inFlight(0xa1), 1);

  assert.equal(await inFlight.value, 'a1', 'the in-flight request finished on the draining element');
  assert.equal((await drained).element.id, 0xa1);
  assert.equal(session.inFlight(), 0);
  // The element is still registered, only drained.
  assert.equal(registrar.handlespace.element(handle(POOL), 0xa1)?.admin.state, 'draining');
});

test('subscribed: the pool empties (maintenance of its only element: A flag + cause 0x9) and the session takes the element back when it returns', async (t) => {
  const registrar = await startRegistrar(t);
  await element(t, registrar, 0xa1, 9, await service(t, 'a1'));
  const { pu, session } = await openSession(t, registrar, true);
  assert.equal(session.current()?.id, 0xa1);

  const failover = until<FailoverEvent>(session, 'failover');
  assert.ok(registrar.operate(handle(POOL), 0xa1, 'maintenance', 'disk swap').ok);
  const event = await failover;
  assert.equal(event.to, undefined);
  assert.ok(typeof event.reason !== 'string' && event.reason.status === PeStatusCode.maintenance);
  assert.equal(session.current(), undefined);
  assert.deepStrictEqual(pu.cached(POOL)?.elements, []);
  assert.equal(session.subscribed, true, 'an empty pool is still subscribed');

  const back = until<CurrentChange>(session, 'current');
  assert.ok(registrar.operate(handle(POOL), 0xa1, 'ready', 'done').ok);
  assert.equal((await back).element?.id, 0xa1);
  const answered = session.track((pe) => request(pe, 2000));
  assert.ok(answered.ok);
  assert.equal(await answered.value, 'a1');
});

test('standard mode: no push; the application\'s timeout finds the silent element, reportFailure() reports it to the registrar and switches', async (t) => {
  const registrar = await startRegistrar(t);
  // a1 stays registered (its SDK answers keep-alives) but its service has hung.
  await element(t, registrar, 0xa1, 9, await service(t, 'a1', { silent: true }));
  await element(t, registrar, 0xb2, 5, await service(t, 'b2'));
  const { session } = await openSession(t, registrar, false);
  assert.equal(session.subscribed, false);
  assert.equal(registrar.notifications.subscriptionCount, 0);
  assert.equal(session.current()?.id, 0xa1);

  // The benchmark uses DEFAULT_APPLICATION_REQUEST_TIMEOUT_MS (3 s); 200 ms keeps this test short.
  const started = session.begin();
  assert.ok(started.ok);
  await assert.rejects(request(started.value.element, 200), /no answer within 200 ms/);
  const failover = until<FailoverEvent>(session, 'failover');
  const outcome = await session.reportFailure({ reason: 'timeout', element: started.value.element });
  started.value.end();
  assert.ok(outcome.ok);
  assert.equal(outcome.value.switched, true);
  assert.equal(outcome.value.to?.id, 0xb2);
  assert.deepStrictEqual(outcome.value.report, { ok: true, value: 'sent' });
  const event = await failover;
  assert.equal(event.reason, 'timeout');
  assert.equal(event.from.id, 0xa1);

  await eventually(() => registrar.counters.get('unreachable.reports') === 1, 'the registrar to count the report');
  const answered = session.track((pe) => request(pe, 2000));
  assert.ok(answered.ok);
  assert.equal(await answered.value, 'b2');
});
