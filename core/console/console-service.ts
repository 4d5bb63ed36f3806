/**
 * The ConsoleApi's implementation (DESIGN.md §5) over a running registrar and its history: the snapshot,
 * the live event stream, history and metric queries, export, and the operator commands with their rules —
 * a reason is required, every command (and every refusal) is audited, the pool's last ready element is not
 * taken out without `force`, admin states persist across re-registrations and restarts, a drained element
 * never becomes ready by itself, and an answer is given only once its audit row is durable.
 */
import type { Writable } from 'node:stream';
import type { Clock, TimerHandle } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { hex32, poolHandleToText } from '../wire/json.js';
import { PeStatusCode } from '../wire/types.js';
import { reasonName, statusName } from '../history/row-format.js';
import type { AdminState, ElementRecord } from '../handlespace/element.js';
import { isSelectable } from '../handlespace/element.js';
import { poolKeyOf } from '../handlespace/handlespace.js';
import type { Registrar } from '../registrar/registrar.js';
import type { History } from '../history/history.js';
import type { HistoryRecorder } from '../history/history-recorder.js';
import type { AuditEvent, HistoryEvent, JsonObject } from '../history/history-event.js';
import type { EnrpEvents, EnrpServer } from '../enrp/enrp-server.js';
import { formatComponentId, type CspComponent, type CspComponentTable, type DepartureReason } from '../csp/csp-component-table.js';
import { componentsSnapshot, componentView, ownRegistrarView } from './components.js';
import type { HistoryFilter, HistoryKind, MetricInterval } from '../history/history-queries.js';
import { HISTORY_KINDS } from '../history/history-queries.js';
import type {
  AdminStateName,
  AuditView,
  CommandOptions,
  CommandOutcome,
  ComponentsSnapshot,
  ConsoleError,
  ConsoleResult,
  ElementTarget,
  ElementView,
  EventStreamMessage,
  ExportQuery,
  HistoryPageView,
  HistoryQuery,
  Identity,
  MetricQuery,
  MetricSeriesView,
  OperatorCommand,
  PendingMaintenance,
  PoolUserView,
  PoolView,
  RegistrarInfo,
  RegistrarPeerView,
  Snapshot,
  StreamPosition,
} from './contract.js';
import { API_VERSION, type HeardRegistrarView } from './contract.js';
import type { AccessAttempt, ConsoleBackend } from './console-backend.js';
import { countElement, elementView, emptyCounts, parsePoolName, policyName } from './element-view.js';
import { EventLog } from './event-log.js';
import type { RegistrarDiscoveryListener } from './registrar-discovery.js';

export const MAX_REASON_LENGTH = 500;
export const MIN_AFTER_DRAIN_TIMEOUT_MS = 1000;
export const MAX_AFTER_DRAIN_TIMEOUT_MS = 24 * 3_600_000;
const MAX_PAGE_ROWS = 1000;
const TAKES_OUT: ReadonlySet<OperatorCommand> = new Set(['drain', 'maintenance', 'failover', 'deregister']);

export interface PersistedState {
  readonly state: Exclude<AdminState, 'ready'>;
  readonly reason: string;
  readonly actor: string;
  readonly since: number;
}

/**
 * Operator-set admin states by element ("poolKey|peId"): loaded from the history at start, consulted by
 * the registrar when an element registers (RegistrarStartOptions.persistedAdminState), kept current by
 * the console's commands.
 */
export class AdminStateBook {
  private readonly states = new Map<string, PersistedState>();

  static key(poolHandle: Uint8Array, peId: number): string {
    return `${poolKeyOf(poolHandle)}|${peId}`;
  }

  get(poolHandle: Uint8Array, peId: number): PersistedState | undefined {
    return this.states.get(AdminStateBook.key(poolHandle, peId));
  }

  set(poolHandle: Uint8Array, peId: number, state: PersistedState | undefined): void {
    if (state) this.states.set(AdminStateBook.key(poolHandle, peId), state);
    else this.states.delete(AdminStateBook.key(poolHandle, peId));
  }

  get size(): number {
    return this.states.size;
  }

  /** For RegistrarStartOptions.persistedAdminState. */
  lookup = (poolHandle: Uint8Array, peId: number): { readonly state: AdminState; readonly cause: string } | undefined => {
    const found = this.get(poolHandle, peId);
    return found ? { state: found.state, cause: `${found.reason} (set by ${found.actor}; kept across re-registration)` } : undefined;
  };
}

export interface ConsoleServiceOptions {
  readonly registrar: Registrar;
  readonly history?: History | undefined;
  readonly recorder?: HistoryRecorder | undefined;
  readonly adminStates: AdminStateBook;
  readonly clock: Clock;
  readonly version: string;
  readonly historyInfo: RegistrarInfo['history'];
  readonly log?: (line: string) => void;
  readonly eventCapacity?: number;
}

interface PoolUserState {
  readonly connectionId: number;
  readonly address: string;
  readonly connectedAt: number;
  readonly subscriptions: Set<string>;
  notificationsSent: number;
}

