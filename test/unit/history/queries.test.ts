/**
 * History queries: the merged, ordered stream of element events, notifications and audit rows; filters by
 * time range, pool, element and kind; keyset paging that neither skips nor repeats a row (also across
 * rows of the same millisecond from different tables); index use without a full sort; metric series.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import fc from 'fast-check';
import { BatchWriter } from '../../../core/history/batch-writer.js';
import { openHistoryDatabase } from '../../../core/history/database.js';
import type { HistoryEvent } from '../../../core/history/history-event.js';
import { HistoryQueries, rowFromRaw, type HistoryFilter, type HistoryRow } from '../../../core/history/history-queries.js';
import { DAY, HOUR, MINUTE } from '../../../core/history/retention.js';
import { registered, removed, T0, tempDir } from './helpers.js';

function open(t: import('node:test').TestContext): { db: Database; writer: BatchWriter; queries: HistoryQueries } {
  const opened = openHistoryDatabase(path.join(tempDir(t), 'history.db'));
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const db = opened.value.db;
  t.after(() => db.close());
  return { db, writer: new BatchWriter(db), queries: new HistoryQueries(db) };
}

/** A mixed history: two pools, element events, notifications and audit rows, many sharing a millisecond. */
function mixedHistory(): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (let i = 0; i < 60; i++) {
    const time = T0 + Math.floor(i / 4) * 1000; // four rows per second: ties on time
    const pool = i % 2 === 0 ? 'echo' : 'sip';
    const peId = 1 + (i % 6);
    events.push(i % 5 === 0 ? removed(peId, time, pool) : registered(peId, time, pool));
    events.push({ kind: 'notification', time, connectionId: 9, address: '127.0.0.1:9', poolKey: pool, statuses: [{ peId, status: 1, reason: 1, sequence: i, eventTimeMs: time }] });
    if (i % 10 === 0) events.push({ kind: 'audit', time, actor: 'alice', role: 'operator', action: 'drain', target: `${pool}/${peId}`, poolKey: pool, peId, reason: 'r', result: 'ok' });
    if (i % 12 === 0) events.push({ kind: 'deployment', time, source: i % 24 === 0 ? 'enrp' : 'csp', event: i % 24 === 0 ? 'peerUp' : 'componentArrived', subject: `0x${i.toString(16)}`, details: { i } });
  }
  return events;
}

function readAll(queries: HistoryQueries, filter: HistoryFilter, limit: number): HistoryRow[] {
  const rows: HistoryRow[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = queries.page(filter, { cursor, limit });
    assert.ok(page.ok, page.ok ? '' : page.error.message);
    rows.push(...page.value.rows);
    if (!page.value.next) return rows;
    cursor = page.value.next;
  }
  throw new Error('paging did not end');
}

const key = (r: HistoryRow): string => `${r.time}/${r.source}/${r.id}`;

test('pages in any size read every row exactly once, in (time, source, id) order', (t) => {
  const { writer, queries } = open(t);
  writer.writeBatch(mixedHistory());
  const everything = readAll(queries, {}, 10_000);
  assert.equal(everything.length, 60 + 60 + 6 + 5);
  const sorted = [...everything].sort((a, b) => a.time - b.time || a.source.localeCompare(b.source) || a.id - b.id);
  assert.deepEqual(everything.map(key), sorted.map(key));
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), (limit) => {
      assert.deepEqual(readAll(queries, {}, limit).map(key), everything.map(key));
    }),
    { numRuns: 40 },
  );
});

test('filters: time range (from inclusive, to exclusive), pool, element, kinds; unknown pool or PE give nothing', (t) => {
  const { writer, queries } = open(t);
  writer.writeBatch(mixedHistory());
  const all = readAll(queries, {}, 1000);
  const check = (filter: HistoryFilter, expected: (r: HistoryRow) => boolean): void => {
    const got = readAll(queries, filter, 7).map(key);
    assert.deepEqual(got, all.filter(expected).map(key), JSON.stringify(filter));
    assert.ok(got.length > 0 || JSON.stringify(filter).includes('nothing'), `${JSON.stringify(filter)} matched something`);
  };
  check({ from: T0 + 3000, to: T0 + 7000 }, (r) => r.time >= T0 + 3000 && r.time < T0 + 7000);
  check({ pool: 'sip' }, (r) => r.pool === 'sip');
  check({ peId: 3 }, (r) => r.peId === 3);
  check({ pool: 'echo', peId: 3 }, (r) => r.pool === 'echo' && r.peId === 3);
  check({ kinds: ['removed'] }, (r) => r.kind === 'removed');
  check({ kinds: ['notification', 'audit'] }, (r) => r.source === 'notification' || r.source === 'audit');
  check({ kinds: ['deployment'] }, (r) => r.source === 'deployment');
  check({ kinds: ['deployment', 'audit'], pool: 'echo' }, (r) => r.source === 'audit' && r.pool === 'echo');
  check({ kinds: ['registered', 'audit'], pool: 'echo', from: T0 + 2000 }, (r) => (r.kind === 'registered' || r.kind === 'audit') && r.pool === 'echo' && r.time >= T0 + 2000);
  assert.deepEqual(readAll(queries, { pool: 'nothing-here' }, 10), []);
  assert.deepEqual(readAll(queries, { peId: 0xdead }, 10), []);
  const bad = queries.page({ kinds: ['bogus' as 'audit'] });
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /unknown kind bogus/);
  const badCursor = queries.page({}, { cursor: 'not-a-cursor' });
  assert.ok(!badCursor.ok);
});

