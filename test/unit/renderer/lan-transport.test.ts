/**
 * The LAN transport (renderer/src/api/lan-transport.ts) with a fake fetch and a fake WebSocket injected:
 * URLs under the origin's /api/v1, the bearer header, pool handles percent-encoded, query parameters, a
 * refused token stopping every further request, and the event stream resuming with ?epoch=&since= after
 * a drop, with back-off.
 *
 * The module needs DOM types (window, document, CloseEvent, RequestInit.cache) that the root tsconfig does
 * not include, so it is loaded with a computed specifier (tsc does not follow it) and typed here by the
 * ConsoleApi contract. At run time it loads under Node as is: it touches browser globals only for defaults
 * this test replaces.
 */
import { test, mock, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { API_PREFIX, type ConsoleApi, type EventStreamMessage, type Snapshot } from '../../../core/console/contract.js';
import type { ConnectionWatch } from '../../../renderer/src/api/connection-state.js';

interface FetchCall {
  readonly url: string;
  readonly init: { method?: string; headers?: Record<string, string>; body?: string; cache?: string };
}
type FakeFetch = (url: string, init: FetchCall['init']) => Promise<Response>;

interface LanApi extends ConsoleApi {
  readonly connection: ConnectionWatch;
  readonly serverOrigin: string;
}
interface LanTransportModule {
  LanConsoleApi: new (options: { origin?: string; token: string; fetch?: FakeFetch; WebSocket?: unknown; saveDownload?: (blob: Blob, fileName: string) => void }) => LanApi;
  poolSegment(pool: string): string;
  TOKEN_SUBPROTOCOL_PREFIX: string;
  EVENTS_SUBPROTOCOL: string;
}

const specifier = '../../../renderer/src/api/lan-transport.js';
const { LanConsoleApi, poolSegment, TOKEN_SUBPROTOCOL_PREFIX, EVENTS_SUBPROTOCOL } = (await import(specifier)) as LanTransportModule;

const ORIGIN = 'http://127.0.0.1:8347';
const TOKEN = 'hs_secret-token';

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** A fetch that records its calls and answers from `answer` (default: an ok envelope). */
function fakeFetch(answer: (call: FetchCall) => Response | Promise<Response> = () => json({ ok: true, value: {} })): { fetch: FakeFetch; calls: FetchCall[] } {
  const calls: FetchCall[] = [];
  return {
    calls,
    fetch: async (url, init) => {
      const call = { url, init };
      calls.push(call);
      return answer(call);
    },
  };
}

class FakeSocket {
  static instances: FakeSocket[] = [];
  readonly url: string;
  readonly protocols: string[];
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  closedWith: [number | undefined, string | undefined] | null = null;

  constructor(url: string, protocols: string[]) {
    this.url = url;
    this.protocols = protocols;
    FakeSocket.instances.push(this);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = [code, reason];
  }

  /** Test side: the server sends a message. */
  receive(message: EventStreamMessage | string): void {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) });
  }

  /** Test side: the connection drops. */
  drop(code = 1006, reason = ''): void {
    this.onclose?.({ code, reason });
  }
}

function sockets(t: TestContext): FakeSocket[] {
  FakeSocket.instances = [];
  t.after(() => {
    FakeSocket.instances = [];
  });
  return FakeSocket.instances;
}

function api(fetch: FakeFetch, origin = ORIGIN): LanApi {
  return new LanConsoleApi({ origin, token: TOKEN, fetch, WebSocket: FakeSocket });
}

const hello = (epoch: string, sequence: number): EventStreamMessage => ({ kind: 'hello', epoch, sequence, identity: { actor: 'token 1', role: 'operator' } });
const events = (...seqs: number[]): EventStreamMessage => ({
  kind: 'events',
  events: seqs.map((seq) => ({ seq, time: seq, type: 'poolUserClosed', connectionId: 1, reason: 'closed' })),
});

