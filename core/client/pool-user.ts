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
 * Pushed updates: an unsolicited ASAP_HANDLE_RESOLUTION_RESPONSE for a pool. Without PE Status parameters
 * it is a plain RFC 5352 answer and replaces the cached list; with them (our extension, docs/protocol.md)
 * the elements it carries are added or replaced and each element whose status takes it out of service
 * (draining, maintenance, unreachable, failed, deregistered) is removed. A gap in the per-pool sequence
 * numbers marks the entry stale, so the next resolve() asks again. An Operation Error "Unknown Pool
 * Handle" removes the pool. When the connection drops, subscriptions are re-established on the next
 * registrar (RFC 5352 §2.2.5: registrars do not share subscription state).
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { Cause } from '../wire/constants.js';
import { PolicyType } from '../wire/policy.js';
import { PeStatusCode, type AsapHandleResolutionResponse, type ErrorCause, type PeStatus, type Policy, type PoolElement as WirePoolElement } from '../wire/types.js';
import { deadline, pause } from './clock-signals.js';
import { businessCardOf, encodeCookieEcho, parseControlMessage, type BusinessCard, type ControlMessage, type ControlMessageError } from './control-channel.js';
import { selectElement, type RandomSource, type SelectionState } from './element-selection.js';
import { handleKey, toPoolHandle, type PoolHandleInput } from './pool-handle.js';
import type { AnnounceListenOptions, HuntOptions, RegistrarDiscovery } from './registrar-discovery.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, type ProtocolProblem, type RegistrarAddress, type RegistrarConnection } from './registrar-connection.js';
import { RegistrarLink } from './registrar-link.js';

export const DEFAULT_STALE_CACHE_MS = 5000;
export const DEFAULT_MAX_REQUEST_RETRANSMIT = 2;
export const DEFAULT_RESOLVE_TIMEOUT_MS = 10_000;
const RESUBSCRIBE_FIRST_DELAY_MS = 500;
const RESUBSCRIBE_MAX_DELAY_MS = 60_000;

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
  /** S flag: ask the registrar to push updates for this pool. */
  readonly subscribe?: boolean;
  /** Ask even if the cache is fresh. */
  readonly refresh?: boolean;
}

