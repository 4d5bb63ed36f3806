/**
 * Schema guard (STYLE.md "Data"): history tables are additive only, so old exports and older readers keep
 * working. schema-snapshot.sql beside this file is the committed schema (executable SQL, as SQLite stores
 * it); the test fails when the migrated schema loses a table or a column, or changes a column's type,
 * NOT NULL, default or key. After an additive change, refresh the snapshot and commit it:
 *
 *   UPDATE_SCHEMA_SNAPSHOT=1 node --import tsx --test test/unit/history/schema-snapshot.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Sqlite, { type Database } from 'better-sqlite3';
import { openHistoryDatabase } from '../../../core/history/database.js';
import { loadMigrations } from '../../../core/history/migration-runner.js';
import { LATEST_VERSION, migrationsWith, tempDir } from './helpers.js';

/** The number the next migration would take (the guard's own test steps). */
const NEXT = String(LATEST_VERSION() + 10).padStart(4, '0');

const SNAPSHOT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'schema-snapshot.sql');
const HEADER = `-- The history store's schema as the migrations build it (test/unit/history/schema-snapshot.test.ts).
-- History tables are additive only: the test fails when a table or a column listed here is lost or changed.
-- After an additive migration: UPDATE_SCHEMA_SNAPSHOT=1 node --import tsx --test test/unit/history/schema-snapshot.test.ts
`;

interface Column {
  readonly name: string;
  readonly type: string;
  readonly notnull: number;
  readonly dflt_value: string | null;
  readonly pk: number;
}

function migratedSchema(file: string, migrationsDir?: string): Database {
  const migrations = migrationsDir ? loadMigrations(migrationsDir) : loadMigrations();
  assert.ok(migrations.ok, migrations.ok ? '' : migrations.error.message);
  const opened = openHistoryDatabase(file, { migrations: migrations.value });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  return opened.value.db;
}

function schemaSql(db: Database): string {
  const rows = db
    .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type DESC, name")
    .all() as { sql: string }[];
  return HEADER + rows.map((r) => `${r.sql.replace(/[ \t]+\n/g, '\n')};\n`).join('\n');
}

function columnsOf(db: Database): Map<string, Map<string, Column>> {
  const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name);
  return new Map(tables.map((table) => [table, new Map((db.pragma(`table_info(${table})`) as Column[]).map((c) => [c.name, c]))]));
}

/** What the current schema broke of the snapshot's: lost tables and columns, changed columns. */
function additiveViolations(snapshot: Database, current: Database): string[] {
  const before = columnsOf(snapshot);
  const after = columnsOf(current);
  const problems: string[] = [];
  for (const [table, columns] of before) {
    const now = after.get(table);
    if (!now) {
      problems.push(`history table ${table} was dropped`);
      continue;
    }
    for (const [name, column] of columns) {
      const present = now.get(name);
      if (!present) problems.push(`history table ${table} lost column ${name}`);
      else if (present.type !== column.type || present.notnull !== column.notnull || present.dflt_value !== column.dflt_value || present.pk !== column.pk) {
        problems.push(`history table ${table} changed column ${name}: ${JSON.stringify(column)} → ${JSON.stringify(present)}`);
      }
    }
  }
  return problems;
}

function snapshotDatabase(): Database {
  const db = new Sqlite(':memory:');
  db.exec(fs.readFileSync(SNAPSHOT, 'utf8'));
  return db;
}

test('the migrated schema keeps every table and column of the committed snapshot (additive only)', (t) => {
  const current = migratedSchema(path.join(tempDir(t), 'history.db'));
  if (process.env['UPDATE_SCHEMA_SNAPSHOT'] === '1') fs.writeFileSync(SNAPSHOT, schemaSql(current));
  const snapshot = snapshotDatabase();
  assert.deepEqual(additiveViolations(snapshot, current), []);
  snapshot.close();
  current.close();
});

test('the committed snapshot is up to date (refresh it after an additive migration)', (t) => {
  const current = migratedSchema(path.join(tempDir(t), 'history.db'));
  assert.equal(
    schemaSql(current),
    fs.readFileSync(SNAPSHOT, 'utf8'),
    'the schema grew: UPDATE_SCHEMA_SNAPSHOT=1 node --import tsx --test test/unit/history/schema-snapshot.test.ts, then commit schema-snapshot.sql',
  );
  current.close();
});

test('the guard catches a dropped column, a changed column and a dropped table; an added column passes', (t) => {
  const dir = tempDir(t);
  const cases: [string, string, RegExp | undefined][] = [
    [`${NEXT}_drop.sql`, 'ALTER TABLE registrar_runs DROP COLUMN app_version;', /registrar_runs lost column app_version/],
    [
      `${NEXT}_retype.sql`,
      // The usual SQLite way to change a column: rebuild the table.
      `CREATE TABLE history_meta_new (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
       INSERT INTO history_meta_new SELECT key, value FROM history_meta;
       DROP TABLE history_meta;
       ALTER TABLE history_meta_new RENAME TO history_meta;`,
      /history_meta changed column value/,
    ],
    [`${NEXT}_drop_table.sql`, 'DROP TABLE pool_user_subscriptions;', /pool_user_subscriptions was dropped/],
    [`${NEXT}_add.sql`, 'ALTER TABLE pools ADD COLUMN label TEXT;', undefined],
  ];
  const snapshot = snapshotDatabase();
  for (const [file, sql, expected] of cases) {
    const caseDir = path.join(dir, file);
    fs.mkdirSync(caseDir);
    const current = migratedSchema(path.join(caseDir, 'history.db'), migrationsWith(caseDir, { [file]: sql }, { realUpTo: Infinity }));
    const problems = additiveViolations(snapshot, current);
    if (expected) assert.ok(problems.some((p) => expected.test(p)), `${file}: ${problems.join('; ')}`);
    else assert.deepEqual(problems, [], file);
    current.close();
  }
  snapshot.close();
});