test('requests go to ORIGIN/api/v1/... with the bearer token, JSON accept and no caching', async () => {
  const { fetch, calls } = fakeFetch(() => json({ ok: true, value: { actor: 'token 1', role: 'viewer' } }));
  const lan = api(fetch);
  assert.equal(lan.serverOrigin, ORIGIN);
  const result = await lan.identity();
  assert.deepEqual(result, { ok: true, value: { actor: 'token 1', role: 'viewer' } });
  assert.equal(calls.length, 1);
  assert.equal(calls[0]?.url, `${ORIGIN}${API_PREFIX}/identity`);
  assert.equal(calls[0]?.init.method, 'GET');
  assert.equal(calls[0]?.init.headers?.['authorization'], `Bearer ${TOKEN}`);
  assert.equal(calls[0]?.init.headers?.['accept'], 'application/json');
  assert.equal(calls[0]?.init.headers?.['content-type'], undefined, 'a GET has no body');
  assert.equal(calls[0]?.init.body, undefined);
  assert.equal(calls[0]?.init.cache, 'no-store');

  await lan.snapshot();
  await lan.components();
  await lan.heardRegistrars();
  assert.deepEqual(
    calls.slice(1).map((c) => c.url),
    [`${ORIGIN}/api/v1/snapshot`, `${ORIGIN}/api/v1/components`, `${ORIGIN}/api/v1/registrars/heard`],
  );
});

test('without an origin the page’s own origin is used', async (t) => {
  const globals = globalThis as { window?: unknown };
  const { fetch, calls } = fakeFetch();
  globals.window = { location: { origin: 'https://console.example:9443' }, fetch, WebSocket: FakeSocket };
  t.after(() => delete globals.window);
  const lan = new LanConsoleApi({ token: TOKEN });
  assert.equal(lan.serverOrigin, 'https://console.example:9443');
  await lan.identity();
  assert.equal(calls[0]?.url, 'https://console.example:9443/api/v1/identity');
});

test('pool handles are one percent-encoded path segment', async () => {
  assert.equal(poolSegment('echo'), 'echo');
  assert.equal(poolSegment('0x00ff'), '0x00ff');
  assert.equal(poolSegment('a b/c?d#e%f'), 'a%20b%2Fc%3Fd%23e%25f');
  assert.equal(poolSegment('..'), '..');
  assert.equal(poolSegment('Zürich'), 'Z%C3%BCrich');
  const { fetch, calls } = fakeFetch();
  const lan = api(fetch);
  await lan.pool('a b/../c?x#y');
  assert.equal(calls[0]?.url, `${ORIGIN}/api/v1/pools/a%20b%2F..%2Fc%3Fx%23y`);
  const path = new URL(calls[0]?.url ?? '').pathname;
  assert.deepEqual(path.split('/'), ['', 'api', 'v1', 'pools', 'a%20b%2F..%2Fc%3Fx%23y'], 'no dot segment or query escapes the handle');
});

test('commands POST JSON to /pools/{handle}/elements/{peId}/{command} with only the options given', async () => {
  const { fetch, calls } = fakeFetch(() => json({ ok: true, value: { command: 'drain' } }));
  const lan = api(fetch);
  await lan.drain({ pool: 'web/eu', peId: 0x1f }, { reason: 'kernel upgrade' });
  await lan.maintenance({ pool: 'echo', peId: 7 }, { reason: 'r', force: true, afterDrainTimeoutMs: 60_000 });
  await lan.ready({ pool: 'echo', peId: 7 }, { reason: 'back' });
  await lan.failover({ pool: 'echo', peId: 7 }, { reason: 'f', force: false });
  await lan.deregister({ pool: 'echo', peId: 7 }, { reason: 'gone' });
  assert.deepEqual(
    calls.map((c) => [c.init.method, c.url.slice(ORIGIN.length), c.init.body]),
    [
      ['POST', '/api/v1/pools/web%2Feu/elements/31/drain', '{"reason":"kernel upgrade"}'],
      ['POST', '/api/v1/pools/echo/elements/7/maintenance', '{"reason":"r","force":true,"afterDrainTimeoutMs":60000}'],
      ['POST', '/api/v1/pools/echo/elements/7/ready', '{"reason":"back"}'],
      ['POST', '/api/v1/pools/echo/elements/7/failover', '{"reason":"f","force":false}'],
      ['POST', '/api/v1/pools/echo/elements/7/deregister', '{"reason":"gone"}'],
    ],
  );
  for (const call of calls) {
    assert.equal(call.init.headers?.['content-type'], 'application/json');
    assert.equal(call.init.headers?.['authorization'], `Bearer ${TOKEN}`);
  }
});

