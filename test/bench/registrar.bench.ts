/**
 * Registrar figures over real ASAP over loopback TCP, one JSON line each (`npm run bench -- registrar`):
 *
 * - handle resolutions per second at 10, 1,000, 10,000 and 100,000 elements in the pool (k = 3, the
 *   registrar's default; 64 connections × 4 requests in flight), each also as a ratio of the same client
 *   against a trivial Node TCP echo (echo-server.ts) that answers every request with a canned response of
 *   the same size;
 * - registrations per second (100,000 new elements over 64 connections, pipelined) and re-registrations per
 *   second (the same elements again with a changed load);
 * - heap bytes per element at 100,000 elements.
 *
 * Processes: this one only orchestrates. The registrar runs in a child process started with --expose-gc
 * (so its heap can be measured after a full collection), the load generator (registrar-load-client.ts) in
 * separate processes, the echo server in its own process while it is measured. On a 2-core machine the
 * server under test and the load client get one core each. Pools use Least Used with loads in whole
 * percents (RSPLIB's convention), so elements share loads and a resolution rotates a group of equals, as
 * under Round Robin; re-registrations change every load. Goals are reported as fields (`goal`, `met`);
 * a missed goal never makes the run fail, a wrong answer or a rejected registration does.
 *
 * Resolution figures are medians over BENCH_ROUNDS rounds (default 3), each round measuring the echo and
 * then the registrar at every size, so both see the same drift of a shared machine; every round's value,
 * the CPU each side used (cores, and microseconds per response, user and system) and the machine's busy
 * share are reported with each figure.
 *
 * Two derived fields help on a busy machine, where throughput mostly shows the share of CPU we were given:
 * `cpuBoundRatio` is the ratio expected with one idle core each for server and client, from the CPU each
 * side spent per response (throughput = 1 / the slower side's microseconds per response); `cpuVs10000`
 * (at 100,000) is the registrar's CPU per resolution, relative to the client's CPU per response (which does
 * not depend on the pool size), over the same at 10,000: the slowdown in CPU terms.
 *
 * Environment: BENCH_SECONDS (measured window per resolution figure, default 3); for profiling,
 * BENCH_REGISTRAR_CPU_PROF (a directory: the registrar process runs with --cpu-prof there) and
 * BENCH_REGISTRAR_NODE_FLAGS (extra node flags for the registrar process, e.g. --perf-basic-prof); with
 * either, the registrar process logs phase marks (name, pid, monotonic µs) to stderr as JSON lines.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Registrar } from '../../core/registrar/registrar.js';
import { encodeMessage } from '../../core/wire/encoder.js';
import { PolicyType } from '../../core/wire/policy.js';
import type { PoolElement } from '../../core/wire/types.js';
import {
  benchElement,
  machineJiffies,
  resolutionRequest,
  type ClientParams,
  type ClientResult,
  type PoolSpec,
  type PopulateResult,
  type ResolveResult,
} from './registrar-load-client.js';
import { reap, withTimeout } from './child-processes.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLIENT = `${HERE}registrar-load-client.ts`;
const ECHO = `${HERE}echo-server.ts`;
const SELF = fileURLToPath(import.meta.url);

const SIZES = [10, 1_000, 10_000, 100_000] as const;
const ITEMS = 3;
const CONNECTIONS = 64;
const IN_FLIGHT = 4;
const REGISTRATION_CONNECTIONS = 64;
const REGISTRATION_PIPELINE = 16;
const REGISTRATION_LIFE_MS = 3_600_000;
const KEEP_ALIVE_INTERVAL_MS = 300_000;
const WARMUP_MS = 1000;
/** The whole bench is stopped (children killed, an error thrown) after this long. */
const WHOLE_RUN_BOUND_MS = 200_000;

const GOAL_ECHO_RATIO = 0.7;
const GOAL_SLOWDOWN = 0.1;
const GOAL_REGISTRATIONS = 20_000;
const GOAL_HEAP_BYTES = 1024;

