/**
 * Turns batches of HistoryEvents into rows (runs on the writer thread, or directly in tests). Owns the
 * prepared statements and the caches that map pool keys, PE identifiers and pool-user connections to row
 * ids; per-row "last seen" updates are folded into one UPDATE per row per transaction.
 *
 * Two ways to write: `writeBatch` (one batch, one transaction), and the group commit the writer thread
 * uses: `begin`, then `writeInGroup` per batch (each inside its own savepoint, so a failing batch is undone
 * alone), then `commit`. Whatever is rolled back, the caches are dropped (they may name rows the rollback
 * removed).
 */
import type { Database, Statement } from 'better-sqlite3';
import { poolHandleToText } from '../wire/json.js';
import { detailsJson, elementRow, type ElementRow, type WriterEvent } from './event-codec.js';
import type { HistoryEvent, JsonObject, PoolKey } from './history-event.js';
import { reasonName, statusName } from './row-format.js';

interface SubscriptionTouch {
  readonly poolUserId: number;
  readonly poolId: number;
  first: number;
  last: number;
  count: number;
}

export interface BatchResult {
  /** Rows inserted into the event tables (element events, notifications, audit, metric samples). */
  readonly rows: number;
}

/**
 * An element's last_seen is rewritten only when it moved by this much (most events of a busy element would
 * otherwise each cost an UPDATE of its row): last_seen is exact to within 10 s.
 */
const SEEN_STEP_MS = 10_000;

const json = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));

export class BatchWriter {
  private readonly poolIds = new Map<PoolKey, number>();
  private readonly elementIds = new Map<number, Map<number, number>>();
  private readonly poolUserIds = new Map<number, number>();
  private runId: number | null = null;

  // Folded per batch.
  private readonly touchedPools = new Map<number, number>();
  private readonly touchedElements = new Map<number, number>();
  private readonly touchedPoolUsers = new Map<number, number>();
  private readonly touchedSubscriptions = new Map<string, SubscriptionTouch>();
  /** last_seen written per element: an element's last_seen moves in steps of at least SEEN_STEP_MS. */
  private readonly seenWritten = new Map<number, number>();

  private readonly s: {
    readonly upsertPool: Statement<[Buffer, string, number, number], { id: number }>;
    readonly upsertElement: Statement<[number, number, number, string, string, string, number, number, number], { id: number }>;
    readonly updateElement: Statement<[number, string, string, string, number, number, number]>;
    readonly findElement: Statement<[number, number], { id: number }>;
    readonly insertBareElement: Statement<[number, number, number, number], { id: number }>;
    readonly insertElementEvent: Statement<[number, number | null, number, number, string, string | null, string, string | null]>;
    readonly touchPool: Statement<[number, number]>;
    readonly touchElement: Statement<[number, number]>;
    readonly findPoolUser: Statement<[number | null, number], { id: number }>;
    readonly insertPoolUser: Statement<[number | null, number, string, number, number], { id: number }>;
    readonly touchPoolUser: Statement<[number, number]>;
    readonly closePoolUser: Statement<[number, string, number, number]>;
    readonly touchSubscription: Statement<[number, number, number, number, number]>;
    readonly insertNotification: Statement<[number, number | null, number | null, number, number | null, number | null, number, number, string, string, number | null, string | null]>;
    readonly insertAudit: Statement<[number, number | null, string, string, string, string, number | null, number | null, string, string | null, string | null, string, string | null]>;
    readonly upsertSample: Statement<[number, number, number, number, number, number, number, number, number | null, number, number | null]>;
    readonly insertRun: Statement<[number, number, string, string], { id: number }>;
    readonly stopRun: Statement<[number, string, number]>;
    readonly upsertAdminState: Statement<[number, number, string, string, string, number]>;
    readonly deleteAdminState: Statement<[number, number]>;
    readonly insertDeploymentEvent: Statement<[number, number | null, string, string, string | null, string | null]>;
  };

  private readonly writeBatchTransaction: (events: readonly WriterEvent[]) => number;
  /** Element values of this transaction, written once per element at its end (latest wins). */
  private readonly pendingValues = new Map<number, PendingValues>();
  /** While a batch of a group is written: what its pendingValues replaced, to restore if it fails. */
  private valuesUndo: Map<number, PendingValues | undefined> | undefined;
  private runAtGroupStart: number | null = null;

