/**
 * A pool element as the handlespace keeps it: the read-only record handed out (ElementRecord) and the
 * internal node that links that record into its pool's selection index, the expiry index and the
 * connection index.
 *
 * Records are plain data with no internal links, so callers may spread, clone, serialize or post them, and
 * an ElementRecord carries every field of a wire PoolElement, so it can be encoded as it is. The handlespace
 * mutates its own record in place (re-registration, admin and health changes, LUD degradation), so one
 * element keeps one record object for its whole life: callers may key maps and sets by it, and a record
 * they hold always shows the element's current state. After removal a record keeps its last values.
 */
import type { Policy, ServerTransport, UserTransport } from '../wire/types.js';
import type { Pool } from './pool.js';

export type AdminState = 'ready' | 'draining' | 'maintenance';
export type Health = 'up' | 'suspect' | 'failed';

export interface StateStamp<S> {
  readonly state: S;
  /** Clock milliseconds when the state was entered. */
  readonly since: number;
  readonly cause: string;
}

export interface ElementRecord {
  /** Latin-1 string of the pool handle bytes: a unique map key, shared by every element of the pool. */
  readonly poolKey: string;
  /** The pool's handle (shared by every element of the pool; never mutated). */
  readonly poolHandle: Uint8Array;
  /** PE identifier. */
  readonly id: number;
  readonly homeServerId: number;
  /** Milliseconds; -1 = infinite. */
  readonly registrationLife: number;
  readonly userTransport: UserTransport;
  /** The element's own policy values (load, weight, ...), as last registered. */
  readonly policy: Policy;
  readonly asapTransport?: ServerTransport;
  /** Registrar session that registered it; undefined if learned from a peer. */
  readonly connectionId: number | undefined;
  readonly admin: StateStamp<AdminState>;
  readonly health: StateStamp<Health>;
  /** First registration (clock ms). */
  readonly registeredAt: number;
  readonly lastRegistrationAt: number;
  /** Infinity for registrationLife -1. */
  readonly expiresAt: number;
  /**
   * Least Used with Degradation counter: reset to 0 on every (re-)registration, +1 each time a resolution
   * returns the element. Counted for LUD pools only (always 0 under the other policies).
   */
  readonly degradation: number;
  /** ASAP_ENDPOINT_UNREACHABLE reports counted so far (kept across re-registrations). */
  readonly unreachableReports: number;
}

/** What a re-registration changed: 'load' alone for a load update, 'policy' for any other policy value. */
export type ChangedField = 'policy' | 'load' | 'transport' | 'lifetime' | 'connection';

export type MutableElementRecord = { -readonly [K in keyof ElementRecord]: ElementRecord[K] };

/**
 * The handlespace's own handle on an element. Each field is owned by one index: `selPos`, `key` and `seq`
 * by the pool's selection index, `expiryPos` by the expiry index, `connPrev`/`connNext` by the connection
 * index. Plain fields, no closures: an element costs two small objects plus what the record points to.
 */
export class ElementNode {
  /** Position in the pool's selection structure (heap slot or array slot); -1 when not in it. */
  selPos = -1;
  /** Selection sort key (smaller first) of the ordered policies; pass value under WRR. */
  key = 0;
  /** Tie-breaker among equal keys: smaller (older) first; renewed to move an element behind its equals. */
  seq = 0;
  /** Position in the expiry heap; -1 when not in it (infinite registration life or removed). */
  expiryPos = -1;
  connPrev: ElementNode | undefined = undefined;
  connNext: ElementNode | undefined = undefined;

  constructor(
    readonly record: MutableElementRecord,
    readonly pool: Pool,
  ) {}
}

/** Draining, maintenance and failed elements are left out of resolutions; suspect ones stay in. */
export function isSelectable(record: ElementRecord): boolean {
  return record.admin.state === 'ready' && record.health.state !== 'failed';
}
