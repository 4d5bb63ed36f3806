/**
 * Failover figures (`npm run bench -- failover`), one JSON line each: how fast pushed PE Status reaches
 * subscribed pool users, and what it does for their failover, over real ASAP on loopback TCP.
 *
 * - fan-out: the registrar detects a lost element connection → every one of 1,000 and of 10,000 subscribed
 *   pool users has the 'failed' status (its PoolUser emitted 'pe-status'). Per round, the time from the
 *   fault to the LAST pool user ("all have it"), p50 / p99 / max over BENCH_FANOUT_ROUNDS rounds (default
 *   50, after 5 warm-up rounds that are listed but not counted); also every single delivery, and where the
 *   time goes (registrar detection, its writes to all subscribers, the CPU of registrar and users per push).
 *   Next to each size a baseline: the same number of bytes written once to as many plain TCP connections
 *   from the registrar's process, received by sockets that only count bytes: the platform's floor.
 * - failover: 1,000 pool users (sessions, one request at a time, small echo payload, THINK_MS between a
 *   reply and the next request) on an echo pool of 10 elements. One element process is SIGKILLed (crash:
 *   its sockets close, the registrar sees the connection lost and pushes) and, separately, one is
 *   SIGSTOPped (silent failure: its sockets stay open, the registrar's keep-alive fails after its interval
 *   + timeout and it pushes); BENCH_FAILOVER_FAULTS faults each, one after the other, each time on the
 *   element with the most users. Both with notifications (subscribed sessions) and in standard mode (no
 *   subscription: request timeout 3 s as RSPLIB, then session.reportFailure()); both modes react alike to
 *   what TCP tells them (failover-pu.ts). Per pool user that was on the faulted element: fault → first good
 *   reply from another element, p50 / p99 / max, its failed requests, what moved it first (the push, a
 *   timeout, the connection lost or refused), when it learned of the fault and when it resumed.
 *
 * Processes: this one only orchestrates. The registrar runs in a child process (this file with
 * --registrar-process); every pool element is a process of its own (failover-element.ts: a PoolElement
 * and its TCP echo service), so SIGKILL and SIGSTOP hit a real process; pool users run many per process
 * (failover-pu.ts), each a PoolUser with its own registrar connection: 10,000 subscribed users are 10,000
 * TCP connections to the registrar, over 4 processes. All processes read one clock, CLOCK_MONOTONIC
 * (failover-shared.ts): a fault time taken here and a receive time taken in another process subtract
 * directly. In the fan-out the fault is the element closing its registrar connection on an IPC command
 * (the element process stays up, so 55 rounds need no 55 process starts); its next registration is sent
 * only after every user had the round's 'failed' status, and the next fault only after every user had the
 * 'up' of that registration, so rounds never overlap. Every figure carries the machine's load over its
 * window: busy share, CPU of each role in cores, and `otherLoadCores`, the load from outside the bench.
 *
 * Goals (from the issue) are fields: `goal`, `met`. Silent failure is compared with the keep-alive bound
 * including the ±50 % interval jitter of RFC 5352 §3.7 (1.5 × interval + timeout + 100 ms); the issue's
 * literal bound (interval + timeout + 100 ms) is reported next to it. A missed goal never fails the run; a
 * pool user that never gets a status, or a broken process, does.
 *
 * Environment: BENCH_FANOUT_ROUNDS (default 50); BENCH_FANOUT_SIZES (comma-separated, default 1000,10000;
 * empty: no fan-out); BENCH_FAILOVER_FAULTS (faults per failover scenario, default 2; 0: no failover part);
 * BENCH_FAILOVER_THINK_MS (default 100); for profiling, BENCH_FAILOVER_CPU_PROF (a directory: every child
 * runs with --cpu-prof there; a SIGKILLed or SIGSTOPped element writes no profile).
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Registrar } from '../../core/registrar/registrar.js';
import { encodeMessage } from '../../core/wire/encoder.js';
import { PolicyType } from '../../core/wire/policy.js';
import { PeStatusCode, PeStatusReason } from '../../core/wire/types.js';
import {
  processCpuSeconds,
  sharedNow,
  wallClockOffset,
  type ElementParams,
  type FailoverPuParams,
  type FailoverReport,
  type FailoverUserOutcome,
  type FanoutDelivery,
  type FanoutPuParams,
  type FromElement,
  type FromPu,
  type ToElement,
  type ToPu,
} from './failover-shared.js';
import { machineJiffies } from './registrar-load-client.js';
import { exited, reap, withTimeout } from './child-processes.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ELEMENT = `${HERE}failover-element.ts`;
const PU = `${HERE}failover-pu.ts`;
const SELF = fileURLToPath(import.meta.url);

/** The whole bench is stopped (children killed, an error thrown) after this long. */
const WHOLE_RUN_BOUND_MS = 300_000;
const CHILD_LIFETIME_MS = WHOLE_RUN_BOUND_MS + 30_000;

const FANOUT_POOL = 'fanout';
const FANOUT_PROCESSES = 4;
const FANOUT_STABLE_ID = 0x0f000001;
const FANOUT_VICTIM_ID = 0x0f000002;
/** A round's 'failed' status must reach every user within this; else the round counts the missing ones. */
const FANOUT_ROUND_BOUND_MS = 5000;
/**
 * Rounds run before the measured ones at each size, not counted (listed as warmupByRound): the first
 * pushes run cold code in the registrar and in every user process (JIT), which a long-running deployment
 * does not.
 */
const FANOUT_WARMUP_ROUNDS = 5;
/** Rounds of the plain-TCP fan-out baseline per size. */
const BASELINE_ROUNDS = 20;

const ECHO_POOL = 'echo';
const ECHO_ELEMENTS = 10;
const FAILOVER_USERS = 1000;
const FAILOVER_PROCESSES = 2;
/** RSPLIB's application request timeout. */
const REQUEST_TIMEOUT_MS = 3000;
const THINK_MS = Math.max(0, Number(process.env['BENCH_FAILOVER_THINK_MS'] ?? 100));
const WARMUP_MS = 2000;
/** Keep-alive settings of the bench's registrar: short, so the silent failure shows within seconds. */
const KEEP_ALIVE_INTERVAL_MS = 1000;
const KEEP_ALIVE_TIMEOUT_MS = 1000;
const REGISTRAR_MAX_CONNECTIONS = 25_000;

