/**
 * The pool user SDK (RFC 5352 §3.3, §3.5, §3.8, §3.9): resolve pool handles through a registrar with a
 * cache, pick an element per the pool's policy, report elements the user could not reach, keep the
 * session cookie for failover, read business cards, and follow pools it subscribed to (S flag) through
 * the registrar's pushed updates.
 *
 * Cache (RFC 5352 §3.3 C1-C4): one entry per pool handle. A fresh entry answers resolve() with no request;
 * a stale one is refreshed (blocking). `staleCacheMs` defaults to 5 s, RSPLIB's cache element timeout
 * (ASAP_DEFAULT_CACHE_ELEMENT_TIMEOUT; the RFC has no default); 0 disables caching. An entry kept up to
 * date by a subscription counts as fresh for as long as the subscription's connection lives.
 *
 * Requests: T1 = `requestTimeoutMs` (3 s, RSPLIB) per attempt, resent up to MAX-REQUEST-RETRANSMIT = 2 times
 * (RFC 5352 §7) on the same connection; after the last timeout the connection is dropped so the next
 * request hunts for another registrar. One resolve() never takes longer than `resolveTimeoutMs` (10 s),
 * server hunt included.
 *
 * Subscriptions (RFC 5352 §2.2.5, docs/protocol.md "Subscriptions and pushed status"): resolve() with
 * `subscribe` sends the S flag; once a pool is subscribed every later resolution of it keeps the S flag (a
 * resolution without S would end the subscription at the registrar), until unsubscribe() or forget(). A
 * pool that exists but has no selectable element answers with the A flag and cause 0x9: that is a
 * subscription to an empty pool, not an error.
 *
 * Pushed updates (unsolicited ASAP_HANDLE_RESOLUTION_RESPONSE with the A flag) for subscribed pools:
 *   - with PE Status parameters: the Pool Element list is the registrar's current selection and replaces
 *     the cached list (elements whose status takes them out of service are left out even if listed);
 *     each PE Status is a typed 'pe-status' event. With no Pool Element (and no cause 0x9) the statuses
 *     are merged into the cached list instead.
 *   - without PE Status: a snapshot (after the registrar dropped queued updates): replaces the cached list
 *     and resets the sequence base, so the next sequence number seen is accepted as it is.
 *   - cause 0x9 with the A flag: the pool has no selectable element now; the cached list is emptied and
 *     the subscription stays (pushes resume when elements return). Cause 0x9 without the A flag: the pool
 *     is gone; the entry and the subscription are dropped.
 * Sequence numbers are tracked per pool with RFC 1982 serial arithmetic; a gap marks the entry stale and
 * starts a background re-resolution with the S flag ('update' with source 'resync'). Every full answer
 * (resolution or snapshot) resets the sequence base. When the connection drops, subscriptions are
 * re-established on the next registrar (RFC 5352 §2.2.5: registrars do not share subscription state).
 *
 * Sessions (pool-session.ts): session() resolves a pool and returns a PoolSession that follows one
 * current element for new requests and fails over on pushed statuses or application-reported failures.
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { Cause, nameOf } from '../wire/constants.js';
import { PolicyType } from '../wire/policy.js';
import { PeStatusCode, PeStatusReason, type AsapHandleResolutionResponse, type ErrorCause, type PeStatus, type Policy, type PoolElement as WirePoolElement } from '../wire/types.js';
import { deadline, pause } from './clock-signals.js';
import { businessCardOf, encodeCookieEcho, parseControlMessage, type BusinessCard, type ControlMessage, type ControlMessageError } from './control-channel.js';
import { orderCarriesNoLoad, selectElement, type RandomSource, type SelectionState } from './element-selection.js';
import { handleKey, toPoolHandle, type PoolHandleInput } from './pool-handle.js';
import { PoolSession, type PoolObserver, type PoolSessionOptions } from './pool-session.js';
import type { AnnounceListenOptions, HuntOptions, RegistrarDiscovery } from './registrar-discovery.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, type ProtocolProblem, type RegistrarAddress, type RegistrarConnection } from './registrar-connection.js';
import { RegistrarLink } from './registrar-link.js';

export const DEFAULT_STALE_CACHE_MS = 5000;
export const DEFAULT_MAX_REQUEST_RETRANSMIT = 2;
export const DEFAULT_RESOLVE_TIMEOUT_MS = 10_000;
const RESUBSCRIBE_FIRST_DELAY_MS = 500;
const RESUBSCRIBE_MAX_DELAY_MS = 60_000;
/**
 * A PE Status event time is compared with the local clock only when the difference is 0 … 60 s: beyond
 * that (or negative) the two clocks are not synchronized closely enough for a latency to mean anything.
 */
export const PE_STATUS_LATENCY_WINDOW_MS = 60_000;
/** Elements handed out per pool that may later be reported unreachable; the oldest are forgotten beyond this. */
const MAX_HANDED_OUT_PER_POOL = 1024;

