/**
 * The load generator of the registrar bench (registrar.bench.ts), always run as its own process so it has
 * a core of its own:
 *
 *   node --import tsx test/bench/registrar-load-client.ts '<JSON parameters>'
 *
 * It prints exactly one JSON line on stdout (a ClientResult) and nothing else there. Two modes:
 *
 * - populate: opens `connections` ASAP connections, registers every element (Least Used policy, TCP user
 *   transport, unique PE identifiers) with `pipeline` registrations in flight per connection, then
 *   re-registers every element with a changed load, timing both passes. Every response must be an
 *   acceptance for the identifier sent (responses come back in order per connection). After printing its
 *   result it keeps the connections open, answering keep-alives like a real pool element, so the elements
 *   stay registered, until its stdin ends or `holdMs` passes.
 * - resolve: `connections` × `inFlight` handle resolution requests (no Handle Resolution Option: the
 *   registrar's default of 3 items), a warm-up, then a measured window; every response is decoded and must
 *   be positive with exactly `expect.items` distinct elements from the pool's identifier range. A wrong
 *   answer makes the result `ok: false` (the bench then fails); it never counts as throughput. The same
 *   code runs against the registrar and against the echo baseline (echo-server.ts), so the client's work
 *   per response is identical.
 *
 * Every loop is bounded by a count and by `timeoutMs`.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { decodeMessage } from '../../core/wire/decoder.js';
import { encodeMessage } from '../../core/wire/encoder.js';
import { PolicyType } from '../../core/wire/policy.js';
import { TcpFramer } from '../../core/wire/tcp-framer.js';
import type { AsapMessage, PoolElement } from '../../core/wire/types.js';

export interface PoolSpec {
  /** Pool handle as text (ASCII). */
  readonly handle: string;
  readonly elements: number;
  /** PE identifier of element 0; element i has idBase + i. */
  readonly idBase: number;
}

export interface PopulateParams {
  readonly mode: 'populate';
  readonly host: string;
  readonly port: number;
  readonly connections: number;
  /** Registrations in flight per connection. */
  readonly pipeline: number;
  readonly pools: readonly PoolSpec[];
  readonly registrationLifeMs: number;
  /** Upper bound on how long the connections are held open after the result is printed. */
  readonly holdMs: number;
  /** Upper bound on connecting plus both registration passes. */
  readonly timeoutMs: number;
  /** The registrar process, to read its CPU time over each pass from /proc (Linux); optional. */
  readonly serverPid?: number;
}

export interface ResolveParams {
  readonly mode: 'resolve';
  readonly host: string;
  readonly port: number;
  readonly connections: number;
  readonly inFlight: number;
  readonly handle: string;
  readonly expect: { readonly items: number; readonly idMin: number; readonly idMax: number };
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Upper bound on the whole run (connect, warm-up, window, drain). */
  readonly timeoutMs: number;
  /** The server process, to read its CPU time over the window from /proc (Linux); optional. */
  readonly serverPid?: number;
}

export type ClientParams = PopulateParams | ResolveParams;

export interface PassResult {
  readonly count: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Client CPU over the pass, in cores (1 = one core busy the whole time). */
  readonly clientCpu: number;
  /** Server CPU over the pass, in cores; null where /proc is not readable. */
  readonly serverCpu: number | null;
}

export interface PopulateResult {
  readonly ok: true;
  readonly mode: 'populate';
  readonly elements: number;
  readonly connections: number;
  readonly pipeline: number;
  readonly register: PassResult;
  readonly reregister: PassResult;
}

export interface ResolveResult {
  readonly ok: true;
  readonly mode: 'resolve';
  /** Responses received inside the measured window. */
  readonly responses: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** All responses, warm-up and drain included; every one was validated. */
  readonly validated: number;
  readonly connections: number;
  readonly inFlight: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** Over the window, in cores. */
  readonly clientCpu: number;
  readonly serverCpu: number | null;
  /** The server's CPU split into user (JavaScript, V8) and system (kernel: syscalls, loopback TCP) time. */
  readonly serverUserCpu: number | null;
  readonly serverSystemCpu: number | null;
  /** Responses per 'data' event at the client: how much the server's writes were batched. */
  readonly responsesPerRead: number;
  /** Busy fraction of the whole machine over the window (0..1, all cores), from /proc/stat. */
  readonly machineBusy: number | null;
  readonly loadavg1: number;
}

export interface FailedResult {
  readonly ok: false;
  readonly mode: ClientParams['mode'];
  readonly error: string;
}

export type ClientResult = PopulateResult | ResolveResult | FailedResult;

const encoder = new TextEncoder();

