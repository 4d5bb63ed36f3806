/**
 * Keeping the history file bounded: metric roll-ups (1 s rows → minutes → hours), retention (raw rows
 * older than their window deleted in small chunks, each its own short transaction so event batches slip in
 * between), and giving freed pages back to the file system.
 *
 * Vacuuming: the file is created with `PRAGMA auto_vacuum = INCREMENTAL` (the migration runner sets it
 * before the first table exists; it cannot be switched on later without a full VACUUM). Deleted rows leave
 * free pages inside the file; after each retention pass that freed pages, `PRAGMA incremental_vacuum(N)`
 * moves up to N pages from the end of the file into those holes and truncates the file, a few hundred pages
 * per step so no step holds the write lock for long. A full `VACUUM` (rewrites the whole file, needs as
 * much free disk again) is never run automatically; an operator may run it with the registrar stopped.
 */
import type { Database } from 'better-sqlite3';
import type { BatchWriter } from './batch-writer.js';

export const SECOND = 1000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export interface RetentionPolicy {
  /** Element events and notifications are kept this many days (default 30). */
  readonly eventDays: number;
  /** Audit rows are kept this many days (default 365). */
  readonly auditDays: number;
  /** Per-second metric rows are kept this many hours once rolled up (default 24). */
  readonly secondSampleHours: number;
  /** Per-minute metric rows are kept this many days once rolled up (default 30). */
  readonly minuteSampleDays: number;
  /** Per-hour metric rows are kept this many days (default 730). */
  readonly hourSampleDays: number;
  /** Rows deleted per transaction (default 2000: a few milliseconds of write lock). */
  readonly chunkRows: number;
  /** Pages handed back per incremental_vacuum step (default 512). */
  readonly vacuumPagesPerStep: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  eventDays: 30,
  auditDays: 365,
  secondSampleHours: 24,
  minuteSampleDays: 30,
  hourSampleDays: 730,
  chunkRows: 2000,
  vacuumPagesPerStep: 512,
};

/** Seconds rows of a minute are rolled up only once this much time has passed after the minute ended. */
const ROLLUP_GRACE_MS = 10_000;

export interface MaintenanceReport {
  readonly rolledUpMinutes: number;
  readonly rolledUpHours: number;
  readonly deleted: {
    readonly elementEvents: number;
    readonly notifications: number;
    readonly audit: number;
    readonly deploymentEvents: number;
    readonly metricSamples: number;
    readonly poolUsers: number;
    readonly elements: number;
    readonly pools: number;
  };
  readonly vacuumedPages: number;
  readonly freePagesLeft: number;
  readonly durationMs: number;
}

/** Lets other work (event batches) run between two chunks. */
export type Yield = () => Promise<void>;

const WATERMARK_KEY = (intervalMs: number): string => `rollup.${intervalMs}.until`;

/**
 * One maintenance pass at time `now`: roll-ups, retention, incremental vacuum. `writer` (when given) drops
 * its cached row ids after rows it may know were deleted.
 */