test('history and metrics carry their query in URL parameters; empty parts are left out', async () => {
  const { fetch, calls } = fakeFetch(() => json({ ok: true, value: { rows: [], next: null } }));
  const lan = api(fetch);
  await lan.history({});
  await lan.history({ pool: '' });
  await lan.history({ from: 1000, to: 2000, pool: 'a&b=c', peId: 31, kinds: ['audit', 'deployment'], cursor: 'abc/+=', limit: 50 });
  await lan.metrics({ pool: 'echo', from: 1, to: 2 });
  await lan.metrics({ pool: 'e cho', from: 1, to: 2, intervalMs: 60_000 });
  assert.equal(calls[0]?.url, `${ORIGIN}/api/v1/history`);
  assert.equal(calls[1]?.url, `${ORIGIN}/api/v1/history`);
  const full = new URL(calls[2]?.url ?? '');
  assert.equal(full.pathname, '/api/v1/history');
  assert.deepEqual(Object.fromEntries(full.searchParams), { from: '1000', to: '2000', pool: 'a&b=c', pe: '31', kind: 'audit,deployment', cursor: 'abc/+=', limit: '50' });
  assert.deepEqual(Object.fromEntries(new URL(calls[3]?.url ?? '').searchParams), { pool: 'echo', from: '1', to: '2' });
  assert.deepEqual(Object.fromEntries(new URL(calls[4]?.url ?? '').searchParams), { pool: 'e cho', from: '1', to: '2', interval: '60000' });
});

test('a 401 marks the connection unauthorized and no further request leaves', async () => {
  let status = 401;
  const { fetch, calls } = fakeFetch(() => json({ ok: false, error: { code: 'unauthorized', message: 'bad token' } }, status));
  const lan = api(fetch);
  const states: string[] = [];
  lan.connection.watch((state) => states.push(state));
  const first = await lan.snapshot();
  assert.deepEqual(first, { ok: false, error: { code: 'unauthorized', message: 'bad token' } });
  assert.equal(lan.connection.state, 'unauthorized');
  assert.deepEqual(states, ['unauthorized']);
  status = 200; // even if the server would now answer, the transport does not ask again
  const again = await lan.identity();
  const command = await lan.drain({ pool: 'echo', peId: 1 }, { reason: 'x' });
  assert.equal(again.ok, false);
  assert.equal(!again.ok && again.error.code, 'unauthorized');
  assert.equal(!command.ok && command.error.code, 'unauthorized');
  assert.equal(calls.length, 1, 'only the refused request reached the server');
});

test('a 401 without an envelope is still unauthorized; other odd answers are internal; a network failure is unavailable', async () => {
  const plain401 = fakeFetch(() => new Response('nope', { status: 401 }));
  const lan401 = api(plain401.fetch);
  const refused = await lan401.identity();
  assert.equal(!refused.ok && refused.error.code, 'unauthorized');
  assert.equal(lan401.connection.state, 'unauthorized');

  const html = fakeFetch(() => new Response('<html>proxy error</html>', { status: 502 }));
  const odd = await api(html.fetch).identity();
  assert.equal(!odd.ok && odd.error.code, 'internal');
  assert.match(!odd.ok ? odd.error.message : '', /HTTP 502/);

  const down = fakeFetch(() => Promise.reject(new TypeError('connect ECONNREFUSED')));
  const lanDown = api(down.fetch);
  const unreachable = await lanDown.snapshot();
  assert.equal(!unreachable.ok && unreachable.error.code, 'unavailable');
  assert.match(!unreachable.ok ? unreachable.error.message : '', /ECONNREFUSED/);
  assert.equal(lanDown.connection.state, 'connecting', 'a network failure is not a refused token');
  await lanDown.snapshot();
  assert.equal(down.calls.length, 2, 'it keeps trying after a network failure');

  // An error envelope with another status passes through as the server wrote it.
  const notFound = fakeFetch(() => json({ ok: false, error: { code: 'notFound', message: 'no pool' } }, 404));
  assert.deepEqual(await api(notFound.fetch).pool('x'), { ok: false, error: { code: 'notFound', message: 'no pool' } });
});