/** Least Used load as a percentage (RSPLIB's convention: 0..100 % of 0xffffffff), so many elements share a load. */
export function loadPercentOf(index: number, pass: number): number {
  return (index * 37 + pass * 50) % 101;
}

export function loadOf(percent: number): number {
  return Math.min(0xffffffff, Math.floor((percent * 0xffffffff) / 100));
}

/** The element as a pool element sends it (no home registrar yet, no ASAP transport). */
export function benchElement(pool: PoolSpec, index: number, pass: number, registrationLifeMs: number): PoolElement {
  return {
    id: (pool.idBase + index) >>> 0,
    homeServerId: 0,
    registrationLife: registrationLifeMs,
    userTransport: { kind: 'tcp', port: 5060, transportUse: 0, address: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}` },
    policy: { type: PolicyType.leastUsed, load: loadOf(loadPercentOf(index, pass)) },
  };
}

/** One handle resolution request as the bench sends it: no subscription, no Handle Resolution Option. */
export function resolutionRequest(handle: string): Uint8Array {
  return encodeMessage({ protocol: 'asap', type: 'handleResolution', subscribe: false, poolHandle: encoder.encode(handle) });
}

class BenchFailure extends Error {}

function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new BenchFailure(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

async function connectAll(host: string, port: number, count: number, timeoutMs: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  // A few at a time: a burst of hundreds of SYNs can overflow the listen backlog.
  for (let i = 0; i < count; i += 16) {
    const batch = await Promise.all(Array.from({ length: Math.min(16, count - i) }, () => connect(host, port, timeoutMs)));
    sockets.push(...batch);
  }
  return sockets;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** User and system seconds of a process from /proc/PID/stat (clock ticks of 1/100 s on Linux); null elsewhere. */
function processCpuSeconds(pid: number | undefined): { user: number; system: number } | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? { user: utime / 100, system: stime / 100 } : null;
  } catch {
    return null;
  }
}

/** Busy and total jiffies of the whole machine from /proc/stat; null elsewhere. */
export function machineJiffies(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = values.reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    return Number.isFinite(total) ? { busy: total - idle, total } : null;
  } catch {
    return null;
  }
}

// ---- populate -------------------------------------------------------------------------------------------

interface Pending {
  readonly id: number;
}

interface RegistrationLane {
  readonly socket: net.Socket;
  readonly framer: TcpFramer;
  /** Indices into the message list this connection sends, in order. */
  readonly queue: number[];
  next: number;
  readonly inFlight: Pending[];
}

async function populate(p: PopulateParams): Promise<PopulateResult> {
  const deadline = performance.now() + p.timeoutMs;
  const items: { pool: PoolSpec; index: number }[] = [];
  for (const pool of p.pools) for (let i = 0; i < pool.elements; i++) items.push({ pool, index: i });
  const handles = new Map(p.pools.map((pool) => [pool.handle, encoder.encode(pool.handle)]));
  // Messages are encoded before the clock starts: the figure is the registrar's, not the client's encoder's.
  const encodePass = (pass: number): Buffer[] =>
    items.map(({ pool, index }) =>
      Buffer.from(encodeMessage({ protocol: 'asap', type: 'registration', poolHandle: handles.get(pool.handle) as Uint8Array, poolElement: benchElement(pool, index, pass, p.registrationLifeMs) })),
    );
  const ids = items.map(({ pool, index }) => (pool.idBase + index) >>> 0);

  const sockets = await connectAll(p.host, p.port, p.connections, Math.max(1000, deadline - performance.now()));
  const lanes: RegistrationLane[] = sockets.map((socket) => ({ socket, framer: new TcpFramer(), queue: [], next: 0, inFlight: [] }));
  items.forEach((_, i) => lanes[i % lanes.length]?.queue.push(i));

  let failure: Error | undefined;
  let messages: Buffer[] = [];
  let remaining = 0;
  let finishPass: (() => void) | undefined;

  const fail = (error: Error): void => {
    failure ??= error;
    finishPass?.();
  };
  const fill = (lane: RegistrationLane): void => {
    if (lane.next >= lane.queue.length || lane.inFlight.length >= p.pipeline) return;
    lane.socket.cork();
    while (lane.next < lane.queue.length && lane.inFlight.length < p.pipeline) {
      const i = lane.queue[lane.next++] as number;
      lane.inFlight.push({ id: ids[i] as number });
      lane.socket.write(messages[i] as Buffer);
    }
    lane.socket.uncork();
  };
  const onMessage = (lane: RegistrationLane, m: AsapMessage): void => {
    switch (m.type) {
      case 'registrationResponse': {
        const expected = lane.inFlight.shift();
        if (!expected) return fail(new BenchFailure(`unsolicited registration response for PE 0x${m.peId.toString(16)}`));
        if (m.reject || m.error !== undefined || m.peId !== expected.id) {
          return fail(new BenchFailure(`registration of PE 0x${expected.id.toString(16)} answered with ${JSON.stringify({ reject: m.reject, peId: m.peId, causes: m.error?.map((c) => c.code) })}`));
        }
        if (--remaining === 0) finishPass?.();
        else fill(lane);
        return;
      }
      case 'endpointKeepAlive':
        // Answered like a real pool element, so elements stay registered however long the bench runs.
        if (m.peId !== undefined) lane.socket.write(encodeMessage({ protocol: 'asap', type: 'endpointKeepAliveAck', poolHandle: m.poolHandle, peId: m.peId }));
        return;
      default:
        return fail(new BenchFailure(`unexpected ${m.type} from the registrar: ${JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}`));
    }
  };
  for (const lane of lanes) {
    lane.socket.on('data', (chunk: Buffer) => {
      for (const event of lane.framer.push(chunk)) {
        if (event.kind === 'error') return fail(new BenchFailure(`framing error from the registrar: ${event.error.reason}`));
        const decoded = decodeMessage('asap', event.bytes);
        if (!decoded.ok || decoded.value.protocol !== 'asap') return fail(new BenchFailure(`undecodable message from the registrar: ${decoded.ok ? 'not ASAP' : decoded.error.reason}`));
        onMessage(lane, decoded.value);
      }
    });
    lane.socket.on('close', () => fail(new BenchFailure('the registrar closed a connection')));
    lane.socket.on('error', (e) => fail(e));
  }

  const runPass = async (pass: number): Promise<PassResult> => {
    messages = encodePass(pass);
    for (const lane of lanes) lane.next = 0;
    remaining = items.length;
    const cpu0 = cpuSeconds();
    const server0 = processCpuSeconds(p.serverPid);
    const t0 = performance.now();
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(() => fail(new BenchFailure(`registration pass ${pass} not finished within the time bound (${remaining} of ${items.length} outstanding)`)), Math.max(0, deadline - t0));
      finishPass = () => {
        clearTimeout(timer);
        finishPass = undefined;
        resolve();
      };
    });
    for (const lane of lanes) fill(lane);
    if (remaining > 0) await done;
    if (failure) throw failure;
    const seconds = (performance.now() - t0) / 1000;
    const server1 = processCpuSeconds(p.serverPid);
    const serverCpu = server0 && server1 ? (server1.user + server1.system - server0.user - server0.system) / seconds : null;
    return { count: items.length, seconds, perSecond: items.length / seconds, clientCpu: (cpuSeconds() - cpu0) / seconds, serverCpu };
  };

  const register = await runPass(0);
  const reregister = await runPass(1);
  messages = [];

  // Hold the elements: the result goes out now, the connections stay until stdin ends or holdMs passes.
  const release = (): void => {
    for (const lane of lanes) {
      lane.socket.removeAllListeners('close');
      lane.socket.destroy();
    }
    process.stdin.destroy();
  };
  const holdTimer = setTimeout(release, p.holdMs);
  process.stdin.on('end', () => {
    clearTimeout(holdTimer);
    release();
  });
  process.stdin.on('error', () => undefined);
  process.stdin.resume();
  return { ok: true, mode: 'populate', elements: items.length, connections: lanes.length, pipeline: p.pipeline, register, reregister };
}

// ---- resolve ------------------------------------------------------------------------------------------

function checkResolution(m: AsapMessage, expect: ResolveParams['expect']): string | undefined {
  if (m.type !== 'handleResolutionResponse') return `a ${m.type} instead of a handle resolution response`;
  if (m.error !== undefined && m.error.length > 0) return `a negative response (causes ${m.error.map((c) => `0x${c.code.toString(16)}`).join(', ')})`;
  const elements = m.poolElements;
  if (elements.length !== expect.items) return `${elements.length} elements instead of ${expect.items}`;
  for (let i = 0; i < elements.length; i++) {
    const id = (elements[i] as PoolElement).id;
    if (id < expect.idMin || id > expect.idMax) return `PE 0x${id.toString(16)} is outside the pool's range`;
    for (let j = 0; j < i; j++) if ((elements[j] as PoolElement).id === id) return `PE 0x${id.toString(16)} returned twice`;
  }
  return undefined;
}

