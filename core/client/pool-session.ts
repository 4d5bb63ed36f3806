/**
 * A failover-aware session of an application on one pool: which element new requests go to (current()),
 * how many requests are in flight on each element, and the switch to another element when the current one
 * fails. Made by PoolUser.session(); it reads and steers the PoolUser's cache and never talks to a
 * registrar itself.
 *
 * Subscribed mode (session opened with `subscribe: true` and the registrar set the A flag): the registrar's
 * pushed PE Status decides (docs/protocol.md).
 *   - failed, maintenance, deregistered, unreachable of the current element: switch at once to the
 *     status's Replacement PE if it is cached, else to the pool policy's next choice from the cache, and
 *     emit 'failover' with the ASAP_COOKIE_ECHO for the new element built from the old element's last
 *     cookie (RFC 5352 §3.8). Requests in flight on the old element are the application's to fail.
 *   - draining of the current element: new requests go elsewhere (current() changes the same way) and the
 *     in-flight ones are left to finish: 'drain' at once, 'drained' when the last of them ended.
 *   - anything else (up, load changed) never moves the session: it stays on a working element.
 * An element leaving the cached list without a status (the registrar's selection moved, a snapshot) does
 * not move the session either: the registrar's selection is a few elements of the pool, not its health.
 *
 * Standard mode (no subscription, as RSPLIB): the application decides an element has failed (its request
 * timed out after DEFAULT_APPLICATION_REQUEST_TIMEOUT_MS, or the connection was refused) and calls
 * reportFailure(): one ASAP_ENDPOINT_UNREACHABLE (PoolUser.reportUnreachable, once per failure event) and a
 * switch to the next cached element, the cache being refreshed first when stale. reportFailure() works in
 * subscribed mode too, for failures the registrar has not seen.
 *
 * Elements this session saw fail are avoided for `failureMemoryMs` (default: the cache's stale time) even
 * when the registrar still lists them (it lists an element until its probe fails), unless nothing else is
 * left.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { PeStatusCode, type PeStatus, type PoolElement as WirePoolElement } from '../wire/types.js';
import { handleKey, type PoolHandleInput } from './pool-handle.js';
import type { PeStatusEvent, PoolUpdate, ReportError, ResolveError, ResolveOptions, ResolvedPool, SelectError, SelectOptions } from './pool-user.js';

/** RSPLIB's request timeout: how long an application waits for an element before calling it failed. */
export const DEFAULT_APPLICATION_REQUEST_TIMEOUT_MS = 3000;

export interface PoolSessionOptions {
  /** Subscribe to the pool (S flag) so pushed statuses drive the failover. Default false: standard mode. */
  readonly subscribe?: boolean;
  /** Handle Resolution Option for the session's resolutions. */
  readonly items?: number;
  /** Aborts the opening resolution. */
  readonly signal?: AbortSignal;
  /** How long an element this session saw fail is avoided; default the pool user's stale cache time. */
  readonly failureMemoryMs?: number;
}

/** Why the session left an element: the pushed PE Status, or the application's own finding. */
export type FailoverReason = PeStatus | 'unreachable' | 'timeout';

export interface FailoverEvent {
  readonly from: WirePoolElement;
  /** The new current element; undefined when the cache has none left (see the 'current' event). */
  readonly to: WirePoolElement | undefined;
  readonly reason: FailoverReason;
  /** ASAP_COOKIE_ECHO to send to `to` first: the last cookie `from` sent, if it sent one. */
  readonly cookieEcho?: Uint8Array;
  /** Requests still in flight on `from` (begun, not ended). */
  readonly inFlight: number;
}

export interface DrainEvent {
  /** The draining element: no new requests go to it. */
  readonly element: WirePoolElement;
  /** current() after the drain. */
  readonly to: WirePoolElement | undefined;
  readonly status: PeStatus;
  /** Requests in flight on `element`, left to finish. */
  readonly inFlight: number;
  /** ASAP_COOKIE_ECHO for `to` when the drain moved the session, from `element`'s last cookie. */
  readonly cookieEcho?: Uint8Array;
}

export interface DrainedEvent {
  /** A draining element on which the last in-flight request of this session ended. */
  readonly element: WirePoolElement;
}

export interface CurrentChange {
  readonly element: WirePoolElement | undefined;
  /** The element the session used before (also when it had none in between). */
  readonly previous: WirePoolElement | undefined;
  readonly cookieEcho?: Uint8Array;
}