export interface PoolUserOptions {
  /** A registrar connection shared with pool elements and other users; its owner closes it. */
  readonly link?: RegistrarLink;
  readonly registrars?: readonly (string | RegistrarAddress)[];
  /** A discovery shared with other users or elements; its owner closes it. */
  readonly discovery?: RegistrarDiscovery;
  /** Announce listening when neither `link` nor `discovery` is given; default as for PoolElement. */
  readonly announces?: AnnounceListenOptions | false;
  readonly clock?: Clock;
  readonly staleCacheMs?: number;
  readonly requestTimeoutMs?: number;
  readonly maxRequestRetransmit?: number;
  readonly resolveTimeoutMs?: number;
  /** Handle Resolution Option sent with every request unless resolve() says otherwise. */
  readonly items?: number;
  /** Random numbers in [0, 1) for the random policies; default Math.random. */
  readonly random?: RandomSource;
  readonly hunt?: Omit<HuntOptions, 'signal' | 'prefer' | 'connection'>;
}

export interface ResolveOptions {
  readonly items?: number;
  readonly signal?: AbortSignal;
  /**
   * S flag: ask the registrar to push updates for this pool. Once subscribed, the pool stays subscribed
   * (every resolution of it carries the S flag) until unsubscribe() or forget(); `false` does not end it.
   */
  readonly subscribe?: boolean;
  /** Ask even if the cache is fresh. */
  readonly refresh?: boolean;
}

export interface ResolvedPool {
  readonly poolHandle: Uint8Array;
  /** The pool's policy; round robin when the registrar sent none (RFC 5352 §2.2.6). */
  readonly overallPolicy: Policy;
  /**
   * Wire Pool Element parameters, in the registrar's order, minus those reported unreachable. Empty for a
   * subscribed pool that has no selectable element now (A flag with cause 0x9).
   */
  readonly elements: readonly WirePoolElement[];
  /** Clock time the registrar's answer (or last pushed update) arrived. */
  readonly receivedAt: number;
  /** Whether the registrar pushes updates for it (A flag). */
  readonly subscribed: boolean;
}

export type ResolveError =
  | { readonly code: 'unknownPoolHandle'; readonly cause: typeof Cause.unknownPoolHandle; readonly causes: readonly ErrorCause[]; readonly message: string }
  | { readonly code: 'operationError'; readonly cause: number; readonly causes: readonly ErrorCause[]; readonly message: string }
  | { readonly code: 'timeout'; readonly message: string }
  | { readonly code: 'aborted'; readonly message: string }
  | { readonly code: 'closed'; readonly message: string };

export type SelectError = { readonly code: 'notCached' | 'noElements'; readonly message: string };

export interface SelectOptions {
  /** Elements the caller already tried: never chosen. */
  readonly exclude?: Iterable<number>;
  /** Take this element if it is cached and not excluded (a PE Status replacement), else the policy's choice. */
  readonly prefer?: number;
  /**
   * A failover: many users of the failed element choose at the same moment from the same list. Under a
   * policy whose order carries no load information (round robin, random), pick uniformly among the
   * candidates instead of everyone taking the same "next" element (and ignore `prefer`, the registrar's one
   * suggestion for all of them).
   */
  readonly spread?: boolean;
}

export type ReportError =
  | { readonly code: 'unknownElement'; readonly message: string }
  | { readonly code: 'timeout' | 'aborted' | 'closed'; readonly message: string };

export interface PoolUpdate {
  readonly poolHandle: Uint8Array;
  /** The pool as cached after the update; undefined when the registrar says the pool is gone. */
  readonly pool: ResolvedPool | undefined;
  /** PE Status parameters the update carried (our extension). */
  readonly statuses: readonly PeStatus[];
  /**
   * push: the registrar's unsolicited update; resubscribe: the answer after re-subscribing on a new
   * connection; resync: the answer to the re-resolution a sequence gap started.
   */
  readonly source: 'push' | 'resubscribe' | 'resync';
  /** A gap in the per-pool sequence numbers: updates were missed; the entry is stale until the resync answers. */
  readonly gap: boolean;
  /** The update replaced the whole cached list and reset the sequence base (no PE Status in it). */
  readonly snapshot: boolean;
}

/** One PE Status parameter a push carried, as the 'pe-status' event hands it out. */
export interface PeStatusEvent {
  readonly poolHandle: Uint8Array;
  readonly status: PeStatus;
  /** The PeStatusCode key ('failed', 'loadChanged', …) or 'unknown' for a value this SDK does not know. */
  readonly statusName: string;
  /** The PeStatusReason key ('connectionLost', 'operatorDrain', …) or 'unknown'. */
  readonly reasonName: string;
  /** Local clock time the push arrived. */
  readonly receivedAt: number;
  /** receivedAt − status.eventTimeMs, when the clocks are comparable (see PE_STATUS_LATENCY_WINDOW_MS). */
  readonly latencyMs?: number;
}

export type PoolUserProblem =
  | { readonly kind: 'protocol'; readonly registrar: RegistrarAddress; readonly problem: ProtocolProblem }
  | { readonly kind: 'asapError'; readonly registrar: RegistrarAddress; readonly causes: readonly ErrorCause[] }
  | { readonly kind: 'resubscribe'; readonly poolHandle: Uint8Array; readonly error: ResolveError }
  | { readonly kind: 'resync'; readonly poolHandle: Uint8Array; readonly error: ResolveError }
  | { readonly kind: 'discovery'; readonly message: string };

