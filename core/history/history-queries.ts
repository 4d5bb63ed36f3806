/**
 * Reading the history: one ordered stream of rows (element events, notifications, audit) filtered by
 * time range, pool, element and kind, paged by a keyset cursor on (time, source, id) so a page costs the
 * same however deep it is; metric series for charts; the pools, elements, runs and pool users known.
 *
 * The three tables are read by one compound SELECT whose arms each walk a (time) or (pool/element, time)
 * index in order and are merged by SQLite (no sort, no materialisation), which is also what lets an export
 * stream any number of rows in constant memory.
 */
import type { Database, Statement } from 'better-sqlite3';
import { err, ok, type Result } from '../result.js';
import { historyError, type HistoryError } from './history-error.js';
import { ELEMENT_EVENT_KINDS, type PoolSample } from './history-event.js';
import { DAY, HOUR, MINUTE, SECOND } from './retention.js';

export type RowSource = 'element' | 'notification' | 'audit' | 'deployment';
export type HistoryKind = (typeof ELEMENT_EVENT_KINDS)[number] | 'notification' | 'audit' | 'deployment';
export const HISTORY_KINDS: readonly HistoryKind[] = [...ELEMENT_EVENT_KINDS, 'notification', 'audit', 'deployment'];

export interface HistoryFilter {
  /** Inclusive, ms since the epoch. */
  readonly from?: number | undefined;
  /** Exclusive, ms since the epoch. */
  readonly to?: number | undefined;
  /** Pool name as operators read it (text when printable, else 0x hex). */
  readonly pool?: string | undefined;
  /** PE identifier. */
  readonly peId?: number | undefined;
  /** Default: every kind. */
  readonly kinds?: readonly HistoryKind[] | undefined;
}

/**
 * One row of the merged history. Fields that do not apply to the row's source are null:
 * element rows fill state/cause/details; notifications fill state (the status sent), cause (its reason),
 * puConnection, puAddress, sequence, eventTime, details; audit rows fill actor..result and details.
 */
export interface HistoryRow {
  readonly time: number;
  readonly kind: string;
  readonly pool: string | null;
  readonly peId: number | null;
  readonly state: string | null;
  readonly cause: string | null;
  /** JSON text. */
  readonly details: string | null;
  readonly puAddress: string | null;
  readonly puConnection: number | null;
  readonly sequence: number | null;
  readonly eventTime: number | null;
  readonly actor: string | null;
  readonly role: string | null;
  readonly action: string | null;
  readonly target: string | null;
  readonly reason: string | null;
  /** JSON text. */
  readonly before: string | null;
  /** JSON text. */
  readonly after: string | null;
  readonly result: string | null;
  readonly runId: number | null;
  readonly source: RowSource;
  readonly id: number;
}

/** The column order of HistoryRow as raw arrays (what `iterateRaw` yields and exports write). */
export const HISTORY_COLUMNS = [
  'time',
  'kind',
  'pool',
  'pe_id',
  'state',
  'cause',
  'details',
  'pu_address',
  'pu_connection',
  'sequence',
  'event_time',
  'actor',
  'role',
  'action',
  'target',
  'reason',
  'before',
  'after',
  'result',
  'run_id',
  'source',
  'id',
] as const;

export type RawHistoryRow = [
  time: number,
  kind: string,
  pool: string | null,
  peId: number | null,
  state: string | null,
  cause: string | null,
  details: string | null,
  puAddress: string | null,
  puConnection: number | null,
  sequence: number | null,
  eventTime: number | null,
  actor: string | null,
  role: string | null,
  action: string | null,
  target: string | null,
  reason: string | null,
  before: string | null,
  after: string | null,
  result: string | null,
  runId: number | null,
  source: RowSource,
  id: number,
];

/** Rows of the same millisecond come in this order: the source names sort so, which ORDER BY relies on. */
const SOURCE_ORDER: Record<RowSource, number> = { audit: 0, deployment: 1, element: 2, notification: 3 };
const SOURCES: readonly RowSource[] = ['audit', 'deployment', 'element', 'notification'];

export interface Cursor {
  readonly time: number;
  readonly source: RowSource;
  readonly id: number;
}

export interface Page {
  readonly rows: readonly HistoryRow[];
  /** Pass back to get the next page; undefined on the last page. */
  readonly next: string | undefined;
}