export interface PoolSessionEvents {
  failover: [event: FailoverEvent];
  drain: [event: DrainEvent];
  drained: [event: DrainedEvent];
  /** current() changed, for any reason (after 'failover' / 'drain', or when an element appears or the pool goes). */
  current: [event: CurrentChange];
}

/** One request counted as in flight on `element` until end() (idempotent). */
export interface SessionRequest {
  readonly element: WirePoolElement;
  end(): void;
}

export type SessionError = ResolveError | { readonly code: 'noElement'; readonly message: string };

export interface FailureReport {
  /** unreachable: could not connect; timeout: no answer within the application's timeout. Default timeout. */
  readonly reason?: 'unreachable' | 'timeout';
  /** The element that failed; default current(). */
  readonly element?: WirePoolElement | number;
  readonly signal?: AbortSignal;
}

export interface FailureOutcome {
  /** Whether this call moved the session (false when it had already left the element). */
  readonly switched: boolean;
  /** current() afterwards. */
  readonly to: WirePoolElement | undefined;
  /** The ASAP_ENDPOINT_UNREACHABLE: sent, already sent for this failure event, or why not. */
  readonly report: Result<'sent' | 'alreadyReported', ReportError>;
}

/** What a session needs of its PoolUser (PoolUser.session() builds it). */
export interface SessionHost {
  readonly clock: Clock;
  readonly staleCacheMs: number;
  cached(pool: PoolHandleInput): ResolvedPool | undefined;
  isFresh(pool: PoolHandleInput): boolean;
  select(pool: PoolHandleInput, options: SelectOptions): Result<WirePoolElement, SelectError>;
  resolve(pool: PoolHandleInput, options: ResolveOptions): Promise<Result<ResolvedPool, ResolveError>>;
  reportUnreachable(pool: PoolHandleInput, peId: number, options: { readonly signal?: AbortSignal }): Promise<Result<'sent' | 'alreadyReported', ReportError>>;
  cookieEchoFor(newPe: WirePoolElement, failedPeId: number): Uint8Array | undefined;
  /** Registers for the pool's statuses and updates (after the cache took them in); returns the detach. */
  observe(observer: PoolObserver): () => void;
  closed(session: PoolSession): void;
}

/** How a PoolUser hands a session the pool's pushes. */
export interface PoolObserver {
  readonly poolKey: string;
  onStatus(event: PeStatusEvent): void;
  onUpdate(update: PoolUpdate): void;
}

/** Statuses that take the current element away at once (draining lets in-flight requests finish). */
const TAKEN_AWAY = new Set<number>([PeStatusCode.failed, PeStatusCode.maintenance, PeStatusCode.deregistered, PeStatusCode.unreachable]);

interface InFlight {
  readonly element: WirePoolElement;
  count: number;
}

export class PoolSession extends EventEmitter<PoolSessionEvents> {
  readonly poolHandle: Uint8Array;
  private readonly subscribe: boolean;
  private readonly items: number | undefined;
  private readonly failureMemoryMs: number;
  private element: WirePoolElement | undefined;
  /** The last element the session had, kept while it has none (for the cookie echo when one appears). */
  private lastElement: WirePoolElement | undefined;
  private readonly inFlightByElement = new Map<number, InFlight>();
  /** Drained elements that still have requests of this session in flight. */
  private readonly draining = new Set<number>();
  /** peId → clock time this session saw it fail. */
  private readonly failures = new Map<number, number>();
  private switching: { readonly from: number; readonly done: Promise<void> } | undefined;
  private readonly detach: () => void;
  private closed = false;

  constructor(
    private readonly host: SessionHost,
    poolHandle: Uint8Array,
    options: PoolSessionOptions = {},
  ) {
    super();
    this.poolHandle = poolHandle;
    this.subscribe = options.subscribe ?? false;
    this.items = options.items;
    this.failureMemoryMs = options.failureMemoryMs ?? host.staleCacheMs;
    this.detach = host.observe({ poolKey: handleKey(poolHandle), onStatus: (event) => this.onStatus(event), onUpdate: (update) => this.onUpdate(update) });
    const first = host.select(poolHandle, {});
    this.element = first.ok ? first.value : undefined;
    this.lastElement = this.element;
  }