interface PendingEntry extends PendingMaintenance {
  readonly poolHandle: Uint8Array;
  readonly peId: number;
  readonly role: string;
  timer: TimerHandle | undefined;
}

/** Per pool, PE Status rows sent per second over the last minute (60 buckets). */
class MinuteCounter {
  private readonly buckets = new Array<number>(60).fill(0);
  private stamps = new Array<number>(60).fill(-1);

  add(now: number, count: number): void {
    const second = Math.floor(now / 1000);
    const i = second % 60;
    if (this.stamps[i] !== second) {
      this.stamps[i] = second;
      this.buckets[i] = 0;
    }
    this.buckets[i] = (this.buckets[i] ?? 0) + count;
  }

  total(now: number): number {
    const second = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < 60; i++) {
      const stamp = this.stamps[i] ?? -1;
      if (stamp > second - 60 && stamp <= second) sum += this.buckets[i] ?? 0;
    }
    return sum;
  }
}

function remoteText(remote: { address: string; port: number; family: number }): string {
  return remote.family === 6 ? `[${remote.address}]:${remote.port}` : `${remote.address}:${remote.port}`;
}

function fail(code: ConsoleError['code'], message: string, field?: string): { ok: false; error: ConsoleError } {
  return { ok: false, error: field === undefined ? { code, message } : { code, message, field } };
}

export class ConsoleService implements ConsoleBackend {
  private readonly registrar: Registrar;
  private readonly store: History | undefined;
  private readonly recorder: HistoryRecorder | undefined;
  private readonly adminStates: AdminStateBook;
  private readonly clock: Clock;
  private readonly version: string;
  private readonly historyInfo: RegistrarInfo['history'];
  private readonly log: (line: string) => void;
  private readonly events: EventLog;
  private readonly poolUsers = new Map<number, PoolUserState>();
  private readonly notificationCounters = new Map<string, MinuteCounter>();
  private readonly pending = new Map<string, PendingEntry>();
  /** The replacement the last push named for an element taken away ("poolKey|peId" → id or null). */
  private readonly lastReplacement = new Map<string, number | null>();
  private readonly detachers: (() => void)[] = [];
  private closed = false;
  private enrp: EnrpServer | undefined;
  private csp: CspComponentTable | undefined;
  private discovery: RegistrarDiscoveryListener | undefined;

  constructor(options: ConsoleServiceOptions) {
    this.registrar = options.registrar;
    this.store = options.history;
    this.recorder = options.recorder;
    this.adminStates = options.adminStates;
    this.clock = options.clock;
    this.version = options.version;
    this.historyInfo = options.historyInfo;
    this.log = options.log ?? (() => {});
    this.events = new EventLog(options.eventCapacity === undefined ? {} : { capacity: options.eventCapacity });
    this.listen();
  }

  get epoch(): string {
    return this.events.epoch;
  }

  get sequence(): number {
    return this.events.sequence;
  }

  // ---- queries ------------------------------------------------------------------------------------------