const GOAL_FANOUT: Readonly<Record<number, number>> = { 1000: 50, 10_000: 250 };
const GOAL_CRASH_P99_MS = 100;
const GOAL_CRASH_RATIO = 20;
const SILENT_SLACK_MS = 100;
const SILENT_BOUND_MS = 1.5 * KEEP_ALIVE_INTERVAL_MS + KEEP_ALIVE_TIMEOUT_MS + SILENT_SLACK_MS;
const SILENT_ISSUE_BOUND_MS = KEEP_ALIVE_INTERVAL_MS + KEEP_ALIVE_TIMEOUT_MS + SILENT_SLACK_MS;

// ---- the registrar process --------------------------------------------------------------------------

type ToRegistrar =
  | { readonly cmd: 'events' }
  | { readonly cmd: 'stats' }
  /** The fan-out baseline, in the registrar's process: a plain TCP server, and one write of `bytes` to each of its connections. */
  | { readonly cmd: 'rawListen' }
  | { readonly cmd: 'rawFire'; readonly bytes: number }
  | { readonly cmd: 'rawStop' }
  | { readonly cmd: 'close' };

/** An element the registrar removed, and when (shared clock). */
interface Removal {
  readonly peId: number;
  readonly reason: string;
  readonly at: number;
}

/**
 * One push carrying a 'failed' status: when its first and last copy were handed to a subscriber's
 * connection ('notificationsSent'), and when the socket writes of all of them were done (TcpConnection
 * writes on process.nextTick; a setImmediate set up at the first copy runs after all of them).
 */
interface PushSpan {
  readonly sequence: number;
  readonly peId: number;
  readonly firstSent: number;
  readonly lastSent: number;
  readonly writesDone: number;
  readonly subscribers: number;
}

interface RegistrarStats {
  readonly sessions: number;
  readonly subscriptions: number;
  readonly pushes: number;
  readonly statusesSent: number;
  readonly snapshots: number;
  readonly overflows: number;
  readonly maxQueued: number;
  readonly unreachableReports: number;
  /** Unreachable reports for an element the registrar had already removed. */
  readonly unreachableUnknown: number;
  readonly notices: number;
  readonly firstNotice: string | null;
}

type FromRegistrar =
  | { readonly kind: 'ready'; readonly port: number; readonly pid: number; readonly clockOffset: number }
  | { readonly kind: 'events'; readonly removals: readonly Removal[]; readonly pushes: readonly PushSpan[] }
  | ({ readonly kind: 'stats' } & RegistrarStats)
  | { readonly kind: 'rawListening'; readonly port: number }
  /** `at`: just before the first write; `writesDone`: after the last (shared clock). */
  | { readonly kind: 'rawFired'; readonly at: number; readonly writesDone: number; readonly sockets: number }
  | { readonly kind: 'rawStopped' }
  | { readonly kind: 'closed' };

/** Entry point of the registrar child (`--registrar-process`): a registrar on 127.0.0.1, driven over IPC. */
async function registrarProcess(): Promise<void> {
  const send = (message: FromRegistrar): void => {
    process.send?.(message);
  };
  const registrar = await Registrar.start({
    asap: { host: '127.0.0.1', port: 0 },
    announce: 'off',
    keepAliveIntervalMs: KEEP_ALIVE_INTERVAL_MS,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: REGISTRAR_MAX_CONNECTIONS,
    log: (line) => process.stderr.write(`registrar: ${line}\n`),
  });
  let removals: Removal[] = [];
  const spans = new Map<number, { peId: number; firstSent: number; lastSent: number; writesDone: number; subscribers: number }>();
  let notices = 0;
  let firstNotice: string | null = null;
  registrar.on('elementRemoved', ({ element, reason }) => removals.push({ peId: element.id, reason, at: sharedNow() }));
  registrar.on('notificationsSent', (sent) => {
    const status = sent.statuses[0];
    if (status?.status !== PeStatusCode.failed) return;
    const at = sharedNow();
    const span = spans.get(status.sequence);
    if (span) {
      span.lastSent = at;
      span.subscribers++;
      return;
    }
    const created = { peId: status.peId, firstSent: at, lastSent: at, writesDone: NaN, subscribers: 1 };
    spans.set(status.sequence, created);
    setImmediate(() => {
      created.writesDone = sharedNow();
    });
  });
  registrar.on('notice', ({ message }) => {
    notices++;
    firstNotice ??= message;
  });
  let rawServer: net.Server | undefined;
  const rawSockets = new Set<net.Socket>();
  process.on('message', (raw: unknown) => {
    const message = raw as ToRegistrar;
    void (async () => {
      switch (message.cmd) {
        case 'rawListen': {
          const server = (rawServer ??= net.createServer((socket) => {
            socket.setNoDelay(true);
            socket.on('error', () => undefined);
            rawSockets.add(socket);
            socket.once('close', () => rawSockets.delete(socket));
          }));
          if (!server.listening) await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve()));
          const address = server.address();
          return send({ kind: 'rawListening', port: address !== null && typeof address === 'object' ? address.port : 0 });
        }
        case 'rawFire': {
          // The same work per subscriber as a push, minus ASAP: one write of the same bytes to each connection.
          const bytes = Buffer.alloc(message.bytes, 0x5a);
          const at = sharedNow();
          for (const socket of rawSockets) socket.write(bytes);
          return send({ kind: 'rawFired', at, writesDone: sharedNow(), sockets: rawSockets.size });
        }
        case 'rawStop':
          for (const socket of rawSockets) socket.destroy();
          rawSockets.clear();
          await new Promise<void>((resolve) => (rawServer ? rawServer.close(() => resolve()) : resolve()));
          rawServer = undefined;
          return send({ kind: 'rawStopped' });
        case 'events': {
          const pushes = [...spans].map(([sequence, s]) => ({ sequence, ...s }));
          spans.clear();
          const taken = removals;
          removals = [];
          return send({ kind: 'events', removals: taken, pushes });
        }
        case 'stats': {
          const subscribers = registrar.notifications.stats();
          const c = registrar.counters;
          return send({
            kind: 'stats',
            sessions: registrar.sessionCount,
            subscriptions: registrar.notifications.subscriptionCount,
            pushes: registrar.notifications.pushCount,
            statusesSent: c.get('notifications.sent'),
            snapshots: c.get('notifications.snapshots'),
            overflows: subscribers.reduce((n, s) => n + s.overflows, 0),
            maxQueued: subscribers.reduce((n, s) => Math.max(n, s.maxQueued), 0),
            unreachableReports: c.get('unreachable.reports'),
            unreachableUnknown: c.get('unreachable.unknownElement'),
            notices,
            firstNotice,
          });
        }
        case 'close':
          await registrar.close();
          send({ kind: 'closed' });
          process.disconnect();
          return;
      }
    })();
  });
  process.on('disconnect', () => void registrar.close().then(() => process.exit(0)));
  send({ kind: 'ready', port: registrar.asapAddress.port, pid: process.pid, clockOffset: wallClockOffset() });
}