// ---- the registrar process --------------------------------------------------------------------------

type ToRegistrar = { readonly cmd: 'heap' } | { readonly cmd: 'stats' } | { readonly cmd: 'mark'; readonly name: string } | { readonly cmd: 'close' };

interface HeapReply {
  readonly kind: 'heap';
  readonly heapUsed: number;
  readonly elements: number;
  readonly sessions: number;
}
interface StatsReply {
  readonly kind: 'stats';
  readonly elements: number;
  readonly pools: number;
  readonly sessions: number;
  readonly notices: number;
  readonly firstNotice: string | null;
  readonly registrationsNew: number;
  readonly registrationsRenewed: number;
  readonly resolutionsAnswered: number;
}
type FromRegistrar =
  | { readonly kind: 'ready'; readonly port: number; readonly pid: number; readonly serverId: number }
  | HeapReply
  | StatsReply
  | { readonly kind: 'marked' }
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
    maxElementsPerConnection: 1_000_000,
    maxElementsPerPool: 200_000,
    log: (line) => process.stderr.write(`registrar: ${line}\n`),
  });
  let notices = 0;
  let firstNotice: string | null = null;
  registrar.on('notice', ({ message }) => {
    notices++;
    firstNotice ??= message;
  });
  const gc = globalThis.gc;
  const collect = async (): Promise<void> => {
    if (!gc) throw new Error('the registrar process needs --expose-gc');
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
  };
  process.on('message', (raw: unknown) => {
    const message = raw as ToRegistrar;
    void (async () => {
      switch (message.cmd) {
        case 'heap':
          await collect();
          return send({ kind: 'heap', heapUsed: process.memoryUsage().heapUsed, elements: registrar.handlespace.elementCount, sessions: registrar.sessionCount });
        case 'stats': {
          const c = registrar.counters;
          return send({
            kind: 'stats',
            elements: registrar.handlespace.elementCount,
            pools: registrar.handlespace.poolCount,
            sessions: registrar.sessionCount,
            notices,
            firstNotice,
            registrationsNew: c.get('registration.new'),
            registrationsRenewed: c.get('registration.renewed'),
            resolutionsAnswered: c.get('resolution.answered'),
          });
        }
        case 'mark':
          // Phase marks on the clock of --cpu-prof samples (monotonic, microseconds), when profiling.
          if (process.env['BENCH_REGISTRAR_MARKS'] === '1') process.stderr.write(`${JSON.stringify({ mark: message.name, pid: process.pid, monotonicUs: Number(process.hrtime.bigint() / 1000n) })}\n`);
          return send({ kind: 'marked' });
        case 'close':
          await registrar.close();
          send({ kind: 'closed' });
          process.disconnect();
          return;
      }
    })();
  });
  process.on('disconnect', () => void registrar.close());
  send({ kind: 'ready', port: registrar.asapAddress.port, pid: process.pid, serverId: registrar.serverId });
}

// ---- child process plumbing -------------------------------------------------------------------------

/** Every child this run started, so a failure or the time bound can end them all. */
const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}


/** A TypeScript child on `node --import tsx`, its stderr passed through, its first stdout line parsed as JSON. */
function spawnTs<T>(script: string, params: object, stdin: 'pipe' | 'ignore', timeoutMs: number, what: string): { child: ChildProcess; first: Promise<T> } {
  const child = track(spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(params)], { stdio: [stdin, 'pipe', 'inherit'] }));
  const first = new Promise<T>((resolve, reject) => {
    let text = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      try {
        resolve(JSON.parse(text.slice(0, newline)) as T);
      } catch (e) {
        reject(new Error(`${what}: unreadable output ${JSON.stringify(text.slice(0, 200))}: ${String(e)}`));
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`${what} exited (${signal ?? code}) without a result`)));
    child.once('error', reject);
  });
  return { child, first: withTimeout(first, timeoutMs, what) };
}