export async function runMaintenance(db: Database, now: number, policy: RetentionPolicy, writer: BatchWriter | undefined, pause: Yield): Promise<MaintenanceReport> {
  const started = performance.now();
  const rolledUpMinutes = await rollUp(db, SECOND, MINUTE, now, pause);
  const rolledUpHours = await rollUp(db, MINUTE, HOUR, now, pause);

  const eventCutoff = now - policy.eventDays * DAY;
  const auditCutoff = now - policy.auditDays * DAY;
  const chunk = Math.max(1, Math.floor(policy.chunkRows));
  const deleteChunks = async (sql: string, ...params: number[]): Promise<number> => {
    const statement = db.prepare(sql);
    let total = 0;
    for (;;) {
      const changes = statement.run(...params, chunk).changes;
      total += changes;
      if (changes < chunk) return total;
      await pause();
    }
  };
  const elementEvents = await deleteChunks('DELETE FROM element_events WHERE id IN (SELECT id FROM element_events WHERE time < ? ORDER BY time LIMIT ?)', eventCutoff);
  const notifications = await deleteChunks('DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE time < ? ORDER BY time LIMIT ?)', eventCutoff);
  const audit = await deleteChunks('DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < ? ORDER BY time LIMIT ?)', auditCutoff);
  const deploymentEvents = await deleteChunks('DELETE FROM deployment_events WHERE id IN (SELECT id FROM deployment_events WHERE time < ? ORDER BY time LIMIT ?)', eventCutoff);

  // Metric rows go only once rolled up into the next interval (the watermark says how far that got).
  let metricSamples = 0;
  const sampleWindows: readonly (readonly [number, number])[] = [
    [SECOND, Math.min(now - policy.secondSampleHours * HOUR, watermark(db, MINUTE) ?? -Infinity)],
    [MINUTE, Math.min(now - policy.minuteSampleDays * DAY, watermark(db, HOUR) ?? -Infinity)],
    [HOUR, now - policy.hourSampleDays * DAY],
  ];
  for (const [interval, cutoff] of sampleWindows) {
    if (!Number.isFinite(cutoff)) continue;
    metricSamples += await deleteChunks(
      'DELETE FROM metric_samples WHERE (interval_ms, pool_id, time) IN (SELECT interval_ms, pool_id, time FROM metric_samples WHERE interval_ms = ? AND time < ? LIMIT ?)',
      interval,
      cutoff,
    );
  }

  // Rows that only the deleted rows referred to. Their ids may sit in the writer's caches: each chunk
  // drops those caches in the same synchronous step, before any batch can use a stale id.
  const forget = (count: number): number => {
    if (count > 0) writer?.forgetCaches();
    return count;
  };
  const chunkForget = async (sql: string, ...params: number[]): Promise<number> => {
    const statement = db.prepare(sql);
    let total = 0;
    for (;;) {
      const changes = forget(statement.run(...params, chunk).changes);
      total += changes;
      if (changes < chunk) return total;
      await pause();
    }
  };
  // A pool user's and a subscription's last_seen is the time of their newest notification, so once
  // notifications before the cutoff are gone, users and subscriptions last seen before it have none left.
  await chunkForget(
    `DELETE FROM pool_user_subscriptions WHERE (pool_user_id, pool_id) IN (
       SELECT s.pool_user_id, s.pool_id FROM pool_user_subscriptions s JOIN pool_users u ON u.id = s.pool_user_id
       WHERE u.last_seen < ? LIMIT ?)`,
    eventCutoff,
  );
  const poolUsers = await chunkForget(
    `DELETE FROM pool_users WHERE id IN (
       SELECT u.id FROM pool_users u WHERE u.last_seen < ?
       AND NOT EXISTS (SELECT 1 FROM pool_user_subscriptions s WHERE s.pool_user_id = u.id) LIMIT ?)`,
    eventCutoff,
  );
  const elements = await chunkForget(
    `DELETE FROM pool_elements WHERE id IN (
       SELECT e.id FROM pool_elements e WHERE e.last_seen < ?
       AND NOT EXISTS (SELECT 1 FROM element_events x WHERE x.element_id = e.id)
       AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.element_id = e.id)
       AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.element_id = e.id) LIMIT ?)`,
    eventCutoff,
  );
  const pools = await chunkForget(
    `DELETE FROM pools WHERE id IN (
       SELECT p.id FROM pools p WHERE p.last_seen < ?
       AND NOT EXISTS (SELECT 1 FROM pool_elements e WHERE e.pool_id = p.id)
       AND NOT EXISTS (SELECT 1 FROM element_events x WHERE x.pool_id = p.id)
       AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.pool_id = p.id)
       AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.pool_id = p.id)
       -- An operator's persisted drain or maintenance outlives retention: only the ready command ends it.
       AND NOT EXISTS (SELECT 1 FROM admin_states st WHERE st.pool_id = p.id)
       AND NOT EXISTS (SELECT 1 FROM pool_user_subscriptions s WHERE s.pool_id = p.id)
       AND NOT EXISTS (SELECT 1 FROM metric_samples m WHERE m.interval_ms = ${SECOND} AND m.pool_id = p.id)
       AND NOT EXISTS (SELECT 1 FROM metric_samples m WHERE m.interval_ms = ${MINUTE} AND m.pool_id = p.id)
       AND NOT EXISTS (SELECT 1 FROM metric_samples m WHERE m.interval_ms = ${HOUR} AND m.pool_id = p.id) LIMIT ?)`,
    eventCutoff,
  );

  const { vacuumedPages, freePagesLeft } = await incrementalVacuum(db, policy.vacuumPagesPerStep, pause);
  return {
    rolledUpMinutes,
    rolledUpHours,
    deleted: { elementEvents, notifications, audit, deploymentEvents, metricSamples, poolUsers, elements, pools },
    vacuumedPages,
    freePagesLeft,
    durationMs: performance.now() - started,
  };
}

