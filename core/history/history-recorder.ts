/**
 * Records everything a Registrar emits into the history: registrations and re-registrations that changed
 * a value (a renewal that changed nothing only moves the element's last-seen time), health and admin
 * transitions, removals with their cause, every status notification sent (a row per PE Status per pool
 * user), pool users and their subscriptions, and one metric sample per pool per second (elements by state,
 * notifications, resolutions answered, mean load).
 *
 * Everything happens inside the registrar's event handlers, synchronously and at the cost of building a
 * small object: so once an event handler returned, `history.barrier()` covers the event, and the
 * registrar can await it before it answers the PE or the operator.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { ElementRecord } from '../handlespace/element.js';
import type { Registrar, RegistrarEvents } from '../registrar/registrar.js';
import type { RemoteAddress } from '../registrar/transport.js';
import type { Json } from '../wire/json.js';
import { poolKeyOf, type AuditEvent, type HistoryEvent, type JsonObject, type PoolKey, type PoolSample } from './history-event.js';
import { formatTransport, policyToJson } from './row-format.js';

/** Where the recorder writes: a History, or anything with its record() (tests collect into an array). */
export interface HistorySink {
  record(event: HistoryEvent): void;
  /** Needed by `together()`: the events written in one transaction, resolved once durable. */
  durableAll?(events: readonly HistoryEvent[]): Promise<void>;
}

export interface HistoryRecorderOptions {
  /** The registrar's clock (default the system clock). */
  readonly clock?: Clock;
  /** Metric sample interval (default 1000 ms; 0 = no samples). */
  readonly sampleIntervalMs?: number;
  /** Written on the run's row. */
  readonly appVersion?: string;
}

type Bucket = 'up' | 'suspect' | 'failed' | 'draining' | 'maintenance';

interface PoolCounters {
  up: number;
  suspect: number;
  failed: number;
  draining: number;
  maintenance: number;
  loadSum: number;
  loadCount: number;
  notifications: number;
  resolutions: number;
}

interface ElementState {
  readonly poolKey: PoolKey;
  bucket: Bucket;
  /** 0..1, undefined when the element's policy has no load. */
  load: number | undefined;
}

function bucketOf(element: ElementRecord): Bucket {
  if (element.admin.state === 'draining') return 'draining';
  if (element.admin.state === 'maintenance') return 'maintenance';
  return element.health.state;
}

function loadOf(element: ElementRecord): number | undefined {
  return element.policy.load === undefined ? undefined : element.policy.load / 0xffffffff;
}

export function describeRemote(remote: RemoteAddress): string {
  return remote.family === 6 ? `[${remote.address}]:${remote.port}` : `${remote.address}:${remote.port}`;
}

/** Registrar settings as a JSON value (they are plain data: numbers, strings, host/port objects, arrays). */
function settingsJson(settings: unknown): Json {
  return JSON.parse(JSON.stringify(settings)) as Json;
}

export class HistoryRecorder {
  private readonly pools = new Map<PoolKey, PoolCounters>();
  private readonly elements = new WeakMap<ElementRecord, ElementState>();
  private readonly handleKeys = new WeakMap<Uint8Array, PoolKey>();
  private readonly poolUsers = new Set<number>();
  private readonly clock: Clock;
  private readonly sampleIntervalMs: number;
  private sampleTimer: TimerHandle | undefined;
  private detached = false;
  private readonly listeners: { [K in keyof RegistrarEvents]?: (...args: RegistrarEvents[K]) => void } = {};
  /** While `together()` runs its action: the events the registrar emits, held back for one transaction. */
  private held: HistoryEvent[] | undefined;

  private constructor(
    private readonly registrar: Registrar,
    private readonly sink: HistorySink,
    options: HistoryRecorderOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.sampleIntervalMs = Math.max(0, options.sampleIntervalMs ?? 1000);
    sink.record({
      kind: 'runStarted',
      time: this.clock.now(),
      serverId: registrar.serverId,
      settings: settingsJson({ ...registrar.settings, asap: registrar.asapAddress }),
      appVersion: options.appVersion ?? '',
    });
    // Elements already there (the recorder attached late) count in the samples from now on.
    for (const pool of registrar.handlespace.pools()) for (const element of pool.elements()) this.track(element);
    this.listen();
    this.scheduleSample();
  }

  /** Starts recording `registrar`'s events into `sink` (writes the run's start row first). */
  static attach(registrar: Registrar, sink: HistorySink, options: HistoryRecorderOptions = {}): HistoryRecorder {
    return new HistoryRecorder(registrar, sink, options);
  }