export interface ResolvedPool {
  readonly poolHandle: Uint8Array;
  /** The pool's policy; round robin when the registrar sent none (RFC 5352 §2.2.6). */
  readonly overallPolicy: Policy;
  /** Wire Pool Element parameters, in the registrar's order, minus those reported unreachable. */
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

export type ReportError =
  | { readonly code: 'unknownElement'; readonly message: string }
  | { readonly code: 'timeout' | 'aborted' | 'closed'; readonly message: string };

export interface PoolUpdate {
  readonly poolHandle: Uint8Array;
  /** The pool as cached after the update; undefined when the registrar says the pool is gone. */
  readonly pool: ResolvedPool | undefined;
  /** PE Status parameters the update carried (our extension). */
  readonly statuses: readonly PeStatus[];
  /** push: the registrar's unsolicited update; resubscribe: the answer after re-subscribing on a new connection. */
  readonly source: 'push' | 'resubscribe';
  /** A gap in the per-pool sequence numbers: updates were missed; the entry is marked stale. */
  readonly gap: boolean;
}

export type PoolUserProblem =
  | { readonly kind: 'protocol'; readonly registrar: RegistrarAddress; readonly problem: ProtocolProblem }
  | { readonly kind: 'asapError'; readonly registrar: RegistrarAddress; readonly causes: readonly ErrorCause[] }
  | { readonly kind: 'resubscribe'; readonly poolHandle: Uint8Array; readonly error: ResolveError }
  | { readonly kind: 'discovery'; readonly message: string };

export interface PoolUserEvents {
  update: [update: PoolUpdate];
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
  lastSequence: number | undefined;
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

/** RFC 1982 serial-number comparison for 32-bit sequence numbers: is a after b? */
function serialAfter(a: number, b: number): boolean {
  const diff = (a - b) >>> 0;
  return diff !== 0 && diff < 0x80000000;
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
  private readonly subscriptions = new Map<string, Uint8Array>();
  private readonly cookies = new Map<number, StoredCookie>();
  private latestCookie: StoredCookie | undefined;
  private readonly businessCards = new Map<string, BusinessCard>();
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
   * value `unknownPoolHandle` (cause 0x9); other Operation Errors are `operationError`.
   */
  async resolve(handle: PoolHandleInput, options: ResolveOptions = {}): Promise<Result<ResolvedPool, ResolveError>> {
    if (this.closed) return err({ code: 'closed', message: 'the pool user is closed' });
    const poolHandle = toPoolHandle(handle);
    const key = handleKey(poolHandle);
    const cached = this.cache.get(key);
    if (cached && !options.refresh && this.isFresh(cached) && (!options.subscribe || this.isSubscribed(cached))) return ok(this.view(cached));

    const limit = deadline(this.clock, this.resolveTimeoutMs, options.signal);
    try {
      const outcome = await this.request(poolHandle, options, limit.signal);
      if (outcome.ok) return this.accept(poolHandle, outcome.value, options.subscribe ?? false);
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
   * first; select() never sends anything. `exclude` leaves out elements the caller already tried.
   */
  select(handle: PoolHandleInput, options: { readonly exclude?: Iterable<number> } = {}): Result<WirePoolElement, SelectError> {
    const entry = this.cache.get(handleKey(toPoolHandle(handle)));
    if (!entry) return err({ code: 'notCached', message: 'pool not in the cache: resolve it first' });
    const excluded = new Set(options.exclude ?? []);
    const candidates = excluded.size === 0 ? entry.elements : entry.elements.filter((element) => !excluded.has(element.id));
    const chosen = selectElement(entry.overallPolicy, candidates, entry.selection, this.random);
    return chosen ? ok(chosen) : err({ code: 'noElements', message: 'no element left to select in the cached pool' });
  }

  /**
   * Reports an element the user tried and could not reach (ASAP_ENDPOINT_UNREACHABLE, RFC 5352 §3.5) and
   * drops it from the cache. At most once per failure event: a second call before the registrar lists the
   * element again sends nothing and answers 'alreadyReported'. Only elements the user learned from this
   * cache or a business card can be reported (it must actually have tried them).
   */
  async reportUnreachable(handle: PoolHandleInput, peId: number, options: { readonly signal?: AbortSignal } = {}): Promise<Result<'sent' | 'alreadyReported', ReportError>> {
    if (this.closed) return err({ code: 'closed', message: 'the pool user is closed' });
    const poolHandle = toPoolHandle(handle);
    const key = handleKey(poolHandle);
    const entry = this.cache.get(key);
    if (entry?.reported.has(peId)) return ok('alreadyReported');
    const known = entry?.elements.some((element) => element.id === peId) || this.businessCards.get(key)?.failoverOrder.some((element) => element.id === peId);
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

  /** Forgets a cached pool (and its subscription bookkeeping). */
  forget(handle: PoolHandleInput): void {
    const key = handleKey(toPoolHandle(handle));
    this.cache.delete(key);
    this.subscriptions.delete(key);
  }

  /** Closes the registrar connection (and the discovery, if the user made it). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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
    if (causes.length > 0) {
      if (causes.some((cause) => cause.code === Cause.unknownPoolHandle)) {
        this.cache.delete(key);
        this.subscriptions.delete(key);
        return err({ code: 'unknownPoolHandle', cause: Cause.unknownPoolHandle, causes, message: 'the registrar does not know this pool handle (cause 0x9)' });
      }
      const cause = causes[0]?.code ?? Cause.unspecifiedError;
      return err({ code: 'operationError', cause, causes, message: `the registrar answered with an Operation Error (${describeCauses(causes)})` });
    }
    const entry = this.store(poolHandle, response, subscribe && response.accepted ? connection : undefined);
    if (subscribe) {
      if (response.accepted) this.subscriptions.set(key, poolHandle);
      else this.subscriptions.delete(key);
    }
    return ok(this.view(entry));
  }

  /** A full answer: replaces the cached list (RR restarts from the beginning, RFC 5356 §4.1). */
  private store(poolHandle: Uint8Array, response: AsapHandleResolutionResponse, subscribedOn: RegistrarConnection | undefined): CacheEntry {
    const key = handleKey(poolHandle);
    const previous = this.cache.get(key);
    const reported = new Set(previous?.reported ?? []);
    for (const element of response.poolElements) reported.delete(element.id);
    const entry: CacheEntry = {
      poolHandle,
      overallPolicy: response.overallPolicy ?? ROUND_ROBIN,
      elements: [...response.poolElements],
      receivedAt: this.clock.now(),
      invalidated: false,
      subscribedOn: subscribedOn ?? (previous && this.isSubscribed(previous) ? previous.subscribedOn : undefined),
      selection: { rrCursor: 0 },
      reported,
      lastSequence: previous?.lastSequence,
    };
    this.noteSequences(entry, response.peStatus);
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
    const key = handleKey(message.poolHandle);
    const causes = message.error ?? [];
    if (causes.some((cause) => cause.code === Cause.unknownPoolHandle)) {
      this.cache.delete(key);
      this.subscriptions.delete(key);
      this.emit('update', { poolHandle: message.poolHandle, pool: undefined, statuses: message.peStatus, source: 'push', gap: false });
      return;
    }
    const entry = this.cache.get(key);
    let gap = false;
    let updated: CacheEntry;
    if (!entry || message.peStatus.length === 0) {
      updated = this.store(message.poolHandle, message, message.accepted ? connection : undefined);
    } else {
      gap = this.noteSequences(entry, message.peStatus);
      const elements = [...entry.elements];
      for (const element of message.poolElements) {
        entry.reported.delete(element.id);
        const at = elements.findIndex((known) => known.id === element.id);
        if (at >= 0) elements[at] = element;
        else elements.push(element);
      }
      for (const status of message.peStatus) {
        if (OUT_OF_SERVICE.has(status.status)) {
          const at = elements.findIndex((known) => known.id === status.peId);
          if (at >= 0) elements.splice(at, 1);
        } else if (status.status === PeStatusCode.loadChanged && status.load !== undefined) {
          const at = elements.findIndex((known) => known.id === status.peId);
          const known = elements[at];
          if (known && !message.poolElements.some((element) => element.id === status.peId)) {
            elements[at] = { ...known, policy: { ...known.policy, load: status.load } };
          }
        }
      }
      entry.elements = elements;
      if (message.overallPolicy) entry.overallPolicy = message.overallPolicy;
      entry.receivedAt = this.clock.now();
      if (message.accepted) entry.subscribedOn = connection;
      updated = entry;
    }
    if (gap) updated.invalidated = true;
    this.emit('update', { poolHandle: message.poolHandle, pool: this.view(updated), statuses: message.peStatus, source: 'push', gap });
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
            this.emit('update', { poolHandle, pool: result.value, statuses: [], source: 'resubscribe', gap: false });
          } else if (result.error.code === 'unknownPoolHandle') {
            this.emit('update', { poolHandle, pool: undefined, statuses: [], source: 'resubscribe', gap: false });
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