export function encodeCursor(cursor: Cursor): string {
  return `${cursor.time}.${SOURCE_ORDER[cursor.source]}.${cursor.id}`;
}

export function decodeCursor(text: string): Result<Cursor, HistoryError> {
  const match = /^(-?\d+)\.([0-3])\.(\d+)$/.exec(text);
  if (!match) return err(historyError('queryFailed', `not a history cursor: ${JSON.stringify(text)}`));
  return ok({ time: Number(match[1]), source: SOURCES[Number(match[2])] as RowSource, id: Number(match[3]) });
}

export type MetricInterval = typeof SECOND | typeof MINUTE | typeof HOUR;

/** One pool's figures over one interval, as recorded (PoolSample) with the interval's start. */
export type MetricPoint = Omit<PoolSample, 'poolKey'> & {
  /** Start of the interval. */
  readonly time: number;
};

export interface MetricSeries {
  readonly pool: string;
  readonly intervalMs: MetricInterval;
  readonly points: readonly MetricPoint[];
}

export interface PoolSummary {
  readonly name: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly elements: number;
}

export interface ElementSummary {
  readonly pool: string;
  readonly peId: number;
  readonly homeServerId: number;
  readonly addresses: string;
  readonly asapAddress: string;
  /** JSON text. */
  readonly policy: string;
  readonly registrationLife: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

export interface PersistedAdminState {
  readonly poolHandle: Uint8Array;
  readonly peId: number;
  readonly state: 'draining' | 'maintenance';
  readonly reason: string;
  readonly actor: string;
  readonly since: number;
}

export interface RunSummary {
  readonly id: number;
  readonly startedAt: number;
  readonly stoppedAt: number | null;
  readonly serverId: number;
  /** JSON text. */
  readonly settings: string;
  readonly appVersion: string;
  readonly stopReason: string | null;
}

export interface PoolUserSummary {
  readonly id: number;
  readonly runId: number | null;
  readonly connectionId: number;
  readonly address: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly closedAt: number | null;
  readonly closeReason: string | null;
  readonly subscriptions: readonly { readonly pool: string; readonly firstSeen: number; readonly lastSeen: number; readonly notifications: number }[];
}

const MAX_PAGE = 10_000;
const NO_ID = Number.MAX_SAFE_INTEGER;

const ARM_SQL: Record<RowSource, (where: string) => string> = {
  element: (where) => `SELECT e.time, e.kind, p.name, pe.pe_id, e.state, e.cause, e.details, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, e.run_id, 'element', e.id
    FROM element_events e JOIN pools p ON p.id = e.pool_id JOIN pool_elements pe ON pe.id = e.element_id WHERE ${where}`,
  notification: (where) => `SELECT e.time, 'notification', p.name, e.pe_id, e.status, e.reason, e.details, u.address, e.connection_id, e.sequence, e.event_time, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, e.run_id, 'notification', e.id
    FROM notifications e JOIN pools p ON p.id = e.pool_id JOIN pool_users u ON u.id = e.pool_user_id WHERE ${where}`,
  audit: (where) => `SELECT e.time, 'audit', p.name, pe.pe_id, NULL, NULL, e.details, NULL, NULL, NULL, NULL, e.actor, e.role, e.action, e.target, e.reason, e.before, e.after, e.result, e.run_id, 'audit', e.id
    FROM audit e LEFT JOIN pools p ON p.id = e.pool_id LEFT JOIN pool_elements pe ON pe.id = e.element_id WHERE ${where}`,
  // ENRP and CSP events: state = the event (peerDown, componentArrived, ...), cause = its source (enrp or
  // csp), target = the peer registrar or the component it is about.
  deployment: (where) => `SELECT e.time, 'deployment', NULL, NULL, e.event, e.source, e.details, NULL, NULL, NULL, NULL, NULL, NULL, NULL, e.subject, NULL, NULL, NULL, NULL, e.run_id, 'deployment', e.id
    FROM deployment_events e WHERE ${where}`,
};

/** Rows per keyset page of one arm during an export. */
const EXPORT_PAGE = 1024;

/**
 * One arm's own columns, for the export's keyset pages (its conditions, then the keyset condition on the
 * last row returned, then the page size). Each ends with time and id at known places (ARM_TO_RAW).
 */
const ARM_PAGE_SQL: Record<RowSource, (where: string) => string> = {
  element: (where) => `SELECT e.time, e.kind, p.name, pe.pe_id, e.state, e.cause, e.details, e.run_id, e.id
    FROM element_events e JOIN pools p ON p.id = e.pool_id JOIN pool_elements pe ON pe.id = e.element_id WHERE ${where} ORDER BY e.time, e.id LIMIT ?`,
  notification: (where) => `SELECT e.time, p.name, e.pe_id, e.status, e.reason, e.details, u.address, e.connection_id, e.sequence, e.event_time, e.run_id, e.id
    FROM notifications e JOIN pools p ON p.id = e.pool_id JOIN pool_users u ON u.id = e.pool_user_id WHERE ${where} ORDER BY e.time, e.id LIMIT ?`,
  audit: (where) => `${ARM_SQL.audit(where)} ORDER BY e.time, e.id LIMIT ?`,
  deployment: (where) => `${ARM_SQL.deployment(where)} ORDER BY e.time, e.id LIMIT ?`,
};

type ArmRow = (string | number | null)[];

/** An arm's page row as a RawHistoryRow (HISTORY_COLUMNS order). */
const ARM_TO_RAW: Record<RowSource, (r: ArmRow) => RawHistoryRow> = {
  element: (r) => [r[0], r[1], r[2], r[3], r[4], r[5], r[6], null, null, null, null, null, null, null, null, null, null, null, null, r[7], 'element', r[8]] as RawHistoryRow,
  notification: (r) => [r[0], 'notification', r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], null, null, null, null, null, null, null, null, r[10], 'notification', r[11]] as RawHistoryRow,
  audit: (r) => r as RawHistoryRow,
  deployment: (r) => r as RawHistoryRow,
};

