/**
 * Retention and roll-ups on a real file: raw rows older than their window go in small chunks (with a pause
 * between chunks for the writer's batches), rows only they referred to go with them, per-second metric
 * rows become minutes and hours (means of gauges, sums of counters) and are deleted only once rolled up,
 * and freed pages are handed back by incremental vacuum.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { BatchWriter } from '../../../core/history/batch-writer.js';
import { openHistoryDatabase } from '../../../core/history/database.js';
import type { HistoryEvent, PoolSample } from '../../../core/history/history-event.js';
import { DAY, DEFAULT_RETENTION, HOUR, MINUTE, runMaintenance } from '../../../core/history/retention.js';
import { registered, removed, T0, tempDir } from './helpers.js';

function open(t: import('node:test').TestContext): { db: Database; writer: BatchWriter; file: string } {
  const file = path.join(tempDir(t), 'history.db');
  const opened = openHistoryDatabase(file);
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const db = opened.value.db;
  t.after(() => db.close());
  return { db, writer: new BatchWriter(db), file };
}

const count = (db: Database, sql: string): number => (db.prepare(sql).get() as { n: number }).n;

function pauses(): { pause: () => Promise<void>; count: () => number } {
  let n = 0;
  return {
    pause: () => {
      n++;
      return Promise.resolve();
    },
    count: () => n,
  };
}

function notification(time: number, peId: number, connectionId = 1): HistoryEvent {
  return { kind: 'notification', time, connectionId, address: `127.0.0.1:${40000 + connectionId}`, poolKey: 'echo', statuses: [{ peId, status: 1, reason: 1, sequence: 1, eventTimeMs: time }] };
}

test('raw rows older than the window are deleted in chunks; newer ones and what they refer to stay', async (t) => {
  const { db, writer } = open(t);
  const now = T0 + 100 * DAY;
  const old = now - 31 * DAY;
  const events: HistoryEvent[] = [];
  for (let i = 1; i <= 105; i++) events.push(registered(i, old + i, 'old-pool'), removed(i, old + i + 1, 'old-pool'));
  events.push(registered(500, old, 'echo'), notification(old + 5, 500, 7));
  events.push(registered(501, now - DAY, 'echo'), notification(now - DAY, 501, 8));
  // An audit row still in its (longer) window keeps its element even though the element's events went.
  events.push(registered(600, old, 'audited'), {
    kind: 'audit',
    time: old + 10,
    actor: 'alice',
    role: 'operator',
    action: 'drain',
    target: 'pool audited / PE 0x258',
    poolKey: 'audited',
    peId: 600,
    reason: 'test',
    result: 'ok',
  });
  events.push({ kind: 'audit', time: now - 400 * DAY, actor: 'bob', role: 'operator', action: 'drain', target: 'gone', reason: '', result: 'ok' });
  // A persisted drain keeps its pool (the admin state outlives retention; only ready ends it).
  events.push(registered(700, old, 'drained'), removed(700, old + 1, 'drained'), { kind: 'adminState', time: old, poolKey: 'drained', peId: 700, state: 'draining', reason: 'rack', actor: 'alice' });
  // ENRP and CSP events expire with the raw events.
  events.push({ kind: 'deployment', time: old, source: 'enrp', event: 'peerDown', subject: '0x0000000b' }, { kind: 'deployment', time: now - DAY, source: 'csp', event: 'componentArrived', subject: '0x0100000000000001' });
  writer.writeBatch(events);
  assert.equal(count(db, 'SELECT count(*) AS n FROM element_events'), 215);

  const p = pauses();
  const report = await runMaintenance(db, now, { ...DEFAULT_RETENTION, chunkRows: 10 }, writer, p.pause);
  assert.equal(report.deleted.elementEvents, 214);
  assert.equal(report.deleted.deploymentEvents, 1);
  assert.equal(report.deleted.notifications, 1);
  assert.equal(report.deleted.audit, 1);
  assert.ok(p.count() >= 21, `a pause between chunks of 10 (${p.count()})`);
  assert.deepEqual(
    (db.prepare('SELECT p.name, e.pe_id FROM pool_elements e JOIN pools p ON p.id = e.pool_id ORDER BY e.pe_id').all() as { name: string; pe_id: number }[]).map((r) => `${r.name}/${r.pe_id}`),
    ['echo/501', 'audited/600'],
  );
  assert.equal(report.deleted.elements, 107);
  assert.equal(report.deleted.pools, 1, 'old-pool: nothing refers to it any more');
  assert.equal(count(db, "SELECT count(*) AS n FROM pools WHERE name = 'drained'"), 1, 'the pool of a persisted drain stays');
  assert.equal(count(db, 'SELECT count(*) AS n FROM admin_states'), 1);
  assert.equal(report.deleted.poolUsers, 1, 'the pool user whose notifications all went');
  assert.equal(count(db, 'SELECT count(*) AS n FROM pool_users'), 1);
  assert.equal(db.pragma('foreign_key_check', { simple: true }), undefined);
  // The writer forgot the ids it had cached: the pool comes back as a new row, without a foreign-key error.
  writer.writeBatch([registered(1, now, 'old-pool'), notification(now, 501, 7)]);
  assert.equal(count(db, "SELECT count(*) AS n FROM pools WHERE name = 'old-pool'"), 1);
  // A second pass finds nothing more to do.
  const again = await runMaintenance(db, now, DEFAULT_RETENTION, writer, p.pause);
  assert.deepEqual(again.deleted, { elementEvents: 0, notifications: 0, audit: 0, deploymentEvents: 0, metricSamples: 0, poolUsers: 0, elements: 0, pools: 0 });
});

function sample(up: number, extra: Partial<PoolSample> = {}): PoolSample {
  return { poolKey: 'echo', up, suspect: 0, failed: 0, draining: 0, maintenance: 0, resolutions: 2, notifications: 3, loadMean: up / 10, ...extra };
}

test('per-second samples roll up into minutes and hours: gauges averaged, counters summed, deleted only when rolled up', async (t) => {
  const { db, writer } = open(t);
  const start = T0; // a whole hour
  const events: HistoryEvent[] = [];
  // Minute 0: 60 samples, up = 4 for 30 s and 6 for 30 s; minute 1: up = 10, no load reported.
  for (let s = 0; s < 60; s++) events.push({ kind: 'metrics', time: start + s * 1000, intervalMs: 1000, pools: [sample(s < 30 ? 4 : 6)] });
  for (let s = 60; s < 120; s++) events.push({ kind: 'metrics', time: start + s * 1000, intervalMs: 1000, pools: [sample(10, { loadMean: null, resolutions: null })] });
  writer.writeBatch(events);
  const p = pauses();
  // Two minutes and 15 s later: both minutes are complete and past the grace period; no hour is.
  let report = await runMaintenance(db, start + 2 * MINUTE + 15_000, DEFAULT_RETENTION, writer, p.pause);
  assert.equal(report.rolledUpMinutes, 2);
  assert.equal(report.rolledUpHours, 0);
  const minutes = db.prepare('SELECT time, up, resolutions, notifications, load_mean, samples FROM metric_samples WHERE interval_ms = 60000 ORDER BY time').all();
  assert.deepEqual(minutes, [
    { time: start, up: 5, resolutions: 120, notifications: 180, load_mean: 0.5, samples: 60 },
    { time: start + MINUTE, up: 10, resolutions: null, notifications: 180, load_mean: null, samples: 60 },
  ]);
  // Idempotent: the same pass again rolls nothing more up and changes nothing.
  report = await runMaintenance(db, start + 2 * MINUTE + 15_000, DEFAULT_RETENTION, writer, p.pause);
  assert.equal(report.rolledUpMinutes, 0);
  assert.equal(count(db, 'SELECT count(*) AS n FROM metric_samples WHERE interval_ms = 60000'), 2);

  // Two hours later the first hour is rolled up from its minutes (sample-weighted).
  report = await runMaintenance(db, start + 2 * HOUR, DEFAULT_RETENTION, writer, p.pause);
  assert.equal(report.rolledUpHours, 1);
  assert.deepEqual(db.prepare('SELECT time, up, resolutions, notifications, load_mean, samples FROM metric_samples WHERE interval_ms = 3600000').all(), [
    { time: start, up: 7.5, resolutions: 120, notifications: 360, load_mean: 0.5, samples: 120 },
  ]);
  // Seconds are kept 24 h; after that only the rolled-up rows remain.
  assert.equal(count(db, 'SELECT count(*) AS n FROM metric_samples WHERE interval_ms = 1000'), 120);
  report = await runMaintenance(db, start + 25 * HOUR, DEFAULT_RETENTION, writer, p.pause);
  assert.equal(report.deleted.metricSamples, 120);
  assert.equal(count(db, 'SELECT count(*) AS n FROM metric_samples WHERE interval_ms = 1000'), 0);
  assert.equal(count(db, 'SELECT count(*) AS n FROM metric_samples WHERE interval_ms = 60000'), 2);
});

test('seconds that were never rolled up are not deleted, however old', async (t) => {
  const { db, writer } = open(t);
  writer.writeBatch([{ kind: 'metrics', time: T0, intervalMs: 1000, pools: [sample(1)] }]);
  // Not rolled up yet because the minute is still in its grace period at the first pass...
  await runMaintenance(db, T0 + 5000, DEFAULT_RETENTION, writer, pauses().pause);
  assert.equal(count(db, 'SELECT count(*) AS n FROM metric_samples WHERE interval_ms = 1000'), 1);
  // ...and a pass much later rolls it up before deleting it.
  const report = await runMaintenance(db, T0 + 3 * DAY, DEFAULT_RETENTION, writer, pauses().pause);
  assert.equal(report.rolledUpMinutes, 1);
  assert.equal(count(db, 'SELECT count(*) AS n FROM metric_samples WHERE interval_ms = 60000'), 1);
});

test('incremental vacuum hands the freed pages back: the file shrinks without a full VACUUM', async (t) => {
  const { db, writer, file } = open(t);
  const old = T0;
  const events: HistoryEvent[] = [];
  const padding = 'x'.repeat(100);
  for (let i = 0; i < 20_000; i++) events.push({ kind: 'removed', time: old + i, poolKey: 'echo', peId: i % 500, cause: 'deregistered', details: { padding } });
  writer.writeBatch(events);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const before = fs.statSync(file).size;
  const report = await runMaintenance(db, old + 40 * DAY, { ...DEFAULT_RETENTION, chunkRows: 5000 }, writer, pauses().pause);
  assert.equal(report.deleted.elementEvents, 20_000);
  assert.ok(report.vacuumedPages > 100, `vacuumed ${report.vacuumedPages} pages`);
  assert.equal(report.freePagesLeft, 0);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const after = fs.statSync(file).size;
  assert.ok(after < before / 4, `file ${before} → ${after} bytes`);
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
});