  constructor(private readonly db: Database) {
    this.s = {
      upsertPool: db.prepare(
        'INSERT INTO pools (handle, name, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT (handle) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen) RETURNING id',
      ),
      upsertElement: db.prepare(
        `INSERT INTO pool_elements (pool_id, pe_id, home_server_id, addresses, asap_address, policy, registration_life, first_seen, last_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pool_id, pe_id) DO UPDATE SET home_server_id = excluded.home_server_id, addresses = excluded.addresses,
           asap_address = excluded.asap_address, policy = excluded.policy, registration_life = excluded.registration_life,
           last_seen = max(last_seen, excluded.last_seen)
         RETURNING id`,
      ),
      updateElement: db.prepare(
        'UPDATE pool_elements SET home_server_id = ?, addresses = ?, asap_address = ?, policy = ?, registration_life = ?, last_seen = max(last_seen, ?) WHERE id = ?',
      ),
      findElement: db.prepare('SELECT id FROM pool_elements WHERE pool_id = ? AND pe_id = ?'),
      insertBareElement: db.prepare('INSERT INTO pool_elements (pool_id, pe_id, first_seen, last_seen) VALUES (?, ?, ?, ?) RETURNING id'),
      insertElementEvent: db.prepare('INSERT INTO element_events (time, run_id, pool_id, element_id, kind, state, cause, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      touchPool: db.prepare('UPDATE pools SET last_seen = max(last_seen, ?) WHERE id = ?'),
      touchElement: db.prepare('UPDATE pool_elements SET last_seen = max(last_seen, ?) WHERE id = ?'),
      findPoolUser: db.prepare('SELECT id FROM pool_users WHERE run_id IS ? AND connection_id = ? ORDER BY id DESC LIMIT 1'),
      insertPoolUser: db.prepare('INSERT INTO pool_users (run_id, connection_id, address, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) RETURNING id'),
      touchPoolUser: db.prepare('UPDATE pool_users SET last_seen = max(last_seen, ?) WHERE id = ?'),
      closePoolUser: db.prepare('UPDATE pool_users SET closed_at = ?, close_reason = ?, last_seen = max(last_seen, ?) WHERE id = ?'),
      touchSubscription: db.prepare(
        `INSERT INTO pool_user_subscriptions (pool_user_id, pool_id, first_seen, last_seen, notifications) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (pool_user_id, pool_id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), notifications = notifications + excluded.notifications`,
      ),
      insertNotification: db.prepare(
        `INSERT INTO notifications (time, event_time, run_id, pool_id, element_id, pe_id, pool_user_id, connection_id, status, reason, sequence, details)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertAudit: db.prepare(
        `INSERT INTO audit (time, run_id, actor, role, action, target, pool_id, element_id, reason, before, after, result, details)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      upsertSample: db.prepare(
        `INSERT INTO metric_samples (interval_ms, pool_id, time, up, suspect, failed, draining, maintenance, resolutions, notifications, load_mean, samples)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
         ON CONFLICT (interval_ms, pool_id, time) DO UPDATE SET up = excluded.up, suspect = excluded.suspect, failed = excluded.failed,
           draining = excluded.draining, maintenance = excluded.maintenance, resolutions = excluded.resolutions,
           notifications = excluded.notifications, load_mean = excluded.load_mean`,
      ),
      insertRun: db.prepare('INSERT INTO registrar_runs (started_at, server_id, settings, app_version) VALUES (?, ?, ?, ?) RETURNING id'),
      stopRun: db.prepare('UPDATE registrar_runs SET stopped_at = ?, stop_reason = ? WHERE id = ?'),
      upsertAdminState: db.prepare(
        `INSERT INTO admin_states (pool_id, pe_id, state, reason, actor, since) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (pool_id, pe_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, actor = excluded.actor, since = excluded.since`,
      ),
      deleteAdminState: db.prepare('DELETE FROM admin_states WHERE pool_id = ? AND pe_id = ?'),
      insertDeploymentEvent: db.prepare('INSERT INTO deployment_events (time, run_id, source, event, subject, details) VALUES (?, ?, ?, ?, ?, ?)'),
    };
    this.writeBatchTransaction = db.transaction((events: readonly WriterEvent[]) => {
      let rows = 0;
      for (const event of events) rows += this.write(event);
      this.flushTouches();
      return rows;
    }).immediate;
  }

  /** The registrar run new rows belong to (the last runStarted written). */
  get currentRunId(): number | null {
    return this.runId;
  }

  /** Writes the events in one transaction; throws (after rolling back) what SQLite threw. */
  writeBatch(events: readonly WriterEvent[]): BatchResult {
    const runBefore = this.runId;
    try {
      return { rows: this.writeBatchTransaction(events) };
    } catch (e) {
      this.undone(runBefore);
      throw e;
    }
  }

  // ---- group commit: several batches in one transaction --------------------------------------------

  /** Starts a group transaction (takes the write lock now, so a busy database fails here, not mid-way). */
  begin(): void {
    this.db.exec('BEGIN IMMEDIATE');
    this.runAtGroupStart = this.runId;
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  /**
   * Writes one batch inside the open group transaction, in a savepoint: if it throws, the batch is undone
   * alone and the rest of the group stays (unless SQLite rolled the whole transaction back, which
   * `inTransaction` then tells). Rethrows what SQLite threw.
   */
  writeInGroup(events: readonly WriterEvent[]): BatchResult {
    const runBefore = this.runId;
    this.db.exec('SAVEPOINT batch');
    this.valuesUndo = new Map();
    try {
      let rows = 0;
      for (const event of events) rows += this.write(event);
      this.db.exec('RELEASE batch');
      return { rows };
    } catch (e) {
      for (const [id, previous] of this.valuesUndo) {
        if (previous) this.pendingValues.set(id, previous);
        else this.pendingValues.delete(id);
      }
      if (this.db.inTransaction) {
        try {
          this.db.exec('ROLLBACK TO batch');
          this.db.exec('RELEASE batch');
        } catch {
          // The savepoint went with an automatic rollback of the whole transaction: inTransaction says so.
        }
      }
      this.undone(runBefore);
      throw e;
    } finally {
      this.valuesUndo = undefined;
    }
  }

  /** Writes the folded updates and commits the group; on failure everything of the group is rolled back. */
  commit(): void {
    try {
      this.flushTouches();
      this.db.exec('COMMIT');
    } catch (e) {
      this.rollback();
      throw e;
    }
  }

  /** Abandons the group transaction. */
  rollback(): void {
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } finally {
      this.undone(this.runAtGroupStart);
      this.pendingValues.clear();
      this.touchedPools.clear();
      this.touchedElements.clear();
      this.touchedPoolUsers.clear();
      this.touchedSubscriptions.clear();
    }
  }

  /** Drops every cached row id (after a rollback, or when maintenance deleted rows). */
  forgetCaches(): void {
    this.seenWritten.clear();
    this.poolIds.clear();
    this.elementIds.clear();
    this.poolUserIds.clear();
  }

  private undone(runBefore: number | null): void {
    this.forgetCaches();
    this.runId = runBefore;
    // Folded updates may name rows that are gone now; the UPDATEs then change nothing, so they may stay.
    if (!this.db.inTransaction) {
      this.pendingValues.clear();
      this.touchedPools.clear();
      this.touchedElements.clear();
      this.touchedPoolUsers.clear();
      this.touchedSubscriptions.clear();
    }
  }

  private write(event: WriterEvent): number {
    switch (event.kind) {
      case 'registered':
      case 'reregistered': {
        const poolId = this.poolId(event.poolKey, event.time);
        const cached = this.elementIds.get(poolId)?.get(event.peId);
        const prepared = 'prepared' in event;
        const row = prepared ? (event.row as ElementRow) : elementRow(event.element);
        let elementId: number;
        if (cached === undefined) elementId = this.upsertElement(poolId, event.peId, row, event.time);
        else {
          elementId = cached;
          if (event.valuesChanged === false) this.touch(this.touchedElements, elementId, event.time);
          else {
            if (this.valuesUndo && !this.valuesUndo.has(elementId)) this.valuesUndo.set(elementId, this.pendingValues.get(elementId));
            this.pendingValues.set(elementId, { row, time: event.time });
          }
        }
        this.s.insertElementEvent.run(event.time, this.runId, poolId, elementId, event.kind, null, event.cause, prepared ? event.detailsJson : detailsJson(event.details));
        return 1;
      }
      case 'health':
      case 'admin':
      case 'removed': {
        const poolId = this.poolId(event.poolKey, event.time);
        const elementId = this.elementId(poolId, event.peId, event.time);
        const state = event.kind === 'removed' ? 'removed' : event.state;
        this.s.insertElementEvent.run(event.time, this.runId, poolId, elementId, event.kind, state, event.cause, 'prepared' in event ? event.detailsJson : detailsJson(event.details));
        this.touch(this.touchedElements, elementId, event.time);
        if (event.kind === 'removed') this.elementIds.get(poolId)?.delete(event.peId);
        return 1;
      }
      case 'seen': {
        const poolId = this.poolId(event.poolKey, event.time);
        this.touch(this.touchedElements, this.elementId(poolId, event.peId, event.time), event.time);
        return 0;
      }
      case 'notification':
        return this.writeNotification(event.time, event.connectionId, event.address, event.poolKey, event.statuses);
      case 'poolUserClosed': {
        const poolUserId = this.poolUserIds.get(event.connectionId) ?? this.s.findPoolUser.get(this.runId, event.connectionId)?.id;
        if (poolUserId === undefined) return 0; // never subscribed: not a pool user
        this.s.closePoolUser.run(event.time, event.reason, event.time, poolUserId);
        this.poolUserIds.delete(event.connectionId);
        this.touchedPoolUsers.delete(poolUserId);
        return 0;
      }
      case 'adminState': {
        const poolId = this.poolId(event.poolKey, event.time);
        if (event.state === 'ready') this.s.deleteAdminState.run(poolId, event.peId);
        else this.s.upsertAdminState.run(poolId, event.peId, event.state, event.reason, event.actor, event.time);
        return 0;
      }
      case 'deployment':
        this.s.insertDeploymentEvent.run(event.time, this.runId, event.source, event.event, event.subject ?? null, json(event.details));
        return 1;
      case 'audit': {
        const poolId = event.poolKey === undefined ? null : this.poolId(event.poolKey, event.time);
        const elementId = poolId === null || event.peId === undefined ? null : this.elementId(poolId, event.peId, event.time);
        this.s.insertAudit.run(
          event.time,
          this.runId,
          event.actor,
          event.role,
          event.action,
          event.target,
          poolId,
          elementId,
          event.reason,
          json(event.before),
          json(event.after),
          event.result,
          json(event.details),
        );
        return 1;
      }
      case 'metrics': {
        for (const p of event.pools) {
          const poolId = this.poolId(p.poolKey, event.time);
          this.s.upsertSample.run(event.intervalMs, poolId, event.time, p.up, p.suspect, p.failed, p.draining, p.maintenance, p.resolutions, p.notifications, p.loadMean);
        }
        return event.pools.length;
      }
      case 'runStarted': {
        const row = this.s.insertRun.get(event.time, event.serverId >>> 0, JSON.stringify(event.settings), event.appVersion);
        this.runId = row?.id ?? null;
        this.poolUserIds.clear(); // connection ids restart with the registrar
        return 0;
      }
      case 'runStopped': {
        if (this.runId !== null) this.s.stopRun.run(event.time, event.reason, this.runId);
        return 0;
      }
    }
  }

  private writeNotification(time: number, connectionId: number, address: string, poolKey: PoolKey, statuses: NotificationStatuses): number {
    const poolId = this.poolId(poolKey, time);
    const poolUserId = this.poolUserId(connectionId, address, time);
    this.touchSubscription(poolUserId, poolId, time, Math.max(1, statuses.length));
    if (statuses.length === 0) {
      this.s.insertNotification.run(time, null, this.runId, poolId, null, null, poolUserId, connectionId, 'snapshot', 'snapshot', null, null);
      return 1;
    }
    for (const status of statuses) {
      const elementId = this.knownElementId(poolId, status.peId);
      let details: JsonObject | undefined;
      if (status.replacementPeId !== undefined || status.load !== undefined || status.reasonText !== undefined) {
        const d: { [key: string]: string | number } = {};
        if (status.replacementPeId !== undefined) d['replacementPeId'] = status.replacementPeId;
        if (status.load !== undefined) d['load'] = status.load;
        if (status.reasonText !== undefined) d['reasonText'] = status.reasonText;
        details = d;
      }
      this.s.insertNotification.run(
        time,
        status.eventTimeMs,
        this.runId,
        poolId,
        elementId,
        status.peId >>> 0,
        poolUserId,
        connectionId,
        statusName(status.status),
        reasonName(status.reason),
        status.sequence >>> 0,
        json(details),
      );
    }
    return statuses.length;
  }

  private poolId(poolKey: PoolKey, time: number): number {
    let id = this.poolIds.get(poolKey);
    if (id === undefined) {
      const handle = Buffer.from(poolKey, 'latin1');
      const row = this.s.upsertPool.get(handle, poolHandleToText(handle), time, time);
      if (!row) throw new Error('pool upsert returned no row');
      id = row.id;
      this.poolIds.set(poolKey, id);
    }
    this.touch(this.touchedPools, id, time);
    return id;
  }

  private upsertElement(poolId: number, peId: number, values: ElementRow, time: number): number {
    const row = this.s.upsertElement.get(poolId, peId >>> 0, values.homeServerId >>> 0, values.addresses, values.asapAddress, values.policy, values.registrationLife, time, time);
    if (!row) throw new Error('element upsert returned no row');
    this.cacheElement(poolId, peId, row.id);
    this.seenWritten.set(row.id, time);
    return row.id;
  }

  /** The element's row id, creating a bare row for an element first met without its registration. */
  private elementId(poolId: number, peId: number, time: number): number {
    const known = this.knownElementId(poolId, peId);
    if (known !== null) return known;
    const row = this.s.insertBareElement.get(poolId, peId >>> 0, time, time);
    if (!row) throw new Error('element insert returned no row');
    this.cacheElement(poolId, peId, row.id);
    return row.id;
  }

  private knownElementId(poolId: number, peId: number): number | null {
    const cached = this.elementIds.get(poolId)?.get(peId);
    if (cached !== undefined) return cached;
    const row = this.s.findElement.get(poolId, peId >>> 0);
    if (!row) return null;
    this.cacheElement(poolId, peId, row.id);
    return row.id;
  }

  private cacheElement(poolId: number, peId: number, id: number): void {
    let pool = this.elementIds.get(poolId);
    if (!pool) {
      pool = new Map();
      this.elementIds.set(poolId, pool);
    }
    pool.set(peId, id);
  }

  private poolUserId(connectionId: number, address: string, time: number): number {
    let id = this.poolUserIds.get(connectionId);
    if (id === undefined) {
      id = this.s.findPoolUser.get(this.runId, connectionId)?.id ?? this.s.insertPoolUser.get(this.runId, connectionId, address, time, time)?.id;
      if (id === undefined) throw new Error('pool user insert returned no row');
      this.poolUserIds.set(connectionId, id);
    }
    this.touch(this.touchedPoolUsers, id, time);
    return id;
  }

  private touchSubscription(poolUserId: number, poolId: number, time: number, count: number): void {
    const key = `${poolUserId}:${poolId}`;
    const touch = this.touchedSubscriptions.get(key);
    if (touch) {
      touch.first = Math.min(touch.first, time);
      touch.last = Math.max(touch.last, time);
      touch.count += count;
    } else {
      this.touchedSubscriptions.set(key, { poolUserId, poolId, first: time, last: time, count });
    }
  }

  private touch(map: Map<number, number>, id: number, time: number): void {
    const previous = map.get(id);
    if (previous === undefined || time > previous) map.set(id, time);
  }

  private flushTouches(): void {
    for (const [id, { row, time }] of this.pendingValues) {
      this.s.updateElement.run(row.homeServerId >>> 0, row.addresses, row.asapAddress, row.policy, row.registrationLife, time, id);
      this.seenWritten.set(id, time);
    }
    this.pendingValues.clear();
    for (const [id, time] of this.touchedPools) this.s.touchPool.run(time, id);
    for (const [id, time] of this.touchedElements) {
      if (time - (this.seenWritten.get(id) ?? -Infinity) < SEEN_STEP_MS) continue;
      this.s.touchElement.run(time, id);
      this.seenWritten.set(id, time);
    }
    for (const [id, time] of this.touchedPoolUsers) this.s.touchPoolUser.run(time, id);
    for (const t of this.touchedSubscriptions.values()) this.s.touchSubscription.run(t.poolUserId, t.poolId, t.first, t.last, t.count);
    this.touchedPools.clear();
    this.touchedElements.clear();
    this.touchedPoolUsers.clear();
    this.touchedSubscriptions.clear();
  }
}

interface PendingValues {
  readonly row: ElementRow;
  readonly time: number;
}

type NotificationStatuses = Extract<HistoryEvent, { kind: 'notification' }>['statuses'];
