/**
 * The ConsoleApi contract (DESIGN.md §5): the one interface the renderer talks to, whatever carries it
 * (the Electron preload bridge or the LAN server's HTTP + WebSocket). Types only, plain JSON data: the
 * renderer imports this file and nothing else from core/.
 *
 * Conventions: times are milliseconds since the Unix epoch (UTC); pool names are the operator-readable
 * form (UTF-8 text when printable, else `0x` hex); element ids are numbers (32-bit) with a `0x` hex twin for
 * display. Every call answers a ConsoleResult: errors are values with a stable code.
 */

export type ConsoleErrorCode =
  /** The request is malformed or a value is out of range (details name the field). */
  | 'badRequest'
  /** No valid token (LAN server). */
  | 'unauthorized'
  /** A viewer asked for an operator command. */
  | 'forbidden'
  /** No such pool / element / route. */
  | 'notFound'
  /** The command would take the last ready element of its pool out; repeat with force: true. */
  | 'lastReadyElement'
  /** The command does not apply to the element's current state (e.g. ready on a ready element). */
  | 'conflict'
  | 'rateLimited'
  | 'tooLarge'
  /** The history is not available (serve without a database) or could not store the audit row. */
  | 'unavailable'
  | 'internal';

export interface ConsoleError {
  readonly code: ConsoleErrorCode;
  readonly message: string;
  /** For badRequest: the offending field. */
  readonly field?: string;
}

export type ConsoleResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ConsoleError };

export type Role = 'viewer' | 'operator';

export interface Identity {
  /** Who acts, as the audit shows it: "local operator", "token 3 (ops laptop)", "electron". */
  readonly actor: string;
  readonly role: Role;
}

// ---- snapshot -----------------------------------------------------------------------------------------

export type AdminStateName = 'ready' | 'draining' | 'maintenance';
export type HealthName = 'up' | 'suspect' | 'failed';

export interface StateView<S extends string> {
  readonly state: S;
  readonly since: number;
  /** Why it entered the state (an operator's reason, a removal cause, a probe result). */
  readonly cause: string;
}

export interface RegistrarInfo {
  /** The ConsoleApi version this server speaks (API_VERSION); a client refuses commands to another major. */
  readonly apiVersion: number;
  /** Registrar identifier, `0x` hex. */
  readonly serverId: string;
  /** Where ASAP listens, "HOST:PORT". */
  readonly asap: string;
  readonly startedAt: number;
  /** The server's clock when the snapshot was taken (uptime = now - startedAt). */
  readonly now: number;
  readonly version: string;
  /** Effective settings, as `handlespace serve` prints them. */
  readonly settings: Readonly<Record<string, string | number | boolean>>;
  /** Whether a history database records events (history, metrics, export and commands need one). */
  readonly history: { readonly file: string; readonly temporary: boolean } | null;
}

/** A pending "maintenance after drain": the element enters maintenance at zero load or at the deadline. */
export interface PendingMaintenance {
  readonly deadline: number;
  readonly reason: string;
  readonly actor: string;
}

export interface ElementView {
  readonly pool: string;
  readonly peId: number;
  /** `0x` hex of peId. */
  readonly peIdHex: string;
  /** Service addresses, "HOST:PORT" (IPv6 in brackets). */
  readonly addresses: readonly string[];
  /** 'tcp' | 'udp' | 'sctp' | 'dccp' | 'udpLite' | 'opaque'. */
  readonly transport: string;
  readonly admin: StateView<AdminStateName>;
  readonly health: StateView<HealthName>;
  /** 0..1 when the policy carries a load, else null. */
  readonly load: number | null;
  /** The policy's name as RFC 5356 spells it ("Round Robin", "Least Used", ...). */
  readonly policy: string;
  /** The element's policy values (weight, priority, load degradation, ...), by field name. */
  readonly policyValues: Readonly<Record<string, number>>;
  /** ms; -1 = infinite. */
  readonly registrationLifeMs: number;
  readonly registeredAt: number;
  readonly lastRegistrationAt: number;
  /** Last keep-alive acknowledgement (or registration) heard from the element. */
  readonly lastHeardAt: number;
  /** Home registrar, `0x` hex. */
  readonly homeServerId: string;
  /** The element's ASAP connection, "HOST:PORT"; null if learned from a peer. */
  readonly asapAddress: string | null;
  readonly unreachableReports: number;
  readonly pendingMaintenance: PendingMaintenance | null;
}

export interface PoolCounts {
  readonly ready: number;
  readonly draining: number;
  readonly maintenance: number;
  /** Health failed or suspect while admin-ready. */
  readonly failed: number;
  readonly suspect: number;
  readonly total: number;
}

