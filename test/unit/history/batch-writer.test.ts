/**
 * BatchWriter (the writer thread's row writer), driven directly on a real file: every event kind becomes
 * the rows the schema promises, re-registrations update the element's values, notifications give one row
 * per status per pool user with subscriptions counted, and a failing batch leaves nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { BatchWriter } from '../../../core/history/batch-writer.js';
import { openHistoryDatabase } from '../../../core/history/database.js';
import type { HistoryEvent } from '../../../core/history/history-event.js';
import { elementValues, registered, removed, T0, tempDir } from './helpers.js';

function open(t: import('node:test').TestContext): { db: Database; writer: BatchWriter } {
  const opened = openHistoryDatabase(path.join(tempDir(t), 'history.db'));
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const db = opened.value.db;
  t.after(() => db.close());
  return { db, writer: new BatchWriter(db) };
}

const all = (db: Database, sql: string): Record<string, unknown>[] => db.prepare(sql).all() as Record<string, unknown>[];

test('a registration creates the pool and the element (addresses, policy, first/last seen) and an event', (t) => {
  const { db, writer } = open(t);
  writer.writeBatch([
    { kind: 'runStarted', time: T0, serverId: 0xabc, settings: { maxItems: 3 }, appVersion: '0.1.0' },
    registered(0x1234, T0 + 1),
    { kind: 'seen', time: T0 + 500, poolKey: 'echo', peId: 0x1234 },
  ]);
  // last_seen moves in steps of at least 10 s (an UPDATE per event would double the writes).
  writer.writeBatch([{ kind: 'seen', time: T0 + 20_000, poolKey: 'echo', peId: 0x1234 }]);
  assert.deepEqual(all(db, 'SELECT id, server_id, settings, app_version, started_at FROM registrar_runs'), [
    { id: 1, server_id: 0xabc, settings: '{"maxItems":3}', app_version: '0.1.0', started_at: T0 },
  ]);
  assert.deepEqual(all(db, 'SELECT name, hex(handle) AS handle, first_seen, last_seen FROM pools'), [{ name: 'echo', handle: '6563686F', first_seen: T0 + 1, last_seen: T0 + 20_000 }]);
  assert.deepEqual(all(db, 'SELECT pe_id, home_server_id, addresses, asap_address, policy, registration_life, first_seen, last_seen FROM pool_elements'), [
    {
      pe_id: 0x1234,
      home_server_id: 0xabc,
      addresses: 'tcp 10.0.18.52:7660',
      asap_address: 'tcp 10.0.18.52:44660',
      policy: '{"type":"0x00000001","policyName":"Round Robin"}',
      registration_life: 30000,
      first_seen: T0 + 1,
      last_seen: T0 + 20_000,
    },
  ]);
  assert.deepEqual(all(db, 'SELECT time, run_id, kind, state, cause, details FROM element_events'), [
    { time: T0 + 1, run_id: 1, kind: 'registered', state: null, cause: 'registered', details: null },
  ]);
});

test('re-registration with changed values updates the element; health, admin and removal are events with causes', (t) => {
  const { db, writer } = open(t);
  writer.writeBatch([registered(7, T0)]);
  writer.writeBatch([
    { kind: 'reregistered', time: T0 + 10, poolKey: 'echo', peId: 7, cause: 'policy', element: elementValues(7, 0x80000000), details: { changed: ['policy'] } },
    { kind: 'reregistered', time: T0 + 11, poolKey: 'echo', peId: 7, cause: 'load', element: elementValues(7, 0x40000000), valuesChanged: false, details: { changed: ['load'], load: 0x40000000 } },
    { kind: 'health', time: T0 + 20, poolKey: 'echo', peId: 7, state: 'suspect', cause: 'reported unreachable by 10.0.0.9:5000; probing', details: { detail: 'reported unreachable; probing' } },
    { kind: 'admin', time: T0 + 30, poolKey: 'echo', peId: 7, state: 'draining', cause: 'drain', details: { before: 'ready', after: 'draining', reason: 'kernel update' } },
    removed(7, T0 + 40),
  ]);
  // The row keeps the policy parameters without the load (that is in the events' details).
  assert.deepEqual(all(db, 'SELECT policy, last_seen FROM pool_elements'), [{ policy: '{"type":"0x40000001","policyName":"Least Used"}', last_seen: T0 + 10 }]);
  assert.deepEqual(
    all(db, 'SELECT time, kind, state, cause, details FROM element_events ORDER BY id').map((r) => [r['kind'], r['state'], r['cause']]),
    [
      ['registered', null, 'registered'],
      ['reregistered', null, 'policy'],
      ['reregistered', null, 'load'],
      ['health', 'suspect', 'reported unreachable by 10.0.0.9:5000; probing'],
      ['admin', 'draining', 'drain'],
      ['removed', 'removed', 'keepAliveTimeout'],
    ],
  );
  // The element comes back under the same identity (pool, PE id): one element row.
  writer.writeBatch([registered(7, T0 + 50_000)]);
  assert.deepEqual(all(db, 'SELECT last_seen FROM pool_elements'), [{ last_seen: T0 + 50_000 }]);
  assert.equal(all(db, 'SELECT id FROM pool_elements').length, 1);
});

test('notifications: one row per status per pool user, a snapshot as one row; pool users and subscriptions kept', (t) => {
  const { db, writer } = open(t);
  writer.writeBatch([{ kind: 'runStarted', time: T0, serverId: 1, settings: {}, appVersion: '' }, registered(1, T0), registered(2, T0)]);
  const push = (time: number, connectionId: number, statuses: Extract<HistoryEvent, { kind: 'notification' }>['statuses']): HistoryEvent => ({
    kind: 'notification',
    time,
    connectionId,
    address: `127.0.0.1:${50000 + connectionId}`,
    poolKey: 'echo',
    statuses,
  });
  writer.writeBatch([
    push(T0 + 5, 11, [
      { peId: 1, status: 2, reason: 3, sequence: 7, eventTimeMs: T0 + 4, reasonText: 'kernel update', replacementPeId: 2 },
      { peId: 2, status: 7, reason: 13, sequence: 8, eventTimeMs: T0 + 4, load: 1000 },
    ]),
    push(T0 + 5, 12, [{ peId: 1, status: 2, reason: 3, sequence: 7, eventTimeMs: T0 + 4 }]),
    push(T0 + 9, 12, []),
    { kind: 'poolUserClosed', time: T0 + 20, connectionId: 12, address: '127.0.0.1:50012', reason: 'closed by peer' },
    { kind: 'poolUserClosed', time: T0 + 21, connectionId: 99, address: '127.0.0.1:50099', reason: 'never subscribed' },
  ]);
  assert.deepEqual(
    all(db, 'SELECT n.time, n.event_time, n.run_id, n.pe_id, n.connection_id, u.address, n.status, n.reason, n.sequence, n.details, n.element_id IS NOT NULL AS linked FROM notifications n JOIN pool_users u ON u.id = n.pool_user_id ORDER BY n.id'),
    [
      { time: T0 + 5, event_time: T0 + 4, run_id: 1, pe_id: 1, connection_id: 11, address: '127.0.0.1:50011', status: 'draining', reason: 'operatorDrain', sequence: 7, details: '{"replacementPeId":2,"reasonText":"kernel update"}', linked: 1 },
      { time: T0 + 5, event_time: T0 + 4, run_id: 1, pe_id: 2, connection_id: 11, address: '127.0.0.1:50011', status: 'loadChanged', reason: 'loadChanged', sequence: 8, details: '{"load":1000}', linked: 1 },
      { time: T0 + 5, event_time: T0 + 4, run_id: 1, pe_id: 1, connection_id: 12, address: '127.0.0.1:50012', status: 'draining', reason: 'operatorDrain', sequence: 7, details: null, linked: 1 },
      { time: T0 + 9, event_time: null, run_id: 1, pe_id: null, connection_id: 12, address: '127.0.0.1:50012', status: 'snapshot', reason: 'snapshot', sequence: null, details: null, linked: 0 },
    ],
  );
  assert.deepEqual(all(db, 'SELECT connection_id, address, first_seen, last_seen, closed_at, close_reason FROM pool_users ORDER BY id'), [
    { connection_id: 11, address: '127.0.0.1:50011', first_seen: T0 + 5, last_seen: T0 + 5, closed_at: null, close_reason: null },
    { connection_id: 12, address: '127.0.0.1:50012', first_seen: T0 + 5, last_seen: T0 + 20, closed_at: T0 + 20, close_reason: 'closed by peer' },
  ]);
  assert.deepEqual(all(db, 'SELECT pool_user_id, first_seen, last_seen, notifications FROM pool_user_subscriptions ORDER BY pool_user_id'), [
    { pool_user_id: 1, first_seen: T0 + 5, last_seen: T0 + 5, notifications: 2 },
    { pool_user_id: 2, first_seen: T0 + 5, last_seen: T0 + 9, notifications: 2 },
  ]);
});

test('audit rows link their pool and element; metric samples are kept per pool per second', (t) => {
  const { db, writer } = open(t);
  writer.writeBatch([
    registered(5, T0),
    {
      kind: 'audit',
      time: T0 + 1,
      actor: 'alice',
      role: 'operator',
      action: 'drain',
      target: 'pool echo / PE 0x00000005',
      poolKey: 'echo',
      peId: 5,
      reason: 'kernel update',
      before: { admin: 'ready' },
      after: { admin: 'draining' },
      result: 'ok',
    },
    { kind: 'metrics', time: T0, intervalMs: 1000, pools: [{ poolKey: 'echo', up: 3, suspect: 1, failed: 0, draining: 1, maintenance: 0, resolutions: null, notifications: 4, loadMean: 0.25 }] },
  ]);
  assert.deepEqual(all(db, 'SELECT actor, role, action, target, reason, before, after, result, pool_id, element_id FROM audit'), [
    { actor: 'alice', role: 'operator', action: 'drain', target: 'pool echo / PE 0x00000005', reason: 'kernel update', before: '{"admin":"ready"}', after: '{"admin":"draining"}', result: 'ok', pool_id: 1, element_id: 1 },
  ]);
  assert.deepEqual(all(db, 'SELECT interval_ms, time, up, suspect, draining, resolutions, notifications, load_mean, samples FROM metric_samples'), [
    { interval_ms: 1000, time: T0, up: 3, suspect: 1, draining: 1, resolutions: null, notifications: 4, load_mean: 0.25, samples: 1 },
  ]);
});

test('a failing batch is rolled back whole, and the next batch does not trust ids the rollback removed', (t) => {
  const { db, writer } = open(t);
  writer.writeBatch([{ kind: 'runStarted', time: T0, serverId: 1, settings: {}, appVersion: '' }]);
  const broken = { kind: 'audit', time: T0, actor: null, role: 'operator', action: 'x', target: 'y', reason: '', result: 'ok' } as unknown as HistoryEvent;
  assert.throws(() => writer.writeBatch([registered(1, T0, 'new-pool'), { kind: 'runStarted', time: T0, serverId: 2, settings: {}, appVersion: '' }, broken]), /NOT NULL constraint failed: audit.actor/);
  assert.equal(all(db, 'SELECT * FROM pools').length, 0);
  assert.equal(all(db, 'SELECT * FROM element_events').length, 0);
  assert.equal(all(db, 'SELECT * FROM registrar_runs').length, 1);
  assert.equal(writer.currentRunId, 1, 'the run id of the rolled-back runStarted is forgotten');
  writer.writeBatch([registered(1, T0 + 1, 'new-pool')]);
  assert.deepEqual(all(db, 'SELECT p.name, e.run_id FROM element_events e JOIN pools p ON p.id = e.pool_id'), [{ name: 'new-pool', run_id: 1 }]);
  assert.equal(db.pragma('foreign_key_check', { simple: true }), undefined);
});

test('group commit: batches in one transaction, a failing batch undone alone (its rows and its element values)', (t) => {
  const { db, writer } = open(t);
  writer.writeBatch([registered(1, T0)]);
  const broken = { kind: 'audit', time: T0, actor: null, role: 'operator', action: 'x', target: 'y', reason: '', result: 'ok' } as unknown as HistoryEvent;
  writer.begin();
  writer.writeInGroup([{ kind: 'reregistered', time: T0 + 1, poolKey: 'echo', peId: 1, cause: 'transport', element: elementValues(101) }]);
  assert.throws(() =>
    writer.writeInGroup([
      { kind: 'runStarted', time: T0 + 2, serverId: 9, settings: {}, appVersion: '' },
      { kind: 'reregistered', time: T0 + 2, poolKey: 'echo', peId: 1, cause: 'transport', element: elementValues(202) },
      broken,
    ]),
  );
  assert.ok(writer.inTransaction, 'the group goes on');
  assert.equal(writer.currentRunId, null, 'the failed batch’s run is forgotten');
  writer.writeInGroup([registered(2, T0 + 3)]);
  writer.commit();
  assert.deepEqual(
    all(db, 'SELECT kind, time FROM element_events ORDER BY id').map((r) => `${r['kind']}@${Number(r['time']) - T0}`),
    ['registered@0', 'reregistered@1', 'registered@3'],
  );
  assert.deepEqual(all(db, 'SELECT addresses FROM pool_elements WHERE pe_id = 1'), [{ addresses: 'tcp 10.0.0.101:7101' }], 'values of the failed batch not applied');
  assert.equal(all(db, 'SELECT * FROM registrar_runs').length, 0);
});