test('each arm walks an index in time order and SQLite merges them (no full sort)', (t) => {
  const { writer, queries } = open(t);
  writer.writeBatch(mixedHistory());
  const plan = queries.explain({}).join('\n');
  assert.match(plan, /MERGE \(UNION ALL\)/);
  assert.match(plan, /USING INDEX element_events_time/);
  assert.match(plan, /USING INDEX notifications_time/);
  assert.match(plan, /USING INDEX audit_time/);
  // Ties within one millisecond are ordered by a small sorter ("LAST 2 TERMS"), never the whole result.
  assert.doesNotMatch(plan, /USE TEMP B-TREE FOR ORDER BY/);
  const byPool = queries.explain({ pool: 'echo' }).join('\n');
  assert.match(byPool, /element_events_pool_time|element_events_time/);
});

test('iterateRaw (what exports read: keyset pages per table, merged) gives the rows page() gives, in order', (t) => {
  const { writer, queries } = open(t);
  // More than one page (1,024 rows) per table, many rows of each table in the same millisecond.
  const events: HistoryEvent[] = [];
  for (let i = 0; i < 2600; i++) {
    const time = T0 + Math.floor(i / 7);
    const pool = i % 3 === 0 ? 'sip' : 'echo';
    const peId = 1 + (i % 11);
    events.push(i % 9 === 0 ? removed(peId, time, pool) : registered(peId, time, pool));
    events.push({ kind: 'notification', time, connectionId: 9, address: '127.0.0.1:9', poolKey: pool, statuses: [{ peId, status: 1, reason: 1, sequence: i, eventTimeMs: time }] });
    if (i % 13 === 0) events.push({ kind: 'audit', time, actor: 'alice', role: 'operator', action: 'drain', target: `${pool}/${peId}`, poolKey: pool, peId, reason: 'r', result: 'ok' });
  }
  writer.writeBatch(events);
  const filters: HistoryFilter[] = [{}, { pool: 'echo' }, { peId: 3 }, { kinds: ['notification'] }, { kinds: ['removed', 'audit'], from: T0 + 50, to: T0 + 300 }, { pool: 'sip', kinds: ['registered', 'notification'] }];
  for (const filter of filters) {
    const iterated = queries.iterateRaw(filter);
    assert.ok(iterated.ok);
    const got = [...iterated.value].map((raw) => key(rowFromRaw(raw)));
    assert.deepEqual(got, readAll(queries, filter, 5000).map(key), JSON.stringify(filter));
    if (Object.keys(filter).length === 0) assert.equal(got.length, 2600 * 2 + 200);
  }
  // Stopping early ends the read transaction: the connection is free again.
  const iterated = queries.iterateRaw({});
  assert.ok(iterated.ok);
  for (const _ of iterated.value) break;
  assert.equal(queries.page({}, { limit: 1 }).ok, true);
});

test('metric series: the resolution follows the range and falls back to a coarser one still kept', (t) => {
  const { writer, queries } = open(t);
  const events: HistoryEvent[] = [];
  const sample = { poolKey: 'echo', up: 2, suspect: 0, failed: 1, draining: 0, maintenance: 0, resolutions: 5, notifications: 1, loadMean: 0.5 };
  for (let s = 0; s < 120; s++) events.push({ kind: 'metrics', time: T0 + s * 1000, intervalMs: 1000, pools: [sample] });
  events.push({ kind: 'metrics', time: T0 - 10 * DAY, intervalMs: 3_600_000, pools: [sample] });
  writer.writeBatch(events);
  const seconds = queries.metricSeries('echo', T0, T0 + MINUTE);
  assert.ok(seconds.ok);
  assert.equal(seconds.value.intervalMs, 1000);
  assert.equal(seconds.value.points.length, 60);
  assert.deepEqual(seconds.value.points[0], { time: T0, up: 2, suspect: 0, failed: 1, draining: 0, maintenance: 0, resolutions: 5, notifications: 1, loadMean: 0.5 });
  // A 30-day range asks for hours.
  const month = queries.metricSeries('echo', T0 - 30 * DAY, T0);
  assert.ok(month.ok);
  assert.equal(month.value.intervalMs, HOUR);
  assert.equal(month.value.points.length, 1);
  // Seconds asked for a range that has none fall back to minutes, then hours.
  const old = queries.metricSeries('echo', T0 - 10 * DAY, T0 - 10 * DAY + 10 * MINUTE);
  assert.ok(old.ok);
  assert.equal(old.value.intervalMs, HOUR);
  assert.equal(old.value.points.length, 1);
  const unknown = queries.metricSeries('nope', T0, T0 + MINUTE);
  assert.ok(unknown.ok);
  assert.deepEqual(unknown.value.points, []);
  assert.ok(!queries.metricSeries('echo', T0, T0).ok);
});