// ---- child process plumbing -------------------------------------------------------------------------

/** Every child this run started, so a failure, a signal or the time bound can end them all. */
const children = new Set<ChildProcess>();

function killAll(): void {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    // SIGKILL ends a stopped process too; SIGCONT after it is harmless.
    child.kill('SIGKILL');
    child.kill('SIGCONT');
  }
}


/**
 * A forked TypeScript child spoken to over IPC: messages are queued by kind and taken with next(); a
 * message of kind 'failed', or the child's exit, fails every wait.
 */
class IpcChild<In extends object, Out extends { readonly kind: string }> {
  readonly child: ChildProcess;
  private readonly inbox: Out[] = [];
  private readonly waiters: { readonly kind: string; readonly resolve: (m: Out) => void; readonly reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;

  constructor(
    script: string,
    args: readonly string[],
    readonly what: string,
  ) {
    const profile = process.env['BENCH_FAILOVER_CPU_PROF'];
    const execArgv = ['--import', 'tsx', ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [])];
    this.child = fork(script, [...args], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    children.add(this.child);
    this.child.once('exit', (code, signal) => {
      children.delete(this.child);
      this.fail(new Error(`${what} exited (${signal ?? code})`));
    });
    this.child.on('message', (raw: unknown) => {
      const message = raw as Out;
      if (message.kind === 'failed') {
        this.fail(new Error(`${what}: ${(message as unknown as { error: string }).error}`));
        return;
      }
      const at = this.waiters.findIndex((w) => w.kind === message.kind);
      if (at >= 0) this.waiters.splice(at, 1)[0]?.resolve(message);
      else this.inbox.push(message);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  send(message: In): void {
    if (this.child.connected) this.child.send(message);
  }

  next<K extends Out['kind']>(kind: K, timeoutMs: number): Promise<Extract<Out, { kind: K }>> {
    const at = this.inbox.findIndex((m) => m.kind === kind);
    if (at >= 0) return Promise.resolve(this.inbox.splice(at, 1)[0] as Extract<Out, { kind: K }>);
    if (this.failure) return Promise.reject(this.failure);
    const answer = new Promise<Extract<Out, { kind: K }>>((resolve, reject) => {
      this.waiters.push({ kind, resolve: (m) => resolve(m as Extract<Out, { kind: K }>), reject });
    });
    return withTimeout(answer, timeoutMs, `${this.what}: waiting for ${kind}`).catch((e: unknown) => {
      const i = this.waiters.findIndex((w) => w.kind === kind);
      if (i >= 0) this.waiters.splice(i, 1);
      throw e;
    });
  }

  /** Asks and waits for the answer of kind `kind`. */
  ask<K extends Out['kind']>(message: In, kind: K, timeoutMs = 30_000): Promise<Extract<Out, { kind: K }>> {
    const answer = this.next(kind, timeoutMs);
    this.send(message);
    return answer;
  }

  /** Sends `close`, waits for the exit, kills after `ms`. */
  async close(message: In, ms = 10_000): Promise<void> {
    if (!this.alive) return;
    this.send(message);
    await reap(this.child, ms);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }
}

type RegistrarChild = IpcChild<ToRegistrar, FromRegistrar>;
type ElementChild = IpcChild<ToElement, FromElement>;
type PuChild = IpcChild<ToPu, FromPu>;

async function startRegistrar(): Promise<{ child: RegistrarChild; port: number; pid: number; clockOffset: number }> {
  const child: RegistrarChild = new IpcChild(SELF, ['--registrar-process'], 'registrar process');
  const ready = await child.next('ready', 30_000);
  return { child, port: ready.port, pid: ready.pid, clockOffset: ready.clockOffset };
}

async function startElement(registrarPort: number, poolHandle: string, peId: number): Promise<{ child: ElementChild; peId: number; clockOffset: number }> {
  const params: ElementParams = { registrarPort, poolHandle, peId, maxLifetimeMs: CHILD_LIFETIME_MS };
  const child: ElementChild = new IpcChild(ELEMENT, [JSON.stringify(params)], `element 0x${peId.toString(16)}`);
  const ready = await child.next('ready', 30_000);
  return { child, peId, clockOffset: ready.clockOffset };
}

async function startPu(params: FanoutPuParams | FailoverPuParams, what: string, timeoutMs: number): Promise<{ child: PuChild; clockOffset: number }> {
  const child: PuChild = new IpcChild(PU, [JSON.stringify(params)], what);
  const ready = await child.next('ready', timeoutMs);
  return { child, clockOffset: ready.clockOffset };
}

// ---- statistics -------------------------------------------------------------------------------------

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Nearest-rank percentile of an ascending list; NaN when empty. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

function summary(values: readonly number[], digits = 1): { p50: number; p99: number; max: number; min: number; count: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: round(percentile(sorted, 50), digits),
    p99: round(percentile(sorted, 99), digits),
    max: round(sorted[sorted.length - 1] ?? NaN, digits),
    min: round(sorted[0] ?? NaN, digits),
    count: sorted.length,
  };
}

/** CPU seconds of a set of processes together; null when one is unreadable. */
function cpuSum(pids: readonly number[]): number | null {
  let total = 0;
  for (const pid of pids) {
    const seconds = processCpuSeconds(pid);
    if (seconds === null) return null;
    total += seconds;
  }
  return total;
}

/** Mean of the known values (1 decimal); null when none is known. */
function mean(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : round(known.reduce((a, b) => a + b, 0) / known.length, 1);
}

/** Busy fraction of the whole machine between two /proc/stat readings (0..1, all cores). */
function busyBetween(a: ReturnType<typeof machineJiffies>, b: ReturnType<typeof machineJiffies>): number | null {
  return a && b && b.total > a.total ? round((b.busy - a.busy) / (b.total - a.total), 2) : null;
}

async function backgroundBusy(ms: number): Promise<number | null> {
  const a = machineJiffies();
  await new Promise((r) => setTimeout(r, ms));
  return busyBetween(a, machineJiffies());
}

/**
 * Machine load over a window: the busy share of the whole machine (/proc/stat), the CPU of each of our
 * processes (/proc/PID/stat; a process that exits inside the window is not counted) and the rest, which is
 * load from outside this bench (plus the last moments of processes that exited).
 */
class LoadMeter {
  private readonly machine0 = machineJiffies();
  private readonly t0 = sharedNow();
  private readonly cpu0 = new Map<number, number | null>();
  private readonly self0 = process.cpuUsage();

  constructor() {
    for (const child of children) if (child.pid !== undefined) this.cpu0.set(child.pid, processCpuSeconds(child.pid));
  }

  stop(roles: Readonly<Record<string, readonly number[]>>): { seconds: number; machineBusy: number | null; cores: Record<string, number | null>; otherCores: number | null } {
    const seconds = (sharedNow() - this.t0) / 1000;
    const machineBusy = busyBetween(this.machine0, machineJiffies());
    const used = (pid: number): number | null => {
      const a = this.cpu0.get(pid);
      const b = processCpuSeconds(pid);
      return a === undefined || a === null || b === null ? null : b - a;
    };
    const cores: Record<string, number | null> = {};
    for (const [role, pids] of Object.entries(roles)) {
      const known = pids.map(used).filter((x): x is number => x !== null);
      cores[role] = known.length === 0 || seconds <= 0 ? null : round(known.reduce((a, b) => a + b, 0) / seconds, 2);
    }
    const self = process.cpuUsage(this.self0);
    cores['orchestrator'] = round((self.user + self.system) / 1e6 / seconds, 2);
    let ours = (self.user + self.system) / 1e6;
    for (const pid of this.cpu0.keys()) ours += used(pid) ?? 0;
    const otherCores = machineBusy === null || seconds <= 0 ? null : round(Math.max(0, machineBusy * cpus().length - ours / seconds), 2);
    return { seconds, machineBusy, cores, otherCores };
  }
}

/** The soft limit on open files of this process (children inherit it); null where /proc is not readable. */
function openFilesLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Figure {
  readonly bench: 'failover';
  readonly figure: string;
  readonly value: number | null;
  readonly unit: string;
  readonly [context: string]: unknown;
}

// ---- fan-out ----------------------------------------------------------------------------------------

interface FanoutRound {
  readonly faultAt: number;
  /** Fault → last user that got the status; null when some never got it within the bound. */
  readonly allMs: number | null;
  readonly deliveries: readonly number[];
  readonly missing: number;
  readonly detectMs: number | null;
  readonly firstSentMs: number | null;
  readonly lastSentMs: number | null;
  readonly writesDoneMs: number | null;
  readonly pushedTo: number;
  readonly reason: number | undefined;
  readonly registrarCpuMs: number | null;
  readonly usersCpuMs: number | null;
}

async function fanoutRound(registrar: { child: RegistrarChild; pid: number }, victim: ElementChild, pus: readonly PuChild[], users: number): Promise<FanoutRound> {
  const cpu0 = processCpuSeconds(registrar.pid);
  const usersCpu0 = cpuSum(pus.map((p) => p.pid));
  const dropped = await victim.ask({ cmd: 'drop' }, 'dropped', 10_000);
  const faultAt = dropped.at;
  const deliveries: FanoutDelivery[] = [];
  const waits = await Promise.allSettled(pus.map((p) => p.next('delivered', FANOUT_ROUND_BOUND_MS)));
  for (let i = 0; i < pus.length; i++) {
    const w = waits[i];
    if (w?.status === 'fulfilled') {
      deliveries.push(w.value.delivery);
      continue;
    }
    // Not every user of this process got it in time: take what came, count the rest as missing.
    const collected = await (pus[i] as PuChild).ask({ cmd: 'collect' }, 'collected', 10_000);
    const got = collected.deliveries[0];
    if (got) deliveries.push(got);
  }
  const cpu1 = processCpuSeconds(registrar.pid);
  const usersCpu1 = cpuSum(pus.map((p) => p.pid));
  const times = deliveries.flatMap((d) => d.times.map((t) => t - faultAt));
  const events = await registrar.child.ask({ cmd: 'events' }, 'events');
  const removal = events.removals.find((r) => r.peId === FANOUT_VICTIM_ID);
  const push = events.pushes.find((p) => p.peId === FANOUT_VICTIM_ID);
  // Next round's element comes back now; every user must have its 'up' before the next fault.
  await victim.ask({ cmd: 'register' }, 'registered', 10_000);
  await Promise.all(pus.map((p) => p.next('upDelivered', FANOUT_ROUND_BOUND_MS)));
  return {
    faultAt,
    allMs: times.length === users ? Math.max(...times) : null,
    deliveries: times,
    missing: users - times.length,
    detectMs: removal ? removal.at - faultAt : null,
    firstSentMs: push ? push.firstSent - faultAt : null,
    lastSentMs: push ? push.lastSent - faultAt : null,
    writesDoneMs: push && Number.isFinite(push.writesDone) ? push.writesDone - faultAt : null,
    pushedTo: push?.subscribers ?? 0,
    reason: deliveries[0]?.reason,
    registrarCpuMs: cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) * 1000 : null,
    usersCpuMs: usersCpu0 === null || usersCpu1 === null ? null : (usersCpu1 - usersCpu0) * 1000,
  };
}

/** The size of the fan-out's 'failed' push: the pool's one remaining element and one PE Status (what the registrar sends). */
function pushBytes(): number {
  const transport = { kind: 'tcp', port: 40_000, transportUse: 0, address: '127.0.0.1' } as const;
  return encodeMessage({
    protocol: 'asap',
    type: 'handleResolutionResponse',
    accepted: true,
    poolHandle: new TextEncoder().encode(FANOUT_POOL),
    poolElements: [{ id: FANOUT_STABLE_ID, homeServerId: 1, registrationLife: 90_000, userTransport: transport, policy: { type: PolicyType.roundRobin }, asapTransport: transport }],
    peStatus: [{ peId: FANOUT_VICTIM_ID, status: PeStatusCode.failed, reason: PeStatusReason.connectionLost, sequence: 1, eventTimeMs: Date.now(), replacementPeId: FANOUT_STABLE_ID }],
  }).length;
}

/**
 * The floor of the platform for a fan-out to `users` receivers: in the registrar's process, one write of
 * the push's bytes to each of `users` plain TCP connections; in the same user processes, sockets that only
 * count bytes. No ASAP, no SDK: what is left is Node's and the kernel's loopback TCP.
 */
async function fanoutBaseline(
  registrar: { child: RegistrarChild; pid: number },
  pus: readonly PuChild[],
  users: number,
  bytes: number,
): Promise<{ all: number[]; single: number[]; writes: number[]; writerCpuMs: (number | null)[]; receiversCpuMs: (number | null)[] }> {
  const { port } = await registrar.child.ask({ cmd: 'rawListen' }, 'rawListening');
  const perProcess = users / pus.length;
  try {
    await Promise.all(pus.map((p) => p.ask({ cmd: 'rawOpen', port, total: perProcess, bytes }, 'rawOpened', 60_000)));
    await sleep(300);
    const all: number[] = [];
    const single: number[] = [];
    const writes: number[] = [];
    const writerCpuMs: (number | null)[] = [];
    const receiversCpuMs: (number | null)[] = [];
    for (let r = 0; r < BASELINE_ROUNDS; r++) {
      const writer0 = processCpuSeconds(registrar.pid);
      const receivers0 = cpuSum(pus.map((p) => p.pid));
      const delivered = Promise.all(pus.map((p) => p.next('rawDelivered', FANOUT_ROUND_BOUND_MS)));
      const fired = await registrar.child.ask({ cmd: 'rawFire', bytes }, 'rawFired');
      if (fired.sockets !== users) throw new Error(`fan-out baseline: ${fired.sockets} connections, expected ${users}`);
      const times = (await delivered).flatMap((d) => d.times.map((t) => t - fired.at));
      const writer1 = processCpuSeconds(registrar.pid);
      const receivers1 = cpuSum(pus.map((p) => p.pid));
      all.push(Math.max(...times));
      single.push(...times);
      writes.push(fired.writesDone - fired.at);
      writerCpuMs.push(writer0 === null || writer1 === null ? null : (writer1 - writer0) * 1000);
      receiversCpuMs.push(receivers0 === null || receivers1 === null ? null : (receivers1 - receivers0) * 1000);
      await sleep(30);
    }
    return { all, single, writes, writerCpuMs, receiversCpuMs };
  } finally {
    await Promise.all(pus.map((p) => p.ask({ cmd: 'rawClose' }, 'rawClosed')));
    await registrar.child.ask({ cmd: 'rawStop' }, 'rawStopped');
  }
}

async function runFanout(registrar: { child: RegistrarChild; pid: number; port: number }, sizes: readonly number[], rounds: number, clockOffsets: number[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  const stable = await startElement(registrar.port, FANOUT_POOL, FANOUT_STABLE_ID);
  const victim = await startElement(registrar.port, FANOUT_POOL, FANOUT_VICTIM_ID);
  clockOffsets.push(stable.clockOffset, victim.clockOffset);
  const pus: PuChild[] = [];
  try {
    for (let i = 0; i < FANOUT_PROCESSES; i++) {
      const params: FanoutPuParams = { mode: 'fanout', registrarPort: registrar.port, poolHandle: FANOUT_POOL, victimPeId: FANOUT_VICTIM_ID, maxLifetimeMs: CHILD_LIFETIME_MS };
      const started = await startPu(params, `fan-out users ${i + 1}`, 30_000);
      pus.push(started.child);
      clockOffsets.push(started.clockOffset);
    }
    const bytes = pushBytes();
    for (const size of sizes) {
      const perProcess = Math.ceil(size / FANOUT_PROCESSES);
      const users = perProcess * FANOUT_PROCESSES;
      const baseline = await fanoutBaseline(registrar, pus, users, bytes);
      const grown = await Promise.all(pus.map((p) => p.ask({ cmd: 'grow', total: perProcess }, 'grown', 120_000)));
      const subscribed = grown.reduce((n, g) => n + g.users, 0);
      if (subscribed !== users) throw new Error(`fan-out: ${subscribed} users subscribed, expected ${users}`);
      const setupMs = Math.max(...grown.map((g) => g.ms));
      const subscriptions = (await registrar.child.ask({ cmd: 'stats' }, 'stats')).subscriptions;
      if (subscriptions < users) throw new Error(`fan-out: the registrar has ${subscriptions} subscriptions, expected ${users}`);
      await registrar.child.ask({ cmd: 'events' }, 'events');
      await sleep(500);
      const warmup: FanoutRound[] = [];
      for (let r = 0; r < FANOUT_WARMUP_ROUNDS; r++) warmup.push(await fanoutRound(registrar, victim.child, pus, users));
      await registrar.child.ask({ cmd: 'events' }, 'events');
      const before = await registrar.child.ask({ cmd: 'stats' }, 'stats');
      const load0 = loadavg()[0] ?? 0;
      const meter = new LoadMeter();
      const results: FanoutRound[] = [];
      for (let r = 0; r < rounds; r++) results.push(await fanoutRound(registrar, victim.child, pus, users));
      const load = meter.stop({ registrar: [registrar.pid], elements: [stable.child.pid, victim.child.pid], users: pus.map((p) => p.pid) });
      const after = await registrar.child.ask({ cmd: 'stats' }, 'stats');
      const complete = results.filter((r) => r.allMs !== null);
      const all = summary(complete.map((r) => r.allMs as number));
      const single = summary(results.flatMap((r) => r.deliveries));
      const missing = [...warmup, ...results].reduce((n, r) => n + r.missing, 0);
      const goal = GOAL_FANOUT[size];
      const label = size.toLocaleString('en-US');
      const context = {
        users,
        processes: FANOUT_PROCESSES,
        rounds: results.length,
        warmupRounds: warmup.length,
        incompleteRounds: results.length - complete.length,
        missingDeliveries: missing,
        reasons: [...new Set(results.map((r) => (r.reason === undefined ? 'none' : (Object.entries(PeStatusReason).find(([, v]) => v === r.reason)?.[0] ?? String(r.reason)))))],
        fault: 'element closes its registrar connection (IPC command); registrar: connection lost',
        setupSeconds: round(setupMs / 1000, 1),
        seconds: round(load.seconds, 1),
        registrar: {
          detectMs: summary(results.filter((r) => r.detectMs !== null).map((r) => r.detectMs as number), 2),
          firstQueuedMs: summary(results.filter((r) => r.firstSentMs !== null).map((r) => r.firstSentMs as number), 2),
          lastQueuedMs: summary(results.filter((r) => r.lastSentMs !== null).map((r) => r.lastSentMs as number), 2),
          writesDoneMs: summary(results.filter((r) => r.writesDoneMs !== null).map((r) => r.writesDoneMs as number), 2),
          pushedTo: summary(results.map((r) => r.pushedTo), 0),
          // Mean over the rounds: /proc counts CPU in 10 ms ticks, too coarse for one push.
          cpuMsPerPush: mean(results.map((r) => r.registrarCpuMs)),
          pushes: after.pushes - before.pushes,
          snapshots: after.snapshots - before.snapshots,
          queueOverflows: after.overflows - before.overflows,
          maxQueued: after.maxQueued,
          sessions: after.sessions,
        },
        usersCpuMsPerPush: mean(results.map((r) => r.usersCpuMs)),
        machineBusy: load.machineBusy,
        cpuCores: load.cores,
        otherLoadCores: load.otherCores,
        loadavg1: [round(load0, 2), round(loadavg()[0] ?? 0, 2)],
      };
      figures.push({
        bench: 'failover',
        figure: `fan-out to ${label} subscribed PUs: all have the status (p99 over rounds)`,
        value: all.p99,
        unit: 'ms',
        ...all,
        ...(goal !== undefined ? { goal: `p99 <= ${goal} ms`, met: missing === 0 && all.p99 <= goal } : {}),
        byRound: results.map((r) => (r.allMs === null ? null : round(r.allMs, 1))),
        warmupByRound: warmup.map((r) => (r.allMs === null ? null : round(r.allMs, 1))),
        ...context,
      });
      const floorAll = summary(baseline.all);
      figures.push({
        bench: 'failover',
        figure: `fan-out baseline to ${label} plain TCP receivers: all have the bytes (p99 over rounds)`,
        value: floorAll.p99,
        unit: 'ms',
        ...floorAll,
        eachDelivery: summary(baseline.single),
        writesDoneMs: summary(baseline.writes, 2),
        writerCpuMsPerFanout: mean(baseline.writerCpuMs),
        receiversCpuMsPerFanout: mean(baseline.receiversCpuMs),
        bytes,
        receivers: users,
        processes: FANOUT_PROCESSES,
        rounds: baseline.all.length,
        note: 'no ASAP, no SDK: one socket.write of the push-sized buffer per connection in the registrar process, receivers only count bytes; the platform floor for the figure above',
        registrarVsBaselineP50: round(all.p50 / floorAll.p50, 2),
      });
      figures.push({
        bench: 'failover',
        figure: `fan-out to ${label} subscribed PUs: each delivery`,
        value: single.p99,
        unit: 'ms',
        ...single,
        users,
        rounds: results.length,
        missingDeliveries: missing,
      });
      if (missing > 0) throw new Error(`fan-out to ${label}: ${missing} deliveries missing (a pool user never got the status within ${FANOUT_ROUND_BOUND_MS} ms)`);
    }
    return figures;
  } finally {
    await Promise.all(pus.map((p) => p.close({ cmd: 'close' })));
    await Promise.all([stable.child.close({ cmd: 'close' }), victim.child.close({ cmd: 'close' })]);
  }
}

// ---- failover ---------------------------------------------------------------------------------------

type FaultKind = 'crash' | 'silent';

interface ScenarioResult {
  readonly mode: 'subscribed' | 'standard';
  readonly fault: FaultKind;
  readonly outcomes: readonly FailoverUserOutcome[];
  /** Where each fault's affected users went: elements reached, largest share of one. */
  readonly movedTo: readonly { readonly elements: number; readonly largestShare: number }[];
  readonly unaffectedFailed: number;
  readonly unaffectedUsers: number;
  readonly goodReplies: number;
  readonly seconds: number;
  /** Fault → the registrar removed the element, per fault. */
  readonly detectMs: readonly number[];
  /** Per affected user: its first good reply from another element, counted from the registrar's removal of the element. */
  readonly afterRegistrarDetectMs: readonly number[];
  readonly removalReasons: readonly string[];
  readonly faults: number;
  /** Fault → the orchestrator saw the faulted process exit (SIGKILL: the kernel's teardown; its sockets close at about that time). */
  readonly exitMs: readonly number[];
  readonly machineBusy: number | null;
  /** CPU over the measured window, in cores, per role; otherCores: load from outside the bench. */
  readonly cpu: Readonly<Record<string, number | null>>;
  readonly otherCores: number | null;
  readonly loadavg1: readonly number[];
  readonly unreachableReports: number;
  readonly unreachableUnknown: number;
}

class ElementPool {
  private nextId = 0x0e000001;
  readonly live = new Map<number, ElementChild>();

  constructor(
    private readonly registrarPort: number,
    private readonly clockOffsets: number[],
  ) {}

  /** Starts elements until `count` are up (a faulted one is replaced by a new process with a new identifier). */
  async fill(count: number): Promise<void> {
    const missing = count - this.live.size;
    const started = await Promise.all(
      Array.from({ length: Math.max(0, missing) }, () => {
        const peId = this.nextId++;
        return startElement(this.registrarPort, ECHO_POOL, peId);
      }),
    );
    for (const s of started) {
      this.live.set(s.peId, s.child);
      this.clockOffsets.push(s.clockOffset);
    }
  }

  /** Takes an element out of the pool (its process is the caller's to fault and end). */
  take(peId: number): ElementChild {
    const child = this.live.get(peId);
    if (!child) throw new Error(`no live element 0x${peId.toString(16)}`);
    this.live.delete(peId);
    return child;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.live.values()].map((c) => c.close({ cmd: 'close' })));
    this.live.clear();
  }
}

async function runScenario(registrar: { child: RegistrarChild; port: number; pid: number }, pool: ElementPool, mode: 'subscribed' | 'standard', fault: FaultKind, faults: number, clockOffsets: number[]): Promise<ScenarioResult> {
  await pool.fill(ECHO_ELEMENTS);
  const perProcess = FAILOVER_USERS / FAILOVER_PROCESSES;
  const pus = await Promise.all(
    Array.from({ length: FAILOVER_PROCESSES }, (_, i) => {
      const params: FailoverPuParams = {
        mode: 'failover',
        registrarPort: registrar.port,
        poolHandle: ECHO_POOL,
        users: perProcess,
        firstUser: i * perProcess,
        subscribe: mode === 'subscribed',
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        thinkMs: THINK_MS,
        maxLifetimeMs: CHILD_LIFETIME_MS,
      };
      return startPu(params, `${mode} users ${i + 1}`, 60_000);
    }),
  );
  for (const p of pus) clockOffsets.push(p.clockOffset);
  const faulted: ElementChild[] = [];
  const outcomes: FailoverUserOutcome[] = [];
  const moved: { elements: number; largestShare: number }[] = [];
  const detectMs: number[] = [];
  const afterRegistrarDetectMs: number[] = [];
  const exitMs: number[] = [];
  const removalReasons: string[] = [];
  let unaffectedFailed = 0;
  let unaffectedUsers = 0;
  let goodReplies = 0;
  try {
    await sleep(WARMUP_MS);
    const stats0 = await registrar.child.ask({ cmd: 'stats' }, 'stats');
    await registrar.child.ask({ cmd: 'events' }, 'events');
    const load0 = loadavg()[0] ?? 0;
    const meter = new LoadMeter();
    for (let f = 0; f < faults; f++) {
      // The element with the most users on it now.
      const census = await Promise.all(pus.map((p) => p.child.ask({ cmd: 'census' }, 'census')));
      const counts = new Map<number, number>();
      for (const c of census) for (const [id, n] of Object.entries(c.byElement)) counts.set(Number(id), (counts.get(Number(id)) ?? 0) + n);
      const candidates = [...counts].filter(([id]) => pool.live.has(id)).sort((a, b) => b[1] - a[1]);
      const target = candidates[0]?.[0];
      if (target === undefined) throw new Error(`${mode}/${fault}: no live element has users (census ${JSON.stringify(census.map((c) => c.byElement))})`);
      await Promise.all(pus.map((p) => p.child.ask({ cmd: 'arm', peId: target }, 'armed')));
      const element = pool.take(target);
      faulted.push(element);
      const exitSeen = exited(element.child).then(() => sharedNow());
      const at = sharedNow();
      element.signal(fault === 'crash' ? 'SIGKILL' : 'SIGSTOP');
      const waitMs = fault === 'crash' ? 6000 : REQUEST_TIMEOUT_MS + 4000;
      const reports: FailoverReport[] = (await Promise.all(pus.map((p) => p.child.ask({ cmd: 'report', at, waitMs }, 'report', waitMs + 15_000)))).map((r) => r.report);
      moved.push(movedTo(reports.flatMap((r) => r.affected)));
      for (const r of reports) {
        outcomes.push(...r.affected);
        unaffectedFailed += r.unaffectedFailed;
        unaffectedUsers += r.unaffectedUsers;
        goodReplies += r.goodReplies;
      }
      const events = await registrar.child.ask({ cmd: 'events' }, 'events');
      const removal = events.removals.find((r) => r.peId === target);
      if (removal) {
        detectMs.push(removal.at - at);
        removalReasons.push(removal.reason);
        for (const o of reports.flatMap((r) => r.affected)) if (o.failoverMs !== null) afterRegistrarDetectMs.push(o.failoverMs - (removal.at - at));
      }
      // The faulted process goes for good (a stopped one is killed as it is).
      element.signal('SIGKILL');
      element.signal('SIGCONT');
      await reap(element.child, 5000);
      if (fault === 'crash') exitMs.push((await exitSeen) - at);
      await sleep(300);
    }
    const load = meter.stop({ registrar: [registrar.pid], elements: [...pool.live.values()].map((c) => c.pid), users: pus.map((p) => p.child.pid) });
    const stats1 = await registrar.child.ask({ cmd: 'stats' }, 'stats');
    return {
      mode,
      fault,
      outcomes,
      movedTo: moved,
      unaffectedFailed,
      unaffectedUsers,
      goodReplies,
      seconds: load.seconds,
      detectMs,
      afterRegistrarDetectMs,
      exitMs,
      removalReasons,
      faults,
      machineBusy: load.machineBusy,
      cpu: load.cores,
      otherCores: load.otherCores,
      loadavg1: [round(load0, 2), round(loadavg()[0] ?? 0, 2)],
      unreachableReports: stats1.unreachableReports - stats0.unreachableReports,
      unreachableUnknown: stats1.unreachableUnknown - stats0.unreachableUnknown,
    };
  } finally {
    await Promise.all(pus.map((p) => p.child.close({ cmd: 'close' })));
    for (const element of faulted) {
      element.signal('SIGKILL');
      element.signal('SIGCONT');
    }
  }
}

/** Where the affected users of one fault went: how many elements, and the largest share one of them got. */
function movedTo(outcomes: readonly FailoverUserOutcome[]): { elements: number; largestShare: number } {
  const counts = new Map<number, number>();
  for (const o of outcomes) if (o.movedTo !== null) counts.set(o.movedTo, (counts.get(o.movedTo) ?? 0) + 1);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return { elements: counts.size, largestShare: total === 0 ? 0 : round(Math.max(...counts.values()) / total, 2) };
}

function scenarioFigure(r: ScenarioResult): { figure: Figure; p99: number; p50: number } {
  const recovered = r.outcomes.filter((o) => o.failoverMs !== null).map((o) => o.failoverMs as number);
  const s = summary(recovered);
  const failed = summary(
    r.outcomes.map((o) => o.failed),
    0,
  );
  const triggers: Record<string, number> = {};
  for (const o of r.outcomes) triggers[o.trigger] = (triggers[o.trigger] ?? 0) + 1;
  const notRecovered = r.outcomes.length - recovered.length;
  const base = {
    bench: 'failover' as const,
    figure: `failover after ${r.fault === 'crash' ? 'a crash (SIGKILL)' : 'a silent failure (SIGSTOP)'}, ${r.mode === 'subscribed' ? 'with notifications' : 'standard mode'}`,
    value: s.p99,
    unit: 'ms',
    ...s,
    affectedUsers: r.outcomes.length,
    notRecovered,
    detectedMs: summary(r.outcomes.filter((o) => o.detectedMs !== null).map((o) => o.detectedMs as number)),
    resumedMs: summary(r.outcomes.filter((o) => o.resumedMs !== null).map((o) => o.resumedMs as number)),
    resumedToReplyMs: summary(r.outcomes.filter((o) => o.resumedMs !== null && o.failoverMs !== null).map((o) => (o.failoverMs as number) - (o.resumedMs as number))),
    failedRequestsPerUser: { p50: failed.p50, p99: failed.p99, max: failed.max, total: r.outcomes.reduce((n, o) => n + o.failed, 0) },
    movedFirstBy: triggers,
    movedToPerFault: r.movedTo,
    unaffectedUsers: r.unaffectedUsers,
    unaffectedFailedRequests: r.unaffectedFailed,
    goodReplies: r.goodReplies,
    faults: r.faults,
    registrarDetectMs: r.detectMs.map((d) => round(d, 1)),
    // Negative where the user's own detection (TCP) beat the registrar's.
    failoverAfterRegistrarDetectMs: summary(r.afterRegistrarDetectMs),
    registrarRemovedAs: r.removalReasons,
    unreachableReports: { counted: r.unreachableReports, forRemovedElement: r.unreachableUnknown },
    users: FAILOVER_USERS,
    elements: ECHO_ELEMENTS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    thinkMs: THINK_MS,
    keepAlive: { intervalMs: KEEP_ALIVE_INTERVAL_MS, timeoutMs: KEEP_ALIVE_TIMEOUT_MS, jitter: '±50 %' },
    seconds: round(r.seconds, 1),
    machineBusy: r.machineBusy,
    processExitMs: r.exitMs.map((d) => round(d, 1)),
    cpuCores: r.cpu,
    otherLoadCores: r.otherCores,
    loadavg1: r.loadavg1,
  };
  let goal: Record<string, unknown> = {};
  if (r.mode === 'subscribed' && r.fault === 'crash') goal = { goal: `p99 <= ${GOAL_CRASH_P99_MS} ms`, met: notRecovered === 0 && s.p99 <= GOAL_CRASH_P99_MS };
  if (r.mode === 'subscribed' && r.fault === 'silent') {
    goal = {
      goal: `max <= 1.5 x keep-alive interval + timeout + ${SILENT_SLACK_MS} ms = ${SILENT_BOUND_MS} ms (interval jitter +50 % included)`,
      met: notRecovered === 0 && s.max <= SILENT_BOUND_MS,
      issueBound: `max <= interval + timeout + ${SILENT_SLACK_MS} ms = ${SILENT_ISSUE_BOUND_MS} ms (no jitter)`,
      metIssueBound: notRecovered === 0 && s.max <= SILENT_ISSUE_BOUND_MS,
      p99MetIssueBound: notRecovered === 0 && s.p99 <= SILENT_ISSUE_BOUND_MS,
    };
  }
  return { figure: { ...base, ...goal }, p99: s.p99, p50: s.p50 };
}

async function runFailover(registrar: { child: RegistrarChild; port: number; pid: number }, faults: number, clockOffsets: number[]): Promise<Figure[]> {
  const pool = new ElementPool(registrar.port, clockOffsets);
  const results: ScenarioResult[] = [];
  try {
    for (const fault of ['crash', 'silent'] as const) {
      for (const mode of ['subscribed', 'standard'] as const) results.push(await runScenario(registrar, pool, mode, fault, faults, clockOffsets));
    }
  } finally {
    await pool.closeAll();
  }
  const figures: Figure[] = [];
  for (const fault of ['crash', 'silent'] as const) {
    const subscribed = results.find((r) => r.fault === fault && r.mode === 'subscribed');
    const standard = results.find((r) => r.fault === fault && r.mode === 'standard');
    if (!subscribed || !standard) continue;
    const a = scenarioFigure(subscribed);
    const b = scenarioFigure(standard);
    figures.push(a.figure, b.figure);
    const ratio = b.p99 / a.p99;
    figures.push({
      bench: 'failover',
      figure: `failover after ${fault === 'crash' ? 'a crash' : 'a silent failure'}: standard mode / with notifications (p99)`,
      value: round(ratio, 2),
      unit: 'x',
      p50Ratio: round(b.p50 / a.p50, 2),
      withNotifications: { p50: a.p50, p99: a.p99 },
      standardMode: { p50: b.p50, p99: b.p99 },
      ...(fault === 'crash' ? { goal: `>= ${GOAL_CRASH_RATIO} x`, met: ratio >= GOAL_CRASH_RATIO } : {}),
    });
  }
  return figures;
}

// ---- the run ----------------------------------------------------------------------------------------

async function run(): Promise<Figure[]> {
  const sizes = (process.env['BENCH_FANOUT_SIZES'] ?? '1000,10000')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0 && n <= 20_000);
  const rounds = Math.max(1, Math.min(200, Math.round(Number(process.env['BENCH_FANOUT_ROUNDS'] ?? 50))));
  const faults = Math.max(0, Math.min(5, Math.round(Number(process.env['BENCH_FAILOVER_FAULTS'] ?? 2))));
  const openFiles = openFilesLimit();
  // The registrar's process holds every user's connection plus the elements', and during a size's
  // baseline also that size's plain connections next to the users of the sizes before; each user process its share.
  const needed = sizes.reduce((n, size) => n + size, 0) + 100;
  if (openFiles !== null && openFiles < needed) {
    throw new Error(`ulimit -n is ${openFiles}: the registrar's process needs about ${needed} descriptors for fan-out sizes ${sizes.join(', ')} (raise it: ulimit -n ${needed * 2})`);
  }
  const machine = { cores: cpus().length, openFilesLimit: openFiles, openFilesNeeded: needed, loadavg1AtStart: round(loadavg()[0] ?? 0, 2), backgroundBusyAtStart: await backgroundBusy(1000) };
  const clockOffsets: number[] = [wallClockOffset()];
  const registrar = await startRegistrar();
  clockOffsets.push(registrar.clockOffset);
  const figures: Figure[] = [];
  try {
    if (sizes.length > 0) figures.push(...(await runFanout(registrar, sizes, rounds, clockOffsets)));
    if (faults > 0) figures.push(...(await runFailover(registrar, faults, clockOffsets)));
    const stats = await registrar.child.ask({ cmd: 'stats' }, 'stats');
    const skew = Math.max(...clockOffsets) - Math.min(...clockOffsets);
    const context = {
      machine: { ...machine, loadavg1AtEnd: round(loadavg()[0] ?? 0, 2) },
      clock: { shared: 'CLOCK_MONOTONIC (process.hrtime)', processes: clockOffsets.length, timeOriginSkewMs: round(skew, 3) },
      registrarNotices: stats.notices,
      ...(stats.firstNotice ? { registrarFirstNotice: stats.firstNotice } : {}),
    };
    return figures.map((f) => ({ ...f, ...context }));
  } finally {
    await registrar.child.close({ cmd: 'close' });
  }
}

export async function runFailoverBench(): Promise<Figure[]> {
  let bound: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    bound = setTimeout(() => {
      killAll();
      reject(new Error(`the failover bench did not finish within ${WHOLE_RUN_BOUND_MS / 1000} s`));
    }, WHOLE_RUN_BOUND_MS);
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    killAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await Promise.race([run(), timeout]);
  } catch (e) {
    killAll();
    throw e;
  } finally {
    clearTimeout(bound);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[2] === '--registrar-process' && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await registrarProcess();
