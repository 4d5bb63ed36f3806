/**
 * The living system behind `handlespace demo`, usable on its own against any registrar: simulated pool
 * elements in several pools with different policies, each a real TCP service on loopback registered through
 * the PoolElement SDK; loads that change every few seconds; now and then an element that crashes (its
 * registrar connection and its service vanish at once, with no deregistration) and restarts a few seconds
 * later with the same PE identifier and port; and subscribed pool users (PoolUser sessions) that send a
 * request every few hundred milliseconds and follow the failovers the registrar's pushes trigger.
 *
 * Bounded by construction: a fixed number of elements and users, at most one request in flight per user
 * (each with a timeout, and a line-length cap on both sides), start / crash / stop of one element never
 * overlap, and every timer comes from the injected clock and is cleared by stop().
 *
 * The simulated services' request protocol: one line `TEXT\n` in, one line `OK 0xPEID TEXT\n` out.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import net from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { PoolElement } from '../client/pool-element.js';
import type { FailoverEvent, PoolSession } from '../client/pool-session.js';
import { PoolUser } from '../client/pool-user.js';
import type { RegistrarAddress } from '../client/registrar-connection.js';
import { RegistrarLink } from '../client/registrar-link.js';
import { nameOf } from '../wire/constants.js';
import { hex32 } from '../wire/json.js';
import { PolicyType, policyDefinition } from '../wire/policy.js';
import { PeStatusCode, PeStatusReason, type Policy, type PoolElement as WirePoolElement } from '../wire/types.js';

/** One simulated pool: how many elements and subscribed users it has, and the policy each element registers. */
export interface DemoPool {
  readonly name: string;
  readonly elements: number;
  readonly users: number;
  /** The policy element number `index` registers with (a weighted pool gives its elements different weights). */
  readonly policy: (index: number) => Policy;
}

const FULL_LOAD = 0xffffffff;

/** 5 pools, 19 elements, 6 pool users: one pool per policy family a new user should see. */
export const DEMO_POOLS: readonly DemoPool[] = [
  { name: 'sip-proxy', elements: 4, users: 2, policy: () => ({ type: PolicyType.roundRobin }) },
  { name: 'media', elements: 5, users: 1, policy: () => ({ type: PolicyType.leastUsed, load: 0 }) },
  { name: 'game-eu', elements: 3, users: 1, policy: (index) => ({ type: PolicyType.weightedRoundRobin, weight: index + 1 }) },
  { name: 'rpc', elements: 4, users: 1, policy: () => ({ type: PolicyType.leastUsedDegradation, load: 0, loadDegradation: Math.round(0.05 * FULL_LOAD) }) },
  { name: 'signalling', elements: 3, users: 1, policy: () => ({ type: PolicyType.random }) },
];

export interface IntervalRange {
  readonly minMs: number;
  readonly maxMs: number;
}

export interface DemoTimings {
  /** Between two load changes; each moves the load of up to two elements of the load-based pools. */
  readonly loadIntervalMs: number;
  /** Between two crashes, uniformly in the range; 'off': no crashes. */
  readonly crashIntervalMs: IntervalRange | 'off';
  /** From a crash to the restart, uniformly in the range. */
  readonly restartDelayMs: IntervalRange;
  /** Between two requests of one pool user (±25 % jitter). */
  readonly requestIntervalMs: number;
  /** How long a pool user waits for an answer before it calls the element failed. */
  readonly requestTimeoutMs: number;
  /** Between two summary lines (requests answered and failed); none when nothing happened. */
  readonly summaryIntervalMs: number;
}

/** Defaults at scale 1: a crash every 20–40 s, back 3–6 s later; loads move every 3 s; requests every 400 ms. */
export const DEFAULT_DEMO_TIMINGS: DemoTimings = {
  loadIntervalMs: 3000,
  crashIntervalMs: { minMs: 20_000, maxMs: 40_000 },
  restartDelayMs: { minMs: 3000, maxMs: 6000 },
  requestIntervalMs: 400,
  requestTimeoutMs: 2000,
  summaryIntervalMs: 10_000,
};

