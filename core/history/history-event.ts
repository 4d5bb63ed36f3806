/**
 * What the history records: one plain-data event per thing that happened. Events are cheap to build on
 * the registrar's thread (they point at objects the registrar already has: the element's transport and
 * policy, the PE Status values sent) and are cloned to the writer thread, which turns them into rows.
 */
import type { AdminState, Health } from '../handlespace/element.js';
import type { Json } from '../wire/json.js';
import type { PeStatus, Policy, ServerTransport, UserTransport } from '../wire/types.js';

export type JsonObject = { readonly [key: string]: Json };

/**
 * A pool handle as the handlespace keys it: the handle bytes as a Latin-1 string (ElementRecord.poolKey).
 * Use `poolKeyOf(handle)` for a Uint8Array.
 */
export type PoolKey = string;

export { poolKeyOf } from '../handlespace/handlespace.js';

/** The values a registration carries, stored on the element's row. */
export interface ElementValues {
  readonly homeServerId: number;
  readonly registrationLife: number;
  readonly userTransport: UserTransport;
  readonly asapTransport?: ServerTransport | undefined;
  readonly policy: Policy;
}

interface ElementEventBase {
  /** Milliseconds since the Unix epoch. */
  readonly time: number;
  readonly poolKey: PoolKey;
  readonly peId: number;
  /** Machine-readable why (a removal reason, an operator action, the changed fields). */
  readonly cause: string;
  readonly details?: JsonObject | undefined;
}

/** A new element, or a re-registration that changed a value (cause: the changed fields, comma-separated). */
export interface ElementRegisteredEvent extends ElementEventBase {
  readonly kind: 'registered' | 'reregistered';
  readonly element: ElementValues;
  /**
   * False when only the load (or the connection) changed: the element's row keeps addresses, policy
   * parameters without the load, and registration life, so it is left as it is. Default true.
   */
  readonly valuesChanged?: boolean | undefined;
}

export interface ElementHealthEvent extends ElementEventBase {
  readonly kind: 'health';
  readonly state: Health;
}

export interface ElementAdminEvent extends ElementEventBase {
  readonly kind: 'admin';
  readonly state: AdminState | 'removed';
}

export interface ElementRemovedEvent extends ElementEventBase {
  readonly kind: 'removed';
}

/** A re-registration that changed nothing: only the element's last-seen time moves (no event row). */
export interface ElementSeenEvent {
  readonly kind: 'seen';
  readonly time: number;
  readonly poolKey: PoolKey;
  readonly peId: number;
}

/** One push to one subscribed pool user: a row per PE Status (a snapshot, with none, is one row). */
export interface NotificationEvent {
  readonly kind: 'notification';
  /** When it was handed to the connection. */
  readonly time: number;
  readonly connectionId: number;
  /** The pool user's address, "10.0.0.9:51234" or "[2001:db8::9]:51234". */
  readonly address: string;
  readonly poolKey: PoolKey;
  readonly statuses: readonly PeStatus[];
}

/** A subscribed pool user's connection closed. */
export interface PoolUserClosedEvent {
  readonly kind: 'poolUserClosed';
  readonly time: number;
  readonly connectionId: number;
  readonly address: string;
  readonly reason: string;
}

/** An operator action (written by the console, in the same batch as the change it describes). */
export interface AuditEvent {
  readonly kind: 'audit';
  readonly time: number;
  readonly actor: string;
  readonly role: string;
  readonly action: string;
  /** What the action was aimed at, as an operator reads it ("pool echo / PE 0x1234"). */
  readonly target: string;
  /** When the target is an element (links the row to the pool and element tables). */
  readonly poolKey?: PoolKey | undefined;
  readonly peId?: number | undefined;
  readonly reason: string;
  readonly before?: Json | undefined;
  readonly after?: Json | undefined;
  /** 'ok' or the error code. */
  readonly result: string;
  readonly details?: JsonObject | undefined;
}

/**
 * An element's persisted admin state (DESIGN.md §5, issue 6): draining / maintenance outlive the element's
 * registration and the registrar's run; 'ready' removes the row. Written with the audit row that set it.
 */
export interface AdminStateEvent {
  readonly kind: 'adminState';
  readonly time: number;
  readonly poolKey: PoolKey;
  readonly peId: number;
  readonly state: AdminState;
  readonly reason: string;
  readonly actor: string;
}

/**
 * Something around the registrar beyond its pools: between registrars (core/enrp: a peer up or down, a
 * takeover, a resync) or a component reporting over CSP (core/csp: arrived, departed, workload changed).
 */
export interface DeploymentEvent {
  readonly kind: 'deployment';
  readonly time: number;
  readonly source: 'enrp' | 'csp';
  /** enrp: peerUp, peerDown, takeoverStarted, takeoverCompleted, takeoverAborted, takenOverByPeer, resyncStarted, resyncCompleted, synced; csp: componentArrived, componentDeparted, componentWorkload. */
  readonly event: string;
  /** The peer registrar or the component, `0x` hex. */
  readonly subject?: string | undefined;
  readonly details?: JsonObject | undefined;
}

/** One pool's figures over one interval. */
export interface PoolSample {
  readonly poolKey: PoolKey;
  /** Element counts by state (admin state first: a draining element counts as draining whatever its health). */
  readonly up: number;
  readonly suspect: number;
  readonly failed: number;
  readonly draining: number;
  readonly maintenance: number;
  /** Handle resolutions answered for the pool in the interval; null when nobody counts them. */
  readonly resolutions: number | null;
  /** Notification rows sent for the pool in the interval. */
  readonly notifications: number;
  /** Mean load (0..1) of the elements that report one; null when none does. */
  readonly loadMean: number | null;
}

export interface MetricsEvent {
  readonly kind: 'metrics';
  /** Start of the interval. */
  readonly time: number;
  readonly intervalMs: number;
  readonly pools: readonly PoolSample[];
}

export interface RunStartedEvent {
  readonly kind: 'runStarted';
  readonly time: number;
  readonly serverId: number;
  readonly settings: Json;
  readonly appVersion: string;
}

export interface RunStoppedEvent {
  readonly kind: 'runStopped';
  readonly time: number;
  readonly reason: string;
}

export type ElementEvent = ElementRegisteredEvent | ElementHealthEvent | ElementAdminEvent | ElementRemovedEvent;

export type HistoryEvent =
  | ElementEvent
  | ElementSeenEvent
  | NotificationEvent
  | PoolUserClosedEvent
  | AuditEvent
  | AdminStateEvent
  | DeploymentEvent
  | MetricsEvent
  | RunStartedEvent
  | RunStoppedEvent;

/** The `kind` values of element_events rows (what `--kind` filters besides notification and audit). */
export const ELEMENT_EVENT_KINDS = ['registered', 'reregistered', 'health', 'admin', 'removed'] as const;