  snapshot(): Snapshot {
    const pools: PoolView[] = [];
    for (const pool of this.registrar.handlespace.pools()) pools.push(this.poolView(pool.handle));
    pools.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      sequence: this.events.sequence,
      registrar: this.registrarInfo(),
      pools,
      poolUsers: [...this.poolUsers.values()].map((u) => this.poolUserView(u)),
      registrars: this.registrarViews(),
    };
  }

  pool(pool: string): ConsoleResult<PoolView> {
    const handle = parsePoolName(pool);
    if (!handle.ok) return fail('badRequest', handle.error, 'pool');
    if (!this.registrar.handlespace.pool(handle.value)) return fail('notFound', `no pool ${poolHandleToText(handle.value)}`);
    return ok(this.poolView(handle.value));
  }

  history(query: HistoryQuery): ConsoleResult<HistoryPageView> {
    if (!this.store) return fail('unavailable', 'no history: this server runs without a database');
    const filter = this.filterOf(query);
    if (!filter.ok) return filter;
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_ROWS) return fail('badRequest', `limit must be 1..${MAX_PAGE_ROWS}`, 'limit');
    const page = this.store.queries.page(filter.value, { cursor: query.cursor, limit });
    if (!page.ok) return fail(page.error.code === 'queryFailed' && /cursor/.test(page.error.message) ? 'badRequest' : 'internal', page.error.message, /cursor/.test(page.error.message) ? 'cursor' : undefined);
    return ok({
      rows: page.value.rows.map((r) => ({
        time: r.time,
        kind: r.kind,
        pool: r.pool,
        peId: r.peId,
        state: r.state,
        cause: r.cause,
        details: r.details,
        puAddress: r.puAddress,
        puConnection: r.puConnection,
        sequence: r.sequence,
        actor: r.actor,
        role: r.role,
        action: r.action,
        target: r.target,
        reason: r.reason,
        before: r.before,
        after: r.after,
        result: r.result,
      })),
      next: page.value.next ?? null,
    });
  }

  metrics(query: MetricQuery): ConsoleResult<MetricSeriesView> {
    if (!this.store) return fail('unavailable', 'no history: this server runs without a database');
    const handle = parsePoolName(query.pool);
    if (!handle.ok) return fail('badRequest', handle.error, 'pool');
    if (!Number.isFinite(query.from) || !Number.isFinite(query.to) || query.to <= query.from) return fail('badRequest', 'the range needs from < to', 'from');
    const interval = query.intervalMs;
    if (interval !== undefined && interval !== 1000 && interval !== 60_000 && interval !== 3_600_000) return fail('badRequest', 'interval must be 1000, 60000 or 3600000 ms', 'interval');
    const series = this.store.queries.metricSeries(poolHandleToText(handle.value), query.from, query.to, interval as MetricInterval | undefined);
    if (!series.ok) return fail('internal', series.error.message);
    return ok({ pool: series.value.pool, intervalMs: series.value.intervalMs, points: series.value.points.map((p) => ({ ...p })) });
  }

  async exportHistory(query: ExportQuery, out: Writable): Promise<ConsoleResult<{ readonly rows: number; readonly bytes: number }>> {
    if (!this.store) {
      out.end();
      return fail('unavailable', 'no history: this server runs without a database');
    }
    if (query.format !== 'csv' && query.format !== 'jsonl') {
      out.end();
      return fail('badRequest', 'format must be csv or jsonl', 'format');
    }
    const filter = this.filterOf(query);
    if (!filter.ok) {
      out.end();
      return filter;
    }
    const exported = await this.store.export(filter.value, query.format, out);
    if (!exported.ok) return fail('internal', exported.error.message);
    return ok({ rows: exported.value.rows, bytes: exported.value.bytes });
  }

  subscribe(identity: Identity, position: StreamPosition | undefined, listener: (message: EventStreamMessage) => void): () => void {
    return this.events.subscribe(identity, position, () => this.snapshot(), listener);
  }

  // ---- commands -----------------------------------------------------------------------------------------

  async command(identity: Identity, command: OperatorCommand, target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>> {
    const targetText = `pool ${target.pool} / PE ${typeof target.peId === 'number' ? hex32(target.peId) : String(target.peId)}`;
    const refuse = (error: ConsoleError, extra: { poolHandle?: Uint8Array; peId?: number } = {}): ConsoleResult<CommandOutcome> => {
      this.auditRefusal(identity, command, targetText, typeof options?.reason === 'string' ? options.reason : '', error, extra);
      return { ok: false, error };
    };
    if (identity.role !== 'operator') return refuse({ code: 'forbidden', message: `${identity.actor} is a viewer; commands need the operator role` });
    const validated = this.validate(command, target, options);
    if (!validated.ok) return refuse(validated.error);
    const { handle, reason, force, afterDrainTimeoutMs } = validated.value;
    const element = this.registrar.handlespace.element(handle, target.peId);
    if (!element) return refuse({ code: 'notFound', message: `no element ${hex32(target.peId)} in pool ${poolHandleToText(handle)}` });
    const ids = { poolHandle: handle, peId: element.id };
    const admin = element.admin.state;
    const key = AdminStateBook.key(handle, element.id);
    const pendingBefore = this.pending.get(key);
    if (command === 'drain' && admin === 'draining') return refuse({ code: 'conflict', message: 'the element is already draining' }, ids);
    if (command === 'ready' && admin === 'ready' && !pendingBefore) return refuse({ code: 'conflict', message: 'the element is already ready' }, ids);
    if (command === 'maintenance' && admin === 'maintenance') return refuse({ code: 'conflict', message: 'the element is already in maintenance' }, ids);
    if (command === 'maintenance' && afterDrainTimeoutMs !== undefined && pendingBefore) return refuse({ code: 'conflict', message: 'the element is already draining towards maintenance' }, ids);
    if (TAKES_OUT.has(command) && isSelectable(element) && !force && this.selectableCount(handle) <= 1) {
      return refuse({ code: 'lastReadyElement', message: `${hex32(element.id)} is the last ready element of pool ${poolHandleToText(handle)}: taking it out leaves the pool without service; repeat with force to do it anyway` }, ids);
    }
    // A new command replaces a pending "maintenance after drain".
    if (pendingBefore) this.cancelPending(key);
    const before = this.stateJson(element);
    const registrarAction = command === 'maintenance' && afterDrainTimeoutMs !== undefined ? 'drain' : command;
    let pending: PendingMaintenance | null = null;
    const outcome = await this.apply(identity, command, registrarAction, element, reason, before, force, afterDrainTimeoutMs);
    if (!outcome.ok) return outcome;
    if (command === 'maintenance' && afterDrainTimeoutMs !== undefined) {
      pending = this.startPending(identity, handle, element.id, reason, afterDrainTimeoutMs);
    }
    const current = this.registrar.handlespace.element(handle, element.id);
    return ok({
      command,
      pool: poolHandleToText(handle),
      peId: element.id,
      before: admin,
      after: current ? current.admin.state : 'removed',
      replacementPeId: outcome.value,
      pendingMaintenance: pending,
      element: current ? this.view(current) : null,
    });
  }

  auditAccess(attempt: AccessAttempt): void {
    const entry: AuditEvent = {
      kind: 'audit',
      time: this.clock.now(),
      actor: attempt.identity?.actor ?? `unknown (${attempt.source})`,
      role: attempt.identity?.role ?? 'none',
      action: 'access',
      target: attempt.request,
      reason: '',
      result: attempt.result,
      details: { source: attempt.source },
    };
    this.store?.record(entry);
    this.appendAudit(entry);
  }

  /**
   * Shows the ENRP deployment (the Registrars view), tells the live stream and the history when peers come,
   * go, are taken over or resynchronised, and keeps admin states learned from peers in the book (and the
   * history), so they survive this registrar's restart too.
   */
  attachEnrp(enrp: EnrpServer): void {
    this.enrp = enrp;
    const changed = (what: string, details: JsonObject): void => {
      const time = this.clock.now();
      const subject = details['serverId'] ?? details['target'];
      this.store?.record({ kind: 'deployment', time, source: 'enrp', event: what, subject: typeof subject === 'string' ? subject : undefined, details });
      this.events.append({ type: 'registrarsChanged', time, what: `${what}: ${JSON.stringify(details)}`, registrars: this.registrarViews() });
    };
    const listen = <K extends keyof EnrpEvents>(name: K, listener: (...args: EnrpEvents[K]) => void): void => {
      enrp.on(name, listener as never);
      this.detachers.push(() => enrp.off(name, listener as never));
    };
    listen('peerUp', ({ serverId, address }) => changed('peerUp', { serverId: hex32(serverId), address }));
    listen('peerDown', ({ serverId, reason }) => changed('peerDown', { serverId: hex32(serverId), reason }));
    listen('takeoverStarted', ({ target, awaitingAcks }) => changed('takeoverStarted', { target: hex32(target), awaitingAcks }));
    listen('takeoverCompleted', ({ target, elements, durationMs }) => changed('takeoverCompleted', { target: hex32(target), elements, durationMs }));
    listen('takeoverAborted', ({ target, reason }) => changed('takeoverAborted', { target: hex32(target), reason }));
    listen('takenOverByPeer', ({ target, by, elements }) => changed('takenOverByPeer', { target: hex32(target), by: hex32(by), elements }));
    listen('resyncStarted', ({ serverId, reason }) => changed('resyncStarted', { serverId: hex32(serverId), reason }));
    listen('resyncCompleted', ({ serverId, elements, removed, durationMs }) => changed('resyncCompleted', { serverId: hex32(serverId), elements, removed, durationMs }));
    listen('synced', ({ mentor, elements, durationMs }) => changed('synced', { mentor: hex32(mentor), elements, durationMs }));
    listen('adminStateLearned', (notice) => {
      const state: AdminState = notice.action === 'drain' ? 'draining' : notice.action === 'maintenance' || notice.action === 'failover' ? 'maintenance' : 'ready';
      const actor = `registrar ${hex32(notice.setBy)}`;
      this.adminStates.set(notice.poolHandle, notice.peId, state === 'ready' ? undefined : { state, reason: notice.reasonText, actor, since: notice.since });
      this.store?.record({ kind: 'adminState', time: notice.since, poolKey: poolKeyOf(notice.poolHandle), peId: notice.peId, state, reason: notice.reasonText, actor });
    });
  }

  /**
   * Shows the components reporting over RSPLIB's Component Status Protocol (the Components view), merged
   * with this registrar's view where ids match; tells the live stream each arrival, report and departure,
   * and the history each arrival, departure and workload change (by 5 % or more, or a minute since the last
   * recorded one).
   */
  attachCsp(table: CspComponentTable): void {
    this.csp = table;
    const recorded = new Map<bigint, { workload: number | undefined; time: number }>();
    const record = (component: CspComponent, event: string, details: JsonObject): void => {
      this.store?.record({ kind: 'deployment', time: this.clock.now(), source: 'csp', event, subject: formatComponentId(component.id), details });
    };
    const describe = (c: CspComponent): JsonObject => ({ role: c.role ?? `group ${c.group}`, location: c.location, status: c.status, workload: c.workload ?? null, source: `${c.source.address}:${c.source.port}` });
    const append = (change: 'arrived' | 'updated' | 'departed', component: CspComponent, reason: string | null): void => {
      this.events.append({ type: 'componentChanged', time: this.clock.now(), change, reason, component: componentView(component, this.clock.now(), ownRegistrarView(this.registrar)) });
    };
    const arrived = (component: CspComponent): void => {
      recorded.set(component.id, { workload: component.workload, time: this.clock.now() });
      record(component, 'componentArrived', describe(component));
      append('arrived', component, null);
    };
    const updated = (component: CspComponent): void => {
      const last = recorded.get(component.id);
      const now = this.clock.now();
      const moved = last === undefined || (last.workload === undefined) !== (component.workload === undefined) || Math.abs((last.workload ?? 0) - (component.workload ?? 0)) >= 0.05;
      if (moved || now - (last?.time ?? 0) >= 60_000) {
        recorded.set(component.id, { workload: component.workload, time: now });
        record(component, 'componentWorkload', { workload: component.workload ?? null, status: component.status });
      }
      append('updated', component, null);
    };
    const departed = (component: CspComponent, reason: DepartureReason): void => {
      recorded.delete(component.id);
      record(component, 'componentDeparted', { ...describe(component), reason });
      append('departed', component, reason);
    };
    table.on('componentArrived', arrived);
    table.on('componentUpdated', updated);
    table.on('componentDeparted', departed);
    this.detachers.push(() => {
      table.off('componentArrived', arrived);
      table.off('componentUpdated', updated);
      table.off('componentDeparted', departed);
    });
  }

  /**
   * Lists the registrars heard announcing on the LAN (heardRegistrars), this server's own marked `self`.
   * The listener stays the caller's to close.
   */
  attachDiscovery(listener: RegistrarDiscoveryListener): void {
    listener.setOwnServerId(this.registrar.serverId);
    this.discovery = listener;
  }

  heardRegistrars(): ConsoleResult<readonly HeardRegistrarView[]> {
    if (!this.discovery) return fail('unavailable', 'this server does not listen for registrar announces (discovery is off: serve --discover ADDR:PORT)');
    return ok(this.discovery.heard());
  }

  components(): ConsoleResult<ComponentsSnapshot> {
    if (!this.csp) return fail('unavailable', 'this server receives no Component Status Protocol reports (start it with --csp HOST:PORT)');
    return ok(componentsSnapshot(this.csp, this.clock.now(), ownRegistrarView(this.registrar)));
  }

  /** Stops listening to the registrar and cancels pending maintenance timers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const detach of this.detachers) detach();
    for (const key of [...this.pending.keys()]) this.cancelPending(key);
  }

  // ---- internals ----------------------------------------------------------------------------------------

  private validate(
    command: OperatorCommand,
    target: ElementTarget,
    options: CommandOptions,
  ): Result<{ handle: Uint8Array; reason: string; force: boolean; afterDrainTimeoutMs: number | undefined }, ConsoleError> {
    if (!['drain', 'ready', 'maintenance', 'failover', 'deregister'].includes(command)) return err({ code: 'notFound', message: `no command ${String(command)}` });
    if (typeof target?.pool !== 'string') return err({ code: 'badRequest', message: 'pool must be a string', field: 'pool' });
    const handle = parsePoolName(target.pool);
    if (!handle.ok) return err({ code: 'badRequest', message: handle.error, field: 'pool' });
    if (!Number.isInteger(target.peId) || target.peId < 0 || target.peId > 0xffffffff) return err({ code: 'badRequest', message: 'peId must be a 32-bit integer', field: 'peId' });
    if (typeof options?.reason !== 'string') return err({ code: 'badRequest', message: 'a reason is required', field: 'reason' });
    const reason = options.reason.trim();
    if (reason.length === 0) return err({ code: 'badRequest', message: 'a reason is required: say why (it is audited and sent to the pool users)', field: 'reason' });
    if (reason.length > MAX_REASON_LENGTH) return err({ code: 'badRequest', message: `the reason has at most ${MAX_REASON_LENGTH} characters`, field: 'reason' });
    if ([...reason].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return err({ code: 'badRequest', message: 'the reason may not contain control characters', field: 'reason' });
    if (options.force !== undefined && typeof options.force !== 'boolean') return err({ code: 'badRequest', message: 'force must be true or false', field: 'force' });
    const timeout = options.afterDrainTimeoutMs;
    if (timeout !== undefined) {
      if (command !== 'maintenance') return err({ code: 'badRequest', message: 'afterDrainTimeoutMs applies to maintenance only', field: 'afterDrainTimeoutMs' });
      if (!Number.isInteger(timeout) || timeout < MIN_AFTER_DRAIN_TIMEOUT_MS || timeout > MAX_AFTER_DRAIN_TIMEOUT_MS) {
        return err({ code: 'badRequest', message: `afterDrainTimeoutMs must be ${MIN_AFTER_DRAIN_TIMEOUT_MS}..${MAX_AFTER_DRAIN_TIMEOUT_MS} ms`, field: 'afterDrainTimeoutMs' });
      }
    }
    return ok({ handle: handle.value, reason, force: options.force === true, afterDrainTimeoutMs: timeout });
  }

  /**
   * Applies the action to the registrar with its audit row and persisted admin state in one history
   * transaction, and resolves once that is durable. The value is the replacement element pool users were
   * pointed at (null when none).
   */
  private async apply(
    identity: Identity,
    command: OperatorCommand | 'maintenance (after drain)',
    action: OperatorCommand,
    element: ElementRecord,
    reason: string,
    before: { admin: AdminStateName; health: string },
    force: boolean,
    afterDrainTimeoutMs: number | undefined,
  ): Promise<ConsoleResult<number | null>> {
    const handle = element.poolHandle;
    const peId = element.id;
    const key = AdminStateBook.key(handle, peId);
    this.lastReplacement.delete(key);
    const persisted: Exclude<AdminState, 'ready'> | undefined = action === 'drain' ? 'draining' : action === 'maintenance' || action === 'failover' ? 'maintenance' : undefined;
    const now = this.clock.now();
    const auditOf = (result: Result<ElementRecord, { code: string; message: string }>): AuditEvent => ({
      kind: 'audit',
      time: now,
      actor: identity.actor,
      role: identity.role,
      action: command,
      target: `pool ${poolHandleToText(handle)} / PE ${hex32(peId)}`,
      poolKey: poolKeyOf(handle),
      peId,
      reason,
      before,
      after: result.ok ? (action === 'deregister' ? { admin: 'removed' } : this.stateJson(result.value)) : null,
      result: result.ok ? 'ok' : result.error.code,
      details: { force, ...(afterDrainTimeoutMs === undefined ? {} : { afterDrainTimeoutMs }) },
    });
    const adminStateEvent: HistoryEvent = { kind: 'adminState', time: now, poolKey: poolKeyOf(handle), peId, state: persisted ?? 'ready', reason, actor: identity.actor };
    let result: Result<ElementRecord, { code: string; message: string }>;
    let durable: Promise<void>;
    const run = (): Result<ElementRecord, { code: string; message: string }> => this.registrar.operate(handle, peId, action, reason);
    if (this.recorder && this.store) {
      const together = this.recorder.together(run, (r) => [auditOf(r), ...(r.ok ? [adminStateEvent] : [])]);
      result = together.result;
      durable = together.durable;
    } else {
      result = run();
      durable = Promise.resolve();
    }
    const audit = auditOf(result);
    if (result.ok) this.adminStates.set(handle, peId, persisted ? { state: persisted, reason, actor: identity.actor, since: now } : undefined);
    try {
      await durable;
    } catch (e) {
      const message = `the ${command} was applied but its audit row could not be stored: ${e instanceof Error ? e.message : String(e)}`;
      this.log(message);
      this.appendAudit({ ...audit, result: 'unavailable' });
      return fail('unavailable', message);
    }
    this.appendAudit(audit);
    if (!result.ok) return fail('notFound', result.error.message);
    // The push went out in the same turn as the change; its replacement is what the pool users were told.
    return ok(this.lastReplacement.has(key) ? (this.lastReplacement.get(key) ?? null) : this.anyOtherSelectable(handle, peId));
  }

  private startPending(identity: Identity, handle: Uint8Array, peId: number, reason: string, timeoutMs: number): PendingMaintenance {
    const key = AdminStateBook.key(handle, peId);
    const entry: PendingEntry = { poolHandle: handle, peId, deadline: this.clock.now() + timeoutMs, reason, actor: identity.actor, role: identity.role, timer: undefined };
    entry.timer = this.clock.setTimeout(() => {
      entry.timer = undefined;
      void this.completePending(key, 'the drain timeout passed');
    }, timeoutMs);
    this.pending.set(key, entry);
    const element = this.registrar.handlespace.element(handle, peId);
    if (element) {
      if (element.policy.load === 0) queueMicrotask(() => void this.completePending(key, 'the element reports zero load'));
      else this.events.append({ type: 'elementUpdated', time: this.clock.now(), change: 'admin', element: this.view(element) });
    }
    return { deadline: entry.deadline, reason, actor: identity.actor };
  }

  private async completePending(key: string, why: string): Promise<void> {
    const entry = this.pending.get(key);
    if (!entry) return;
    this.cancelPending(key);
    const element = this.registrar.handlespace.element(entry.poolHandle, entry.peId);
    if (!element || element.admin.state === 'maintenance') return;
    const identity: Identity = { actor: entry.actor, role: entry.role === 'operator' ? 'operator' : 'viewer' };
    const outcome = await this.apply(identity, 'maintenance (after drain)', 'maintenance', element, `${entry.reason} (${why})`, this.stateJson(element), true, undefined);
    if (!outcome.ok) this.log(`maintenance after drain of ${hex32(entry.peId)} in pool ${poolHandleToText(entry.poolHandle)} failed: ${outcome.error.message}`);
  }

  private cancelPending(key: string): void {
    const entry = this.pending.get(key);
    if (!entry) return;
    this.clock.clearTimeout(entry.timer);
    this.pending.delete(key);
  }

  private auditRefusal(identity: Identity, command: string, target: string, reason: string, error: ConsoleError, ids: { poolHandle?: Uint8Array; peId?: number }): void {
    const entry: AuditEvent = {
      kind: 'audit',
      time: this.clock.now(),
      actor: identity.actor,
      role: identity.role,
      action: command,
      target,
      ...(ids.poolHandle && ids.peId !== undefined ? { poolKey: poolKeyOf(ids.poolHandle), peId: ids.peId } : {}),
      reason: reason.slice(0, MAX_REASON_LENGTH),
      result: error.code,
      details: { message: error.message },
    };
    this.store?.record(entry);
    this.appendAudit(entry);
  }

  private appendAudit(entry: AuditEvent): void {
    const view: AuditView = {
      time: entry.time,
      actor: entry.actor,
      role: entry.role,
      action: entry.action,
      target: entry.target,
      reason: entry.reason,
      before: entry.before === undefined ? null : JSON.stringify(entry.before),
      after: entry.after === undefined ? null : JSON.stringify(entry.after),
      result: entry.result,
    };
    this.events.append({ type: 'audit', time: entry.time, entry: view });
  }

  private stateJson(element: ElementRecord): { admin: AdminStateName; health: string } {
    return { admin: element.admin.state, health: element.health.state };
  }

  private selectableCount(handle: Uint8Array): number {
    const pool = this.registrar.handlespace.pool(handle);
    if (!pool) return 0;
    let n = 0;
    for (const e of pool.elements()) if (isSelectable(e)) n++;
    return n;
  }

  private anyOtherSelectable(handle: Uint8Array, peId: number): number | null {
    const pool = this.registrar.handlespace.pool(handle);
    if (!pool) return null;
    for (const e of pool.elements()) if (e.id !== peId && isSelectable(e)) return e.id;
    return null;
  }

  private view(element: ElementRecord): ElementView {
    const pending = this.pending.get(AdminStateBook.key(element.poolHandle, element.id));
    return elementView(element, this.registrar.lastHeardAt(element), pending ? { deadline: pending.deadline, reason: pending.reason, actor: pending.actor } : null);
  }

  private poolView(handle: Uint8Array): PoolView {
    const pool = this.registrar.handlespace.pool(handle);
    const counts = emptyCounts();
    const elements: ElementView[] = [];
    if (pool) {
      for (const e of pool.elements()) {
        countElement(counts, e);
        elements.push(this.view(e));
      }
    }
    elements.sort((a, b) => a.peId - b.peId);
    return {
      name: poolHandleToText(handle),
      handleHex: `0x${Buffer.from(handle).toString('hex')}`,
      policy: pool ? policyName(pool.policyType) : 'unknown',
      counts,
      subscribers: this.registrar.notifications.subscribersOf(handle),
      notificationsLastMinute: this.notificationCounters.get(poolKeyOf(handle))?.total(this.clock.now()) ?? 0,
      elements,
    };
  }

  private poolUserView(u: PoolUserState): PoolUserView {
    return { connectionId: u.connectionId, address: u.address, connectedAt: u.connectedAt, subscriptions: [...u.subscriptions].sort(), notificationsSent: u.notificationsSent };
  }

  private registrarViews(): RegistrarPeerView[] {
    if (!this.enrp) return [];
    return this.enrp.peers().map((p) => ({
      serverId: hex32(p.serverId),
      address: p.address,
      role: p.role,
      state: p.state,
      configured: p.configured,
      connected: p.connected,
      lastHeardAt: p.lastHeardAt,
      checksum: { reported: p.checksum.reported === null ? null : hex32(p.checksum.reported), computed: hex32(p.checksum.computed), state: p.checksum.state },
      elementsOwned: p.elementsOwned,
      takenOverBy: p.takenOverBy === null ? null : hex32(p.takenOverBy),
      takeoverOutstandingAcks: p.takeoverOutstandingAcks,
    }));
  }

  private registrarInfo(): RegistrarInfo {
    const s = this.registrar.settings;
    const settings: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(s)) {
      if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') settings[k] = v;
      else if (v && typeof v === 'object' && 'host' in v && 'port' in v) settings[k] = `${String(v.host)}:${String(v.port)}`;
      else if (Array.isArray(v)) settings[k] = v.map((t: { host: string; port: number }) => `${t.host}:${t.port}`).join(', ');
    }
    const asap = this.registrar.asapAddress;
    return {
      apiVersion: API_VERSION,
      serverId: hex32(this.registrar.serverId),
      asap: asap.host.includes(':') ? `[${asap.host}]:${asap.port}` : `${asap.host}:${asap.port}`,
      startedAt: this.registrar.startedAt,
      now: this.clock.now(),
      version: this.version,
      settings,
      history: this.historyInfo,
    };
  }

  private filterOf(query: HistoryQuery | ExportQuery): ConsoleResult<HistoryFilter> {
    const filter: { -readonly [K in keyof HistoryFilter]: HistoryFilter[K] } = {};
    if (query.from !== undefined) {
      if (!Number.isFinite(query.from)) return fail('badRequest', 'from must be a time', 'from');
      filter.from = query.from;
    }
    if (query.to !== undefined) {
      if (!Number.isFinite(query.to)) return fail('badRequest', 'to must be a time', 'to');
      filter.to = query.to;
    }
    if (query.pool !== undefined) {
      const handle = parsePoolName(query.pool);
      if (!handle.ok) return fail('badRequest', handle.error, 'pool');
      filter.pool = poolHandleToText(handle.value);
    }
    if (query.peId !== undefined) {
      if (!Number.isInteger(query.peId) || query.peId < 0 || query.peId > 0xffffffff) return fail('badRequest', 'peId must be a 32-bit integer', 'peId');
      filter.peId = query.peId;
    }
    if (query.kinds !== undefined) {
      for (const kind of query.kinds) if (!HISTORY_KINDS.includes(kind as HistoryKind)) return fail('badRequest', `unknown kind ${String(kind)} (kinds: ${HISTORY_KINDS.join(', ')})`, 'kind');
      filter.kinds = query.kinds as HistoryKind[];
    }
    return ok(filter);
  }

  private on<K extends Parameters<Registrar['on']>[0]>(name: K, listener: (...args: never[]) => void): void {
    this.registrar.on(name, listener as never);
    this.detachers.push(() => this.registrar.off(name, listener as never));
  }

  private listen(): void {
    this.on('elementRegistered', ({ element, outcome }: Parameters<typeof this.onRegistered>[0]) => this.onRegistered({ element, outcome }));
    this.on('elementHealth', ({ element }: { element: ElementRecord }) => {
      this.events.append({ type: 'elementUpdated', time: this.clock.now(), change: 'health', element: this.view(element) });
    });
    this.on('elementAdmin', ({ element, after }: { element: ElementRecord; after: AdminState | 'removed' }) => {
      if (after === 'removed') return; // elementRemoved tells it
      this.events.append({ type: 'elementUpdated', time: this.clock.now(), change: 'admin', element: this.view(element) });
    });
    this.on('elementRemoved', ({ element, reason, detail }: { element: ElementRecord; reason: string; detail: string }) => {
      const key = AdminStateBook.key(element.poolHandle, element.id);
      this.cancelPending(key);
      this.events.append({ type: 'elementRemoved', time: this.clock.now(), pool: poolHandleToText(element.poolHandle), peId: element.id, reason, detail });
    });
    this.on('notificationsSent', (sent: Parameters<typeof this.onNotification>[0]) => this.onNotification(sent));
    this.on('subscriptionChanged', (change: { connectionId: number; remote: { address: string; port: number; family: number }; poolHandle: Uint8Array; subscribed: boolean }) => {
      let user = this.poolUsers.get(change.connectionId);
      if (!user) {
        user = { connectionId: change.connectionId, address: remoteText(change.remote), connectedAt: this.clock.now(), subscriptions: new Set(), notificationsSent: 0 };
        this.poolUsers.set(change.connectionId, user);
      }
      const name = poolHandleToText(change.poolHandle);
      if (change.subscribed) user.subscriptions.add(name);
      else user.subscriptions.delete(name);
      this.events.append({ type: 'poolUserUpdated', time: this.clock.now(), poolUser: this.poolUserView(user) });
    });
    this.on('sessionClosed', ({ connectionId, reason }: { connectionId: number; reason: string }) => {
      if (!this.poolUsers.delete(connectionId)) return;
      this.events.append({ type: 'poolUserClosed', time: this.clock.now(), connectionId, reason });
    });
  }

  private onRegistered({ element, outcome }: { element: ElementRecord; outcome: { kind: 'registered' | 'reregistered'; changed?: readonly string[] } }): void {
    const changed = outcome.kind === 'reregistered' ? (outcome.changed ?? []) : [];
    if (outcome.kind === 'reregistered' && changed.length === 0) return; // a renewal: nothing to show
    const change = outcome.kind === 'registered' ? 'registered' : changed.length === 1 && changed[0] === 'load' ? 'load' : 'reregistered';
    this.events.append({ type: 'elementUpdated', time: this.clock.now(), change, element: this.view(element) });
    // Maintenance after drain: the element's own zero load completes it.
    if (element.policy.load === 0 && element.admin.state === 'draining') {
      const key = AdminStateBook.key(element.poolHandle, element.id);
      if (this.pending.has(key)) void this.completePending(key, 'the element reports zero load');
    }
  }

  private onNotification(sent: { connectionId: number; remote: { address: string; port: number; family: number }; poolHandle: Uint8Array; statuses: readonly { peId: number; status: number; reason: number; sequence: number; replacementPeId?: number; reasonText?: string }[]; sentAt: number }): void {
    const poolKey = poolKeyOf(sent.poolHandle);
    let counter = this.notificationCounters.get(poolKey);
    if (!counter) {
      counter = new MinuteCounter();
      this.notificationCounters.set(poolKey, counter);
    }
    counter.add(sent.sentAt, Math.max(1, sent.statuses.length));
    const user = this.poolUsers.get(sent.connectionId);
    if (user) user.notificationsSent += Math.max(1, sent.statuses.length);
    for (const s of sent.statuses) {
      if (s.replacementPeId !== undefined) this.lastReplacement.set(`${poolKey}|${s.peId}`, s.replacementPeId === 0 ? null : s.replacementPeId);
      else if (s.status !== PeStatusCode.up && s.status !== PeStatusCode.loadChanged) this.lastReplacement.set(`${poolKey}|${s.peId}`, null);
    }
    this.events.append({
      type: 'notification',
      time: sent.sentAt,
      pool: poolHandleToText(sent.poolHandle),
      puConnection: sent.connectionId,
      puAddress: remoteText(sent.remote),
      statuses: sent.statuses.map((s) => ({
        peId: s.peId,
        status: statusName(s.status),
        reason: reasonName(s.reason),
        sequence: s.sequence,
        replacementPeId: s.replacementPeId ?? null,
        reasonText: s.reasonText ?? null,
      })),
    });
  }
}