interface ArmFilter {
  readonly source: RowSource;
  readonly where: readonly string[];
  readonly params: readonly (number | string)[];
}

interface ArmCursor {
  readonly source: RowSource;
  readonly order: number;
  readonly statement: Statement;
  readonly params: readonly (number | string)[];
  rows: ArmRow[];
  index: number;
  /** False once a page came back short. */
  more: boolean;
  /** Time and id of the last row fetched (the keyset). */
  time: number;
  id: number;
}

/** Fetches the arm's next page; false when it has no rows left. */
function fetchPage(c: ArmCursor): boolean {
  if (!c.more) return false;
  c.rows = c.statement.all(...c.params, c.time, c.time, c.id, EXPORT_PAGE) as ArmRow[];
  c.index = 0;
  c.more = c.rows.length === EXPORT_PAGE;
  const last = c.rows[c.rows.length - 1];
  if (!last) return false;
  c.time = last[0] as number;
  c.id = last[last.length - 1] as number;
  return true;
}

/** A built query: SQL with positional parameters. */
interface BuiltQuery {
  readonly sql: string;
  readonly params: readonly (number | string)[];
}

export class HistoryQueries {
  private readonly poolIdsByName: Statement<[string], { id: number }>;
  private readonly elementIdsByPe: Statement<[number], { id: number; pool_id: number }>;

  constructor(private readonly db: Database) {
    this.poolIdsByName = db.prepare('SELECT id FROM pools WHERE name = ?');
    this.elementIdsByPe = db.prepare('SELECT id, pool_id FROM pool_elements WHERE pe_id = ?');
  }

  /** One page of the merged history, oldest first, starting after `cursor`. */
  page(filter: HistoryFilter, options: { readonly cursor?: string | undefined; readonly limit?: number } = {}): Result<Page, HistoryError> {
    const limit = Math.max(1, Math.min(MAX_PAGE, Math.floor(options.limit ?? 100)));
    let cursor: Cursor | undefined;
    if (options.cursor !== undefined) {
      const decoded = decodeCursor(options.cursor);
      if (!decoded.ok) return decoded;
      cursor = decoded.value;
    }
    const built = this.build(filter, cursor, limit + 1);
    if (!built.ok) return built;
    if (!built.value) return ok({ rows: [], next: undefined });
    let raws: RawHistoryRow[];
    try {
      raws = this.db.prepare(built.value.sql).raw(true).all(...built.value.params) as RawHistoryRow[];
    } catch (e) {
      return err(historyError('queryFailed', `history query failed: ${(e as Error).message}`));
    }
    const more = raws.length > limit;
    const rows = raws.slice(0, limit).map(rowFromRaw);
    const last = rows[rows.length - 1];
    return ok({ rows, next: more && last ? encodeCursor({ time: last.time, source: last.source, id: last.id }) : undefined });
  }

