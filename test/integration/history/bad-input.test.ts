/**
 * Bad files and bad disks: a damaged database, a foreign one, a read-only folder, a full disk. Each gives a
 * clear error (a Result at open, a rejected durable() and a log line while writing) and never a silent loss
 * or a half-migrated file: what was acknowledged is there and integrity_check is ok afterwards.
 *
 * The read-only folder and the full disk are real file systems where the machine allows it (root mounts a
 * read-only bind mount and a 1 MiB tmpfs); elsewhere those two cases skip, loudly. The full disk is also
 * emulated everywhere with SQLite's PRAGMA max_page_count (the database may not grow past N pages: SQLite
 * answers SQLITE_FULL, exactly as on a full disk).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { BatchWriter } from '../../../core/history/batch-writer.js';
import { openHistoryDatabase } from '../../../core/history/database.js';
import { fromSqliteError, HistoryWriteError } from '../../../core/history/history-error.js';
import type { HistoryEvent } from '../../../core/history/history-event.js';
import { History } from '../../../core/history/history.js';
import { loadMigrations, migrateDatabase } from '../../../core/history/migration-runner.js';
import { elementValues, registered, T0, tempDir } from '../../unit/history/helpers.js';

const isRoot = process.getuid?.() === 0;

/**
 * A new folder with `mount ARGS` on it (root only); undefined when mounting is not possible here. When the
 * test ends it is unmounted, then removed (one hook, so the order is right).
 */