/** Upper bounds on the simulation's size, so a bad option cannot open thousands of sockets. */
export const MAX_DEMO_ELEMENTS = 200;
export const MAX_DEMO_USERS = 100;
/** Longest request or answer line (bytes); a peer that sends more is cut off. */
const MAX_LINE = 1024;
/** Simulated loads stay below full load, so a least-used pool always has a choice. */
const MAX_SIMULATED_LOAD = 0.95;

export interface DemoSimulationOptions {
  /** The registrar's ASAP address (a wildcard address is not usable here: give 127.0.0.1 or ::1). */
  readonly registrar: RegistrarAddress;
  readonly clock?: Clock;
  /** Random numbers in [0, 1) for identifiers, loads, crash victims and timings; default Math.random. */
  readonly random?: () => number;
  /** Multiplies the default intervals (not the request timeout): 0.1 runs ten times faster. Default 1. */
  readonly scale?: number;
  /** Single timings, in milliseconds as given (not scaled). */
  readonly timings?: Partial<DemoTimings>;
  /** Default DEMO_POOLS. */
  readonly pools?: readonly DemoPool[];
  /** The IP address the simulated services listen on and register; default 127.0.0.1. */
  readonly serviceHost?: string;
  /** One line per simulated event (no trailing newline); default none. */
  readonly log?: (line: string) => void;
}

export type RequestFailure = 'refused' | 'timeout' | 'closed' | 'badAnswer' | 'noElement';

export interface DemoEvents {
  /** An element registered: at start, or after a crash (`restart`) with the same identifier. */
  elementUp: [{ readonly pool: string; readonly peId: number; readonly port: number; readonly restart: boolean }];
  elementCrashed: [{ readonly pool: string; readonly peId: number; readonly restartInMs: number }];
  loadChanged: [{ readonly pool: string; readonly peId: number; readonly load: number }];
  /** A pool user's subscribed session is open. */
  userReady: [{ readonly user: string; readonly pool: string }];
  requestAnswered: [{ readonly user: string; readonly pool: string; readonly peId: number; readonly ms: number }];
  requestFailed: [{ readonly user: string; readonly pool: string; readonly peId: number | undefined; readonly failure: RequestFailure; readonly detail: string }];
  failover: [{ readonly user: string; readonly pool: string; readonly from: number; readonly to: number | undefined; readonly reason: string }];
  /** Something did not work as the simulation intended (an element could not start); it retries. */
  problem: [{ readonly message: string }];
}

export interface DemoStats {
  readonly elements: number;
  readonly elementsUp: number;
  readonly users: number;
  readonly usersReady: number;
  readonly requestsAnswered: number;
  readonly requestsFailed: number;
  readonly failovers: number;
  readonly crashes: number;
  readonly restarts: number;
  readonly loadChanges: number;
}

export interface DemoElementView {
  readonly pool: string;
  readonly peId: number;
  readonly state: DemoElementState;
  /** The service port (0 before the first start). */
  readonly port: number;
  /** 0 … 1 of full load (load-based pools only change it). */
  readonly load: number;
}

export interface DemoUserView {
  readonly user: string;
  readonly pool: string;
  /** The element the user's session sends new requests to. */
  readonly current: number | undefined;
}

export interface CrashInfo {
  readonly pool: string;
  readonly peId: number;
  readonly restartInMs: number;
}

/** starting: listening and registering; crashed: down until its restart; stopped: by stop(). */
export type DemoElementState = 'starting' | 'up' | 'crashed' | 'stopped';

/** What elements and users share with the simulation. */
interface Environment {
  readonly registrar: RegistrarAddress;
  readonly clock: Clock;
  readonly random: () => number;
  readonly serviceHost: string;
  readonly signal: AbortSignal;
  readonly requestTimeoutMs: number;
}

type RequestOutcome = { readonly kind: 'answered'; readonly ms: number } | { readonly kind: Exclude<RequestFailure, 'noElement'> | 'aborted'; readonly detail: string };

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function policyName(policy: Policy): string {
  return policyDefinition(policy.type)?.name ?? `policy 0x${policy.type.toString(16)}`;
}