  /**
   * Every matching row, oldest first, as raw arrays in HISTORY_COLUMNS order (each a fresh array), read in
   * keyset pages of EXPORT_PAGE rows per table (constant memory) inside one read transaction, held until
   * the iterator finishes or is returned early. (A filter whose index gives no time order is read through
   * the compound SELECT instead, one row at a time; the connection is busy meanwhile.)
   */
  iterateRaw(filter: HistoryFilter): Result<IterableIterator<RawHistoryRow>, HistoryError> {
    try {
      const arms = this.armFilters(filter);
      if (!arms.ok) return arms;
      if (!arms.value) return ok([][Symbol.iterator]() as IterableIterator<RawHistoryRow>);
      const cursors = this.pagedArms(arms.value);
      if (cursors) return ok(this.mergePages(cursors));
      const built = this.build(filter, undefined, undefined);
      if (!built.ok) return built;
      if (!built.value) return ok([][Symbol.iterator]() as IterableIterator<RawHistoryRow>);
      return ok(this.db.prepare(built.value.sql).raw(true).iterate(...built.value.params) as IterableIterator<RawHistoryRow>);
    } catch (e) {
      return err(historyError('queryFailed', `history query failed: ${(e as Error).message}`));
    }
  }

  /** The query plan (for tests and diagnosis): proves the arms walk indexes and merge without sorting. */
  explain(filter: HistoryFilter): string[] {
    const built = this.build(filter, undefined, 100);
    if (!built.ok || !built.value) return [];
    return (this.db.prepare(`EXPLAIN QUERY PLAN ${built.value.sql}`).all(...built.value.params) as { detail: string }[]).map((r) => r.detail);
  }

  /**
   * A pool's metric series for a chart. Without `intervalMs` the resolution follows the range (≤ 1 h:
   * seconds, ≤ 3 days: minutes, else hours), falling back to a coarser one whose rows are still kept.
   */
  metricSeries(pool: string, from: number, to: number, intervalMs?: MetricInterval): Result<MetricSeries, HistoryError> {
    if (!(to > from)) return err(historyError('queryFailed', `metric range is empty (from ${from} to ${to})`));
    const ids = this.poolIdsByName.all(pool).map((r) => r.id);
    const chosen: MetricInterval = intervalMs ?? (to - from <= HOUR ? SECOND : to - from <= 3 * DAY ? MINUTE : HOUR);
    const candidates: MetricInterval[] = intervalMs ? [intervalMs] : ([SECOND, MINUTE, HOUR] as MetricInterval[]).filter((i) => i >= chosen);
    const statement = this.db.prepare(
      `SELECT time, up, suspect, failed, draining, maintenance, resolutions, notifications, load_mean AS loadMean
       FROM metric_samples WHERE interval_ms = ? AND pool_id = ? AND time >= ? AND time < ? ORDER BY time`,
    );
    for (const interval of candidates) {
      const points: MetricPoint[] = [];
      for (const id of ids) points.push(...(statement.all(interval, id, Math.floor(from / interval) * interval, to) as MetricPoint[]));
      if (points.length > 0 || interval === candidates[candidates.length - 1]) return ok({ pool, intervalMs: interval, points });
    }
    return ok({ pool, intervalMs: chosen, points: [] });
  }

  pools(): PoolSummary[] {
    return this.db
      .prepare(
        `SELECT p.name, p.first_seen AS firstSeen, p.last_seen AS lastSeen, (SELECT count(*) FROM pool_elements e WHERE e.pool_id = p.id) AS elements
         FROM pools p ORDER BY p.name`,
      )
      .all() as PoolSummary[];
  }

  elements(pool?: string): ElementSummary[] {
    const sql = `SELECT p.name AS pool, e.pe_id AS peId, e.home_server_id AS homeServerId, e.addresses, e.asap_address AS asapAddress, e.policy,
        e.registration_life AS registrationLife, e.first_seen AS firstSeen, e.last_seen AS lastSeen
      FROM pool_elements e JOIN pools p ON p.id = e.pool_id ${pool === undefined ? '' : 'WHERE p.name = ?'} ORDER BY p.name, e.pe_id`;
    const statement = this.db.prepare(sql);
    return (pool === undefined ? statement.all() : statement.all(pool)) as ElementSummary[];
  }