class RegistrarChild {
  private readonly waiting: ((message: FromRegistrar) => void)[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly pid: number,
    readonly serverId: number,
  ) {
    child.on('message', (raw: unknown) => this.waiting.shift()?.(raw as FromRegistrar));
  }

  static async start(cpuProfDir: string | undefined, extraFlags: readonly string[]): Promise<RegistrarChild> {
    const profiling = cpuProfDir !== undefined || extraFlags.length > 0;
    const execArgv = ['--expose-gc', '--import', 'tsx', ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []), ...extraFlags];
    const env = { ...process.env, BENCH_REGISTRAR_MARKS: profiling ? '1' : '0' };
    const child = track(fork(SELF, ['--registrar-process'], { execArgv, env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
    const ready = await withTimeout(
      new Promise<FromRegistrar>((resolve, reject) => {
        child.once('message', (raw: unknown) => resolve(raw as FromRegistrar));
        child.once('exit', (code) => reject(new Error(`the registrar process exited (${code}) before it was ready`)));
      }),
      30_000,
      'registrar start',
    );
    if (ready.kind !== 'ready') throw new Error(`registrar process: expected ready, got ${ready.kind}`);
    return new RegistrarChild(child, ready.port, ready.pid, ready.serverId);
  }

  private ask<K extends FromRegistrar['kind']>(command: ToRegistrar, kind: K): Promise<Extract<FromRegistrar, { kind: K }>> {
    const answer = new Promise<Extract<FromRegistrar, { kind: K }>>((resolve, reject) => {
      this.waiting.push((message) => (message.kind === kind ? resolve(message as Extract<FromRegistrar, { kind: K }>) : reject(new Error(`registrar process: expected ${kind}, got ${message.kind}`))));
    });
    this.child.send(command);
    return withTimeout(answer, 30_000, `registrar ${command.cmd}`);
  }

  heap(): Promise<HeapReply> {
    return this.ask({ cmd: 'heap' }, 'heap');
  }

  stats(): Promise<StatsReply> {
    return this.ask({ cmd: 'stats' }, 'stats');
  }

  async mark(name: string): Promise<void> {
    await this.ask({ cmd: 'mark', name }, 'marked');
  }

  async close(): Promise<void> {
    if (this.child.connected) await this.ask({ cmd: 'close' }, 'closed');
    await reap(this.child, 10_000);
  }
}

// ---- figures ----------------------------------------------------------------------------------------

interface Figure {
  readonly bench: 'registrar';
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  readonly [context: string]: unknown;
}

const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;
const cores = (x: number | null): number | null => (x === null ? null : round(x, 2));
/** CPU microseconds per response over the window, from a CPU share in cores. */
const usPer = (share: number | null, r: ResolveResult): number | null => (share === null || r.perSecond === 0 ? null : round((share / r.perSecond) * 1e6, 2));

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const medianOf = (values: readonly (number | null)[]): number | null => {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : median(known);
};

/** Medians over the rounds of one measurement: throughput, and CPU in cores and in microseconds per response. */
function summarize(list: readonly ResolveResult[]) {
  const perOp = (pick: (r: ResolveResult) => number | null) => round(medianOf(list.map((r) => usPer(pick(r), r))) ?? NaN, 2);
  return {
    median: median(list.map((r) => r.perSecond)),
    values: list.map((r) => round(r.perSecond)),
    serverCpu: cores(medianOf(list.map((r) => r.serverCpu))),
    serverUs: perOp((r) => r.serverCpu),
    serverUserUs: perOp((r) => r.serverUserCpu),
    serverSystemUs: perOp((r) => r.serverSystemCpu),
    clientCpu: cores(medianOf(list.map((r) => r.clientCpu))),
    clientUs: perOp((r) => r.clientCpu),
    responsesPerRead: round(median(list.map((r) => r.responsesPerRead)), 2),
    machineBusy: list.map((r) => cores(r.machineBusy)),
  };
}

/** Busy fraction of the whole machine over `ms` (0..1, all cores) before anything of ours runs: others' load. */
async function backgroundBusy(ms: number): Promise<number | null> {
  const a = machineJiffies();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineJiffies();
  return a && b && b.total > a.total ? round((b.busy - a.busy) / (b.total - a.total), 2) : null;
}

function poolOf(size: number, index: number): PoolSpec {
  return { handle: `bench-${String(size).padStart(6, '0')}`, elements: size, idBase: ((index + 1) * 0x01000000) >>> 0 };
}

/** What the registrar answers for a resolution of `pool`: 3 elements as it records them, overall policy LU. */
function cannedResponse(pool: PoolSpec, serverId: number): { bytes: Uint8Array; ids: number[] } {
  const elements: PoolElement[] = Array.from({ length: ITEMS }, (_, i) => ({
    ...benchElement(pool, i, 1, REGISTRATION_LIFE_MS),
    homeServerId: serverId,
    asapTransport: { kind: 'tcp', port: 40_000 + i, transportUse: 0, address: '127.0.0.1' },
  }));
  const bytes = encodeMessage({
    protocol: 'asap',
    type: 'handleResolutionResponse',
    accepted: false,
    poolHandle: new TextEncoder().encode(pool.handle),
    overallPolicy: { type: PolicyType.leastUsed },
    poolElements: elements,
    peStatus: [],
  });
  return { bytes, ids: elements.map((e) => e.id) };
}

function expectResolve(result: ClientResult, what: string): ResolveResult {
  if (!result.ok) throw new Error(`${what}: ${result.error}`);
  if (result.mode !== 'resolve') throw new Error(`${what}: unexpected ${result.mode} result`);
  return result;
}

function expectPopulate(result: ClientResult, what: string): PopulateResult {
  if (!result.ok) throw new Error(`${what}: ${result.error}`);
  if (result.mode !== 'populate') throw new Error(`${what}: unexpected ${result.mode} result`);
  return result;
}

async function runClient(params: ClientParams, what: string): Promise<ClientResult> {
  const { child, first } = spawnTs<ClientResult>(CLIENT, params, 'ignore', params.timeoutMs + 15_000, what);
  try {
    return await first;
  } finally {
    await reap(child, 5000);
  }
}

async function measureRegistrar(registrar: RegistrarChild, pool: PoolSpec, seconds: number): Promise<ResolveResult> {
  const items = Math.min(ITEMS, pool.elements);
  const result = await runClient(
    {
      mode: 'resolve',
      host: '127.0.0.1',
      port: registrar.port,
      connections: CONNECTIONS,
      inFlight: IN_FLIGHT,
      handle: pool.handle,
      expect: { items, idMin: pool.idBase, idMax: pool.idBase + pool.elements - 1 },
      warmupMs: WARMUP_MS,
      durationMs: seconds * 1000,
      timeoutMs: WARMUP_MS + seconds * 1000 + 20_000,
      serverPid: registrar.pid,
    },
    `resolutions at ${pool.elements} elements`,
  );
  return expectResolve(result, `resolutions at ${pool.elements} elements`);
}

async function measureEcho(pool: PoolSpec, serverId: number, seconds: number, label: string): Promise<ResolveResult & { cannedBytes: number }> {
  const canned = cannedResponse(pool, serverId);
  const request = resolutionRequest(pool.handle);
  const echo = spawnTs<{ port: number; pid: number }>(
    ECHO,
    { requestBytes: request.length, responseHex: Buffer.from(canned.bytes).toString('hex'), maxLifetimeMs: WARMUP_MS + seconds * 1000 + 40_000 },
    'pipe',
    30_000,
    'echo server',
  );
  try {
    const { port, pid } = await echo.first;
    const result = await runClient(
      {
        mode: 'resolve',
        host: '127.0.0.1',
        port,
        connections: CONNECTIONS,
        inFlight: IN_FLIGHT,
        handle: pool.handle,
        expect: { items: ITEMS, idMin: Math.min(...canned.ids), idMax: Math.max(...canned.ids) },
        warmupMs: WARMUP_MS,
        durationMs: seconds * 1000,
        timeoutMs: WARMUP_MS + seconds * 1000 + 20_000,
        serverPid: pid,
      },
      `echo (${label})`,
    );
    return { ...expectResolve(result, `echo (${label})`), cannedBytes: canned.bytes.length };
  } finally {
    echo.child.stdin?.end();
    await reap(echo.child, 5000);
  }
}

async function run(seconds: number, rounds: number, cpuProfDir: string | undefined, extraFlags: readonly string[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  const machine = { cores: cpus().length, loadavg1AtStart: round(loadavg()[0] ?? 0, 2), backgroundBusyAtStart: await backgroundBusy(1000) };
  const pools = SIZES.map((size, i) => poolOf(size, i));
  const largest = pools[pools.length - 1] as PoolSpec;
  const registrar = await RegistrarChild.start(cpuProfDir, extraFlags);
  const holders: ChildProcess[] = [];
  try {
    // 1. Heap before, then the 100,000 elements: new registrations, then re-registrations with a changed load.
    const heapBefore = await registrar.heap();
    await registrar.mark('register-100000');
    const populateBound = 90_000;
    const holderA = spawnTs<ClientResult>(
      CLIENT,
      {
        mode: 'populate',
        host: '127.0.0.1',
        port: registrar.port,
        connections: REGISTRATION_CONNECTIONS,
        pipeline: REGISTRATION_PIPELINE,
        pools: [largest],
        registrationLifeMs: REGISTRATION_LIFE_MS,
        holdMs: WHOLE_RUN_BOUND_MS,
        timeoutMs: populateBound,
        serverPid: registrar.pid,
      } satisfies ClientParams,
      'pipe',
      populateBound + 30_000,
      'registration of 100,000 elements',
    );
    holders.push(holderA.child);
    const registered = expectPopulate(await holderA.first, 'registration of 100,000 elements');
    await registrar.mark('registered-100000');
    const heapAfter = await registrar.heap();
    if (heapAfter.elements !== largest.elements) throw new Error(`the registrar holds ${heapAfter.elements} elements, expected ${largest.elements}`);

    const registrationContext = { elements: registered.elements, connections: registered.connections, pipeline: registered.pipeline, policy: 'LU', transport: 'tcp' };
    const perSecondGoal = `>= ${GOAL_REGISTRATIONS}/s`;
    figures.push({
      bench: 'registrar',
      figure: 'registrations/s (new)',
      value: round(registered.register.perSecond),
      unit: 'registrations/s',
      ...registrationContext,
      seconds: round(registered.register.seconds, 3),
      registrarCpu: cores(registered.register.serverCpu),
      registrarCpuUsPerRegistration: registered.register.serverCpu === null ? null : round((registered.register.serverCpu / registered.register.perSecond) * 1e6, 2),
      clientCpu: cores(registered.register.clientCpu),
      goal: perSecondGoal,
      met: registered.register.perSecond >= GOAL_REGISTRATIONS,
    });
    figures.push({
      bench: 'registrar',
      figure: 're-registrations/s (load changed)',
      value: round(registered.reregister.perSecond),
      unit: 'registrations/s',
      ...registrationContext,
      seconds: round(registered.reregister.seconds, 3),
      registrarCpu: cores(registered.reregister.serverCpu),
      registrarCpuUsPerRegistration: registered.reregister.serverCpu === null ? null : round((registered.reregister.serverCpu / registered.reregister.perSecond) * 1e6, 2),
      clientCpu: cores(registered.reregister.clientCpu),
      goal: perSecondGoal,
      met: registered.reregister.perSecond >= GOAL_REGISTRATIONS,
    });
    const both = (2 * registered.elements) / (registered.register.seconds + registered.reregister.seconds);
    figures.push({
      bench: 'registrar',
      figure: 'registrations + re-registrations/s',
      value: round(both),
      unit: 'registrations/s',
      ...registrationContext,
      registrations: 2 * registered.elements,
      seconds: round(registered.register.seconds + registered.reregister.seconds, 3),
      goal: perSecondGoal,
      met: both >= GOAL_REGISTRATIONS,
    });
    const perElement = (heapAfter.heapUsed - heapBefore.heapUsed) / largest.elements;
    figures.push({
      bench: 'registrar',
      figure: `heap bytes per element @ ${largest.elements.toLocaleString('en-US')}`,
      value: round(perElement),
      unit: 'B/element',
      elements: largest.elements,
      heapUsedBefore: heapBefore.heapUsed,
      heapUsedAfter: heapAfter.heapUsed,
      sessionsOpen: heapAfter.sessions,
      note: 'registrar process after full GCs; includes its 64 sessions and every index',
      goal: `<= ${GOAL_HEAP_BYTES} B`,
      met: perElement <= GOAL_HEAP_BYTES,
    });

    // 2. The smaller pools, from another holder.
    const small = pools.slice(0, -1);
    const holderB = spawnTs<ClientResult>(
      CLIENT,
      {
        mode: 'populate',
        host: '127.0.0.1',
        port: registrar.port,
        connections: REGISTRATION_CONNECTIONS,
        pipeline: REGISTRATION_PIPELINE,
        pools: small,
        registrationLifeMs: REGISTRATION_LIFE_MS,
        holdMs: WHOLE_RUN_BOUND_MS,
        timeoutMs: 30_000,
      } satisfies ClientParams,
      'pipe',
      60_000,
      'registration of the smaller pools',
    );
    holders.push(holderB.child);
    expectPopulate(await holderB.first, 'registration of the smaller pools');
    const populated = await registrar.stats();
    const expectedElements = pools.reduce((n, p) => n + p.elements, 0);
    if (populated.elements !== expectedElements || populated.registrationsNew !== expectedElements || populated.registrationsRenewed !== expectedElements || populated.notices > 0) {
      throw new Error(
        `after registration the registrar holds ${populated.elements} elements (expected ${expectedElements}), counted ${populated.registrationsNew} new and ${populated.registrationsRenewed} renewed registrations (expected ${expectedElements} each) and logged ${populated.notices} notices (first: ${populated.firstNotice})`,
      );
    }

    // 3. Rounds of echo, then the registrar at every size, so echo and registrar see the same machine drift;
    //    each figure is the median over the rounds (every round's value is listed too).
    const reference = pools[2] as PoolSpec;
    const echoRuns: (ResolveResult & { cannedBytes: number })[] = [];
    const runs = new Map<number, ResolveResult[]>(pools.map((p) => [p.elements, []]));
    for (let pass = 1; pass <= rounds; pass++) {
      await registrar.mark(`echo-${pass}`);
      echoRuns.push(await measureEcho(reference, registrar.serverId, seconds, `round ${pass}`));
      for (const pool of pools) {
        await registrar.mark(`resolve-${pool.elements}`);
        runs.get(pool.elements)?.push(await measureRegistrar(registrar, pool, seconds));
      }
    }
    await registrar.mark('resolve-done');
    const final = await registrar.stats();
    if (final.notices > 0) throw new Error(`the registrar logged ${final.notices} notices (first: ${final.firstNotice})`);

    const echo = summarize(echoRuns);
    const cannedBytes = echoRuns[0]?.cannedBytes ?? 0;
    figures.push({
      bench: 'registrar',
      figure: 'echo resolutions/s (baseline)',
      value: round(echo.median),
      unit: 'responses/s',
      rounds: echo.values,
      connections: CONNECTIONS,
      inFlight: IN_FLIGHT,
      seconds,
      requestBytes: echoRuns[0]?.requestBytes,
      responseBytes: echoRuns[0]?.responseBytes,
      serverCpu: echo.serverCpu,
      serverCpuUsPerResponse: echo.serverUs,
      serverUserUsPerResponse: echo.serverUserUs,
      serverSystemUsPerResponse: echo.serverSystemUs,
      clientCpu: echo.clientCpu,
      clientCpuUsPerResponse: echo.clientUs,
      responsesPerRead: echo.responsesPerRead,
      machineBusy: echo.machineBusy,
    });
    const at10k = summarize(runs.get(10_000) ?? []);
    for (const pool of pools) {
      const list = runs.get(pool.elements) ?? [];
      const r = summarize(list);
      const goal: Record<string, unknown> = {};
      if (pool.elements === 10_000) Object.assign(goal, { goal: `>= ${GOAL_ECHO_RATIO} x echo`, met: r.median >= GOAL_ECHO_RATIO * echo.median });
      if (pool.elements === 100_000) {
        Object.assign(goal, {
          vs10000: round(r.median / at10k.median, 3),
          cpuVs10000: round(r.serverUs / r.clientUs / (at10k.serverUs / at10k.clientUs), 3),
          vs10000ByRound: r.values.map((v, i) => round(v / (at10k.values[i] ?? NaN), 3)),
          goal: `>= ${1 - GOAL_SLOWDOWN} x resolutions/s @ 10,000`,
          met: r.median >= (1 - GOAL_SLOWDOWN) * at10k.median,
        });
      }
      figures.push({
        bench: 'registrar',
        figure: `resolutions/s @ ${pool.elements.toLocaleString('en-US')} elements`,
        value: round(r.median),
        unit: 'resolutions/s',
        echo: round(echo.median),
        ratio: round(r.median / echo.median, 3),
        cpuBoundRatio: round(Math.max(echo.serverUs, echo.clientUs) / Math.max(r.serverUs, r.clientUs), 3),
        ...goal,
        rounds: r.values,
        ratioByRound: r.values.map((v, i) => round(v / (echo.values[i] ?? NaN), 3)),
        elements: pool.elements,
        items: Math.min(ITEMS, pool.elements),
        policy: 'LU',
        connections: CONNECTIONS,
        inFlight: IN_FLIGHT,
        seconds,
        requestBytes: list[0]?.requestBytes,
        responseBytes: list[0]?.responseBytes,
        sameSizeAsEcho: pool.elements < ITEMS || list.every((x) => x.responseBytes === cannedBytes),
        registrarCpu: r.serverCpu,
        registrarCpuUsPerResolution: r.serverUs,
        registrarUserUsPerResolution: r.serverUserUs,
        registrarSystemUsPerResolution: r.serverSystemUs,
        clientCpu: r.clientCpu,
        clientCpuUsPerResolution: r.clientUs,
        responsesPerRead: r.responsesPerRead,
        machineBusy: r.machineBusy,
      });
    }
    const context = { machine: { ...machine, loadavg1AtEnd: round(loadavg()[0] ?? 0, 2) } };
    return figures.map((f) => ({ ...f, ...context }));
  } finally {
    for (const holder of holders) holder.stdin?.end();
    await Promise.all(holders.map((h) => reap(h, 10_000)));
    await registrar.close();
  }
}

export async function runRegistrarBench(seconds = Number(process.env['BENCH_SECONDS'] ?? 3), rounds = Number(process.env['BENCH_ROUNDS'] ?? 3)): Promise<Figure[]> {
  let bound: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    bound = setTimeout(() => {
      killAll();
      reject(new Error(`the registrar bench did not finish within ${WHOLE_RUN_BOUND_MS / 1000} s`));
    }, WHOLE_RUN_BOUND_MS);
  });
  try {
    const extraFlags = (process.env['BENCH_REGISTRAR_NODE_FLAGS'] ?? '').split(' ').filter((flag) => flag !== '');
    return await Promise.race([run(seconds, Math.max(1, Math.min(9, Math.round(rounds))), process.env['BENCH_REGISTRAR_CPU_PROF'] || undefined, extraFlags), timeout]);
  } catch (e) {
    killAll();
    throw e;
  } finally {
    clearTimeout(bound);
  }
}

if (process.argv[2] === '--registrar-process' && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await registrarProcess();
