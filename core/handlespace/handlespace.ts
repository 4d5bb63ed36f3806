/**
 * The handlespace: every pool and pool element this registrar knows, the registration rules that guard
 * them (RFC 5352 §3.1 server side) and handle resolution by each pool's policy (RFC 5356). It owns three
 * indexes besides the pools: expiry (elements by when their registration life runs out), connection
 * (elements by the registrar session that registered them) and, per pool, the policy's selection index.
 * It keeps no timers and sends nothing: the registrar asks it and acts on the answers.
 *
 * Records handed out are the handlespace's own objects, updated in place (see element.ts).
 */
import type { Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { Cause, INFINITE_REGISTRATION_LIFE } from '../wire/constants.js';
import type { Policy, PoolElement } from '../wire/types.js';
import { ConnectionIndex } from './connection-index.js';
import {
  ElementNode,
  isSelectable,
  type AdminState,
  type ChangedField,
  type ElementRecord,
  type Health,
  type MutableElementRecord,
  type StateStamp,
} from './element.js';
import { ExpiryIndex } from './expiry-index.js';
import { Pool, type PoolView } from './pool.js';
import {
  changedFields,
  checkPoolConsistency,
  hex32,
  mayRenew,
  poolTraitsOf,
  validateRegistration,
  type RegistrationRejection,
} from './registration-rules.js';

export type { AdminState, ChangedField, ElementRecord, Health, StateStamp } from './element.js';
export type { PoolView } from './pool.js';
export type { RegistrationRejection } from './registration-rules.js';

export type RegistrationOutcome = {
  readonly kind: 'registered' | 'reregistered';
  /** The handlespace's record of the element (the same object for the element's whole life). */
  readonly element: ElementRecord;
  /** Empty for 'registered'. */
  readonly changed: readonly ChangedField[];
};

export interface HandlespaceLimits {
  readonly maxPools: number;
  readonly maxElementsPerPool: number;
}

export const DEFAULT_HANDLESPACE_LIMITS: HandlespaceLimits = Object.freeze({ maxPools: 10_000, maxElementsPerPool: 100_000 });

const NOTHING_CHANGED: readonly ChangedField[] = Object.freeze([]);

/** Latin-1 text of the handle bytes: one char per byte, so distinct handles give distinct keys. */
export function poolKeyOf(handle: Uint8Array): string {
  let key = '';
  for (let i = 0; i < handle.length; i++) key += String.fromCharCode(handle[i] as number);
  return key;
}

export class Handlespace {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #random: () => number;
  readonly #limits: HandlespaceLimits;
  readonly #pools = new Map<string, Pool>();
  readonly #expiry = new ExpiryIndex();
  readonly #connections = new ConnectionIndex();
  /** `{ type }` per policy type, shared by every pool of that type. */
  readonly #overallPolicies = new Map<number, Policy>();
  #elementCount = 0;
  /** Stamps of elements registered at the same clock millisecond are shared (they are immutable). */
  #initialStamps: { readonly at: number; readonly admin: StateStamp<AdminState>; readonly health: StateStamp<Health> } | undefined;

  constructor(options: { clock: Pick<Clock, 'now'>; random?: () => number; limits?: Partial<HandlespaceLimits> }) {
    this.#clock = options.clock;
    this.#random = options.random ?? Math.random;
    this.#limits = Object.freeze({ ...DEFAULT_HANDLESPACE_LIMITS, ...options.limits });
  }

  get limits(): HandlespaceLimits {
    return this.#limits;
  }

  get poolCount(): number {
    return this.#pools.size;
  }

  get elementCount(): number {
    return this.#elementCount;
  }

  /**
   * Registers a new element or renews an existing one (same PE identifier in the same pool). Rejections,
   * checked in this order: 0x3 invalid values (registration life 0, unsupported policy, ...), 0x5 / 0x7 /
   * 0x8 inconsistent with the pool, 0x4 the identifier belongs to an element of another connection, 0x6 a
   * limit reached. A renewal updates policy values, transports, registration life, expiry and home server
   * in place, resets the LUD degradation counter and keeps admin state, health and unreachable reports.
   */
  register(handle: Uint8Array, pe: PoolElement, connectionId: number | undefined, homeServerId: number): Result<RegistrationOutcome, RegistrationRejection> {
    const invalid = validateRegistration(handle, pe);
    if (invalid) return err(invalid);
    const key = poolKeyOf(handle);
    let pool = this.#pools.get(key);
    if (pool) {
      const inconsistent = checkPoolConsistency(pool, pe);
      if (inconsistent) return err(inconsistent);
      const existing = pool.member(pe.id);
      if (existing) return this.#renew(existing, pe, connectionId, homeServerId);
      if (pool.size >= this.#limits.maxElementsPerPool) {
        return err({ cause: Cause.lackOfResources, reason: `pool already holds ${pool.size} elements (limit ${this.#limits.maxElementsPerPool})` });
      }
    } else {
      if (this.#pools.size >= this.#limits.maxPools) {
        return err({ cause: Cause.lackOfResources, reason: `the handlespace already holds ${this.#pools.size} pools (limit ${this.#limits.maxPools})` });
      }
      pool = new Pool(key, handle.slice(), poolTraitsOf(pe, this.#overallPolicyOf(pe.policy.type)), this.#random);
      this.#pools.set(key, pool);
    }

    const now = this.#clock.now();
    const stamps = this.#stampsAt(now);
    const record: MutableElementRecord = {
      poolKey: pool.key,
      poolHandle: pool.handle,
      id: pe.id,
      homeServerId,
      registrationLife: pe.registrationLife,
      userTransport: pe.userTransport,
      policy: pe.policy,
      asapTransport: pe.asapTransport,
      connectionId,
      admin: stamps.admin,
      health: stamps.health,
      registeredAt: now,
      lastRegistrationAt: now,
      expiresAt: expiryOf(now, pe.registrationLife),
      degradation: 0,
      unreachableReports: 0,
    };
    const node = new ElementNode(record, pool);
    pool.add(node);
    this.#expiry.track(node);
    this.#connections.add(node);
    this.#elementCount++;
    return ok({ kind: 'registered', element: record, changed: NOTHING_CHANGED });
  }

  #renew(node: ElementNode, pe: PoolElement, connectionId: number | undefined, homeServerId: number): Result<RegistrationOutcome, RegistrationRejection> {
    const record = node.record;
    if (!mayRenew(record.connectionId, connectionId)) {
      const owner = record.connectionId === undefined ? 'a peer registrar' : `connection ${record.connectionId}`;
      return err({ cause: Cause.nonUniquePeIdentifier, reason: `PE identifier ${hex32(pe.id)} is already registered in this pool by ${owner}` });
    }
    const changed = changedFields(record, pe, connectionId, homeServerId);
    const rekey = changed.includes('load') || changed.includes('policy') || record.degradation !== 0;
    if (record.connectionId !== connectionId) {
      this.#connections.remove(node);
      record.connectionId = connectionId;
      this.#connections.add(node);
    }
    const now = this.#clock.now();
    record.homeServerId = homeServerId;
    record.registrationLife = pe.registrationLife;
    record.userTransport = pe.userTransport;
    record.policy = pe.policy;
    record.asapTransport = pe.asapTransport;
    record.lastRegistrationAt = now;
    record.expiresAt = expiryOf(now, pe.registrationLife);
    record.degradation = 0;
    if (rekey) node.pool.policyValuesChanged(node);
    this.#expiry.track(node);
    return ok({ kind: 'reregistered', element: record, changed });
  }

  /** Removes the element (and its pool when it was the last one). Unknown: undefined (a success for the caller). */
  deregister(handle: Uint8Array, peId: number): ElementRecord | undefined {
    const node = this.#node(handle, peId);
    if (!node) return undefined;
    this.#remove(node);
    return node.record;
  }

  /**
   * At most `items` distinct selectable elements in the pool's policy order, and the overall policy
   * `{ type }`. `items` is expected in 1..128 (the caller clamps); below 1 gives an empty list. A pool
   * whose elements are all draining, in maintenance or failed gives an empty list too.
   */
  resolve(handle: Uint8Array, items: number): Result<{ readonly overallPolicy: Policy; readonly elements: readonly ElementRecord[] }, 'unknownPool'> {
    const pool = this.#pools.get(poolKeyOf(handle));
    if (!pool) return err('unknownPool');
    return ok({ overallPolicy: pool.overallPolicy, elements: pool.resolve(items) });
  }

  element(handle: Uint8Array, peId: number): ElementRecord | undefined {
    return this.#node(handle, peId)?.record;
  }

  pool(handle: Uint8Array): PoolView | undefined {
    return this.#pools.get(poolKeyOf(handle));
  }

  /** Live and re-iterable: each `for ... of` walks the current pools. */
  pools(): Iterable<PoolView> {
    const pools = this.#pools;
    return { [Symbol.iterator]: (): Iterator<PoolView> => pools.values() };
  }

  /** A fresh array (safe to deregister while walking it). */
  elementsOfConnection(connectionId: number): ElementRecord[] {
    return this.#connections.elementsOf(connectionId);
  }

  /** Sets the admin state (a new stamp only when the state changes); draining and maintenance leave resolutions. */
  setAdminState(handle: Uint8Array, peId: number, state: AdminState, cause: string): ElementRecord | undefined {
    const node = this.#node(handle, peId);
    if (!node) return undefined;
    const record = node.record;
    if (record.admin.state !== state) {
      const wasSelectable = isSelectable(record);
      record.admin = { state, since: this.#clock.now(), cause };
      node.pool.selectabilityChanged(node, wasSelectable);
    }
    return record;
  }

  /** Sets the health (a new stamp only when it changes); failed leaves resolutions, suspect stays in. */
  setHealth(handle: Uint8Array, peId: number, health: Health, cause: string): ElementRecord | undefined {
    const node = this.#node(handle, peId);
    if (!node) return undefined;
    const record = node.record;
    if (record.health.state !== health) {
      const wasSelectable = isSelectable(record);
      record.health = { state: health, since: this.#clock.now(), cause };
      node.pool.selectabilityChanged(node, wasSelectable);
    }
    return record;
  }

  /** Counts one more unreachable report; returns the new count (undefined for an unknown element). */
  countUnreachableReport(handle: Uint8Array, peId: number): number | undefined {
    const node = this.#node(handle, peId);
    if (!node) return undefined;
    return ++node.record.unreachableReports;
  }

  /** The earliest expiresAt among elements; undefined when none expires (none, or all infinite). */
  nextExpiry(): number | undefined {
    return this.#expiry.first()?.record.expiresAt;
  }

  /** Removes and returns every element with expiresAt <= now, earliest first. */
  expire(now: number): ElementRecord[] {
    const removed: ElementRecord[] = [];
    for (let node = this.#expiry.first(); node && node.record.expiresAt <= now; node = this.#expiry.first()) {
      this.#remove(node);
      removed.push(node.record);
    }
    return removed;
  }

  #node(handle: Uint8Array, peId: number): ElementNode | undefined {
    return this.#pools.get(poolKeyOf(handle))?.member(peId);
  }

  #remove(node: ElementNode): void {
    const pool = node.pool;
    pool.remove(node);
    this.#expiry.untrack(node);
    this.#connections.remove(node);
    this.#elementCount--;
    if (pool.size === 0) this.#pools.delete(pool.key);
  }

  #overallPolicyOf(type: number): Policy {
    let policy = this.#overallPolicies.get(type);
    if (!policy) {
      policy = Object.freeze({ type });
      this.#overallPolicies.set(type, policy);
    }
    return policy;
  }

  #stampsAt(now: number): { readonly admin: StateStamp<AdminState>; readonly health: StateStamp<Health> } {
    let stamps = this.#initialStamps;
    if (stamps === undefined || stamps.at !== now) {
      stamps = {
        at: now,
        admin: Object.freeze({ state: 'ready', since: now, cause: 'registered' }),
        health: Object.freeze({ state: 'up', since: now, cause: 'registered' }),
      };
      this.#initialStamps = stamps;
    }
    return stamps;
  }
}

function expiryOf(now: number, registrationLife: number): number {
  return registrationLife === INFINITE_REGISTRATION_LIFE ? Infinity : now + registrationLife;
}