function carriesLoad(policy: Policy): boolean {
  return policyDefinition(policy.type)?.fields.includes('load') ?? false;
}

function percent(load: number): string {
  return `${Math.round(load * 100)} %`;
}

function tcpTarget(element: WirePoolElement): { host: string; port: number } | undefined {
  return element.userTransport.kind === 'tcp' ? { host: element.userTransport.address, port: element.userTransport.port } : undefined;
}

function failoverReason(reason: FailoverEvent['reason']): string {
  if (typeof reason === 'string') return reason;
  const status = (nameOf(PeStatusCode, reason.status) as string | undefined) ?? 'unknown';
  const cause = (nameOf(PeStatusReason, reason.reason) as string | undefined) ?? 'unknown';
  return `${status}: ${cause}`;
}

/** Listens on host:port; a port taken meanwhile (after a crash) falls back to any free one. */
function listen(server: net.Server, host: string, port: number): Promise<Result<number, string>> {
  const attempt = (tryPort: number): Promise<Result<number, NodeJS.ErrnoException>> =>
    new Promise((resolve) => {
      const onError = (error: NodeJS.ErrnoException): void => resolve(err(error));
      server.once('error', onError);
      server.listen({ host, port: tryPort }, () => {
        server.off('error', onError);
        const address = server.address();
        resolve(ok(address && typeof address === 'object' ? address.port : tryPort));
      });
    });
  return attempt(port).then(async (first) => {
    if (first.ok) return first;
    if (port !== 0 && first.error.code === 'EADDRINUSE') {
      const second = await attempt(0);
      return second.ok ? second : err(`cannot listen on ${host}: ${second.error.message}`);
    }
    return err(`cannot listen on ${host}:${port}: ${first.error.message}`);
  });
}