  /** Every persisted non-ready admin state (issue 6), keyed by the pool's handle bytes. */
  adminStates(): PersistedAdminState[] {
    const rows = this.db
      .prepare(
        `SELECT p.handle, a.pe_id AS peId, a.state, a.reason, a.actor, a.since FROM admin_states a JOIN pools p ON p.id = a.pool_id ORDER BY p.name, a.pe_id`,
      )
      .all() as (Omit<PersistedAdminState, 'poolHandle'> & { handle: Buffer })[];
    return rows.map(({ handle, ...rest }) => ({ ...rest, poolHandle: new Uint8Array(handle) }));
  }

  runs(): RunSummary[] {
    return this.db
      .prepare(
        `SELECT id, started_at AS startedAt, stopped_at AS stoppedAt, server_id AS serverId, settings, app_version AS appVersion, stop_reason AS stopReason
         FROM registrar_runs ORDER BY id`,
      )
      .all() as RunSummary[];
  }

  poolUsers(): PoolUserSummary[] {
    const users = this.db
      .prepare(
        `SELECT id, run_id AS runId, connection_id AS connectionId, address, first_seen AS firstSeen, last_seen AS lastSeen, closed_at AS closedAt, close_reason AS closeReason
         FROM pool_users ORDER BY id`,
      )
      .all() as Omit<PoolUserSummary, 'subscriptions'>[];
    const subscriptions = this.db.prepare(
      `SELECT p.name AS pool, s.first_seen AS firstSeen, s.last_seen AS lastSeen, s.notifications
       FROM pool_user_subscriptions s JOIN pools p ON p.id = s.pool_id WHERE s.pool_user_id = ? ORDER BY p.name`,
    );
    return users.map((u) => ({ ...u, subscriptions: subscriptions.all(u.id) as PoolUserSummary['subscriptions'] }));
  }

  /**
   * The compound SELECT for a filter; undefined when the filter cannot match (an unknown pool or PE).
   * Each arm carries its own keyset condition: for the cursor (t, s, i), an arm of source order a keeps
   * rows with time > t, or time = t and (a > s, or a = s and id > i).
   */
  private build(filter: HistoryFilter, cursor: Cursor | undefined, limit: number | undefined): Result<BuiltQuery | undefined, HistoryError> {
    const filtered = this.armFilters(filter);
    if (!filtered.ok || !filtered.value) return filtered as Result<undefined, HistoryError>;
    const arms: string[] = [];
    const params: (number | string)[] = [];
    for (const arm of filtered.value) {
      const where = [...arm.where];
      params.push(...arm.params);
      if (cursor) {
        const order = SOURCE_ORDER[arm.source];
        const cursorOrder = SOURCE_ORDER[cursor.source];
        where.push('e.time >= ? AND (e.time > ? OR e.id > ?)');
        params.push(cursor.time, cursor.time, order < cursorOrder ? NO_ID : order === cursorOrder ? cursor.id : -1);
      }
      arms.push(ARM_SQL[arm.source](where.length > 0 ? where.join(' AND ') : '1'));
    }
    // Column 1 is time, 21 the source name (sorts audit < deployment < element < notification, as SOURCE_ORDER), 22 the id.
    let sql = `${arms.join('\nUNION ALL\n')}\nORDER BY 1, 21, 22`;
    if (limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(limit);
    }
    return ok({ sql, params });
  }