export interface PoolView {
  readonly name: string;
  /** `0x` hex of the handle bytes. */
  readonly handleHex: string;
  readonly policy: string;
  readonly counts: PoolCounts;
  /** Pool users subscribed to the pool's notifications. */
  readonly subscribers: number;
  /** Status notifications (PE Status rows) sent for the pool in the last 60 s. */
  readonly notificationsLastMinute: number;
  readonly elements: readonly ElementView[];
}

export interface PoolUserView {
  readonly connectionId: number;
  readonly address: string;
  readonly connectedAt: number;
  /** Pool names it is subscribed to. */
  readonly subscriptions: readonly string[];
  readonly notificationsSent: number;
}

/** One registrar of the ENRP deployment (the Registrars view); this registrar comes first. */
export interface RegistrarPeerView {
  /** `0x` hex; `0x00000000` while a configured peer has not answered yet. */
  readonly serverId: string;
  /** Its ENRP address "HOST:PORT", when known. */
  readonly address: string | null;
  /** self: this registrar; mentor: the peer it downloaded the handlespace from at start-up. */
  readonly role: 'self' | 'mentor' | 'peer';
  /** self: starting | serving; peers: connecting | active | probing | takingOver | down. */
  readonly state: string;
  readonly configured: boolean;
  readonly connected: boolean;
  readonly lastHeardAt: number | null;
  readonly checksum: { readonly reported: string | null; readonly computed: string; readonly state: 'agree' | 'mismatch' | 'unknown' | 'resyncing' };
  /** Elements whose home it is. */
  readonly elementsOwned: number;
  readonly takenOverBy: string | null;
  readonly takeoverOutstandingAcks: number | null;
}

/**
 * A registrar heard on the LAN through its ASAP_SERVER_ANNOUNCE (multicast). A handlespace registrar's
 * announce carries the Console Endpoint extension parameter (docs/protocol.md): where its console listens
 * and its TLS certificate's fingerprint, so it can be attached with one click and a token. Others (RSPLIB)
 * are listed but cannot be attached.
 */
export interface HeardRegistrarView {
  /** `0x` hex. */
  readonly serverId: string;
  /** ASAP transport addresses it announced, "HOST:PORT". */
  readonly asap: readonly string[];
  /** Where the announce came from, "HOST:PORT". */
  readonly source: string;
  readonly firstHeardAt: number;
  readonly lastHeardAt: number;
  readonly announces: number;
  /** The console to attach to; null for a registrar without one (RSPLIB, or serve --http off). */
  readonly console: { readonly url: string; readonly tlsFingerprint: string | null } | null;
  /** True for this server's own registrar. */
  readonly self: boolean;
}

export interface Snapshot {
  /** The event sequence the snapshot includes: subscribe with `since` = this to get what follows. */
  readonly sequence: number;
  readonly registrar: RegistrarInfo;
  readonly pools: readonly PoolView[];
  readonly poolUsers: readonly PoolUserView[];
  /** The ENRP deployment, this registrar first; empty when ENRP is off. */
  readonly registrars: readonly RegistrarPeerView[];
}

// ---- components reporting over RSPLIB's Component Status Protocol (serve --csp) -----------------------

export type ComponentRoleName = 'registrar' | 'poolElement' | 'poolUser' | 'unknown';

export interface ComponentAssociationView {
  /** The peer's component id, `0x` and 16 hex digits. */
  readonly peerId: string;
  readonly peerRole: ComponentRoleName;
  /** "TCP", "UDP", "SCTP" or the IPPROTO number in hex. */
  readonly protocol: string;
  readonly protocolNumber: number;
  /** "ASAP", "ENRP", "Data" or null for another PPID. */
  readonly ppidName: string | null;
  readonly ppid: number;
  /** Null when the sender does not know. */
  readonly durationMs: number | null;
  readonly flags: number;
}

/** What our own registrar knows about a component with the same id. */
export type OwnView = { readonly kind: 'thisRegistrar' } | { readonly kind: 'registeredElement'; readonly pools: readonly string[] };

export interface ComponentView {
  /** The full component id, `0x` and 16 hex digits (role group in the top byte). */
  readonly id: string;
  readonly role: ComponentRoleName;
  readonly group: number;
  /** The id within the role, `0x` hex. */
  readonly objectId: string;
  readonly location: string;
  readonly status: string;
  /** 0..1, null when unknown. */
  readonly workload: number | null;
  readonly uptimeMs: number;
  readonly reportIntervalMs: number;
  readonly firstReportAt: number;
  readonly lastReportAt: number;
  readonly lastReportAgeMs: number;
  /** Milliseconds until it is purged unless it reports again. */
  readonly purgeInMs: number;
  readonly reports: number;
  /** Where its last report came from, `addr:port`. */
  readonly source: string;
  readonly associations: readonly ComponentAssociationView[];
  readonly own: OwnView | null;
}