async function resolveLoad(p: ResolveParams): Promise<ResolveResult> {
  const hardEnd = performance.now() + p.timeoutMs;
  const request = Buffer.from(resolutionRequest(p.handle));
  // batches[n]: n requests in one write (a read that completed n responses sends n new requests at once).
  const batches = Array.from({ length: p.inFlight + 1 }, (_, n) => Buffer.concat(Array.from({ length: n }, () => request)));
  const sockets = await connectAll(p.host, p.port, p.connections, p.timeoutMs);

  let failure: Error | undefined;
  let sending = true;
  let measuring = false;
  let outstanding = 0;
  let validated = 0;
  let inWindow = 0;
  let reads = 0;
  let responseBytes = 0;
  let drained: (() => void) | undefined;
  const fail = (error: Error): void => {
    failure ??= error;
    sending = false;
    drained?.();
  };

  for (const socket of sockets) {
    const framer = new TcpFramer();
    socket.on('data', (chunk: Buffer) => {
      let completed = 0;
      for (const event of framer.push(chunk)) {
        if (event.kind === 'error') return fail(new BenchFailure(`framing error from the server: ${event.error.reason}`));
        const decoded = decodeMessage('asap', event.bytes);
        if (!decoded.ok || decoded.value.protocol !== 'asap') return fail(new BenchFailure(`undecodable response: ${decoded.ok ? 'not ASAP' : decoded.error.reason}`));
        const problem = checkResolution(decoded.value, p.expect);
        if (problem !== undefined) return fail(new BenchFailure(`wrong answer to a handle resolution of ${p.handle}: ${problem}`));
        responseBytes ||= event.bytes.length;
        validated++;
        completed++;
      }
      outstanding -= completed;
      if (measuring) {
        inWindow += completed;
        reads++;
      }
      if (sending) {
        if (completed > 0) {
          socket.write(batches[completed] ?? Buffer.concat(Array.from({ length: completed }, () => request)));
          outstanding += completed;
        }
      } else if (outstanding === 0) drained?.();
    });
    socket.on('close', () => {
      if (sending) fail(new BenchFailure('the server closed a connection'));
    });
    socket.on('error', (e) => fail(e));
  }

  // The window is opened and closed by timers; its length is what the timers really measured.
  interface Mark {
    readonly at: number;
    readonly cpu: number;
    readonly server: { user: number; system: number } | null;
    readonly machine: { busy: number; total: number } | null;
  }
  const mark = (): Mark => ({ at: performance.now(), cpu: cpuSeconds(), server: processCpuSeconds(p.serverPid), machine: machineJiffies() });
  let open: Mark | undefined;
  let close: Mark | undefined;
  const windowOpens = setTimeout(() => {
    open = mark();
    measuring = true;
  }, p.warmupMs);
  const windowCloses = setTimeout(() => {
    measuring = false;
    close = mark();
    sending = false;
    if (outstanding === 0) drained?.();
  }, p.warmupMs + p.durationMs);

  const finished = new Promise<void>((resolve) => {
    const bound = setTimeout(() => fail(new BenchFailure(`${outstanding} resolutions still outstanding at the time bound`)), Math.max(0, hardEnd - performance.now()));
    drained = () => {
      clearTimeout(bound);
      drained = undefined;
      resolve();
    };
  });
  for (const socket of sockets) {
    socket.write(batches[p.inFlight] as Buffer);
    outstanding += p.inFlight;
  }
  await finished;
  clearTimeout(windowOpens);
  clearTimeout(windowCloses);
  sending = false;
  for (const socket of sockets) socket.destroy();
  if (failure) throw failure;
  if (!open || !close) throw new BenchFailure('the measured window never closed');
  const o: Mark = open;
  const c: Mark = close;
  const seconds = (c.at - o.at) / 1000;
  return {
    ok: true,
    mode: 'resolve',
    responses: inWindow,
    seconds,
    perSecond: inWindow / seconds,
    validated,
    connections: sockets.length,
    inFlight: p.inFlight,
    requestBytes: request.length,
    responseBytes,
    clientCpu: (c.cpu - o.cpu) / seconds,
    serverCpu: o.server && c.server ? (c.server.user + c.server.system - o.server.user - o.server.system) / seconds : null,
    serverUserCpu: o.server && c.server ? (c.server.user - o.server.user) / seconds : null,
    serverSystemCpu: o.server && c.server ? (c.server.system - o.server.system) / seconds : null,
    responsesPerRead: reads === 0 ? 0 : inWindow / reads,
    machineBusy: o.machine && c.machine && c.machine.total > o.machine.total ? (c.machine.busy - o.machine.busy) / (c.machine.total - o.machine.total) : null,
    loadavg1: loadavg()[0] ?? 0,
  };
}

// ---- main ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const params = JSON.parse(process.argv[2] ?? '{}') as ClientParams;
  let result: ClientResult;
  try {
    result = params.mode === 'populate' ? await populate(params) : await resolveLoad(params);
  } catch (e) {
    result = { ok: false, mode: params.mode, error: e instanceof Error ? e.message : String(e) };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!result.ok) process.exit(1);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