export interface PoolUserEvents {
  update: [update: PoolUpdate];
  /** One per PE Status parameter received, in the order the push carried them, after the cache is updated. */
  'pe-status': [event: PeStatusEvent];
  registrarLost: [event: { readonly registrar: RegistrarAddress; readonly reason: string; readonly subscriptions: readonly Uint8Array[] }];
  /** Emitted only when someone listens. */
  error: [problem: PoolUserProblem];
}

interface CacheEntry {
  readonly poolHandle: Uint8Array;
  overallPolicy: Policy;
  elements: WirePoolElement[];
  receivedAt: number;
  /** Stale regardless of age (a sequence gap, a lost subscription). */
  invalidated: boolean;
  /** The connection whose subscription keeps this entry current, while it lives. */
  subscribedOn: RegistrarConnection | undefined;
  readonly selection: SelectionState;
  /** Elements reported unreachable in the current failure event; cleared when the registrar lists them again. */
  readonly reported: Set<number>;
  /** Sequence number of the last PE Status taken in; undefined after a full answer (the next one is the base). */
  lastSequence: number | undefined;
  /** Connection and arrival number of the last message applied, to spot answers older than a push. */
  arrivalFrom: RegistrarConnection | undefined;
  lastArrival: number;
}

interface StoredCookie {
  readonly peId: number;
  readonly cookie: Uint8Array;
}

/** Statuses that take an element out of the selectable set. */
const OUT_OF_SERVICE = new Set<number>([PeStatusCode.draining, PeStatusCode.maintenance, PeStatusCode.unreachable, PeStatusCode.failed, PeStatusCode.deregistered]);
const ROUND_ROBIN: Policy = { type: PolicyType.roundRobin };

function describeCauses(causes: readonly ErrorCause[]): string {
  return causes.map((cause) => `0x${cause.code.toString(16)}`).join(', ');
}

/**
 * RFC 1982 serial-number comparison for 32-bit sequence numbers: is a after b? (Undefined for a distance
 * of exactly 2^31, which counts as "not after".)
 */
export function serialAfter(a: number, b: number): boolean {
  const diff = (a - b) >>> 0;
  return diff !== 0 && diff < 0x80000000;
}

function sameOrder(a: readonly WirePoolElement[], b: readonly WirePoolElement[]): boolean {
  return a.length === b.length && a.every((element, i) => element.id === b[i]?.id);
}

export class PoolUser extends EventEmitter<PoolUserEvents> {
  private readonly clock: Clock;
  private readonly link: RegistrarLink;
  private readonly ownsLink: boolean;
  private readonly staleCacheMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxRequestRetransmit: number;
  private readonly resolveTimeoutMs: number;
  private readonly defaultItems: number | undefined;
  private readonly random: RandomSource;

  private readonly cache = new Map<string, CacheEntry>();
  /** Pools the user wants subscribed (set before the S-flag request goes out, so an early push is taken). */
  private readonly subscriptions = new Map<string, Uint8Array>();
  private readonly cookies = new Map<number, StoredCookie>();
  private latestCookie: StoredCookie | undefined;
  private readonly businessCards = new Map<string, BusinessCard>();
  /** Elements select() handed out per pool: the user may have tried them, so it may report them. */
  private readonly handedOut = new Map<string, Set<number>>();
  private readonly observers = new Set<PoolObserver>();
  private readonly sessions = new Set<PoolSession>();
  private readonly resyncing = new Set<string>();
  private connection: RegistrarConnection | undefined;
  private detachConnection: (() => void) | undefined;
  private resubscribing = false;
  private readonly lifetime = new AbortController();
  private closed = false;

  constructor(options: PoolUserOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    this.staleCacheMs = options.staleCacheMs ?? DEFAULT_STALE_CACHE_MS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.maxRequestRetransmit = Math.max(0, options.maxRequestRetransmit ?? DEFAULT_MAX_REQUEST_RETRANSMIT);
    this.resolveTimeoutMs = options.resolveTimeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS;
    this.defaultItems = options.items;
    this.random = options.random ?? Math.random;
    if (options.link) {
      this.link = options.link;
      this.ownsLink = false;
    } else {
      this.link = new RegistrarLink({
        clock: this.clock,
        requestTimeoutMs: this.requestTimeoutMs,
        ...(options.registrars ? { registrars: options.registrars } : {}),
        ...(options.discovery ? { discovery: options.discovery } : {}),
        ...(options.announces !== undefined ? { announces: options.announces } : {}),
        ...(options.hunt ? { hunt: options.hunt } : {}),
      });
      this.ownsLink = true;
    }
  }