  /**
   * Counts one handle resolution answered for the pool by other means than the registrar's own answers
   * (those arrive as its 'handleResolved' events and are counted already).
   */
  resolutionServed(poolHandle: Uint8Array): void {
    this.counters(this.keyOf(poolHandle)).resolutions++;
  }

  /**
   * Runs `action` (an operator action on the registrar, e.g. `registrar.operate(...)`), and writes the
   * events it causes together with the audit row built from its result, in one transaction (STYLE.md:
   * audit is data, written with the change it describes). `durable` resolves once that transaction
   * committed: answer the operator then, not before. Rejects (HistoryWriteError) if it failed.
   */
  together<T>(action: () => T, audit: (result: T) => AuditEvent | readonly HistoryEvent[]): { readonly result: T; readonly durable: Promise<void> } {
    if (this.held) throw new Error('HistoryRecorder.together() does not nest');
    if (!this.sink.durableAll) throw new Error('HistoryRecorder.together() needs a sink with durableAll (a History)');
    this.held = [];
    let result: T;
    let events: HistoryEvent[];
    try {
      result = action();
    } finally {
      events = this.held;
      this.held = undefined;
    }
    const written = audit(result);
    return { result, durable: this.sink.durableAll([...events, ...(Array.isArray(written) ? (written as readonly HistoryEvent[]) : [written as AuditEvent])]) };
  }

  /** Stops recording: writes the last sample and the run's stop row, and removes the listeners. */
  detach(reason = 'stopped'): void {
    if (this.detached) return;
    this.detached = true;
    this.clock.clearTimeout(this.sampleTimer);
    for (const [name, listener] of Object.entries(this.listeners)) {
      this.registrar.off(name as keyof RegistrarEvents, listener as (...args: unknown[]) => void);
    }
    this.write({ kind: 'runStopped', time: this.clock.now(), reason });
  }

  private write(event: HistoryEvent): void {
    if (this.held) this.held.push(event);
    else this.sink.record(event);
  }

  private on<K extends keyof RegistrarEvents>(name: K, listener: (...args: RegistrarEvents[K]) => void): void {
    (this.listeners as Record<K, (...args: RegistrarEvents[K]) => void>)[name] = listener;
    (this.registrar.on as (name: K, listener: (...args: RegistrarEvents[K]) => void) => Registrar)(name, listener);
  }

  private listen(): void {
    this.on('elementRegistered', ({ element, outcome }) => {
      const time = this.clock.now();
      const base = { time, poolKey: element.poolKey, peId: element.id };
      if (outcome.kind === 'registered') {
        this.track(element);
        this.write({
          ...base,
          kind: 'registered',
          cause: 'registered',
          element: valuesOf(element),
          details: element.connectionId === undefined ? undefined : { connectionId: element.connectionId },
        });
        return;
      }
      this.retrack(element);
      if (outcome.changed.length === 0) {
        this.write({ kind: 'seen', ...base });
        return;
      }
      const details: { [key: string]: Json } = { changed: [...outcome.changed] };
      if (outcome.changed.includes('load') && element.policy.load !== undefined) details['load'] = element.policy.load;
      if (outcome.changed.includes('policy')) details['policy'] = policyToJson(element.policy);
      if (outcome.changed.includes('transport')) details['addresses'] = formatTransport(element.userTransport);
      if (outcome.changed.includes('lifetime')) details['registrationLife'] = element.registrationLife;
      if (outcome.changed.includes('connection') && element.connectionId !== undefined) details['connectionId'] = element.connectionId;
      const valuesChanged = outcome.changed.some((field) => field === 'policy' || field === 'transport' || field === 'lifetime');
      this.write({ ...base, kind: 'reregistered', cause: outcome.changed.join(','), element: valuesOf(element), valuesChanged, details });
    });
    this.on('elementRemoved', ({ element, reason, detail }) => {
      this.untrack(element);
      this.write({ kind: 'removed', time: this.clock.now(), poolKey: element.poolKey, peId: element.id, cause: reason, details: { detail } });
    });
    this.on('elementHealth', ({ element, detail }) => {
      this.retrack(element);
      this.write({
        kind: 'health',
        time: this.clock.now(),
        poolKey: element.poolKey,
        peId: element.id,
        state: element.health.state,
        cause: element.health.cause,
        details: { detail },
      });
    });
    this.on('elementAdmin', ({ element, action, before, after, reasonText }) => {
      if (after !== 'removed') this.retrack(element);
      const details: JsonObject = { before, after, reason: reasonText };
      this.write({ kind: 'admin', time: this.clock.now(), poolKey: element.poolKey, peId: element.id, state: after, cause: action, details });
    });
    this.on('notificationsSent', (sent) => {
      const poolKey = this.keyOf(sent.poolHandle);
      this.poolUsers.add(sent.connectionId);
      this.counters(poolKey).notifications += Math.max(1, sent.statuses.length);
      this.write({ kind: 'notification', time: sent.sentAt, connectionId: sent.connectionId, address: describeRemote(sent.remote), poolKey, statuses: sent.statuses });
    });
    this.on('handleResolved', (poolKey) => {
      this.counters(poolKey).resolutions++;
    });
    this.on('sessionClosed', ({ connectionId, remote, reason }) => {
      if (!this.poolUsers.delete(connectionId)) return;
      this.write({ kind: 'poolUserClosed', time: this.clock.now(), connectionId, address: describeRemote(remote), reason });
    });
  }