/** Hands free pages back to the file system, a step at a time; returns how many went. */
export async function incrementalVacuum(db: Database, pagesPerStep: number, pause: Yield): Promise<{ vacuumedPages: number; freePagesLeft: number }> {
  let vacuumedPages = 0;
  let free = db.pragma('freelist_count', { simple: true }) as number;
  // Not in auto_vacuum INCREMENTAL mode (a file made elsewhere): nothing to do but report the free pages.
  if ((db.pragma('auto_vacuum', { simple: true }) as number) !== 2) return { vacuumedPages: 0, freePagesLeft: free };
  while (free > 0) {
    db.pragma(`incremental_vacuum(${Math.max(1, Math.floor(pagesPerStep))})`);
    const left = db.pragma('freelist_count', { simple: true }) as number;
    vacuumedPages += free - left;
    if (left >= free) break;
    free = left;
    if (free > 0) await pause();
  }
  return { vacuumedPages, freePagesLeft: free };
}

function watermark(db: Database, intervalMs: number): number | undefined {
  const row = db.prepare('SELECT value FROM history_meta WHERE key = ?').get(WATERMARK_KEY(intervalMs)) as { value: string } | undefined;
  return row ? Number(row.value) : undefined;
}

/**
 * Aggregates `from` rows into `to` rows for every complete `to` interval since the last roll-up, one `to`
 * interval per pool at a time per step (bounded work per transaction). Gauges are sample-weighted means,
 * counters are sums. Returns how many `to` intervals were rolled up.
 */
async function rollUp(db: Database, from: number, to: number, now: number, pause: Yield): Promise<number> {
  const grace = from === SECOND ? ROLLUP_GRACE_MS : ROLLUP_GRACE_MS + MINUTE;
  const until = Math.floor((now - grace) / to) * to;
  let start = watermark(db, to);
  if (start === undefined) {
    const oldest = db.prepare('SELECT min(time) AS t FROM metric_samples WHERE interval_ms = ?').get(from) as { t: number | null };
    if (oldest.t === null) return 0;
    start = Math.floor(oldest.t / to) * to;
  }
  const aggregate = db.prepare(
    `INSERT INTO metric_samples (interval_ms, pool_id, time, up, suspect, failed, draining, maintenance, resolutions, notifications, load_mean, samples)
     SELECT ?, pool_id, ?, sum(up * samples) / sum(samples), sum(suspect * samples) / sum(samples), sum(failed * samples) / sum(samples),
       sum(draining * samples) / sum(samples), sum(maintenance * samples) / sum(samples), sum(resolutions), sum(notifications),
       sum(load_mean * samples) / sum(CASE WHEN load_mean IS NULL THEN NULL ELSE samples END), sum(samples)
     FROM metric_samples WHERE interval_ms = ? AND time >= ? AND time < ? GROUP BY pool_id
     ON CONFLICT (interval_ms, pool_id, time) DO UPDATE SET up = excluded.up, suspect = excluded.suspect, failed = excluded.failed,
       draining = excluded.draining, maintenance = excluded.maintenance, resolutions = excluded.resolutions,
       notifications = excluded.notifications, load_mean = excluded.load_mean, samples = excluded.samples`,
  );
  const setWatermark = db.prepare('INSERT INTO history_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  const step = db.transaction((bucket: number) => {
    aggregate.run(to, bucket, from, bucket, bucket + to);
    setWatermark.run(WATERMARK_KEY(to), String(bucket + to));
  });
  const next = db.prepare('SELECT min(time) AS t FROM metric_samples WHERE interval_ms = ? AND time >= ? AND time < ?');
  let rolled = 0;
  let bucket = start;
  while (bucket < until) {
    step.immediate(bucket);
    rolled++;
    // Skip empty stretches (the registrar was down) in one jump.
    const following = next.get(from, bucket + to, until) as { t: number | null };
    if (following.t === null) {
      if (bucket + to < until) setWatermark.run(WATERMARK_KEY(to), String(until));
      break;
    }
    bucket = Math.floor(following.t / to) * to;
    await pause();
  }
  return rolled;
}