/** One request over a fresh connection: the answer, or why there was none. Never rejects. */
function sendRequest(target: { host: string; port: number }, line: string, expected: string, env: Environment): Promise<RequestOutcome> {
  return new Promise((resolve) => {
    if (env.signal.aborted) {
      resolve({ kind: 'aborted', detail: 'the simulation stopped' });
      return;
    }
    const started = env.clock.now();
    let answer = '';
    let settled = false;
    const socket = net.connect({ host: target.host, port: target.port });
    const finish = (outcome: RequestOutcome): void => {
      if (settled) return;
      settled = true;
      env.clock.clearTimeout(timer);
      env.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    const onAbort = (): void => finish({ kind: 'aborted', detail: 'the simulation stopped' });
    const timer = env.clock.setTimeout(() => finish({ kind: 'timeout', detail: `no answer within ${env.requestTimeoutMs} ms` }), env.requestTimeoutMs);
    env.signal.addEventListener('abort', onAbort, { once: true });
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const newline = answer.indexOf('\n');
      if (newline >= 0) {
        const got = answer.slice(0, newline);
        finish(got === expected ? { kind: 'answered', ms: env.clock.now() - started } : { kind: 'badAnswer', detail: `answered ${JSON.stringify(got.slice(0, 80))}` });
      } else if (answer.length > MAX_LINE) {
        finish({ kind: 'badAnswer', detail: `no line end within ${MAX_LINE} bytes` });
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish({ kind: error.code === 'ECONNREFUSED' ? 'refused' : 'closed', detail: error.message }));
    socket.on('close', () => finish({ kind: 'closed', detail: 'the connection closed before the answer' }));
  });
}

/** A pool element: its TCP service, its own registrar link (so it can crash alone) and the SDK element. */
class SimulatedElement {
  state: DemoElementState = 'starting';
  port = 0;
  load = 0;
  everUp = false;
  private stopping = false;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private link: RegistrarLink | undefined;
  private sdk: PoolElement | undefined;
  private work: Promise<unknown> = Promise.resolve();

  constructor(
    readonly pool: DemoPool,
    readonly index: number,
    readonly peId: number,
    private readonly env: Environment,
  ) {}

  get carriesLoad(): boolean {
    return carriesLoad(this.pool.policy(this.index));
  }

  policy(): Policy {
    const base = this.pool.policy(this.index);
    return carriesLoad(base) ? { ...base, load: Math.round(this.load * FULL_LOAD) } : base;
  }

  /** Listens, then registers (aborted by the simulation's stop). */
  start(): Promise<Result<void, string>> {
    return this.serial(async () => {
      if (this.stopping) return err('stopped');
      this.state = 'starting';
      this.load = 0;
      const server = net.createServer((socket) => this.serve(socket));
      this.server = server;
      const listening = await listen(server, this.env.serviceHost, this.port);
      if (!listening.ok) {
        await this.tearDown(false);
        this.state = this.stopping ? 'stopped' : 'crashed';
        return listening;
      }
      this.port = listening.value;
      const link = new RegistrarLink({ registrars: [this.env.registrar], announces: false, clock: this.env.clock });
      this.link = link;
      this.sdk = new PoolElement({
        poolHandle: this.pool.name,
        identifier: this.peId,
        userTransport: { host: this.env.serviceHost, port: this.port },
        policy: this.policy(),
        link,
        clock: this.env.clock,
      });
      try {
        await this.sdk.register(this.env.signal);
      } catch (failure) {
        await this.tearDown(true);
        this.state = this.stopping ? 'stopped' : 'crashed';
        return err(`registration failed: ${describe(failure)}`);
      }
      this.state = 'up';
      this.everUp = true;
      return ok(undefined);
    });
  }

  /**
   * A crash as the registrar sees one: the service and the registrar connection vanish and nothing is
   * deregistered. False when the element was not up.
   */
  crash(): Promise<boolean> {
    return this.serial(async () => {
      if (this.state !== 'up') return false;
      this.state = 'crashed';
      await this.tearDown(false);
      return true;
    });
  }

  /** Deregisters (bounded by the SDK's deregistration timeout) and closes the service. */
  stop(): Promise<void> {
    this.stopping = true;
    return this.serial(async () => {
      this.state = 'stopped';
      await this.tearDown(true);
    });
  }

  setLoad(load: number): void {
    if (this.state !== 'up' || !this.sdk || !this.carriesLoad) return;
    this.load = load;
    this.sdk.setLoad(Math.round(load * FULL_LOAD));
  }

  /** Start, crash and stop run one after the other. */
  private serial<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.work.then(operation);
    this.work = next.catch(() => undefined);
    return next;
  }

  private async tearDown(deregister: boolean): Promise<void> {
    const { server, link, sdk } = this;
    this.server = undefined;
    this.link = undefined;
    this.sdk = undefined;
    for (const socket of this.sockets) socket.destroy();
    const serverClosed = server?.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    if (deregister) {
      await sdk?.close();
      await link?.close();
    } else {
      // Closing the link first drops the registrar connection with the registration on it: the element's
      // close() then finds nothing to deregister, as after a real crash.
      await link?.close();
      await sdk?.close();
    }
    await serverClosed;
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    let buffered = '';
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        socket.write(`OK ${hex32(this.peId)} ${buffered.slice(0, newline)}\n`);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
      }
      if (buffered.length > MAX_LINE) socket.destroy();
    });
  }
}

/** What a user reports back to the simulation. */
interface UserObserver {
  onRequest(user: SimulatedUser, peId: number | undefined, outcome: RequestOutcome | { readonly kind: 'noElement'; readonly detail: string }): void;
  onFailover(user: SimulatedUser, event: FailoverEvent): void;
}

/** A pool user with a subscribed session on its pool, sending one request at a time. */
class SimulatedUser {
  ready = false;
  opening = false;
  private readonly sdk: PoolUser;
  private session: PoolSession | undefined;
  private busy: Promise<void> | undefined;
  private sequence = 0;

  constructor(
    readonly name: string,
    readonly pool: DemoPool,
    private readonly env: Environment,
    private readonly observer: UserObserver,
  ) {
    this.sdk = new PoolUser({ registrars: [env.registrar], announces: false, clock: env.clock, random: env.random });
  }

  get current(): number | undefined {
    return this.session?.current()?.id;
  }

