/**
 * The main process's client of the core host (electron/core-host-client.ts) against a scripted fake
 * host and a manual clock: calls wait for `ready`, results find their callers, a crash answers what was in
 * flight `unavailable` and restarts with exponential backoff, event streams resume after a restart from
 * their last position, and stop asks for a clean shutdown before it kills.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../core/clock.js';
import type { EventStreamMessage } from '../../../core/console/contract.js';
import type { HostToMainMessage, MainToHostMessage } from '../../../core/console/ipc-protocol.js';
import { CoreHostClient, DEFAULT_RESTART_POLICY, restartDelay, type HostProcess } from '../../../electron/core-host-client.js';
import type { CoreHostStatus } from '../../../renderer/src/desktop-bridge.js';

class FakeHost implements HostProcess {
  readonly received: MainToHostMessage[] = [];
  killed = false;
  private listener: ((message: unknown) => void) | undefined;
  private exitListener: ((code: number | null) => void) | undefined;

  postMessage(message: MainToHostMessage): void {
    this.received.push(message);
  }
  onMessage(listener: (message: unknown) => void): void {
    this.listener = listener;
  }
  onExit(listener: (code: number | null) => void): void {
    this.exitListener = listener;
  }
  kill(): void {
    this.killed = true;
    this.exit(null);
  }
  say(message: HostToMainMessage | unknown): void {
    this.listener?.(message);
  }
  exit(code: number | null): void {
    const listener = this.exitListener;
    this.exitListener = undefined;
    listener?.(code);
  }
  ready(): void {
    this.say({ type: 'ready', identity: { actor: 'desktop operator (OS user t)', role: 'operator' }, epoch: 'e1', asap: '127.0.0.1:3863', history: null });
  }
  calls(): Extract<MainToHostMessage, { type: 'call' }>[] {
    return this.received.filter((m): m is Extract<MainToHostMessage, { type: 'call' }> => m.type === 'call');
  }
}

function setUp(options: { stopTimeoutMs?: number; requestTimeoutMs?: number } = {}) {
  const clock = new ManualClock();
  const hosts: FakeHost[] = [];
  const statuses: CoreHostStatus[] = [];
  const logs: string[] = [];
  const client = new CoreHostClient({
    spawn: () => {
      const host = new FakeHost();
      hosts.push(host);
      return host;
    },
    start: { history: { kind: 'temporary' } },
    onStatus: (status) => statuses.push(status),
    log: (line) => logs.push(line),
    clock,
    ...options,
  });
  client.start();
  return { clock, hosts, statuses, logs, client, current: () => hosts[hosts.length - 1] as FakeHost };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test('restart delays double from 500 ms up to 30 s', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => restartDelay(attempt)), [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  assert.equal(restartDelay(10_000), DEFAULT_RESTART_POLICY.maxDelayMs);
});

test('the host is started with the start options; calls wait for ready, then get their own results', async () => {
  const { client, current, statuses } = setUp();
  assert.deepEqual(current().received, [{ type: 'start', options: { history: { kind: 'temporary' } } }]);
  assert.deepEqual(statuses, [{ state: 'starting', attempt: 1 }]);
  const snapshot = client.call({ method: 'snapshot' });
  const pool = client.call({ method: 'pool', pool: 'echo' });
  assert.equal(current().calls().length, 0, 'nothing is sent before ready');
  current().ready();
  assert.equal(client.status.state, 'running');
  const [first, second] = current().calls();
  assert.deepEqual([first?.method, first?.args, second?.method, second?.args], ['snapshot', [], 'pool', ['echo']]);
  current().say({ type: 'result', id: second?.id, result: { ok: false, error: { code: 'notFound', message: 'no pool echo' } } });
  current().say({ type: 'result', id: first?.id, result: { ok: true, value: { sequence: 1 } } });
  assert.deepEqual(await pool, { ok: false, error: { code: 'notFound', message: 'no pool echo' } });
  assert.deepEqual(await snapshot, { ok: true, value: { sequence: 1 } });
});

test('malformed host messages are logged and ignored', () => {
  const { current, logs, client } = setUp();
  current().say({ type: 'result', id: 'x' });
  current().say('noise');
  assert.equal(logs.filter((line) => line.includes('malformed')).length, 2);
  assert.equal(client.status.state, 'starting');
});

test('a crash answers in-flight calls unavailable, restarts with backoff, and resends queued calls', async () => {
  const { client, clock, hosts, current, statuses } = setUp();
  current().ready();
  const inFlight = client.call({ method: 'drain', target: { pool: 'echo', peId: 1 }, options: { reason: 'x' } });
  current().exit(1);
  const answer = await inFlight;
  assert.equal(answer.ok, false);
  assert.equal(!answer.ok && answer.error.code, 'unavailable');
  assert.match(!answer.ok ? answer.error.message : '', /exited with code 1; restarting/);
  assert.deepEqual(statuses.at(-1), { state: 'restarting', attempt: 1, retryInMs: 500, reason: 'the core host exited with code 1' });

  const queued = client.call({ method: 'identity' });
  clock.advance(499);
  assert.equal(hosts.length, 1, 'not before the delay');
  clock.advance(1);
  assert.equal(hosts.length, 2);
  current().ready();
  const [resent] = current().calls();
  assert.equal(resent?.method, 'identity');
  current().say({ type: 'result', id: resent?.id, result: { ok: true, value: 'me' } });
  assert.deepEqual(await queued, { ok: true, value: 'me' });

  // Failing again at once: the backoff grows; after a long healthy run it starts over.
  current().exit(1);
  assert.deepEqual(statuses.at(-1), { state: 'restarting', attempt: 2, retryInMs: 1000, reason: 'the core host exited with code 1' });
  clock.advance(1000);
  current().exit(null);
  assert.deepEqual(statuses.at(-1), { state: 'restarting', attempt: 3, retryInMs: 2000, reason: 'the core host was killed' }, 'a start that never got ready counts too');
  clock.advance(2000);
  current().ready();
  clock.advance(DEFAULT_RESTART_POLICY.stableAfterMs);
  current().exit(1);
  assert.deepEqual(statuses.at(-1), { state: 'restarting', attempt: 1, retryInMs: 500, reason: 'the core host exited with code 1' });
});

test('a start failure is reported with its reason, the host is killed and tried again later', () => {
  const { current, statuses, hosts, clock } = setUp();
  current().say({ type: 'startFailed', error: 'cannot open the history: database is newer than this app' });
  assert.equal(hosts[0]?.killed, true);
  assert.deepEqual(statuses.at(-1), { state: 'restarting', attempt: 1, retryInMs: 500, reason: 'cannot open the history: database is newer than this app' });
  clock.advance(500);
  assert.equal(hosts.length, 2);
});

test('event streams are opened once ready, routed by subscription, and resumed after a restart', () => {
  const { client, clock, current } = setUp();
  const got: EventStreamMessage[] = [];
  const end = client.subscribe(undefined, (message) => got.push(message));
  const other: EventStreamMessage[] = [];
  client.subscribe({ epoch: 'old', sequence: 9 }, (message) => other.push(message));
  current().ready();
  const subscribes = current().received.filter((m) => m.type === 'subscribe');
  assert.deepEqual(subscribes, [
    { type: 'subscribe', subscription: 1, position: null },
    { type: 'subscribe', subscription: 2, position: { epoch: 'old', sequence: 9 } },
  ]);
  current().say({ type: 'event', subscription: 1, message: { kind: 'hello', epoch: 'e1', identity: { actor: 'a', role: 'operator' }, sequence: 4 } });
  current().say({ type: 'event', subscription: 1, message: { kind: 'events', events: [{ type: 'poolUserClosed', seq: 5, time: 0, connectionId: 1, reason: 'x' }] } });
  current().say({ type: 'event', subscription: 99, message: { kind: 'events', events: [] } });
  assert.equal(got.length, 2);
  assert.equal(other.length, 0);

  current().exit(1);
  clock.advance(500);
  current().ready();
  assert.deepEqual(
    current().received.filter((m) => m.type === 'subscribe'),
    [
      { type: 'subscribe', subscription: 1, position: { epoch: 'e1', sequence: 5 } },
      { type: 'subscribe', subscription: 2, position: { epoch: 'old', sequence: 9 } },
    ],
    'each stream resumes from what it last saw',
  );
  end();
  assert.deepEqual(current().received.at(-1), { type: 'unsubscribe', subscription: 1 });
  assert.equal(client.subscriptionCount, 1);
});

test('an unanswered call times out unavailable, and a late answer is dropped', async () => {
  const { client, clock, current } = setUp({ requestTimeoutMs: 5000 });
  current().ready();
  const call = client.call({ method: 'snapshot' });
  clock.advance(5000);
  const answer = await call;
  assert.equal(!answer.ok && answer.error.code, 'unavailable');
  current().say({ type: 'result', id: current().calls()[0]?.id, result: { ok: true, value: 1 } });
});

test('stop asks for a clean shutdown, answers queued calls, and kills a host that does not exit', async () => {
  const { client, clock, current, statuses } = setUp({ stopTimeoutMs: 3000 });
  const queued = client.call({ method: 'snapshot' });
  const stopped = client.stop('quitting');
  assert.equal(!(await queued).ok, true);
  assert.deepEqual(current().received.at(-1), { type: 'shutdown', reason: 'quitting' });
  clock.advance(2999);
  assert.equal(current().killed, false);
  clock.advance(1);
  assert.equal(current().killed, true);
  await stopped;
  assert.equal(statuses.at(-1)?.state, 'stopped');
  const after = await client.call({ method: 'snapshot' });
  assert.equal(!after.ok && after.error.code, 'unavailable');
  await flush();
});

test('a clean exit after shutdown stops without a restart', async () => {
  const { client, clock, current, hosts } = setUp();
  current().ready();
  const stopped = client.stop('quitting');
  current().say({ type: 'stopped', reason: 'quitting' });
  current().exit(0);
  await stopped;
  clock.advance(60_000);
  assert.equal(hosts.length, 1);
  assert.equal(clock.pending, 0, 'no timer left behind');
});