test('subscribe opens ws://ORIGIN/api/v1/events with the token as a subprotocol; https becomes wss', (t) => {
  const opened = sockets(t);
  const { fetch } = fakeFetch();
  const end = api(fetch).subscribe(undefined, () => undefined);
  const endTls = api(fetch, 'https://console.example:9443').subscribe(undefined, () => undefined);
  assert.equal(opened.length, 2);
  assert.equal(opened[0]?.url, 'ws://127.0.0.1:8347/api/v1/events', 'no position: no resume parameters');
  assert.deepEqual(opened[0]?.protocols, [EVENTS_SUBPROTOCOL, `${TOKEN_SUBPROTOCOL_PREFIX}${TOKEN}`]);
  assert.equal(opened[1]?.url, 'wss://console.example:9443/api/v1/events');
  end();
  endTls();
  assert.deepEqual(opened[0]?.closedWith, [1000, 'unsubscribed']);
});

test('the stream resumes after a drop with ?epoch=&since= of the last event delivered, with doubling back-off', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const opened = sockets(t);
  const received: EventStreamMessage[] = [];
  const lan = api(fakeFetch().fetch);
  const states: string[] = [];
  lan.connection.watch((state) => states.push(state));
  const end = lan.subscribe({ epoch: 'run-1', sequence: 41 }, (message) => received.push(message));

  const first = opened[0];
  assert.ok(first);
  const url = new URL(first.url);
  assert.equal(url.searchParams.get('epoch'), 'run-1');
  assert.equal(url.searchParams.get('since'), '41');

  first.receive(hello('run-1', 50));
  assert.equal(lan.connection.state, 'live');
  first.receive(events(42, 43, 44));
  first.receive('not json at all');
  assert.deepEqual(received.map((m) => m.kind), ['hello', 'events'], 'garbage is dropped, the rest delivered');

  first.drop();
  assert.equal(lan.connection.state, 'reconnecting');
  mock.timers.tick(249);
  assert.equal(opened.length, 1, 'the first retry waits 250 ms');
  mock.timers.tick(1);
  assert.equal(opened.length, 2);
  const second = new URL(opened[1]?.url ?? '');
  assert.equal(second.searchParams.get('epoch'), 'run-1');
  assert.equal(second.searchParams.get('since'), '44', 'from the last event delivered, not the hello');

  // No hello on the second socket: the next retry waits twice as long.
  opened[1]?.drop();
  mock.timers.tick(499);
  assert.equal(opened.length, 2);
  mock.timers.tick(1);
  assert.equal(opened.length, 3);
  // A hello resets the back-off.
  opened[2]?.receive(hello('run-1', 44));
  opened[2]?.drop();
  mock.timers.tick(250);
  assert.equal(opened.length, 4);
  assert.equal(new URL(opened[3]?.url ?? '').searchParams.get('since'), '44');
  assert.deepEqual(states, ['live', 'reconnecting', 'reconnecting', 'live', 'reconnecting']);
  end();
});

test('back-off is capped at 5 s', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const opened = sockets(t);
  const end = api(fakeFetch().fetch).subscribe(undefined, () => undefined);
  for (let i = 0; i < 8; i++) {
    const count = opened.length;
    opened[count - 1]?.drop();
    const expected = Math.min(5000, 250 * 2 ** i);
    mock.timers.tick(expected - 1);
    assert.equal(opened.length, count, `attempt ${i + 1} waits ${expected} ms`);
    mock.timers.tick(1);
    assert.equal(opened.length, count + 1);
  }
  end();
});

test('a hello from another run resumes from its sequence; a resync from the snapshot’s', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const opened = sockets(t);
  const end = api(fakeFetch().fetch).subscribe({ epoch: 'old-run', sequence: 900 }, () => undefined);
  opened[0]?.receive(hello('new-run', 12));
  opened[0]?.drop();
  mock.timers.tick(250);
  const afterHello = new URL(opened[1]?.url ?? '');
  assert.equal(afterHello.searchParams.get('epoch'), 'new-run');
  assert.equal(afterHello.searchParams.get('since'), '12');

  opened[1]?.receive(hello('new-run', 12));
  const snapshot = { sequence: 77 } as unknown as Snapshot;
  opened[1]?.receive({ kind: 'resync', snapshot });
  opened[1]?.drop();
  mock.timers.tick(250);
  assert.equal(new URL(opened[2]?.url ?? '').searchParams.get('since'), '77');
  end();
});