export interface ComponentCounters {
  readonly datagrams: number;
  readonly reports: number;
  readonly finalReports: number;
  readonly finalUnknown: number;
  readonly arrivals: number;
  readonly departures: { readonly final: number; readonly silent: number };
  /** Rejected datagrams by reason (truncated, type, version, length, ..., tableFull). */
  readonly rejected: Readonly<Record<string, number>>;
}

export interface ComponentsSnapshot {
  readonly components: readonly ComponentView[];
  readonly counts: { readonly registrars: number; readonly poolElements: number; readonly poolUsers: number; readonly other: number };
  readonly counters: ComponentCounters;
}

// ---- live events --------------------------------------------------------------------------------------

export interface PeStatusView {
  readonly peId: number;
  /** 'up' | 'draining' | 'maintenance' | 'failed' | 'unreachable' | 'deregistered' | 'loadChanged' | ... */
  readonly status: string;
  readonly reason: string;
  readonly sequence: number;
  readonly replacementPeId: number | null;
  readonly reasonText: string | null;
}

export interface AuditView {
  readonly time: number;
  readonly actor: string;
  readonly role: string;
  readonly action: string;
  readonly target: string;
  readonly reason: string;
  readonly before: string | null;
  readonly after: string | null;
  /** 'ok' or an error code. */
  readonly result: string;
}

interface EventBase {
  /** Strictly increasing, no gaps, per server run (a new run starts a new `epoch`). */
  readonly seq: number;
  readonly time: number;
}

export type ConsoleEvent =
  | (EventBase & { readonly type: 'elementUpdated'; readonly change: 'registered' | 'reregistered' | 'health' | 'admin' | 'load'; readonly element: ElementView })
  | (EventBase & { readonly type: 'elementRemoved'; readonly pool: string; readonly peId: number; readonly reason: string; readonly detail: string })
  | (EventBase & {
      readonly type: 'notification';
      readonly pool: string;
      readonly puConnection: number;
      readonly puAddress: string;
      /** Empty for a snapshot push (the PU replaces its list). */
      readonly statuses: readonly PeStatusView[];
    })
  | (EventBase & { readonly type: 'poolUserUpdated'; readonly poolUser: PoolUserView })
  | (EventBase & { readonly type: 'poolUserClosed'; readonly connectionId: number; readonly reason: string })
  | (EventBase & { readonly type: 'audit'; readonly entry: AuditView })
  /** A peer registrar came, went, was taken over or resynchronised: the whole table, and what happened. */
  | (EventBase & { readonly type: 'registrarsChanged'; readonly what: string; readonly registrars: readonly RegistrarPeerView[] })
  /** A CSP component arrived, reported again, or departed (reason 'final' or 'silent'). */
  | (EventBase & { readonly type: 'componentChanged'; readonly change: 'arrived' | 'updated' | 'departed'; readonly reason: string | null; readonly component: ComponentView });

export type ConsoleEventType = ConsoleEvent['type'];

/**
 * What a subscriber receives. `events` continue from the `since` it asked for without gaps or repeats;
 * when the server no longer holds every event after `since` (or `since` belongs to another run, see
 * `epoch`), it sends `resync` with a fresh snapshot instead and continues from the snapshot's sequence.
 */
export type EventStreamMessage =
  | { readonly kind: 'hello'; readonly epoch: string; readonly identity: Identity; readonly sequence: number }
  | { readonly kind: 'events'; readonly events: readonly ConsoleEvent[] }
  | { readonly kind: 'resync'; readonly snapshot: Snapshot };

export interface StreamPosition {
  /** The run the sequence belongs to (from `hello`); a different epoch means resync. */
  readonly epoch: string;
  readonly sequence: number;
}

// ---- history ------------------------------------------------------------------------------------------

/** deployment: ENRP peer and takeover events, CSP component arrivals, departures and workload. */
export type HistoryKindName = 'registered' | 'reregistered' | 'health' | 'admin' | 'removed' | 'notification' | 'audit' | 'deployment';

export interface HistoryQuery {
  readonly from?: number;
  readonly to?: number;
  readonly pool?: string;
  readonly peId?: number;
  readonly kinds?: readonly HistoryKindName[];
  readonly cursor?: string;
  /** 1..1000, default 100. */
  readonly limit?: number;
}

export interface HistoryRowView {
  readonly time: number;
  readonly kind: string;
  readonly pool: string | null;
  readonly peId: number | null;
  readonly state: string | null;
  readonly cause: string | null;
  readonly details: string | null;
  readonly puAddress: string | null;
  readonly puConnection: number | null;
  readonly sequence: number | null;
  readonly actor: string | null;
  readonly role: string | null;
  readonly action: string | null;
  readonly target: string | null;
  readonly reason: string | null;
  readonly before: string | null;
  readonly after: string | null;
  readonly result: string | null;
}

