/**
 * `handlespace demo`: the registrar plus the simulated system (core/cli/demo-simulation.ts) over real
 * loopback sockets. Every pool comes up with its elements and subscribed users, requests are answered in
 * every pool, an element crashes (removed for connection loss, not deregistered) and comes back with the
 * same identifier, a user on a crashed element fails over at once, serve's own options (--http) pass
 * through, and stop leaves no socket behind, in process and as a real process on SIGTERM. Waits are on named events, each with a deadline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { demoCommand } from '../../core/cli/demo-command.js';
import { DEMO_POOLS, startDemoSimulation, type DemoSimulation } from '../../core/cli/demo-simulation.js';
import { main } from '../../core/cli/main.js';
import type { ElementRegistered, ElementRemoved, Registrar } from '../../core/registrar/registrar.js';
import { poolHandleToText } from '../../core/wire/json.js';
import { PolicyType } from '../../core/wire/policy.js';
import { memoryIo } from '../support/memory-io.js';
import { startRegistrar } from '../support/registrar-fixture.js';

const bin = fileURLToPath(new URL('../../bin/handlespace.mjs', import.meta.url));

type Listener<T> = (value: T) => void;

/** The first `event` whose value passes `accept`, or a rejection after `timeoutMs`. */
function waitFor<T>(
  emitter: { on(event: string, listener: Listener<T>): unknown; off(event: string, listener: Listener<T>): unknown },
  event: string,
  accept: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (value: T): void => {
      if (!accept(value)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(value);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no matching '${event}' within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.on(event, listener);
  });
}