test('a close with a refusal code stops reconnecting and every request', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  for (const code of [1008, 4401, 4403]) {
    const opened = sockets(t);
    const { fetch, calls } = fakeFetch();
    const lan = api(fetch);
    const end = lan.subscribe(undefined, () => undefined);
    opened[0]?.drop(code, code === 4403 ? 'viewer token' : '');
    assert.equal(lan.connection.state, 'unauthorized', String(code));
    mock.timers.tick(60_000);
    assert.equal(opened.length, 1, `no reconnect after ${code}`);
    const result = await lan.identity();
    assert.equal(!result.ok && result.error.code, 'unauthorized');
    assert.equal(calls.length, 0);
    // A new subscription on the refused transport does not open a socket either.
    lan.subscribe(undefined, () => undefined);
    assert.equal(opened.length, 1);
    end();
  }
});

test('after unsubscribing nothing is delivered and a late close does not reconnect', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const opened = sockets(t);
  const received: EventStreamMessage[] = [];
  const lan = api(fakeFetch().fetch);
  const end = lan.subscribe(undefined, (message) => received.push(message));
  opened[0]?.receive(hello('r', 1));
  end();
  opened[0]?.receive(events(2));
  opened[0]?.drop(1000, 'unsubscribed');
  mock.timers.tick(10_000);
  assert.equal(received.length, 1);
  assert.equal(opened.length, 1);
  assert.equal(lan.connection.state, 'live');

  // Unsubscribing while a retry is pending cancels it.
  const end2 = lan.subscribe(undefined, () => undefined);
  opened[1]?.drop();
  end2();
  mock.timers.tick(10_000);
  assert.equal(opened.length, 2);
});

test('exportHistory saves the body under the server’s file name and reports rows and bytes', async () => {
  const saved: [string, string][] = [];
  const csv = 'time,kind,reason\n1,audit,"two\nlines"\n2,health,x\n';
  const calls: FetchCall[] = [];
  const fetch: FakeFetch = async (url, init) => {
    calls.push({ url, init });
    return new Response(csv, { status: 200, headers: { 'content-disposition': 'attachment; filename="history 1.csv"' } });
  };
  const lan = new LanConsoleApi({ origin: ORIGIN, token: TOKEN, fetch, WebSocket: FakeSocket, saveDownload: (blob, name) => void blob.text().then((text) => saved.push([name, text])) });
  const result = await lan.exportHistory({ format: 'csv', pool: 'echo', kinds: ['audit'] });
  assert.deepEqual(result, { ok: true, value: { rows: 2, bytes: Buffer.byteLength(csv), savedAs: 'history 1.csv' } }, 'a quoted line break is not a record');
  assert.deepEqual(Object.fromEntries(new URL(calls[0]?.url ?? '').searchParams), { pool: 'echo', kind: 'audit', format: 'csv' });
  assert.equal(calls[0]?.init.headers?.['authorization'], `Bearer ${TOKEN}`);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(saved, [['history 1.csv', csv]]);

  const refused: FakeFetch = async () => json({ ok: false, error: { code: 'unavailable', message: 'no history' } }, 503);
  const failed = await new LanConsoleApi({ origin: ORIGIN, token: TOKEN, fetch: refused, WebSocket: FakeSocket, saveDownload: () => assert.fail('nothing to save') }).exportHistory({ format: 'jsonl' });
  assert.deepEqual(failed, { ok: false, error: { code: 'unavailable', message: 'no history' } });
});

test('exportHistory counts JSON lines when the server does not say, and prefers x-export-rows when it does', async () => {
  const body = '{"a":1}\n{"a":2}\n\n{"a":3}\n';
  const noHeader: FakeFetch = async () => new Response(body, { status: 200 });
  const counted = await new LanConsoleApi({ origin: ORIGIN, token: TOKEN, fetch: noHeader, WebSocket: FakeSocket, saveDownload: () => undefined }).exportHistory({ format: 'jsonl' });
  assert.equal(counted.ok && counted.value.rows, 3);
  assert.match(counted.ok ? (counted.value.savedAs ?? '') : '', /^handlespace-history-.*\.jsonl$/);
  const withHeader: FakeFetch = async () => new Response(body, { status: 200, headers: { 'x-export-rows': '99' } });
  const told = await new LanConsoleApi({ origin: ORIGIN, token: TOKEN, fetch: withHeader, WebSocket: FakeSocket, saveDownload: () => undefined }).exportHistory({ format: 'jsonl' });
  assert.equal(told.ok && told.value.rows, 99);
});