  /**
   * The pool's elements: from the cache when fresh, else from a registrar. An unknown pool is the error
   * value `unknownPoolHandle` (cause 0x9); other Operation Errors are `operationError`. A subscription to a
   * pool with no selectable element (A flag and cause 0x9) is a success with no elements.
   */
  async resolve(handle: PoolHandleInput, options: ResolveOptions = {}): Promise<Result<ResolvedPool, ResolveError>> {
    if (this.closed) return err({ code: 'closed', message: 'the pool user is closed' });
    const poolHandle = toPoolHandle(handle);
    const key = handleKey(poolHandle);
    const subscribe = options.subscribe === true || this.subscriptions.has(key);
    const cached = this.cache.get(key);
    if (cached && !options.refresh && this.isFresh(cached) && (!subscribe || this.isSubscribed(cached))) return ok(this.view(cached));

    const newSubscription = subscribe && !this.subscriptions.has(key);
    if (newSubscription) this.subscriptions.set(key, poolHandle);
    const limit = deadline(this.clock, this.resolveTimeoutMs, options.signal);
    try {
      const outcome = await this.request(poolHandle, { ...options, subscribe }, limit.signal);
      if (outcome.ok) {
        const accepted = this.accept(poolHandle, outcome.value, subscribe);
        if (!accepted.ok && newSubscription) this.subscriptions.delete(key);
        return accepted;
      }
      if (newSubscription) this.subscriptions.delete(key);
      if (this.closed) return err({ code: 'closed', message: 'the pool user was closed' });
      if (options.signal?.aborted) return err({ code: 'aborted', message: 'resolve aborted' });
      return err({ code: 'timeout', message: limit.expired ? `no answer within ${this.resolveTimeoutMs} ms (${outcome.error})` : outcome.error });
    } finally {
      limit.dispose();
    }
  }

  /** The cached pool, fresh or not, without asking anyone. */
  cached(handle: PoolHandleInput): ResolvedPool | undefined {
    const entry = this.cache.get(handleKey(toPoolHandle(handle)));
    return entry ? this.view(entry) : undefined;
  }

  /**
   * Picks one element of a cached pool per its overall policy (see element-selection.ts). Call resolve()
   * first; select() never sends anything. `exclude` leaves out elements the caller already tried;
   * `prefer` takes a named element when it is cached (and not excluded).
   */
  select(handle: PoolHandleInput, options: SelectOptions = {}): Result<WirePoolElement, SelectError> {
    const key = handleKey(toPoolHandle(handle));
    const entry = this.cache.get(key);
    if (!entry) return err({ code: 'notCached', message: 'pool not in the cache: resolve it first' });
    const excluded = new Set(options.exclude ?? []);
    const candidates = excluded.size === 0 ? entry.elements : entry.elements.filter((element) => !excluded.has(element.id));
    const spread = options.spread === true && orderCarriesNoLoad(entry.overallPolicy) && candidates.length > 0;
    const preferred = !spread && options.prefer !== undefined ? candidates.find((element) => element.id === options.prefer) : undefined;
    const chosen = spread
      ? candidates[Math.min(candidates.length - 1, Math.floor(this.random() * candidates.length))]
      : (preferred ?? selectElement(entry.overallPolicy, candidates, entry.selection, this.random));
    if (!chosen) return err({ code: 'noElements', message: 'no element left to select in the cached pool' });
    this.noteHandedOut(key, chosen.id);
    return ok(chosen);
  }

  /**
   * Reports an element the user tried and could not reach (ASAP_ENDPOINT_UNREACHABLE, RFC 5352 §3.5) and
   * drops it from the cache. At most once per failure event: a second call before the registrar lists the
   * element again sends nothing and answers 'alreadyReported'. Only elements the user learned from this
   * cache, from select() or from a business card can be reported (it must actually have tried them).
   */
  async reportUnreachable(handle: PoolHandleInput, peId: number, options: { readonly signal?: AbortSignal } = {}): Promise<Result<'sent' | 'alreadyReported', ReportError>> {
    if (this.closed) return err({ code: 'closed', message: 'the pool user is closed' });
    const poolHandle = toPoolHandle(handle);
    const key = handleKey(poolHandle);
    const entry = this.cache.get(key);
    if (entry?.reported.has(peId)) return ok('alreadyReported');
    const known =
      entry?.elements.some((element) => element.id === peId) ||
      this.handedOut.get(key)?.has(peId) ||
      this.businessCards.get(key)?.failoverOrder.some((element) => element.id === peId);
    if (!known) return err({ code: 'unknownElement', message: `element 0x${peId.toString(16)} is not known for this pool: nothing to report` });
    if (entry) {
      entry.reported.add(peId);
      entry.elements = entry.elements.filter((element) => element.id !== peId);
    }
    const limit = deadline(this.clock, this.resolveTimeoutMs, options.signal);
    try {
      const connection = await this.ensureConnection(limit.signal);
      if (!connection) {
        entry?.reported.delete(peId);
        return err(options.signal?.aborted ? { code: 'aborted', message: 'report aborted' } : { code: this.closed ? 'closed' : 'timeout', message: 'no registrar reachable for the report' });
      }
      const sent = connection.send({ protocol: 'asap', type: 'endpointUnreachable', poolHandle, peId });
      if (!sent.ok) {
        entry?.reported.delete(peId);
        return err({ code: 'closed', message: sent.error.message });
      }
      return ok('sent');
    } finally {
      limit.dispose();
    }
  }

