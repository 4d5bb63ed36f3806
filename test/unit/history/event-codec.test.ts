/**
 * The flat batches the registrar's thread sends the writer thread (event-codec.ts): every event kind,
 * encoded, cloned as postMessage clones it and decoded, is written exactly as the event object itself
 * would be.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { BatchWriter } from '../../../core/history/batch-writer.js';
import { openHistoryDatabase } from '../../../core/history/database.js';
import { decodeBatch, encodeEvent, encodeEvents } from '../../../core/history/event-codec.js';
import type { HistoryEvent } from '../../../core/history/history-event.js';
import { elementValues, registered, removed, T0, tempDir } from './helpers.js';

function open(t: import('node:test').TestContext, name: string): { db: Database; writer: BatchWriter } {
  const opened = openHistoryDatabase(path.join(tempDir(t), name));
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const db = opened.value.db;
  t.after(() => db.close());
  return { db, writer: new BatchWriter(db) };
}

function dump(db: Database): Record<string, unknown[]> {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  return Object.fromEntries(tables.map((name) => [name, db.prepare(`SELECT * FROM "${name}" ORDER BY 1, 2`).all()]));
}

const sctp = { kind: 'sctp', port: 9000, transportUse: 1, addresses: ['10.0.0.1', '2001:db8::1'] } as const;

/** Every kind, optional fields present and absent, odd text. */
const EVENTS: HistoryEvent[] = [
  { kind: 'runStarted', time: T0, serverId: 0xfedcba98, settings: { maxItems: 3, nested: { a: [1, 'x'] } }, appVersion: '0.1.0' },
  registered(1, T0 + 1),
  { kind: 'registered', time: T0 + 2, poolKey: 'échø\u0000', peId: 0xffffffff, cause: 'registered', element: { ...elementValues(2, 7), asapTransport: undefined, userTransport: sctp }, details: { connectionId: 4 } },
  { kind: 'reregistered', time: T0 + 3, poolKey: 'echo', peId: 1, cause: 'policy,transport', element: elementValues(1, 0x80000000), details: { changed: ['policy', 'transport'], note: 'a "quoted", comma\nline' } },
  { kind: 'reregistered', time: T0 + 4, poolKey: 'echo', peId: 1, cause: 'load', element: elementValues(1, 0x40000000), valuesChanged: false, details: { changed: ['load'], load: 0x40000000 } },
  { kind: 'seen', time: T0 + 30_000, poolKey: 'echo', peId: 1 },
  { kind: 'health', time: T0 + 5, poolKey: 'echo', peId: 1, state: 'suspect', cause: 'reported unreachable; probing' },
  { kind: 'admin', time: T0 + 6, poolKey: 'echo', peId: 1, state: 'draining', cause: 'drain', details: { before: 'ready', after: 'draining', reason: 'kernel' } },
  { kind: 'admin', time: T0 + 7, poolKey: 'echo', peId: 9, state: 'removed', cause: 'remove' },
  { kind: 'notification', time: T0 + 8, connectionId: 5, address: '[2001:db8::9]:51234', poolKey: 'echo', statuses: [] },
  {
    kind: 'notification',
    time: T0 + 9,
    connectionId: 5,
    address: '[2001:db8::9]:51234',
    poolKey: 'echo',
    statuses: [
      { peId: 1, status: 2, reason: 1, sequence: 0xffffffff, eventTimeMs: T0 + 6, replacementPeId: 2, reasonText: 'kernel update' },
      { peId: 2, status: 7, reason: 13, sequence: 1, eventTimeMs: T0 + 9, load: 12345 },
      { peId: 77, status: 99, reason: 98, sequence: 2, eventTimeMs: T0 + 9 },
    ],
  },
  { kind: 'poolUserClosed', time: T0 + 10, connectionId: 5, address: '[2001:db8::9]:51234', reason: 'closed by peer' },
  { kind: 'audit', time: T0 + 11, actor: 'ops', role: 'operator', action: 'drain', target: 'pool echo / PE 0x1', poolKey: 'echo', peId: 1, reason: 'kernel', before: { state: 'ready' }, after: { state: 'draining' }, result: 'ok' },
  { kind: 'adminState', time: T0 + 11, poolKey: 'echo', peId: 1, state: 'draining', reason: 'kernel', actor: 'ops' },
  { kind: 'metrics', time: T0 + 12, intervalMs: 1000, pools: [{ poolKey: 'echo', up: 1, suspect: 0, failed: 0, draining: 1, maintenance: 0, resolutions: null, notifications: 4, loadMean: null }] },
  removed(2, T0 + 13, 'échø\u0000'),
  { kind: 'runStopped', time: T0 + 14, reason: 'test over' },
];

test('a batch encoded, cloned and decoded writes exactly the rows of the events themselves', (t) => {
  const direct = open(t, 'direct.db');
  const coded = open(t, 'coded.db');
  direct.writer.writeBatch(EVENTS);
  const encoded = encodeEvents(EVENTS);
  coded.writer.writeBatch(decodeBatch(structuredClone(encoded)));
  const expected = dump(direct.db);
  assert.deepEqual(dump(coded.db), expected);
  assert.ok((expected['element_events'] ?? []).length >= 7 && (expected['notifications'] ?? []).length === 4, 'the events made rows');
});

test('events appended one by one decode to the same events, in order', () => {
  const flat: unknown[] = [];
  for (const event of EVENTS) encodeEvent(flat, event);
  assert.deepEqual(flat, encodeEvents(EVENTS));
  assert.deepEqual(
    decodeBatch(flat).map((e) => [e.kind, e.time]),
    EVENTS.map((e) => [e.kind, e.time]),
  );
});

test('details that are not JSON throw (the writer refuses that event alone)', () => {
  const flat: unknown[] = [];
  assert.throws(() => encodeEvent(flat, { kind: 'removed', time: T0, poolKey: 'echo', peId: 1, cause: 'x', details: { n: 1n } as unknown as Record<string, number> }), /BigInt/);
});