export interface HistoryPageView {
  readonly rows: readonly HistoryRowView[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly next: string | null;
}

export interface MetricQuery {
  readonly pool: string;
  readonly from: number;
  readonly to: number;
  /** 1000, 60000 or 3600000; default: chosen from the range. */
  readonly intervalMs?: number;
}

export interface MetricPointView {
  readonly time: number;
  readonly up: number;
  readonly suspect: number;
  readonly failed: number;
  readonly draining: number;
  readonly maintenance: number;
  readonly resolutions: number | null;
  readonly notifications: number;
  readonly loadMean: number | null;
}

export interface MetricSeriesView {
  readonly pool: string;
  readonly intervalMs: number;
  readonly points: readonly MetricPointView[];
}

export type ExportFormatName = 'csv' | 'jsonl';

export interface ExportQuery {
  readonly format: ExportFormatName;
  readonly from?: number;
  readonly to?: number;
  readonly pool?: string;
  readonly peId?: number;
  readonly kinds?: readonly HistoryKindName[];
}

export interface ExportOutcome {
  readonly rows: number;
  readonly bytes: number;
  /** Where it went: a file path (desktop) or the download's file name (browser); null if cancelled. */
  readonly savedAs: string | null;
}

// ---- commands -----------------------------------------------------------------------------------------

export type OperatorCommand = 'drain' | 'ready' | 'maintenance' | 'failover' | 'deregister';
export const OPERATOR_COMMANDS: readonly OperatorCommand[] = ['drain', 'ready', 'maintenance', 'failover', 'deregister'];

export interface ElementTarget {
  /** Pool name (UTF-8 text) or `0x` hex of the handle bytes. */
  readonly pool: string;
  readonly peId: number;
}

export interface CommandOptions {
  /** Required, 1..500 characters: the audit and the pool users' notifications carry it. */
  readonly reason: string;
  /** Allow taking the pool's last ready element out. */
  readonly force?: boolean;
  /**
   * maintenance only: drain now and enter maintenance when the element reports zero load or when this
   * many milliseconds pass (1 s .. 24 h), whichever comes first.
   */
  readonly afterDrainTimeoutMs?: number;
}

export interface CommandOutcome {
  readonly command: OperatorCommand;
  readonly pool: string;
  readonly peId: number;
  readonly before: AdminStateName;
  /** The admin state now ('removed' after deregister). */
  readonly after: AdminStateName | 'removed';
  /** For failover and takeaways: the element pool users are told to move to (null: none left). */
  readonly replacementPeId: number | null;
  readonly pendingMaintenance: PendingMaintenance | null;
  /** The element afterwards (null after deregister). */
  readonly element: ElementView | null;
}

/**
 * Everything the renderer can ask. One named function per capability (the preload exposes exactly these;
 * never a generic invoke). The live stream is transport-specific (`subscribe` below).
 */
export interface ConsoleApi {
  identity(): Promise<ConsoleResult<Identity>>;
  snapshot(): Promise<ConsoleResult<Snapshot>>;
  pool(pool: string): Promise<ConsoleResult<PoolView>>;
  history(query: HistoryQuery): Promise<ConsoleResult<HistoryPageView>>;
  metrics(query: MetricQuery): Promise<ConsoleResult<MetricSeriesView>>;
  /** Components reporting over CSP (`unavailable` when the server receives none: serve without --csp). */
  components(): Promise<ConsoleResult<ComponentsSnapshot>>;
  /** Registrars heard announcing on the LAN (discovery), most recently heard first. */
  heardRegistrars(): Promise<ConsoleResult<readonly HeardRegistrarView[]>>;
  exportHistory(query: ExportQuery): Promise<ConsoleResult<ExportOutcome>>;
  drain(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>>;
  ready(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>>;
  maintenance(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>>;
  failover(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>>;
  deregister(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>>;
  /**
   * Live events from `position` on (undefined: from now; the first message is `hello`, then `resync` with a
   * snapshot). Returns the function that ends the subscription.
   */
  subscribe(position: StreamPosition | undefined, listener: (message: EventStreamMessage) => void): () => void;
}

// ---- LAN API (HTTP) -----------------------------------------------------------------------------------

/** Body of POST /api/v1/pools/{handle}/elements/{peId}/{command}. */
export interface CommandRequestBody {
  readonly reason: string;
  readonly force?: boolean;
  readonly afterDrainTimeoutMs?: number;
}

/** Every /api/v1 answer: `{ ok: true, value }` or `{ ok: false, error: { code, message } }` (ConsoleResult). */
export const API_PREFIX = '/api/v1';
/** Bumped on every incompatible change of this contract; GET /api/v1/status reports it (RegistrarInfo). */
export const API_VERSION = 1;
export const DEFAULT_HTTP_PORT = 8347;