function within<T>(promise: Promise<T>, timeoutMs: number, what: string | (() => string)): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const describe = (): string => (typeof what === 'string' ? what : what());
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`)), timeoutMs)));
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** TCP sockets and servers this process holds open. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name.startsWith('TCP')).length;
}

/**
 * For effects no event announces (a socket's handle going away a few event-loop turns after the awaited
 * close, the far end noticing a closed connection): checks every 20 ms until true or the time is up.
 */
async function settles(check: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return check();
}

test('demo: every pool up with subscribed users, requests answered, a crash and its restart, a clean stop', async () => {
  const baseline = tcpHandles();
  const io = memoryIo();
  let stop: (signal: string) => void = () => undefined;
  let started: (value: { registrar: Registrar; simulation: DemoSimulation }) => void = () => undefined;
  const startedUp = new Promise<{ registrar: Registrar; simulation: DemoSimulation }>((resolve) => (started = resolve));
  const running = demoCommand(
    ['--asap', '127.0.0.1:0', '--http', '127.0.0.1:0', '--crash-interval', '300-500', '--restart-delay', '200-300', '--load-interval', '150', '--request-interval', '40'],
    io,
    { stopSignal: new Promise((resolve) => (stop = resolve)), onStarted: (registrar, simulation) => started({ registrar, simulation }) },
  );
  try {
    const { registrar, simulation } = await within(startedUp, 20_000, 'the registrar to start');
    // The demo's defaults: loopback only, no announces, a temporary history.
    assert.equal(registrar.settings.announce, 'off');
    assert.match(io.out(), /history: temporary file (\S+)/);
    assert.match(io.out(), /http:\/\/127\.0\.0\.1:\d+/, 'serve options pass through (--http)');
    const ready = await within(simulation.ready, 15_000, 'every element registered and every user subscribed');
    assert.ok(ready.ok, `not ready: ${JSON.stringify(ready)}\n${io.err()}`);

    // Crashes start only after this check (timers run after the promise continuations above).
    const pools = new Map([...registrar.handlespace.pools()].map((pool) => [poolHandleToText(pool.handle), pool]));
    assert.deepEqual([...pools.keys()].sort(), DEMO_POOLS.map((p) => p.name).sort());
    for (const spec of DEMO_POOLS) {
      const pool = pools.get(spec.name);
      assert.ok(pool, spec.name);
      assert.equal(pool.size, spec.elements, `${spec.name}: elements registered`);
      assert.equal(pool.policyType, spec.policy(0).type, `${spec.name}: policy`);
      assert.ok(registrar.notifications.subscribersOf(pool.handle) >= spec.users, `${spec.name}: subscribed users`);
    }
    assert.equal(new Set(DEMO_POOLS.map((p) => p.policy(0).type)).size, DEMO_POOLS.length, 'one policy per pool');

    // A crash as the registrar sees it: connection lost, then the same element registers again.
    const crash = await waitFor<ElementRemoved>(registrar, 'elementRemoved', (e) => e.reason === 'connectionLost', 10_000);
    const crashedPool = poolHandleToText(crash.element.poolHandle);
    const restart = await waitFor<ElementRegistered>(
      registrar,
      'elementRegistered',
      (e) => e.outcome.kind === 'registered' && e.element.id === crash.element.id && poolHandleToText(e.element.poolHandle) === crashedPool,
      10_000,
    );
    assert.equal(restart.element.id, crash.element.id);

    // Requests are answered in every pool (after the crash too).
    const answeredIn = new Set<string>();
    await waitFor<{ pool: string }>(simulation, 'requestAnswered', (e) => answeredIn.add(e.pool).size === DEMO_POOLS.length, 10_000);
    const stats = simulation.stats();
    assert.ok(stats.crashes >= 1 && stats.restarts >= 1, JSON.stringify(stats));
    assert.ok(stats.loadChanges >= 1, JSON.stringify(stats));
    assert.match(io.err(), new RegExp(`demo: ${crashedPool} 0x${crash.element.id.toString(16).padStart(8, '0')}: crashed`));
    assert.match(io.err(), /demo: \S+ 0x[0-9a-f]{8}: restarted on 127\.0\.0\.1:\d+/);
    assert.match(io.err(), /demo: (media|rpc) 0x[0-9a-f]{8}: load \d+ % → \d+ %/);

    const historyFile = /history: temporary file (\S+)/.exec(io.out())?.[1] ?? '';
    stop('SIGTERM');
    assert.equal(await within(running, 20_000, 'the demo to stop'), 0, io.err());
    assert.match(io.out(), /SIGTERM, shutting down/);
    assert.equal(fs.existsSync(historyFile), false, 'the temporary history is gone');
    assert.ok(await settles(() => tcpHandles() <= baseline), `sockets left: ${process.getActiveResourcesInfo().join(', ')}`);
  } finally {
    stop('SIGTERM');
    await within(running, 20_000, 'the demo to stop').catch(() => undefined);
  }
});

test('simulation: a user on a crashed element moves at once; the element restarts with the same identifier', async (t) => {
  const registrar = await startRegistrar(t);
  const simulation = startDemoSimulation({
    registrar: { host: '127.0.0.1', port: registrar.asapAddress.port },
    pools: [{ name: 'pair', elements: 2, users: 1, policy: () => ({ type: PolicyType.roundRobin }) }],
    scale: 0.01,
    timings: { crashIntervalMs: 'off', restartDelayMs: { minMs: 300, maxMs: 300 }, requestIntervalMs: 50, loadIntervalMs: 60_000 },
  });
  t.after(() => simulation.stop());
  // Given timings are taken as they are; the others are the defaults times the scale.
  assert.equal(simulation.timings.requestIntervalMs, 50);
  assert.equal(simulation.timings.summaryIntervalMs, 100);
  const ready = await within(simulation.ready, 10_000, 'the simulation to be ready');
  assert.ok(ready.ok);
  const from = simulation.users()[0]?.current;
  assert.ok(from !== undefined, 'the user has an element');
  const other = simulation.elements().find((e) => e.peId !== from)?.peId;

  const failover = waitFor<{ from: number; to: number | undefined; reason: string }>(simulation, 'failover', (e) => e.from === from, 5000);
  const crashed = await simulation.crash(from);
  assert.ok(crashed.ok, JSON.stringify(crashed));
  assert.equal(crashed.value.restartInMs, 300);
  const moved = await failover;
  assert.equal(moved.to, other);
  // The registrar's push (failed, connection lost) moves the user, unless a request of its found the dead
  // service a moment before the push arrived.
  assert.ok(['failed: connectionLost', 'unreachable'].includes(moved.reason), moved.reason);
  assert.equal(simulation.users()[0]?.current, other);
  await waitFor<{ peId: number }>(simulation, 'requestAnswered', (e) => e.peId === other, 5000);
  assert.equal((await simulation.crash(from)).ok, false, 'a crashed element cannot crash again');

  const back = await waitFor<{ peId: number; restart: boolean; port: number }>(simulation, 'elementUp', (e) => e.peId === from && e.restart, 5000);
  assert.equal(back.port, simulation.elements().find((e) => e.peId === from)?.port);
  assert.ok(registrar.handlespace.element(new TextEncoder().encode('pair'), from), 'registered again under the same identifier');

  await simulation.stop();
  assert.equal(registrar.handlespace.elementCount, 0, 'stop deregisters every element');
  assert.ok(await settles(() => registrar.notifications.subscriptionCount === 0), 'stop closes the pool users');
  assert.equal(simulation.stats().elementsUp, 0);
});

test('demo: --help, and bad demo options exit 2 before anything starts', async () => {
  const help = memoryIo();
  assert.equal(await main(['demo', '--help'], help), 0);
  assert.match(help.out(), /--crash-interval MIN-MAX\|off/);
  assert.match(help.out(), /--memory/);
  for (const [args, message] of [
    [['--crash-interval', 'soon'], /not an integer/],
    [['--restart-delay', '5000-2000'], /MIN ≤ MAX/],
    [['--request-interval=0'], /at least 1 ms/],
    [['--load-interval'], /needs a value/],
  ] as const) {
    const io = memoryIo();
    assert.equal(await main(['demo', ...args], io), 2, args.join(' '));
    assert.match(io.err(), message);
  }
  const badServe = memoryIo();
  assert.equal(await main(['demo', '--asap', 'nowhere:1'], badServe), 2, 'serve options are checked by serve');
  assert.match(badServe.err(), /not an IP address/);
});

test('demo: the real process runs and exits cleanly on SIGTERM', async () => {
  const child = spawn(process.execPath, [bin, 'demo', '--asap', '127.0.0.1:0', '--request-interval', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (/demo: running: 19 elements in 5 pools, 6 subscribed pool users/.test(err)) resolve();
        };
        child.stderr.on('data', check);
        check();
      }),
      30_000,
      () => `the demo to run; stderr so far:\n${err}`,
    );
    child.kill('SIGTERM');
    assert.equal(await within(exited, 15_000, 'the process to exit'), 0, err);
    assert.match(err, /removed \(deregistered/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