  /** The conditions of each table's arm for a filter; undefined when the filter cannot match (an unknown pool or PE). */
  private armFilters(filter: HistoryFilter): Result<ArmFilter[] | undefined, HistoryError> {
    const kinds = filter.kinds && filter.kinds.length > 0 ? filter.kinds : HISTORY_KINDS;
    const unknown = kinds.filter((k) => !HISTORY_KINDS.includes(k));
    if (unknown.length > 0) return err(historyError('queryFailed', `unknown kind ${unknown.join(', ')} (known: ${HISTORY_KINDS.join(', ')})`));
    let poolIds: number[] | undefined;
    if (filter.pool !== undefined) {
      poolIds = this.poolIdsByName.all(filter.pool).map((r) => r.id);
      if (poolIds.length === 0) return ok(undefined);
    }
    let elementIds: number[] | undefined;
    if (filter.peId !== undefined) {
      elementIds = this.elementIdsByPe
        .all(filter.peId >>> 0)
        .filter((r) => !poolIds || poolIds.includes(r.pool_id))
        .map((r) => r.id);
      if (elementIds.length === 0) return ok(undefined);
    }
    const elementKinds = kinds.filter((k): k is (typeof ELEMENT_EVENT_KINDS)[number] => (ELEMENT_EVENT_KINDS as readonly string[]).includes(k));
    const arms: ArmFilter[] = [];
    for (const source of SOURCES) {
      if (source === 'element' && elementKinds.length === 0) continue;
      if (source !== 'element' && !kinds.includes(source)) continue;
      // Registrar and component events belong to no pool or element.
      if (source === 'deployment' && (poolIds || elementIds)) continue;
      const where: string[] = [];
      const params: (number | string)[] = [];
      if (filter.from !== undefined) {
        where.push('e.time >= ?');
        params.push(filter.from);
      }
      if (filter.to !== undefined) {
        where.push('e.time < ?');
        params.push(filter.to);
      }
      if (poolIds) {
        where.push(`e.pool_id IN (${poolIds.map(() => '?').join(', ')})`);
        params.push(...poolIds);
      }
      if (elementIds) {
        where.push(`e.element_id IN (${elementIds.map(() => '?').join(', ')})`);
        params.push(...elementIds);
      }
      if (source === 'element' && elementKinds.length < ELEMENT_EVENT_KINDS.length) {
        where.push(`e.kind IN (${elementKinds.map(() => '?').join(', ')})`);
        params.push(...elementKinds);
      }
      arms.push({ source, where, params });
    }
    return ok(arms.length > 0 ? arms : undefined);
  }

  /**
   * The export's read: each table's arm in keyset pages of EXPORT_PAGE rows (`all()` of only the arm's own
   * columns costs a fraction of iterating the compound SELECT's 22 columns, most of them NULL), merged
   * here in the compound SELECT's order. Undefined when an arm's page would need a full sort (its
   * filter's index does not give time order): the caller then iterates the compound SELECT.
   */
  private pagedArms(arms: readonly ArmFilter[]): ArmCursor[] | undefined {
    const cursors: ArmCursor[] = [];
    for (const arm of arms) {
      const sql = ARM_PAGE_SQL[arm.source]([...arm.where, 'e.time >= ? AND (e.time > ? OR e.id > ?)'].join(' AND '));
      const params = [...arm.params, 0, 0, 0, 1];
      const plan = (this.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n');
      if (/USE TEMP B-TREE FOR ORDER BY/.test(plan)) return undefined;
      cursors.push({ source: arm.source, order: SOURCE_ORDER[arm.source], statement: this.db.prepare(sql).raw(true), params: arm.params, rows: [], index: 0, more: true, time: Number.MIN_SAFE_INTEGER, id: -1 });
    }
    return cursors;
  }

  /** Merges the arms' pages; the whole read is one transaction, so the export sees one snapshot. */
  private *mergePages(cursors: ArmCursor[]): Generator<RawHistoryRow, void, undefined> {
    const begun = !this.db.inTransaction;
    if (begun) this.db.exec('BEGIN');
    try {
      const live = cursors.filter((c) => fetchPage(c));
      while (live.length > 0) {
        let best = live[0] as ArmCursor;
        let bestRow = best.rows[best.index] as ArmRow;
        for (let k = 1; k < live.length; k++) {
          const c = live[k] as ArmCursor;
          const row = c.rows[c.index] as ArmRow;
          if ((row[0] as number) < (bestRow[0] as number) || (row[0] === bestRow[0] && c.order < best.order)) {
            best = c;
            bestRow = row;
          }
        }
        yield ARM_TO_RAW[best.source](bestRow);
        if (++best.index >= best.rows.length && !fetchPage(best)) live.splice(live.indexOf(best), 1);
      }
    } finally {
      if (begun && this.db.inTransaction) this.db.exec('COMMIT');
    }
  }
}

export function rowFromRaw(raw: RawHistoryRow): HistoryRow {
  return {
    time: raw[0],
    kind: raw[1],
    pool: raw[2],
    peId: raw[3],
    state: raw[4],
    cause: raw[5],
    details: raw[6],
    puAddress: raw[7],
    puConnection: raw[8],
    sequence: raw[9],
    eventTime: raw[10],
    actor: raw[11],
    role: raw[12],
    action: raw[13],
    target: raw[14],
    reason: raw[15],
    before: raw[16],
    after: raw[17],
    result: raw[18],
    runId: raw[19],
    source: raw[20],
    id: raw[21],
  };
}