  async open(): Promise<Result<void, string>> {
    const opened = await this.sdk.session(this.pool.name, { subscribe: true, signal: this.env.signal });
    if (!opened.ok) return err(opened.error.message);
    this.session = opened.value;
    this.session.on('failover', (event) => this.observer.onFailover(this, event));
    this.ready = true;
    return ok(undefined);
  }

  /** One request to the session's current element, unless the previous one is still in flight. */
  tick(): void {
    if (this.busy || !this.session) return;
    this.busy = this.requestOnce(this.session).finally(() => {
      this.busy = undefined;
    });
  }

  async close(): Promise<void> {
    await this.busy;
    this.session?.close();
    await this.sdk.close();
  }

  private async requestOnce(session: PoolSession): Promise<void> {
    if (!session.current()) {
      const acquired = await session.acquire(this.env.signal);
      if (this.env.signal.aborted) return;
      if (!acquired.ok) {
        this.observer.onRequest(this, undefined, { kind: 'noElement', detail: acquired.error.message });
        return;
      }
    }
    const n = ++this.sequence;
    const picked: { element?: WirePoolElement } = {};
    const tracked = session.track((element) => {
      picked.element = element;
      const target = tcpTarget(element);
      if (!target) return Promise.resolve<RequestOutcome>({ kind: 'closed', detail: 'the element offers no TCP transport' });
      return sendRequest(target, `${this.name} ${n}`, `OK ${hex32(element.id)} ${this.name} ${n}`, this.env);
    });
    const element = picked.element;
    if (!tracked.ok || !element) return;
    const outcome = await tracked.value;
    if (outcome.kind === 'aborted') return;
    this.observer.onRequest(this, element.id, outcome);
    if (outcome.kind === 'answered') return;
    // The application's own failure detection: report the element and move on (the registrar's push
    // usually got here first after a crash; then this only reports).
    await session.reportFailure({ reason: outcome.kind === 'timeout' ? 'timeout' : 'unreachable', element, signal: this.env.signal });
  }
}

/** Started by startDemoSimulation(); runs until stop(). */
export class DemoSimulation extends EventEmitter<DemoEvents> {
  /** Resolves once every element registered and every user's session is open; err when stopped first. */
  readonly ready: Promise<Result<void, string>>;
  readonly timings: DemoTimings;
  private readonly env: Environment;
  private readonly elementList: SimulatedElement[] = [];
  private readonly userList: SimulatedUser[] = [];
  private readonly abort = new AbortController();
  private readonly timers = new Set<TimerHandle>();
  private readonly log: (line: string) => void;
  private resolveReady: (result: Result<void, string>) => void = () => undefined;
  private isReady = false;
  private stopping: Promise<void> | undefined;
  private counts = { requestsAnswered: 0, requestsFailed: 0, failovers: 0, crashes: 0, restarts: 0, loadChanges: 0 };
  private period = { answered: 0, failed: 0, startedAt: 0 };

