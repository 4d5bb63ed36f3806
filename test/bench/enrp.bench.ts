/**
 * ENRP figures (`npm run bench -- enrp`), one JSON line each, over real ENRP and ASAP on loopback TCP:
 *
 * - sync: a registrar holding BENCH_ENRP_SYNC_ELEMENTS elements (default 100,000, registered over ASAP by
 *   the registrar bench's load client, which keeps them alive) is the mentor of a registrar that starts
 *   next to it; the new one's ENRP start-up (list request, handle table in chunks of 128 with the M bit)
 *   until its handlespace holds them all: its own measure of the download, and the wall time from fork to
 *   "all elements here" as this process sees it.
 * - takeover: three registrars with RSPLIB's timers (heartbeat 2,444 ms, max-time-last-heard 5 s,
 *   max-time-no-response 5 s, takeover expiry 5 s); BENCH_ENRP_TAKEOVER_ELEMENTS (default 10,000) raw
 *   elements registered at the first, which never re-register elsewhere (the worst case: only ENRP's
 *   takeover moves them; the PE SDK would re-register at once). SIGKILL of that registrar → both
 *   survivors have every one of its elements with a live home. Goal: max-time-last-heard +
 *   max-time-no-response + 1 s = 11 s. BENCH_ENRP_ROUNDS rounds (default 1).
 * - propagation: an element registered at one registrar → the push about it received by a pool user
 *   subscribed at its peer (ASAP registration, ENRP_HANDLE_UPDATE ADD_PE, the peer's handlespace and its
 *   notification): p50 / p99 / max over BENCH_ENRP_UPDATES (default 1,000) updates, one at a time.
 *
 * Processes: this one orchestrates and runs the pool user and the propagation element; each registrar is
 * its own process (enrp-registrar.ts, no history); the sync and takeover elements come from
 * registrar-load-client.ts processes. Every wait is bounded; a missed goal never fails the run, a broken
 * process or a lost element does.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { HROPT_ALL_ITEMS } from '../../core/wire/constants.js';
import { decodeMessage } from '../../core/wire/decoder.js';
import { encodeMessage } from '../../core/wire/encoder.js';
import { TcpFramer } from '../../core/wire/tcp-framer.js';
import type { AsapMessage, PoolElement } from '../../core/wire/types.js';
import type { EnrpSettings } from '../../core/enrp/settings.js';
import { reap, withTimeout } from './child-processes.js';
import type { ChildConfig, FromChild } from './enrp-registrar.js';
import type { ClientResult, PopulateParams } from './registrar-load-client.js';
import { freePort } from '../support/free-port.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CHILD = `${HERE}enrp-registrar.ts`;
const CLIENT = `${HERE}registrar-load-client.ts`;
const RSPLIB_TIMERS: Partial<EnrpSettings> = { peerHeartbeatCycleMs: 2444, maxTimeLastHeardMs: 5000, maxTimeNoResponseMs: 5000, takeoverExpiryMs: 5000, mentorDiscoveryTimeoutMs: 5000 };
const TAKEOVER_GOAL_MS = 5000 + 5000 + 1000;

interface Figure {
  readonly bench: 'enrp';
  readonly figure: string;
  readonly [key: string]: unknown;
}

const children = new Set<ChildProcess>();
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});


class RegistrarProcess {
  private readonly waiters: { match: (m: FromChild) => boolean; resolve: (m: FromChild) => void }[] = [];
  private readonly seen: FromChild[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly asapPort: number,
    readonly serverId: number,
    readonly enrpPort: number,
    readonly forkedAt: number,
  ) {
    child.on('message', (raw: unknown) => this.deliver(raw as FromChild));
  }

  static async start(config: ChildConfig): Promise<RegistrarProcess> {
    const forkedAt = performance.now();
    const child = track(fork(CHILD, [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
    const first = await withTimeout(
      new Promise<FromChild>((resolve, reject) => {
        child.once('message', (raw: unknown) => resolve(raw as FromChild));
        child.once('exit', (code) => reject(new Error(`registrar ${config.serverId.toString(16)} exited (${code}) before it was ready`)));
      }),
      60_000,
      'registrar start',
    );
    if (first.type !== 'ready') throw new Error(`registrar did not start: ${JSON.stringify(first)}`);
    return new RegistrarProcess(child, first.asapPort, config.serverId, config.enrpPort, forkedAt);
  }

  private deliver(message: FromChild): void {
    const i = this.waiters.findIndex((w) => w.match(message));
    if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(message);
    else this.seen.push(message);
  }

  next<T extends FromChild['type']>(type: T, timeoutMs: number): Promise<Extract<FromChild, { type: T }>> {
    const i = this.seen.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.seen.splice(i, 1)[0] as Extract<FromChild, { type: T }>);
    return withTimeout(new Promise((resolve) => this.waiters.push({ match: (m) => m.type === type, resolve: (m) => resolve(m as Extract<FromChild, { type: T }>) })), timeoutMs, `registrar ${type}`);
  }

  async homes(): Promise<Extract<FromChild, { type: 'homes' }>> {
    const reply = this.next('homes', 10_000);
    this.child.send({ type: 'homes' });
    return reply;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.send({ type: 'stop' });
    await reap(this.child, 5000);
  }
}

/** The registrar bench's load client: registers `elements` at `port` and holds them until released. */
async function populate(port: number, elements: number, idBase: number, pid: number): Promise<{ child: ChildProcess; result: ClientResult }> {
  const pools = 10;
  const params: PopulateParams = {
    mode: 'populate',
    host: '127.0.0.1',
    port,
    connections: 16,
    pipeline: 64,
    pools: Array.from({ length: pools }, (_, i) => ({ handle: `bench-${i}`, elements: Math.ceil(elements / pools), idBase: idBase + i * Math.ceil(elements / pools) })),
    registrationLifeMs: 3_600_000,
    holdMs: 600_000,
    timeoutMs: 300_000,
    serverPid: pid,
  };
  const child = track(spawn(process.execPath, ['--import', 'tsx', CLIENT, JSON.stringify(params)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const result = await withTimeout(
    new Promise<ClientResult>((resolve, reject) => {
      let text = '';
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        text += chunk;
        const newline = text.indexOf('\n');
        if (newline >= 0) resolve(JSON.parse(text.slice(0, newline)) as ClientResult);
      });
      child.once('exit', (code) => reject(new Error(`load client exited (${code}) without a result`)));
    }),
    300_000,
    'populate',
  );
  if (!result.ok) throw new Error(`populate failed: ${result.error}`);
  return { child, result };
}

async function release(child: ChildProcess): Promise<void> {
  child.stdin?.end();
  await reap(child, 5000);
}

async function runSync(elements: number): Promise<Figure> {
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await RegistrarProcess.start({ serverId: 0x0a000001, enrpPort: portA, peers: [], settings: { ...RSPLIB_TIMERS, mentorDiscoveryTimeoutMs: 500 } });
  const load = await populate(a.asapPort, elements, 1, a.child.pid ?? 0);
  const total = (await a.homes()).total;
  const b = await RegistrarProcess.start({ serverId: 0x0b000001, enrpPort: portB, peers: [portA], settings: RSPLIB_TIMERS });
  const synced = await b.next('synced', 120_000);
  let wallMs = performance.now() - b.forkedAt;
  const deadline = Date.now() + 60_000;
  while ((await b.homes()).total < total && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    wallMs = performance.now() - b.forkedAt;
  }
  const finalTotal = (await b.homes()).total;
  await release(load.child);
  await Promise.all([a.stop(), b.stop()]);
  if (finalTotal < total) throw new Error(`the new registrar has ${finalTotal} of ${total} elements`);
  return {
    bench: 'enrp',
    figure: 'sync',
    elements: total,
    downloadMs: synced.durationMs,
    elementsPerSecond: Math.round(total / (synced.durationMs / 1000)),
    listed: synced.elements,
    wallFromForkMs: Math.round(wallMs),
    chunk: 128,
    loadavg1: loadavg()[0],
  };
}

async function runTakeover(elements: number, round: number): Promise<Figure> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const ids = [0x0a000002, 0x0b000002, 0x0c000002];
  const procs = await Promise.all(ids.map((serverId, i) => RegistrarProcess.start({ serverId, enrpPort: ports[i] as number, peers: ports.filter((_, j) => j !== i), settings: RSPLIB_TIMERS })));
  const [a, b, c] = procs as [RegistrarProcess, RegistrarProcess, RegistrarProcess];
  await Promise.all(procs.map((p) => p.next('synced', 30_000)));
  const load = await populate(a.asapPort, elements, 1, a.child.pid ?? 0);
  const total = (await a.homes()).total;
  const aHome = a.serverId.toString(16);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const [hb, hc] = await Promise.all([b.homes(), c.homes()]);
    if (hb.byHome[aHome] === total && hc.byHome[aHome] === total) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const killedAt = performance.now();
  a.child.kill('SIGKILL');
  let rehomedMs = -1;
  let survivors = { b: 0, c: 0 };
  while (performance.now() - killedAt < 60_000) {
    const [hb, hc] = await Promise.all([b.homes(), c.homes()]);
    survivors = { b: hb.total, c: hc.total };
    if (!hb.byHome[aHome] && !hc.byHome[aHome]) {
      rehomedMs = performance.now() - killedAt;
      break;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const winner = await Promise.race([b.next('takeover', 1000).then(() => 'b'), c.next('takeover', 1000).then(() => 'c')]).catch(() => 'unknown');
  await release(load.child);
  await Promise.all([b.stop(), c.stop()]);
  if (rehomedMs < 0) throw new Error('the dead registrar\'s elements were not re-homed within 60 s');
  if (survivors.b < total || survivors.c < total) throw new Error(`elements lost in the takeover: ${JSON.stringify(survivors)} of ${total}`);
  return {
    bench: 'enrp',
    figure: 'takeover',
    round,
    elements: total,
    rehomedMs: Math.round(rehomedMs),
    goal: `<= ${TAKEOVER_GOAL_MS} ms (max-time-last-heard + max-time-no-response + 1 s, RSPLIB's timers)`,
    met: rehomedMs <= TAKEOVER_GOAL_MS,
    winner,
    loadavg1: loadavg()[0],
  };
}

/** A raw ASAP connection for the propagation figure. */
class AsapClient {
  private readonly framer = new TcpFramer();
  private waiter: ((m: AsapMessage) => boolean) | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      for (const event of this.framer.push(chunk)) {
        if (event.kind !== 'message') continue;
        const decoded = decodeMessage('asap', event.bytes);
        if (decoded.ok && decoded.value.protocol === 'asap' && this.waiter?.(decoded.value)) this.waiter = undefined;
      }
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<AsapClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(new AsapClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends and resolves when `match` accepts an incoming message (the time it arrived). */
  exchange(message: AsapMessage | undefined, match: (m: AsapMessage) => boolean, timeoutMs: number): Promise<number> {
    const arrived = new Promise<number>((resolve) => {
      this.waiter = (m) => {
        if (m.type === 'endpointKeepAlive' && m.peId !== undefined) {
          this.socket.write(encodeMessage({ protocol: 'asap', type: 'endpointKeepAliveAck', poolHandle: m.poolHandle, peId: m.peId }));
          return false;
        }
        if (!match(m)) return false;
        resolve(performance.now());
        return true;
      };
    });
    if (message) this.socket.write(encodeMessage(message));
    return withTimeout(arrived, timeoutMs, 'ASAP answer');
  }

  send(message: AsapMessage): void {
    this.socket.write(encodeMessage(message));
  }

  close(): void {
    this.socket.destroy();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function runPropagation(updates: number): Promise<Figure> {
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await RegistrarProcess.start({ serverId: 0x0a000003, enrpPort: portA, peers: [portB], settings: { ...RSPLIB_TIMERS, mentorDiscoveryTimeoutMs: 1000 } });
  const b = await RegistrarProcess.start({ serverId: 0x0b000003, enrpPort: portB, peers: [portA], settings: { ...RSPLIB_TIMERS, mentorDiscoveryTimeoutMs: 1000 } });
  await Promise.all([a.next('synced', 30_000), b.next('synced', 30_000)]);
  const handle = new TextEncoder().encode('propagation');
  const pe = await AsapClient.connect(a.asapPort);
  const pu = await AsapClient.connect(b.asapPort);
  const element = (id: number): PoolElement => ({ id, homeServerId: 0, registrationLife: 3_600_000, userTransport: { kind: 'tcp', port: 20000 + (id % 40000), transportUse: 0, address: '127.0.0.1' }, policy: { type: 1 } });
  await pe.exchange({ protocol: 'asap', type: 'registration', poolHandle: handle, poolElement: element(1) }, (m) => m.type === 'registrationResponse', 10_000);
  // Subscribe at B once the pool exists there (S only subscribes to an existing pool).
  const deadline = Date.now() + 20_000;
  let subscribed = false;
  while (!subscribed && Date.now() < deadline) {
    await pu.exchange({ protocol: 'asap', type: 'handleResolution', subscribe: true, poolHandle: handle, items: HROPT_ALL_ITEMS }, (m) => {
      if (m.type !== 'handleResolutionResponse' || m.peStatus.length > 0) return false;
      subscribed = m.accepted && m.poolElements.length > 0;
      return true;
    }, 5000);
    if (!subscribed) await new Promise((r) => setTimeout(r, 50));
  }
  if (!subscribed) throw new Error('could not subscribe at the peer');
  const samples: number[] = [];
  for (let i = 0; i < updates; i++) {
    const id = 1000 + i;
    const pushed = pu.exchange(undefined, (m) => m.type === 'handleResolutionResponse' && m.peStatus.some((s) => s.peId === id), 10_000);
    const sentAt = performance.now();
    pe.send({ protocol: 'asap', type: 'registration', poolHandle: handle, poolElement: element(id) });
    samples.push((await pushed) - sentAt);
  }
  pe.close();
  pu.close();
  await Promise.all([a.stop(), b.stop()]);
  const sorted = [...samples].sort((x, y) => x - y);
  const round = (v: number): number => Math.round(v * 1000) / 1000;
  return {
    bench: 'enrp',
    figure: 'propagation',
    updates,
    measures: 'ASAP registration at A → pushed PE Status at a pool user subscribed at its peer B',
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1] ?? NaN),
    loadavg1: loadavg()[0],
  };
}

export async function runEnrpBench(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const syncElements = Number(process.env['BENCH_ENRP_SYNC_ELEMENTS'] ?? 100_000);
  const takeoverElements = Number(process.env['BENCH_ENRP_TAKEOVER_ELEMENTS'] ?? 10_000);
  const rounds = Number(process.env['BENCH_ENRP_ROUNDS'] ?? 1);
  const updates = Number(process.env['BENCH_ENRP_UPDATES'] ?? 1000);
  try {
    if (syncElements > 0) figures.push(await runSync(syncElements));
    for (let round = 1; round <= rounds && takeoverElements > 0; round++) figures.push(await runTakeover(takeoverElements, round));
    if (updates > 0) figures.push(await runPropagation(updates));
  } finally {
    for (const child of children) child.kill('SIGKILL');
  }
  return figures;
}