  /**
   * A failover-aware session on one pool (pool-session.ts): resolves it (with the S flag when
   * `options.subscribe`), then follows one current element. The session ends with close() or with the
   * pool user.
   */
  async session(handle: PoolHandleInput, options: PoolSessionOptions = {}): Promise<Result<PoolSession, ResolveError>> {
    if (this.closed) return err({ code: 'closed', message: 'the pool user is closed' });
    const poolHandle = toPoolHandle(handle);
    const items = options.items;
    const resolved = await this.resolve(poolHandle, {
      ...(options.subscribe !== undefined ? { subscribe: options.subscribe } : {}),
      ...(items !== undefined ? { items } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!resolved.ok) return resolved;
    if (this.closed) return err({ code: 'closed', message: 'the pool user was closed' });
    const session = new PoolSession(
      {
        clock: this.clock,
        staleCacheMs: this.staleCacheMs,
        cached: (pool) => this.cached(pool),
        isFresh: (pool) => {
          const entry = this.cache.get(handleKey(toPoolHandle(pool)));
          return entry !== undefined && this.isFresh(entry);
        },
        select: (pool, selectOptions) => this.select(pool, selectOptions),
        resolve: (pool, resolveOptions) => this.resolve(pool, resolveOptions),
        reportUnreachable: (pool, peId, reportOptions) => this.reportUnreachable(pool, peId, reportOptions),
        cookieEchoFor: (newPe, failedPeId) => this.cookieEchoFor(newPe, failedPeId),
        observe: (observer) => {
          this.observers.add(observer);
          return () => this.observers.delete(observer);
        },
        closed: (ended) => this.sessions.delete(ended),
      },
      poolHandle,
      options,
    );
    this.sessions.add(session);
    return ok(session);
  }

  /** Keeps the cookie an element sent (ASAP_COOKIE); only the latest one per element is kept. */
  rememberCookie(peId: number, cookie: Uint8Array): void {
    const stored = { peId, cookie: Uint8Array.from(cookie) };
    this.cookies.set(peId, stored);
    this.latestCookie = stored;
  }

  /**
   * The ASAP_COOKIE_ECHO to send as the first control message to `newPe` after a failover (RFC 5352 §3.8):
   * the cookie of `failedPeId` if given, else the latest cookie received from any other element.
   * Undefined when there is nothing to echo (no cookie, or the latest came from `newPe` itself).
   */
  cookieEchoFor(newPe: number | WirePoolElement, failedPeId?: number): Uint8Array | undefined {
    const newId = typeof newPe === 'number' ? newPe : newPe.id;
    const stored = failedPeId !== undefined ? this.cookies.get(failedPeId) : this.latestCookie;
    if (!stored || stored.peId === newId) return undefined;
    return encodeCookieEcho(stored.cookie);
  }

  /**
   * Reads one ASAP message from an element's control channel: a cookie is remembered, a business card is
   * kept for its pool (failoverOrder()); the typed message is returned either way.
   */
  receiveControlMessage(fromPeId: number, bytes: Uint8Array): Result<ControlMessage, ControlMessageError> {
    const parsed = parseControlMessage(bytes);
    if (!parsed.ok) return parsed;
    const message = parsed.value;
    if (message.type === 'cookie') this.rememberCookie(fromPeId, message.cookie);
    else if (message.type === 'businessCard') this.businessCards.set(handleKey(message.poolHandle), businessCardOf(message));
    return parsed;
  }

  /** The last business card received for a pool. */
  businessCard(handle: PoolHandleInput): BusinessCard | undefined {
    return this.businessCards.get(handleKey(toPoolHandle(handle)));
  }

  /**
   * Whom to try after `failedPeId` failed: the business card's order if one was received (RFC 5352 §3.9),
   * else the cached list; without the failed element and those reported unreachable.
   */
  failoverOrder(handle: PoolHandleInput, failedPeId?: number): WirePoolElement[] {
    const key = handleKey(toPoolHandle(handle));
    const entry = this.cache.get(key);
    const card = this.businessCards.get(key);
    const order = card ? card.failoverOrder : (entry?.elements ?? []);
    return order.filter((element) => element.id !== failedPeId && !entry?.reported.has(element.id));
  }

  /**
   * Ends the subscription to a pool: a resolution without the S flag goes to the registrar (its answer is
   * not waited for) and the cached entry ages from now on like any unsubscribed one.
   */
  unsubscribe(handle: PoolHandleInput): void {
    const poolHandle = toPoolHandle(handle);
    const key = handleKey(poolHandle);
    if (!this.subscriptions.delete(key)) return;
    const entry = this.cache.get(key);
    if (!entry) return;
    const connection = entry.subscribedOn;
    const live = this.isSubscribed(entry);
    entry.subscribedOn = undefined;
    entry.receivedAt = this.clock.now();
    if (live && connection) this.endSubscription(connection, poolHandle);
  }

  /** Forgets a cached pool, ending its subscription at the registrar if there is one. */
  forget(handle: PoolHandleInput): void {
    const poolHandle = toPoolHandle(handle);
    const key = handleKey(poolHandle);
    const entry = this.cache.get(key);
    if (this.subscriptions.delete(key) && entry?.subscribedOn && this.isSubscribed(entry)) this.endSubscription(entry.subscribedOn, poolHandle);
    this.cache.delete(key);
    this.handedOut.delete(key);
  }

  /** Closes the sessions, the registrar connection (and the discovery, if the user made it). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const session of [...this.sessions]) session.close();
    this.lifetime.abort();
    this.detachConnection?.();
    this.detachConnection = undefined;
    this.connection = undefined;
    if (this.ownsLink) await this.link.close();
  }

  private isFresh(entry: CacheEntry): boolean {
    if (entry.invalidated) return false;
    if (this.isSubscribed(entry)) return true;
    return this.clock.now() - entry.receivedAt < this.staleCacheMs;
  }

  private isSubscribed(entry: CacheEntry): boolean {
    return entry.subscribedOn !== undefined && entry.subscribedOn === this.connection && !entry.subscribedOn.isClosed;
  }

  private view(entry: CacheEntry): ResolvedPool {
    return {
      poolHandle: entry.poolHandle,
      overallPolicy: entry.overallPolicy,
      elements: [...entry.elements],
      receivedAt: entry.receivedAt,
      subscribed: this.isSubscribed(entry),
    };
  }

  private noteHandedOut(key: string, peId: number): void {
    let ids = this.handedOut.get(key);
    if (!ids) this.handedOut.set(key, (ids = new Set()));
    ids.delete(peId);
    ids.add(peId);
    if (ids.size > MAX_HANDED_OUT_PER_POOL) {
      const oldest = ids.values().next();
      if (!oldest.done) ids.delete(oldest.value);
    }
  }

  /** Sends the request, resending on T1 expiry; the error is a description for the caller's message. */
  private async request(poolHandle: Uint8Array, options: ResolveOptions, signal: AbortSignal): Promise<Result<{ response: AsapHandleResolutionResponse; connection: RegistrarConnection }, string>> {
    let lastError = 'no registrar reachable';
    for (let attempt = 0; attempt <= this.maxRequestRetransmit; attempt++) {
      const connection = await this.ensureConnection(signal);
      if (!connection) return err(lastError === 'no registrar reachable' ? 'no registrar reachable (server hunt did not succeed)' : lastError);
      const items = options.items ?? this.defaultItems;
      const answer = await connection.resolve(poolHandle, { subscribe: options.subscribe ?? false, ...(items !== undefined ? { items } : {}), signal, timeoutMs: this.requestTimeoutMs });
      if (answer.ok) return ok({ response: answer.value, connection });
      lastError = answer.error.message;
      if (answer.error.kind === 'aborted') return err(lastError);
      // After the last timeout the registrar is presumed dead: the next request hunts.
      if (answer.error.kind === 'timeout' && attempt === this.maxRequestRetransmit) this.dropConnection(connection, lastError);
    }
    return err(lastError);
  }

  private accept(poolHandle: Uint8Array, outcome: { response: AsapHandleResolutionResponse; connection: RegistrarConnection }, subscribe: boolean): Result<ResolvedPool, ResolveError> {
    const { response, connection } = outcome;
    const key = handleKey(poolHandle);
    const causes = response.error ?? [];
    const unknownPool = causes.some((cause) => cause.code === Cause.unknownPoolHandle);
    if (unknownPool && response.accepted && subscribe) {
      // The pool exists but nothing in it is selectable now: subscribed to an empty pool (docs/protocol.md).
      return ok(this.view(this.store(poolHandle, response, connection, [])));
    }
    if (causes.length > 0) {
      if (unknownPool) {
        this.cache.delete(key);
        this.subscriptions.delete(key);
        return err({ code: 'unknownPoolHandle', cause: Cause.unknownPoolHandle, causes, message: 'the registrar does not know this pool handle (cause 0x9)' });
      }
      const cause = causes[0]?.code ?? Cause.unspecifiedError;
      return err({ code: 'operationError', cause, causes, message: `the registrar answered with an Operation Error (${describeCauses(causes)})` });
    }
    const entry = this.store(poolHandle, response, connection);
    // A registrar that does not do subscriptions (RSPLIB) answers without the A flag: stop asking.
    if (subscribe && !response.accepted) this.subscriptions.delete(key);
    return ok(this.view(entry));
  }

  /**
   * A full answer (a resolution's, or a snapshot push): replaces the cached list (RR restarts from the
   * beginning, RFC 5356 §4.1) and resets the sequence base. An answer that
   * arrived before a push already applied is older than what the cache holds: only the subscription state
   * is taken from it.
   */
  private store(poolHandle: Uint8Array, response: AsapHandleResolutionResponse, connection: RegistrarConnection, elements: readonly WirePoolElement[] = response.poolElements): CacheEntry {
    const key = handleKey(poolHandle);
    const arrival = connection.arrivalOf(response) ?? 0;
    const previous = this.cache.get(key);
    const subscribedOn = response.accepted ? connection : undefined;
    if (previous && previous.arrivalFrom === connection && arrival < previous.lastArrival) {
      previous.subscribedOn = subscribedOn;
      previous.invalidated = false;
      return previous;
    }
    const reported = new Set(previous?.reported ?? []);
    for (const element of elements) reported.delete(element.id);
    const entry: CacheEntry = {
      poolHandle,
      overallPolicy: response.overallPolicy ?? ROUND_ROBIN,
      elements: [...elements],
      receivedAt: this.clock.now(),
      invalidated: false,
      subscribedOn,
      selection: { rrCursor: 0 },
      reported,
      lastSequence: undefined,
      arrivalFrom: connection,
      lastArrival: arrival,
    };
    this.cache.set(key, entry);
    return entry;
  }

  /** Records the statuses' sequence numbers; true when one skipped ahead (updates were missed). */
  private noteSequences(entry: CacheEntry, statuses: readonly PeStatus[]): boolean {
    let gap = false;
    for (const status of statuses) {
      if (entry.lastSequence !== undefined) {
        const expected = (entry.lastSequence + 1) >>> 0;
        if (serialAfter(status.sequence, expected)) gap = true;
        if (!serialAfter(status.sequence, entry.lastSequence)) continue;
      }
      entry.lastSequence = status.sequence;
    }
    return gap;
  }

  private onHandleUpdate(connection: RegistrarConnection, message: AsapHandleResolutionResponse): void {
    const poolHandle = message.poolHandle;
    const key = handleKey(poolHandle);
    // Pushes for pools this user did not subscribe to (another user on a shared link, or forgotten) are not ours.
    if (!this.subscriptions.has(key)) return;
    const receivedAt = this.clock.now();
    const statuses = message.peStatus;
    const unknownPool = (message.error ?? []).some((cause) => cause.code === Cause.unknownPoolHandle);
    if (unknownPool && !message.accepted) {
      // The pool is gone and the registrar ended the subscription.
      this.cache.delete(key);
      this.subscriptions.delete(key);
      this.publishStatuses(poolHandle, statuses, receivedAt);
      this.publishUpdate({ poolHandle, pool: undefined, statuses, source: 'push', gap: false, snapshot: false });
      return;
    }
    let entry: CacheEntry;
    let gap = false;
    if (statuses.length === 0) {
      entry = this.store(poolHandle, message, connection, unknownPool ? [] : message.poolElements);
    } else {
      entry = this.cache.get(key) ?? this.store(poolHandle, message, connection, []);
      gap = this.noteSequences(entry, statuses);
      const takenAway = new Set(statuses.filter((status) => OUT_OF_SERVICE.has(status.status)).map((status) => status.peId));
      let elements: WirePoolElement[];
      if (unknownPool) {
        elements = [];
      } else if (message.poolElements.length > 0) {
        // The registrar's current selection.
        elements = message.poolElements.filter((element) => !takenAway.has(element.id));
      } else {
        elements = this.merged(entry.elements, statuses, takenAway);
      }
      for (const element of elements) entry.reported.delete(element.id);
      // A status push that leaves the list as it was (a load change) does not restart round robin.
      if (!sameOrder(entry.elements, elements)) entry.selection.rrCursor = 0;
      entry.elements = elements;
      if (message.overallPolicy) entry.overallPolicy = message.overallPolicy;
      entry.receivedAt = receivedAt;
      entry.arrivalFrom = connection;
      entry.lastArrival = connection.arrivalOf(message) ?? entry.lastArrival;
      if (message.accepted) entry.subscribedOn = connection;
      if (gap) entry.invalidated = true;
    }
    this.publishStatuses(poolHandle, statuses, receivedAt);
    this.publishUpdate({ poolHandle, pool: this.view(entry), statuses, source: 'push', gap, snapshot: statuses.length === 0 });
    if (gap) void this.resync(poolHandle);
  }

  /** A push with statuses but no Pool Element: the statuses applied to the cached list. */
  private merged(current: readonly WirePoolElement[], statuses: readonly PeStatus[], takenAway: ReadonlySet<number>): WirePoolElement[] {
    const elements = current.filter((element) => !takenAway.has(element.id));
    for (const status of statuses) {
      if (status.status !== PeStatusCode.loadChanged || status.load === undefined) continue;
      const at = elements.findIndex((known) => known.id === status.peId);
      const known = elements[at];
      if (known) elements[at] = { ...known, policy: { ...known.policy, load: status.load } };
    }
    return elements;
  }

  private publishStatuses(poolHandle: Uint8Array, statuses: readonly PeStatus[], receivedAt: number): void {
    const key = handleKey(poolHandle);
    for (const status of statuses) {
      const latency = receivedAt - status.eventTimeMs;
      const event: PeStatusEvent = {
        poolHandle,
        status,
        statusName: (nameOf(PeStatusCode, status.status) as string | undefined) ?? 'unknown',
        reasonName: (nameOf(PeStatusReason, status.reason) as string | undefined) ?? 'unknown',
        receivedAt,
        ...(latency >= 0 && latency <= PE_STATUS_LATENCY_WINDOW_MS ? { latencyMs: latency } : {}),
      };
      // Sessions first: their failover is the point of the push.
      for (const observer of [...this.observers]) if (observer.poolKey === key) observer.onStatus(event);
      this.emit('pe-status', event);
    }
  }

  private publishUpdate(update: PoolUpdate): void {
    const key = handleKey(update.poolHandle);
    for (const observer of [...this.observers]) if (observer.poolKey === key) observer.onUpdate(update);
    this.emit('update', update);
  }

  /** A sequence gap: updates were missed, so the pool is resolved again (with the S flag) in the background. */
  private async resync(poolHandle: Uint8Array): Promise<void> {
    const key = handleKey(poolHandle);
    if (this.resyncing.has(key) || this.closed) return;
    this.resyncing.add(key);
    try {
      const result = await this.resolve(poolHandle, { refresh: true });
      if (this.closed) return;
      if (result.ok) this.publishUpdate({ poolHandle, pool: result.value, statuses: [], source: 'resync', gap: false, snapshot: true });
      else if (result.error.code === 'unknownPoolHandle') this.publishUpdate({ poolHandle, pool: undefined, statuses: [], source: 'resync', gap: false, snapshot: false });
      else this.problem({ kind: 'resync', poolHandle, error: result.error });
    } finally {
      this.resyncing.delete(key);
    }
  }

  /** A resolution without the S flag ends the subscription at the registrar; its answer is not needed. */
  private endSubscription(connection: RegistrarConnection, poolHandle: Uint8Array): void {
    void connection.resolve(poolHandle, { subscribe: false, timeoutMs: this.requestTimeoutMs });
  }

  private async ensureConnection(signal: AbortSignal): Promise<RegistrarConnection | undefined> {
    if (this.closed) return undefined;
    if (this.connection && !this.connection.isClosed) return this.connection;
    const acquired = await this.link.acquire(signal);
    if (!acquired.ok) {
      if (acquired.error.code === 'discovery') this.problem({ kind: 'discovery', message: acquired.error.message });
      return undefined;
    }
    if (this.closed) return undefined;
    if (acquired.value !== this.connection) this.attach(acquired.value);
    return acquired.value;
  }

  private attach(connection: RegistrarConnection): void {
    this.detachConnection?.();
    this.connection = connection;
    const onUpdate = (message: AsapHandleResolutionResponse): void => this.onHandleUpdate(connection, message);
    const onAsapError = (message: { error: readonly ErrorCause[] }): void => this.problem({ kind: 'asapError', registrar: connection.remote, causes: message.error });
    const onProtocolError = (problem: ProtocolProblem): void => this.problem({ kind: 'protocol', registrar: connection.remote, problem });
    const onClose = (info: { message: string }): void => this.lost(connection, info.message);
    connection.on('handleUpdate', onUpdate);
    connection.on('asapError', onAsapError);
    connection.on('protocolError', onProtocolError);
    connection.on('close', onClose);
    this.detachConnection = () => {
      connection.off('handleUpdate', onUpdate);
      connection.off('asapError', onAsapError);
      connection.off('protocolError', onProtocolError);
      connection.off('close', onClose);
    };
  }

  private dropConnection(connection: RegistrarConnection, reason: string): void {
    if (this.connection === connection) this.lost(connection, reason);
    this.link.drop(connection);
  }

  /** The connection is gone: subscribed entries go stale, and subscriptions are re-made elsewhere. */
  private lost(connection: RegistrarConnection, reason: string): void {
    if (this.connection !== connection) return;
    this.detachConnection?.();
    this.detachConnection = undefined;
    this.connection = undefined;
    for (const entry of this.cache.values()) {
      if (entry.subscribedOn === connection) {
        entry.subscribedOn = undefined;
        entry.invalidated = true;
      }
    }
    if (this.closed) return;
    this.emit('registrarLost', { registrar: connection.remote, reason, subscriptions: [...this.subscriptions.values()] });
    if (this.subscriptions.size > 0) void this.resubscribe();
  }

  /** Re-sends S-flag resolutions for every subscribed pool until each succeeds, with back-off. */
  private async resubscribe(): Promise<void> {
    if (this.resubscribing) return;
    this.resubscribing = true;
    try {
      let delay = RESUBSCRIBE_FIRST_DELAY_MS;
      while (!this.closed && this.subscriptions.size > 0) {
        let failed = false;
        for (const [key, poolHandle] of [...this.subscriptions]) {
          const entry = this.cache.get(key);
          if (entry && this.isSubscribed(entry)) continue;
          const result = await this.resolve(poolHandle, { subscribe: true, refresh: true });
          if (this.closed) return;
          if (result.ok) {
            this.publishUpdate({ poolHandle, pool: result.value, statuses: [], source: 'resubscribe', gap: false, snapshot: true });
          } else if (result.error.code === 'unknownPoolHandle') {
            this.publishUpdate({ poolHandle, pool: undefined, statuses: [], source: 'resubscribe', gap: false, snapshot: false });
          } else {
            failed = true;
            this.problem({ kind: 'resubscribe', poolHandle, error: result.error });
          }
        }
        if (!failed) return;
        const outcome = await pause(this.clock, delay, this.lifetime.signal);
        if (outcome === 'aborted') return;
        delay = Math.min(delay * 2, RESUBSCRIBE_MAX_DELAY_MS);
      }
    } finally {
      this.resubscribing = false;
    }
  }

  private problem(problem: PoolUserProblem): void {
    if (this.listenerCount('error') > 0) this.emit('error', problem);
  }
}