  /** True while the registrar pushes this pool's changes (subscribed mode). */
  get subscribed(): boolean {
    return this.host.cached(this.poolHandle)?.subscribed ?? false;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The element to send new requests to; undefined when the pool has none selectable. */
  current(): WirePoolElement | undefined {
    return this.element;
  }

  /** Requests in flight on one element, or on all of them. */
  inFlight(peId?: number): number {
    if (peId !== undefined) return this.inFlightByElement.get(peId)?.count ?? 0;
    let total = 0;
    for (const entry of this.inFlightByElement.values()) total += entry.count;
    return total;
  }

  /** Starts one request on current(): counted in flight until its end(). */
  begin(): Result<SessionRequest, SessionError> {
    if (this.closed) return err({ code: 'closed', message: 'the session is closed' });
    const element = this.element;
    if (!element) return err({ code: 'noElement', message: 'the pool has no selectable element now' });
    const entry = this.inFlightByElement.get(element.id) ?? { element, count: 0 };
    entry.count++;
    this.inFlightByElement.set(element.id, entry);
    let ended = false;
    return ok({
      element,
      end: () => {
        if (ended) return;
        ended = true;
        this.finish(element.id);
      },
    });
  }

  /**
   * Runs `send` for current() and counts it in flight until its promise settles. The promise is returned
   * as is (a rejection is the caller's to handle).
   */
  track<T>(send: (element: WirePoolElement) => Promise<T>): Result<Promise<T>, SessionError> {
    const started = this.begin();
    if (!started.ok) return started;
    const request = started.value;
    let work: Promise<T>;
    try {
      work = send(request.element);
    } catch (thrown) {
      request.end();
      return ok(Promise.reject(thrown instanceof Error ? thrown : new Error(String(thrown))));
    }
    return ok(
      work.finally(() => {
        request.end();
      }),
    );
  }

  /**
   * The application found an element failed (standard mode's failure detection; in subscribed mode for a
   * failure the registrar has not seen): reports it once (ASAP_ENDPOINT_UNREACHABLE) and, when it is the
   * current element, switches to the next cached element ('failover'), refreshing a stale cache first.
   */
  async reportFailure(report: FailureReport = {}): Promise<Result<FailureOutcome, SessionError>> {
    if (this.closed) return err({ code: 'closed', message: 'the session is closed' });
    const reason = report.reason ?? 'timeout';
    const target = typeof report.element === 'number' ? report.element : (report.element?.id ?? this.element?.id);
    if (target === undefined) return err({ code: 'noElement', message: 'no element to report: the session has none' });
    this.failures.set(target, this.host.clock.now());
    const signal = report.signal ? { signal: report.signal } : {};
    // Started first: it takes the element out of the cache at once, so the selection below avoids it.
    const reported = this.host.reportUnreachable(this.poolHandle, target, signal);
    const from = this.element;
    if (from?.id !== target) {
      if (this.switching?.from === target) await this.switching.done;
      return ok({ switched: false, to: this.element, report: await reported });
    }
    if (this.host.isFresh(this.poolHandle)) {
      this.failover(from, reason, undefined);
      return ok({ switched: true, to: this.element, report: await reported });
    }
    let release = (): void => undefined;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.switching = { from: target, done };
    try {
      // The cache is stale: refresh it (a failed refresh leaves the stale list, which is still a choice).
      await this.host.resolve(this.poolHandle, this.resolveOptions(report.signal));
      if (this.closed) return err({ code: 'closed', message: 'the session was closed' });
      // A push may have moved the session meanwhile.
      if (this.element?.id !== target) return ok({ switched: false, to: this.element, report: await reported });
      this.failover(from, reason, undefined);
      return ok({ switched: true, to: this.element, report: await reported });
    } finally {
      this.switching = undefined;
      release();
    }
  }

  /** current(), or when there is none, the policy's choice after a resolution (refreshing a stale cache). */
  async acquire(signal?: AbortSignal): Promise<Result<WirePoolElement, SessionError>> {
    if (this.closed) return err({ code: 'closed', message: 'the session is closed' });
    if (this.element) return ok(this.element);
    const resolved = await this.host.resolve(this.poolHandle, this.resolveOptions(signal));
    if (this.closed) return err({ code: 'closed', message: 'the session was closed' });
    if (this.element) return ok(this.element);
    if (!resolved.ok) return resolved;
    const chosen = this.pick(undefined, []);
    if (!chosen) return err({ code: 'noElement', message: 'the pool has no selectable element now' });
    this.moveTo(chosen);
    return ok(chosen);
  }

  /** Stops following the pool. In-flight requests may still end(); nothing is emitted any more. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.host.closed(this);
  }

  private resolveOptions(signal: AbortSignal | undefined): ResolveOptions {
    return { ...(this.subscribe ? { subscribe: true } : {}), ...(this.items !== undefined ? { items: this.items } : {}), ...(signal ? { signal } : {}) };
  }

  private onStatus(event: PeStatusEvent): void {
    if (this.closed) return;
    const status = event.status;
    const current = this.element;
    if (status.status === PeStatusCode.draining) {
      if (current?.id === status.peId) {
        const to = this.pick(status.replacementPeId, [status.peId]);
        const cookieEcho = to ? this.host.cookieEchoFor(to, current.id) : undefined;
        this.element = to;
        if (to) this.lastElement = to;
        const inFlight = this.inFlight(current.id);
        if (inFlight > 0) this.draining.add(current.id);
        this.emit('drain', { element: current, to, status, inFlight, ...(cookieEcho ? { cookieEcho } : {}) });
        this.emit('current', { element: to, previous: current, ...(cookieEcho ? { cookieEcho } : {}) });
        if (inFlight === 0) this.emit('drained', { element: current });
        return;
      }
      const busy = this.inFlightByElement.get(status.peId);
      if (busy && !this.draining.has(status.peId)) {
        this.draining.add(status.peId);
        this.emit('drain', { element: busy.element, to: current, status, inFlight: busy.count });
      }
      return;
    }
    if (status.status === PeStatusCode.up) {
      // Back to ready: its requests are ordinary ones again.
      this.draining.delete(status.peId);
      return;
    }
    if (TAKEN_AWAY.has(status.status) && current?.id === status.peId) {
      this.failures.set(status.peId, this.host.clock.now());
      this.failover(current, status, status.replacementPeId);
    }
  }

  private onUpdate(update: PoolUpdate): void {
    if (this.closed) return;
    if (!update.pool) {
      // The pool is gone (cause 0x9 without the A flag).
      const previous = this.element;
      this.element = undefined;
      if (previous) this.emit('current', { element: undefined, previous });
      return;
    }
    if (this.element || update.pool.elements.length === 0) return;
    const chosen = this.pick(undefined, []);
    if (chosen) this.moveTo(chosen);
  }

  /** Leaves `from` for the replacement or the policy's next choice; emits 'failover' and 'current'. */
  private failover(from: WirePoolElement, reason: FailoverReason, prefer: number | undefined): void {
    const to = this.pick(prefer, [from.id], true);
    const cookieEcho = to ? this.host.cookieEchoFor(to, from.id) : undefined;
    this.element = to;
    if (to) this.lastElement = to;
    this.emit('failover', { from, to, reason, inFlight: this.inFlight(from.id), ...(cookieEcho ? { cookieEcho } : {}) });
    this.emit('current', { element: to, previous: from, ...(cookieEcho ? { cookieEcho } : {}) });
  }

  /** The session had no element and now has one. */
  private moveTo(element: WirePoolElement): void {
    const previous = this.lastElement;
    const cookieEcho = previous && previous.id !== element.id ? this.host.cookieEchoFor(element, previous.id) : undefined;
    this.element = element;
    this.lastElement = element;
    this.emit('current', { element, previous, ...(cookieEcho ? { cookieEcho } : {}) });
  }

  /** The preferred element if cached, else the policy's choice; recent failures avoided unless nothing else is left. */
  private pick(prefer: number | undefined, exclude: readonly number[], spread = false): WirePoolElement | undefined {
    const now = this.host.clock.now();
    for (const [peId, at] of this.failures) if (now - at >= this.failureMemoryMs) this.failures.delete(peId);
    const recent = [...this.failures.keys()];
    const preferred = { ...(prefer !== undefined ? { prefer } : {}), ...(spread ? { spread } : {}) };
    const first = this.host.select(this.poolHandle, { exclude: [...exclude, ...recent], ...preferred });
    if (first.ok) return first.value;
    if (recent.length === 0) return undefined;
    const fallback = this.host.select(this.poolHandle, { exclude, ...preferred });
    return fallback.ok ? fallback.value : undefined;
  }

  private finish(peId: number): void {
    const entry = this.inFlightByElement.get(peId);
    if (!entry) return;
    entry.count--;
    if (entry.count > 0) return;
    this.inFlightByElement.delete(peId);
    if (this.draining.delete(peId) && !this.closed) this.emit('drained', { element: entry.element });
  }
}