  private keyOf(handle: Uint8Array): PoolKey {
    let key = this.handleKeys.get(handle);
    if (key === undefined) {
      key = poolKeyOf(handle);
      this.handleKeys.set(handle, key);
    }
    return key;
  }

  private counters(poolKey: PoolKey): PoolCounters {
    let counters = this.pools.get(poolKey);
    if (!counters) {
      counters = { up: 0, suspect: 0, failed: 0, draining: 0, maintenance: 0, loadSum: 0, loadCount: 0, notifications: 0, resolutions: 0 };
      this.pools.set(poolKey, counters);
    }
    return counters;
  }

  private track(element: ElementRecord): void {
    if (this.elements.has(element)) return this.retrack(element);
    const state: ElementState = { poolKey: element.poolKey, bucket: bucketOf(element), load: loadOf(element) };
    this.elements.set(element, state);
    this.add(state, 1);
  }

  private retrack(element: ElementRecord): void {
    const state = this.elements.get(element);
    if (!state) return this.track(element);
    this.add(state, -1);
    state.bucket = bucketOf(element);
    state.load = loadOf(element);
    this.add(state, 1);
  }

  private untrack(element: ElementRecord): void {
    const state = this.elements.get(element);
    if (!state) return;
    this.elements.delete(element);
    this.add(state, -1);
  }

  private add(state: ElementState, sign: 1 | -1): void {
    const counters = this.counters(state.poolKey);
    counters[state.bucket] += sign;
    if (state.load !== undefined) {
      counters.loadSum += sign * state.load;
      counters.loadCount += sign;
    }
  }

  /** Samples at interval boundaries (aligned to the clock), each describing the interval just ended. */
  private scheduleSample(): void {
    if (this.sampleIntervalMs === 0 || this.detached) return;
    const now = this.clock.now();
    const next = (Math.floor(now / this.sampleIntervalMs) + 1) * this.sampleIntervalMs;
    this.sampleTimer = this.clock.setTimeout(() => {
      this.sample(next - this.sampleIntervalMs);
      this.scheduleSample();
    }, next - now);
  }

  private sample(intervalStart: number): void {
    const samples: PoolSample[] = [];
    for (const [poolKey, c] of this.pools) {
      const elements = c.up + c.suspect + c.failed + c.draining + c.maintenance;
      if (elements === 0 && c.notifications === 0 && c.resolutions === 0) {
        this.pools.delete(poolKey); // an empty, quiet pool stops being sampled
        continue;
      }
      samples.push({
        poolKey,
        up: c.up,
        suspect: c.suspect,
        failed: c.failed,
        draining: c.draining,
        maintenance: c.maintenance,
        resolutions: c.resolutions,
        notifications: c.notifications,
        loadMean: c.loadCount > 0 ? c.loadSum / c.loadCount : null,
      });
      c.notifications = 0;
      c.resolutions = 0;
    }
    if (samples.length > 0) this.write({ kind: 'metrics', time: intervalStart, intervalMs: this.sampleIntervalMs, pools: samples });
  }
}

function valuesOf(element: ElementRecord): {
  homeServerId: number;
  registrationLife: number;
  userTransport: ElementRecord['userTransport'];
  asapTransport: ElementRecord['asapTransport'];
  policy: ElementRecord['policy'];
} {
  return {
    homeServerId: element.homeServerId,
    registrationLife: element.registrationLife,
    userTransport: element.userTransport,
    asapTransport: element.asapTransport,
    policy: element.policy,
  };
}