function mountedDir(t: TestContext, args: string[]): string | undefined {
  if (!isRoot) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-history-mount-'));
  const result = spawnSync('mount', [...args, dir], { encoding: 'utf8' });
  if (result.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  t.after(() => {
    spawnSync('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function integrity(file: string): unknown {
  const db = new Sqlite(file, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true });
  } finally {
    db.close();
  }
}

function rowCount(file: string, table: string): number {
  const db = new Sqlite(file, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** A registration with a large details object: fills pages fast. */
function bulky(i: number): HistoryEvent {
  return { kind: 'registered', time: T0 + i, poolKey: 'echo', peId: i, cause: 'registered', element: elementValues(i), details: { padding: 'x'.repeat(2000), i } };
}

test('a damaged schema page: open is refused with "damaged", nothing is written to the file', async (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const made = openHistoryDatabase(file);
  assert.ok(made.ok);
  made.value.db.pragma('journal_mode = DELETE'); // a single file to damage
  made.value.db.close();
  const bytes = fs.readFileSync(file);
  bytes.fill(0x5a, 120, 4096); // page 1 after its header: the schema table
  fs.writeFileSync(file, bytes);
  const opened = await History.open({ path: file, maintenanceIntervalMs: 0 });
  assert.ok(!opened.ok);
  assert.ok(['corrupt', 'notADatabase'].includes(opened.error.code), opened.error.code);
  assert.match(opened.error.message, /damaged|not an SQLite database/);
  assert.match(opened.error.message, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.deepEqual(fs.readFileSync(file), bytes, 'left as it was');
});

test('a damaged index page: writes fail loudly with "damaged" (durable rejects), never silently', async (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const logged: string[] = [];
  {
    const made = openHistoryDatabase(file);
    assert.ok(made.ok);
    const writer = new BatchWriter(made.value.db);
    writer.writeBatch(Array.from({ length: 400 }, (_, i) => bulky(i)));
    made.value.db.pragma('journal_mode = DELETE');
    made.value.db.close();
  }
  // Find the root page of the time index and overwrite it.
  const probe = new Sqlite(file, { readonly: true });
  const { rootpage } = probe.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'element_events_time'").get() as { rootpage: number };
  const pageSize = probe.pragma('page_size', { simple: true }) as number;
  probe.close();
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.alloc(pageSize, 0xff), 0, pageSize, (rootpage - 1) * pageSize);
  fs.closeSync(fd);
  const opened = await History.open({ path: file, maintenanceIntervalMs: 0, log: (line) => logged.push(line) });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const history = opened.value;
  t.after(() => history.close());
  await assert.rejects(history.durable(registered(9999, T0 + 10_000)), (e: unknown) => {
    assert.ok(e instanceof HistoryWriteError);
    assert.equal(e.code, 'corrupt');
    assert.match(e.message, /is damaged/);
    assert.match(e.message, /\.recover/);
    return true;
  });
  assert.ok(logged.some((line) => /is damaged/.test(line) && /not recorded/.test(line)), logged.join('\n'));
});

test('a foreign SQLite file is refused by History.open and left untouched', async (t) => {
  const file = path.join(tempDir(t), 'notes.db');
  const db = new Sqlite(file);
  db.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')");
  db.close();
  const before = fs.readFileSync(file);
  const opened = await History.open({ path: file, maintenanceIntervalMs: 0 });
  assert.ok(!opened.ok);
  assert.equal(opened.error.code, 'foreignDatabase');
  assert.deepEqual(fs.readFileSync(file), before);
});

test('a missing folder and a folder in place of the file are refused with the path', async (t) => {
  const dir = tempDir(t);
  const missing = await History.open({ path: path.join(dir, 'no', 'such', 'history.db'), maintenanceIntervalMs: 0 });
  assert.ok(!missing.ok);
  assert.equal(missing.error.code, 'cannotOpen');
  assert.match(missing.error.message, /its folder .*no\/such does not exist/);
  fs.mkdirSync(path.join(dir, 'folder.db'));
  const folder = await History.open({ path: path.join(dir, 'folder.db'), maintenanceIntervalMs: 0 });
  assert.ok(!folder.ok);
  assert.match(folder.error.message, /not a regular file/);
});

test('a read-only folder: a new history and an existing one are refused with "not writable"', async (t) => {
  const writable = tempDir(t);
  const made = openHistoryDatabase(path.join(writable, 'history.db'));
  assert.ok(made.ok);
  made.value.db.close();
  let readOnly: string;
  if (isRoot) {
    // Root ignores permission bits: a read-only bind mount of the folder is what a read-only disk looks like.
    const mounted = mountedDir(t, ['--bind', writable]);
    if (!mounted || spawnSync('mount', ['-o', 'remount,ro,bind', mounted]).status !== 0) {
      t.skip('cannot make a read-only bind mount here (mount refused); the permission-bit case needs a non-root user');
      return;
    }
    readOnly = mounted;
  } else {
    readOnly = tempDir(t);
    fs.copyFileSync(path.join(writable, 'history.db'), path.join(readOnly, 'history.db'));
    fs.chmodSync(readOnly, 0o555);
    t.after(() => fs.chmodSync(readOnly, 0o755));
  }
  const existing = await History.open({ path: path.join(readOnly, 'history.db'), maintenanceIntervalMs: 0 });
  assert.ok(!existing.ok);
  assert.equal(existing.error.code, 'readOnly');
  assert.match(existing.error.message, /is not writable \((EROFS|EACCES)\); SQLite needs to create history\.db-wal and -shm beside it/);
  const fresh = await History.open({ path: path.join(readOnly, 'new.db'), maintenanceIntervalMs: 0 });
  assert.ok(!fresh.ok);
  assert.equal(fresh.error.code, 'readOnly');
  assert.ok(!fs.existsSync(path.join(readOnly, 'new.db')));
});

test('full database (max_page_count, everywhere): a batch fails whole with "disk is full", earlier rows intact', (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const opened = openHistoryDatabase(file);
  assert.ok(opened.ok);
  const db = opened.value.db;
  t.after(() => db.close());
  const writer = new BatchWriter(db);
  writer.writeBatch(Array.from({ length: 10 }, (_, i) => bulky(i)));
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages + 20}`);
  let written = 10;
  let failure: unknown;
  for (let batch = 0; batch < 100 && !failure; batch++) {
    try {
      writer.writeBatch(Array.from({ length: 5 }, (_, i) => bulky(written + i)));
      written += 5;
    } catch (e) {
      failure = e;
    }
  }
  assert.ok(failure, 'the database filled up');
  const error = fromSqliteError(failure, file, 'writing a batch of 5 events');
  assert.equal(error.code, 'diskFull');
  assert.match(error.message, /the disk is full while writing a batch of 5 events .*nothing of this step was written/);
  assert.equal((db.prepare('SELECT count(*) AS n FROM element_events').get() as { n: number }).n, written, 'every committed batch, nothing of the failed one');
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
});

test('full database during migration (max_page_count): the file stays at version 0, no table half made', (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const db = new Sqlite(file);
  t.after(() => db.close());
  db.pragma('journal_mode = WAL');
  db.pragma('max_page_count = 8');
  const migrations = loadMigrations();
  assert.ok(migrations.ok);
  const result = migrateDatabase(db, file, migrations.value);
  assert.ok(!result.ok);
  assert.equal(result.error.code, 'diskFull');
  assert.match(result.error.message, /stays at schema version 0; start-up stops here/);
  assert.equal(db.pragma('user_version', { simple: true }), 0);
  assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number }).n, 0);
});

test('full disk (a real 1 MiB tmpfs): durable() rejects with "disk is full", acknowledged rows survive, writing resumes once there is room', async (t) => {
  const dir = mountedDir(t, ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs']);
  if (!dir) {
    t.skip(`cannot mount a tmpfs here (${isRoot ? 'mount refused' : 'not root'}); the max_page_count tests above cover the logic`);
    return;
  }
  const file = path.join(dir, 'history.db');
  const logged: string[] = [];
  const opened = await History.open({ path: file, maintenanceIntervalMs: 0, log: (line) => logged.push(line) });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const history = opened.value;
  const acknowledged: number[] = [];
  let failure: unknown;
  for (let i = 0; i < 5000 && !failure; i++) {
    try {
      await history.durable(bulky(i));
      acknowledged.push(i);
    } catch (e) {
      failure = e;
    }
  }
  assert.ok(failure instanceof HistoryWriteError, `the disk filled up (${acknowledged.length} acknowledged)`);
  assert.equal(failure.code, 'diskFull', failure.message);
  t.diagnostic(`${acknowledged.length} acknowledged before: ${failure.message}`);
  assert.match(failure.message, /the disk is full/);
  assert.ok(logged.some((line) => /disk is full/.test(line)), logged.join('\n'));
  // More room: the same history goes on writing.
  assert.equal(spawnSync('mount', ['-o', 'remount,size=8m', dir]).status, 0);
  await history.durable(bulky(100_000));
  const closed = await history.close();
  assert.ok(closed.ok, closed.ok ? '' : closed.error.message);
  assert.equal(integrity(file), 'ok');
  assert.equal(rowCount(file, 'element_events'), acknowledged.length + 1, 'every acknowledged event and the one after, nothing of the failed batch');
});

test('a full disk at creation: the migration fails with "disk is full" and no half-made schema (tmpfs)', async (t) => {
  const dir = mountedDir(t, ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs']);
  if (!dir) {
    t.skip(`cannot mount a tmpfs here (${isRoot ? 'mount refused' : 'not root'}); "full database during migration" covers the logic`);
    return;
  }
  fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(60 * 1024));
  const file = path.join(dir, 'history.db');
  const opened = await History.open({ path: file, maintenanceIntervalMs: 0 });
  assert.ok(!opened.ok);
  assert.ok(['diskFull', 'cannotOpen'].includes(opened.error.code), `${opened.error.code}: ${opened.error.message}`);
  t.diagnostic(opened.error.message);
  if (fs.existsSync(file) && fs.statSync(file).size > 0) {
    fs.rmSync(path.join(dir, 'filler'));
    const db = new Sqlite(file, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 0);
    assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number }).n, 0);
    db.close();
  }
});