  /** Invalid options (sizes, timings) are programming errors and throw RangeError; the CLI checks its own. */
  constructor(options: DemoSimulationOptions) {
    super();
    const scale = options.scale ?? 1;
    if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`scale ${scale} must be a positive number`);
    this.timings = resolveTimings(scale, options.timings ?? {});
    const pools = options.pools ?? DEMO_POOLS;
    const elementCount = pools.reduce((sum, pool) => sum + pool.elements, 0);
    const userCount = pools.reduce((sum, pool) => sum + pool.users, 0);
    if (pools.some((pool) => !Number.isInteger(pool.elements) || pool.elements < 1 || !Number.isInteger(pool.users) || pool.users < 0)) {
      throw new RangeError('every demo pool needs at least one element and a whole number of users');
    }
    if (elementCount > MAX_DEMO_ELEMENTS || userCount > MAX_DEMO_USERS) throw new RangeError(`at most ${MAX_DEMO_ELEMENTS} elements and ${MAX_DEMO_USERS} users`);
    // Every element and user waits on the stop signal at once (registration, request, failure report).
    setMaxListeners(4 * (elementCount + userCount) + 10, this.abort.signal);
    const clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    this.env = {
      registrar: options.registrar,
      clock,
      random,
      serviceHost: options.serviceHost ?? '127.0.0.1',
      signal: this.abort.signal,
      requestTimeoutMs: this.timings.requestTimeoutMs,
    };
    this.log = options.log ?? (() => undefined);
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    const ids = new Set<number>();
    let userNumber = 0;
    for (const pool of pools) {
      for (let index = 0; index < pool.elements; index++) this.elementList.push(new SimulatedElement(pool, index, this.uniqueId(ids), this.env));
      for (let index = 0; index < pool.users; index++) this.userList.push(new SimulatedUser(`pu-${++userNumber}`, pool, this.env, this.observer()));
    }
    this.period.startedAt = clock.now();
    for (const element of this.elementList) void this.bringUp(element, false);
  }

  stats(): DemoStats {
    return {
      elements: this.elementList.length,
      elementsUp: this.elementList.filter((e) => e.state === 'up').length,
      users: this.userList.length,
      usersReady: this.userList.filter((u) => u.ready).length,
      ...this.counts,
    };
  }

  elements(): DemoElementView[] {
    return this.elementList.map((e) => ({ pool: e.pool.name, peId: e.peId, state: e.state, port: e.port, load: e.load }));
  }

  users(): DemoUserView[] {
    return this.userList.map((u) => ({ user: u.name, pool: u.pool.name, current: u.current }));
  }

  /**
   * Crashes one element now (the given one, else a random one whose pool keeps another element up) and
   * schedules its restart. Err when that element is not up or none qualifies.
   */
  async crash(peId?: number): Promise<Result<CrashInfo, string>> {
    if (this.stopping) return err('the simulation is stopped');
    const candidates = peId !== undefined ? this.elementList.filter((e) => e.peId === peId) : this.crashCandidates();
    if (candidates.length === 0) return err(peId !== undefined ? `no element ${hex32(peId)} in the simulation` : 'no pool has two elements up');
    const victim = candidates[Math.floor(this.env.random() * candidates.length)] ?? candidates[0];
    if (!victim || !(await victim.crash())) return err(`element ${hex32(victim?.peId ?? 0)} is not up`);
    const restartInMs = Math.round(this.between(this.timings.restartDelayMs));
    this.counts.crashes++;
    const info = { pool: victim.pool.name, peId: victim.peId, restartInMs };
    this.say(`${victim.pool.name} ${hex32(victim.peId)}: crashed (service and registrar connection gone, not deregistered); restart in ${(restartInMs / 1000).toFixed(1)} s`);
    this.emit('elementCrashed', info);
    this.later(restartInMs, () => void this.bringUp(victim, true));
    return ok(info);
  }

  /** Stops every timer, closes the users, deregisters the elements and closes their services. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    this.abort.abort();
    for (const timer of this.timers) this.env.clock.clearTimeout(timer);
    this.timers.clear();
    this.resolveReady(err('the simulation stopped before it was ready'));
    // Users first, so the elements' deregistrations do not show as failovers.
    await Promise.all(this.userList.map((u) => u.close()));
    await Promise.all(this.elementList.map((e) => e.stop()));
  }

  private observer(): UserObserver {
    return {
      onRequest: (user, peId, outcome) => {
        if (this.stopping) return;
        if (outcome.kind === 'answered') {
          this.counts.requestsAnswered++;
          this.period.answered++;
          if (peId !== undefined) this.emit('requestAnswered', { user: user.name, pool: user.pool.name, peId, ms: outcome.ms });
          return;
        }
        if (outcome.kind === 'aborted') return;
        this.counts.requestsFailed++;
        this.period.failed++;
        const target = peId !== undefined ? ` to ${hex32(peId)}` : '';
        this.say(`${user.name} ${user.pool.name}: request${target} failed (${outcome.kind}: ${outcome.detail})`);
        this.emit('requestFailed', { user: user.name, pool: user.pool.name, peId, failure: outcome.kind, detail: outcome.detail });
      },
      onFailover: (user, event) => {
        if (this.stopping) return;
        this.counts.failovers++;
        const reason = failoverReason(event.reason);
        this.say(`${user.name} ${user.pool.name}: failover ${hex32(event.from.id)} → ${event.to ? hex32(event.to.id) : 'none'} (${reason})`);
        this.emit('failover', { user: user.name, pool: user.pool.name, from: event.from.id, to: event.to?.id, reason });
      },
    };
  }

  private async bringUp(element: SimulatedElement, restart: boolean): Promise<void> {
    const started = await element.start();
    if (this.stopping) return;
    if (!started.ok) {
      const retryInMs = Math.round(this.between(this.timings.restartDelayMs));
      const message = `${element.pool.name} ${hex32(element.peId)}: could not start (${started.error}); retry in ${(retryInMs / 1000).toFixed(1)} s`;
      this.say(message);
      this.emit('problem', { message });
      this.later(retryInMs, () => void this.bringUp(element, restart));
      return;
    }
    if (restart) this.counts.restarts++;
    this.say(`${element.pool.name} ${hex32(element.peId)}: ${restart ? 'restarted' : 'up'} on ${this.env.serviceHost}:${element.port} (${policyName(element.policy())})`);
    this.emit('elementUp', { pool: element.pool.name, peId: element.peId, port: element.port, restart });
    // A pool's users subscribe once the pool exists (a resolution of an unknown pool is an error).
    for (const user of this.userList) if (user.pool === element.pool && !user.ready && !user.opening) void this.openUser(user);
    this.checkReady();
  }

  private async openUser(user: SimulatedUser): Promise<void> {
    user.opening = true;
    const opened = await user.open();
    user.opening = false;
    if (this.stopping) return;
    if (!opened.ok) {
      const message = `${user.name} ${user.pool.name}: could not subscribe (${opened.error}); retrying`;
      this.say(message);
      this.emit('problem', { message });
      this.later(this.timings.restartDelayMs.minMs, () => void this.openUser(user));
      return;
    }
    this.say(`${user.name} ${user.pool.name}: subscribed, sending a request every ~${this.timings.requestIntervalMs} ms to ${user.current !== undefined ? hex32(user.current) : 'no element yet'}`);
    this.emit('userReady', { user: user.name, pool: user.pool.name });
    this.every(() => this.jittered(this.timings.requestIntervalMs), () => user.tick());
    this.checkReady();
  }

  private checkReady(): void {
    if (this.isReady || !this.elementList.every((e) => e.everUp) || !this.userList.every((u) => u.ready)) return;
    this.isReady = true;
    const pools = new Set(this.elementList.map((e) => e.pool.name)).size;
    this.say(`running: ${this.elementList.length} elements in ${pools} pools, ${this.userList.length} subscribed pool users`);
    this.every(() => this.timings.loadIntervalMs, () => this.changeLoads());
    this.every(() => this.timings.summaryIntervalMs, () => this.summarize());
    const crashes = this.timings.crashIntervalMs;
    if (crashes !== 'off') this.every(() => this.between(crashes), () => void this.crash());
    this.resolveReady(ok(undefined));
  }

  /**
   * Elements whose crash leaves their pool with another element up; every other time only those a pool
   * user is on, so crashes show failovers and not only the registrar's side.
   */
  private crashCandidates(): SimulatedElement[] {
    const up = this.elementList.filter((e) => e.state === 'up');
    const candidates = up.filter((e) => up.some((other) => other !== e && other.pool === e.pool));
    const inUse = new Set(this.userList.map((u) => u.current));
    const used = candidates.filter((e) => inUse.has(e.peId));
    return used.length > 0 && this.env.random() < 0.5 ? used : candidates;
  }

  private changeLoads(): void {
    const candidates = this.elementList.filter((e) => e.state === 'up' && e.carriesLoad);
    for (let i = 0; i < 2 && candidates.length > 0; i++) {
      const [element] = candidates.splice(Math.floor(this.env.random() * candidates.length), 1);
      if (!element) break;
      const before = element.load;
      // A step of 10–40 % of full load, up or down; turned back at the ends so every change shows.
      const step = (0.1 + this.env.random() * 0.3) * (this.env.random() < 0.5 ? -1 : 1);
      const inside = before + step >= 0 && before + step <= MAX_SIMULATED_LOAD;
      const after = Math.round(Math.min(MAX_SIMULATED_LOAD, Math.max(0, inside ? before + step : before - step)) * 100) / 100;
      element.setLoad(after);
      this.counts.loadChanges++;
      this.say(`${element.pool.name} ${hex32(element.peId)}: load ${percent(before)} → ${percent(after)}`);
      this.emit('loadChanged', { pool: element.pool.name, peId: element.peId, load: after });
    }
  }

  private summarize(): void {
    const { answered, failed, startedAt } = this.period;
    const now = this.env.clock.now();
    this.period = { answered: 0, failed: 0, startedAt: now };
    if (answered + failed === 0) return;
    this.say(`requests in the last ${((now - startedAt) / 1000).toFixed(0)} s: ${answered} answered, ${failed} failed`);
  }

  private say(line: string): void {
    if (!this.stopping) this.log(line);
  }

  private uniqueId(taken: Set<number>): number {
    // Bounded: a collision among ≤ MAX_DEMO_ELEMENTS random 32-bit numbers is rare; fall back to counting.
    for (let attempt = 0; attempt < 100; attempt++) {
      const id = 1 + Math.floor(this.env.random() * (FULL_LOAD - 1));
      if (!taken.has(id)) {
        taken.add(id);
        return id;
      }
    }
    let id = 1;
    while (taken.has(id)) id++;
    taken.add(id);
    return id;
  }

  private between(range: IntervalRange): number {
    return range.minMs + this.env.random() * (range.maxMs - range.minMs);
  }

  private jittered(ms: number): number {
    return ms * (0.75 + this.env.random() * 0.5);
  }

  private later(ms: number, run: () => void): void {
    if (this.stopping) return;
    const handle = this.env.clock.setTimeout(() => {
      this.timers.delete(handle);
      if (!this.stopping) run();
    }, ms);
    this.timers.add(handle);
  }

  /** Runs `run` again and again, `delay()` apart, until stop(). */
  private every(delay: () => number, run: () => void): void {
    this.later(delay(), () => {
      run();
      this.every(delay, run);
    });
  }
}

