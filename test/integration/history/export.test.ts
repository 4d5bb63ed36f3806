/**
 * `handlespace export`: CSV per RFC 4180 (header row, CRLF, quoted commas, quotes and line breaks), JSON
 * lines, ISO-8601 UTC times, filters, --out through a .partial file renamed when complete, and clear
 * refusals for bad arguments and bad files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { exportCommand, parseIsoTime } from '../../../core/cli/history-commands.js';
import { BatchWriter } from '../../../core/history/batch-writer.js';
import { openHistoryDatabase } from '../../../core/history/database.js';
import type { HistoryEvent } from '../../../core/history/history-event.js';
import { HISTORY_COLUMNS } from '../../../core/history/history-queries.js';
import { memoryIo, registered, T0, tempDir } from '../../unit/history/helpers.js';

function historyFile(t: import('node:test').TestContext, events: readonly HistoryEvent[]): string {
  const file = path.join(tempDir(t), 'history.db');
  const opened = openHistoryDatabase(file);
  assert.ok(opened.ok);
  new BatchWriter(opened.value.db).writeBatch(events);
  opened.value.db.close();
  return file;
}

const tricky = 'disk "sdb" full, moving\r\nto sdc';
const events: HistoryEvent[] = [
  { kind: 'runStarted', time: T0, serverId: 0xabc, settings: {}, appVersion: 'test' },
  registered(0x1234, T0 + 1),
  { kind: 'notification', time: T0 + 2, connectionId: 5, address: '[::1]:50000', poolKey: 'echo', statuses: [{ peId: 0x1234, status: 1, reason: 1, sequence: 1, eventTimeMs: T0 + 1 }] },
  { kind: 'audit', time: T0 + 3, actor: 'alice', role: 'operator', action: 'drain', target: 'pool echo / PE 0x00001234', poolKey: 'echo', peId: 0x1234, reason: tricky, before: { admin: 'ready' }, after: { admin: 'draining' }, result: 'ok' },
  registered(0x99, T0 + 86_400_000, 'sip'),
];

async function run(args: string[]): Promise<{ status: number; out: string; err: string }> {
  const io = memoryIo();
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  const status = await exportCommand(args, io, { stdout });
  return { status, out: Buffer.concat(chunks).toString('utf8'), err: io.err() };
}

test('CSV: RFC 4180 with a header row, CRLF line ends, quoted fields, ISO-8601 UTC times, hex PE ids', async (t) => {
  const file = historyFile(t, events);
  const { status, out, err } = await run(['--db', file, '--format', 'csv', '--to', '2026-11-28']);
  assert.equal(status, 0, err);
  assert.match(err, /3 rows/);
  const lines = out.split('\r\n');
  assert.equal(lines[0], HISTORY_COLUMNS.join(','));
  assert.equal(lines[1], '2026-11-27T00:00:00.001Z,registered,echo,0x00001234,,registered,,,,,,,,,,,,,,1,element,1');
  assert.equal(lines[2], '2026-11-27T00:00:00.002Z,notification,echo,0x00001234,up,registered,,[::1]:50000,5,1,2026-11-27T00:00:00.001Z,,,,,,,,,1,notification,1');
  // The reason holds a quote, a comma and a CRLF: one quoted field, quotes doubled (RFC 4180 §2.6, §2.7).
  assert.equal(
    `${lines[3]}\r\n${lines[4]}`,
    '2026-11-27T00:00:00.003Z,audit,echo,0x00001234,,,,,,,,alice,operator,drain,pool echo / PE 0x00001234,"disk ""sdb"" full, moving\r\nto sdc","{""admin"":""ready""}","{""admin"":""draining""}",ok,1,audit,1',
  );
  assert.equal(lines[5], '');
  assert.equal(lines.length, 6, 'the last record ends with CRLF; the day after is excluded by --to');
});

test('JSON lines: one object per row, JSON columns embedded as JSON, empty fields left out', async (t) => {
  const file = historyFile(t, events);
  const { status, out } = await run(['--db', file, '--format', 'jsonl', '--kind', 'audit,registered', '--pool', 'echo']);
  assert.equal(status, 0);
  const rows = out.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(rows.length, 2);
  assert.deepEqual(rows[0], { time: '2026-11-27T00:00:00.001Z', kind: 'registered', pool: 'echo', pe_id: '0x00001234', cause: 'registered', run_id: 1, source: 'element', id: 1 });
  assert.equal(rows[1]?.['reason'], tricky);
  assert.deepEqual(rows[1]?.['before'], { admin: 'ready' });
});

test('filters: --from/--to (ISO, no zone = UTC), --pe in hex or decimal, --kind repeatable', async (t) => {
  const file = historyFile(t, events);
  const count = async (...args: string[]): Promise<number> => {
    const { status, out, err } = await run(['--db', file, '--format', 'jsonl', ...args]);
    assert.equal(status, 0, err);
    return out === '' ? 0 : out.trimEnd().split('\n').length;
  };
  assert.equal(await count(), 4);
  assert.equal(await count('--from', '2026-11-28'), 1);
  assert.equal(await count('--from', '2026-11-27T00:00:00.002', '--to', '2026-11-27T00:00:00.003Z'), 1);
  assert.equal(await count('--pe', '0x99'), 1);
  assert.equal(await count('--pe', String(0x1234)), 3);
  assert.equal(await count('--kind', 'notification', '--kind', 'registered'), 3);
  assert.equal(await count('--pool', 'no-such-pool'), 0);
  assert.equal(parseIsoTime('2026-11-27T10:00'), Date.UTC(2026, 10, 27, 10, 0));
  assert.equal(parseIsoTime('2026-11-27T10:00:00+02:00'), Date.UTC(2026, 10, 27, 8, 0));
  assert.equal(parseIsoTime('yesterday'), undefined);
});

test('--out writes through FILE.partial and renames it when complete', async (t) => {
  const file = historyFile(t, events);
  const out = path.join(path.dirname(file), 'export.csv');
  const io = memoryIo();
  assert.equal(await exportCommand(['--db', file, '--format', 'csv', '--out', out], io), 0, io.err());
  assert.ok(fs.existsSync(out));
  assert.ok(!fs.existsSync(`${out}.partial`));
  assert.match(io.err(), /4 rows \(\d+ bytes\) written to/);
  assert.equal(fs.readFileSync(out, 'utf8').split('\r\n').length, 4 + 2 + 1, 'header, 4 records (one spans two lines), final CRLF');
});

test('bad arguments exit 2; a missing, foreign or damaged database exits 1 with the reason', async (t) => {
  const dir = tempDir(t);
  const usage = await run(['--format', 'xml']);
  assert.equal(usage.status, 2);
  assert.match(usage.err, /--db is required/);
  assert.match(usage.err, /--format must be csv or jsonl/);
  const badTime = await run(['--db', 'x', '--format', 'csv', '--from', 'last week']);
  assert.equal(badTime.status, 2);
  assert.match(badTime.err, /--from "last week" is not an ISO-8601 time/);
  const badKind = await run(['--db', 'x', '--format', 'csv', '--kind', 'everything']);
  assert.equal(badKind.status, 2);
  assert.match(badKind.err, /--kind everything unknown/);
  const missing = await run(['--db', path.join(dir, 'none.db'), '--format', 'csv']);
  assert.equal(missing.status, 1);
  assert.match(missing.err, /there is no history database at/);
  assert.ok(!fs.existsSync(path.join(dir, 'none.db')), 'export never creates a database');
  const garbage = path.join(dir, 'garbage.db');
  fs.writeFileSync(garbage, Buffer.alloc(4096, 0x41));
  const notDb = await run(['--db', garbage, '--format', 'csv']);
  assert.equal(notDb.status, 1);
  assert.match(notDb.err, /is not an SQLite database/);
});
