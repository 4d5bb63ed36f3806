/**
 * The migration runner (DESIGN.md §4): every pending step in one transaction, PRAGMA user_version, a
 * database from the future or of another application refused untouched, a failing step leaves the file at
 * its previous version (never half-migrated), bad migration files refused, `handlespace migrate`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { migrateCommand } from '../../../core/cli/history-commands.js';
import { openHistoryDatabase } from '../../../core/history/database.js';
import { HISTORY_APPLICATION_ID, loadMigrations } from '../../../core/history/migration-runner.js';
import { LATEST_VERSION, memoryIo, migrationsWith, REAL_MIGRATIONS, tempDir } from './helpers.js';

function tables(file: string): string[] {
  const db = new Sqlite(file, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

function pragma(file: string, name: string): unknown {
  const db = new Sqlite(file, { readonly: true });
  try {
    return db.pragma(name, { simple: true });
  } finally {
    db.close();
  }
}

function mustLoad(dir: string): ReturnType<typeof loadMigrations> & { ok: true } {
  const loaded = loadMigrations(dir);
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.error.message);
  return loaded;
}

test('a new file is created at the newest version: WAL, incremental auto_vacuum, our application_id', (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const opened = openHistoryDatabase(file);
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const { db, migration } = opened.value;
  assert.deepEqual(migration, { from: 0, to: LATEST_VERSION(), applied: REAL_MIGRATIONS(), created: true });
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('auto_vacuum', { simple: true }), 2, 'auto_vacuum INCREMENTAL is fixed at creation');
  assert.equal(db.pragma('application_id', { simple: true }), HISTORY_APPLICATION_ID);
  assert.equal(db.pragma('user_version', { simple: true }), LATEST_VERSION());
  db.close();
  for (const table of ['registrar_runs', 'pools', 'pool_elements', 'element_events', 'notifications', 'pool_users', 'pool_user_subscriptions', 'audit', 'metric_samples']) {
    assert.ok(tables(file).includes(table), table);
  }
  const again = openHistoryDatabase(file);
  assert.ok(again.ok);
  assert.deepEqual(again.value.migration, { from: LATEST_VERSION(), to: LATEST_VERSION(), applied: [], created: false });
  again.value.db.close();
});

test('all pending steps run in one go, in order, and the version follows', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'history.db');
  const first = openHistoryDatabase(file, { migrations: mustLoad(migrationsWith(tempDir(t), {})).value });
  assert.ok(first.ok);
  first.value.db.close();
  const migrations = mustLoad(
    migrationsWith(dir, {
      '0020_pool_labels.sql': 'ALTER TABLE pools ADD COLUMN label TEXT;',
      '0030_label_index.sql': '-- uses the column 0020 added\nCREATE INDEX pools_label ON pools (label);',
    }),
  );
  const opened = openHistoryDatabase(file, { migrations: migrations.value });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  assert.deepEqual(opened.value.migration, { from: 10, to: 30, applied: ['0020_pool_labels.sql', '0030_label_index.sql'], created: false });
  opened.value.db.close();
  assert.equal(pragma(file, 'user_version'), 30);
});

test('a database newer than the application is refused and left untouched', (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const opened = openHistoryDatabase(file);
  assert.ok(opened.ok);
  opened.value.db.pragma('user_version = 40');
  opened.value.db.close();
  const before = fs.readFileSync(file);
  const refused = openHistoryDatabase(file);
  assert.ok(!refused.ok);
  assert.equal(refused.error.code, 'newerSchema');
  assert.match(refused.error.message, new RegExp(`schema version 40, newer than this handlespace knows \\(${LATEST_VERSION()}`));
  assert.match(refused.error.message, /newer handlespace/);
  assert.equal(pragma(file, 'user_version'), 40);
  assert.deepEqual(fs.readFileSync(file), before);
});

test('a failing step rolls every step of the run back: the file stays at its version, never half-migrated', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'history.db');
  const base = openHistoryDatabase(file, { migrations: mustLoad(migrationsWith(tempDir(t), {})).value });
  assert.ok(base.ok);
  base.value.db.prepare("INSERT INTO pools (handle, name, first_seen, last_seen) VALUES (x'6563686f', 'echo', 1, 1)").run();
  base.value.db.close();
  const migrations = mustLoad(
    migrationsWith(dir, {
      '0020_good.sql': 'ALTER TABLE pools ADD COLUMN label TEXT;\nCREATE TABLE extra (id INTEGER PRIMARY KEY);',
      '0030_broken.sql': 'ALTER TABLE pools ADD COLUMN owner TEXT;\nINSERT INTO no_such_table VALUES (1);',
    }),
  );
  const failed = openHistoryDatabase(file, { migrations: migrations.value });
  assert.ok(!failed.ok);
  assert.equal(failed.error.code, 'migrationFailed');
  assert.match(failed.error.message, /applying migration 0030_broken\.sql/);
  assert.match(failed.error.message, /no such table: no_such_table/);
  assert.match(failed.error.message, /stays at schema version 10; start-up stops here/);
  assert.equal(pragma(file, 'user_version'), 10);
  assert.ok(!tables(file).includes('extra'), '0020 was rolled back with 0030');
  const db = new Sqlite(file, { readonly: true });
  const columns = (db.pragma('table_info(pools)') as { name: string }[]).map((c) => c.name);
  assert.ok(!columns.includes('label') && !columns.includes('owner'));
  assert.equal((db.prepare('SELECT count(*) AS n FROM pools').get() as { n: number }).n, 1, 'existing rows untouched');
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
});

test('a failing first migration leaves a new file without any table', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'history.db');
  const migrations = mustLoad(migrationsWith(dir, { '0010_initial.sql': 'CREATE TABLE a (id INTEGER);\nCREATE TABLE a (id INTEGER);' }, { withoutReal: true }));
  const failed = openHistoryDatabase(file, { migrations: migrations.value });
  assert.ok(!failed.ok);
  assert.equal(failed.error.code, 'migrationFailed');
  assert.deepEqual(tables(file), []);
  assert.equal(pragma(file, 'user_version'), 0);
  // The next start with good migrations creates the schema normally.
  const good = openHistoryDatabase(file);
  assert.ok(good.ok, good.ok ? '' : good.error.message);
  good.value.db.close();
});

test('migration files: numbering in steps of 10 without gaps, names, no transaction statements', (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ '0030_gap.sql': 'SELECT 1;' }, /0030_gap\.sql should be numbered 0020/],
    [{ '0015_odd.sql': 'SELECT 1;' }, /should be numbered 0020/],
    [{ '20_short.sql': 'SELECT 1;' }, /not named NNNN_name\.sql/],
    [{ '0020_tx.sql': 'BEGIN;\nALTER TABLE pools ADD COLUMN x;\nCOMMIT;' }, /contains "BEGIN"/],
    [{ '0020_version.sql': 'PRAGMA user_version = 99;' }, /contains "PRAGMA user_version"/],
  ];
  for (const [extra, message] of cases) {
    const dir = tempDir(t);
    const loaded = loadMigrations(migrationsWith(dir, extra));
    assert.ok(!loaded.ok, `${Object.keys(extra).join()} should be refused`);
    assert.equal(loaded.error.code, 'badMigrations');
    assert.match(loaded.error.message, message);
  }
  // Comments mentioning BEGIN are fine; the README is ignored.
  const dir = tempDir(t);
  const fine = loadMigrations(migrationsWith(dir, { '0020_comment.sql': '-- no BEGIN here: the runner owns it\nALTER TABLE pools ADD COLUMN x;', 'README.md': 'x' }));
  assert.ok(fine.ok, fine.ok ? '' : fine.error.message);
  assert.deepEqual(
    fine.value.map((m) => m.version),
    [10, 20],
  );
  const real = loadMigrations();
  assert.ok(real.ok, real.ok ? '' : real.error.message);
});

test('an SQLite file of another application is refused untouched', (t) => {
  const dir = tempDir(t);
  const withTables = path.join(dir, 'other.db');
  const other = new Sqlite(withTables);
  other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL); INSERT INTO invoices VALUES (1, 9.5);');
  other.close();
  const before = fs.readFileSync(withTables);
  const refused = openHistoryDatabase(withTables);
  assert.ok(!refused.ok);
  assert.equal(refused.error.code, 'foreignDatabase');
  assert.match(refused.error.message, /not a handlespace history \(tables: invoices/);
  assert.deepEqual(fs.readFileSync(withTables), before, 'not even switched to WAL');

  const withId = path.join(dir, 'app.db');
  const app = new Sqlite(withId);
  app.pragma('application_id = 1234');
  app.exec('CREATE TABLE t (x)');
  app.close();
  const refusedId = openHistoryDatabase(withId);
  assert.ok(!refusedId.ok);
  assert.equal(refusedId.error.code, 'foreignDatabase');
  assert.match(refusedId.error.message, /another application \(application_id 0x4d2\)/);
});

test('handlespace migrate --db: creates or upgrades, reports, refuses bad files with exit status 1', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'history.db');
  const io = memoryIo();
  assert.equal(await migrateCommand(['--db', file], io), 0);
  assert.match(io.out(), new RegExp(`schema version 0 → ${LATEST_VERSION()} \\(applied ${REAL_MIGRATIONS().join(', ').replaceAll('.', '\\.')}\\)`));
  const again = memoryIo();
  assert.equal(await migrateCommand(['--db', file], again), 0);
  assert.match(again.out(), new RegExp(`schema version ${LATEST_VERSION()}, up to date`));

  const garbage = path.join(dir, 'garbage.db');
  fs.writeFileSync(garbage, 'this is not a database at all, just some text that is long enough');
  const bad = memoryIo();
  assert.equal(await migrateCommand(['--db', garbage], bad), 1);
  assert.match(bad.err(), /is not an SQLite database/);

  const usage = memoryIo();
  assert.equal(await migrateCommand([], usage), 2);
  assert.match(usage.err(), /--db is required/);
});