function resolveTimings(scale: number, given: Partial<DemoTimings>): DemoTimings {
  const d = DEFAULT_DEMO_TIMINGS;
  const scaled = (ms: number): number => Math.max(1, Math.round(ms * scale));
  const range = (r: IntervalRange): IntervalRange => ({ minMs: scaled(r.minMs), maxMs: scaled(r.maxMs) });
  const timings: DemoTimings = {
    loadIntervalMs: given.loadIntervalMs ?? scaled(d.loadIntervalMs),
    crashIntervalMs: given.crashIntervalMs ?? (d.crashIntervalMs === 'off' ? 'off' : range(d.crashIntervalMs)),
    restartDelayMs: given.restartDelayMs ?? range(d.restartDelayMs),
    requestIntervalMs: given.requestIntervalMs ?? scaled(d.requestIntervalMs),
    requestTimeoutMs: given.requestTimeoutMs ?? d.requestTimeoutMs,
    summaryIntervalMs: given.summaryIntervalMs ?? scaled(d.summaryIntervalMs),
  };
  const positive = (ms: number): boolean => Number.isFinite(ms) && ms > 0;
  const validRange = (r: IntervalRange): boolean => positive(r.minMs) && positive(r.maxMs) && r.minMs <= r.maxMs;
  if (![timings.loadIntervalMs, timings.requestIntervalMs, timings.requestTimeoutMs, timings.summaryIntervalMs].every(positive) || !validRange(timings.restartDelayMs) || (timings.crashIntervalMs !== 'off' && !validRange(timings.crashIntervalMs))) {
    throw new RangeError(`demo timings must be positive and ranges min ≤ max: ${JSON.stringify(timings)}`);
  }
  return timings;
}

/** Starts the simulation against `options.registrar`; see DemoSimulation for the handle. */
export function startDemoSimulation(options: DemoSimulationOptions): DemoSimulation {
  return new DemoSimulation(options);
}
