/**
 * The migration runner (DESIGN.md §4, STYLE.md "Data"): the numbered, forward-only `.sql` files of
 * migrations/ (0010_initial.sql, 0020_….sql: steps of 10, no gaps), applied all pending at once inside one
 * transaction and tracked with `PRAGMA user_version`. A database newer than the newest file is refused, a
 * file of another application is refused, and a failing step rolls the whole run back: the database stays
 * at the version it had, never half-migrated. Failures are Result values, so start-up can stop with the
 * message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import { err, ok, type Result } from '../result.js';
import { fromSqliteError, historyError, type HistoryError } from './history-error.js';

/** Written to the header's application_id when the schema is created: "HSPC". Tells our files from others. */
export const HISTORY_APPLICATION_ID = 0x48535043;

export interface Migration {
  /** 10, 20, 30, ... (the file's number). */
  readonly version: number;
  /** The file name, e.g. 0010_initial.sql. */
  readonly file: string;
  readonly sql: string;
}

export interface MigrationReport {
  readonly from: number;
  readonly to: number;
  /** The steps applied by this run (empty when the database was up to date). */
  readonly applied: readonly string[];
  /** The schema was created by this run (auto_vacuum was set before the first table). */
  readonly created: boolean;
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9][a-z0-9_-]*)\.sql$/;
/** Statements a migration must not contain: the runner owns the transaction and the version. */
const FORBIDDEN_STATEMENT = /^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|VACUUM|ATTACH|DETACH|PRAGMA\s+(user_version|application_id|journal_mode|auto_vacuum))\b/im;

/**
 * The migrations folder: migrations/ at the repository (or packaged app) root. From the sources
 * (core/history) that is two folders up; from the compiled dist/core/history it is three.
 */
export function defaultMigrationsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '..', '..', 'migrations'), path.resolve(here, '..', '..', '..', 'migrations')];
  return candidates.find((dir) => fs.existsSync(path.join(dir, '0010_initial.sql'))) ?? (candidates[0] as string);
}

function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}

/** Reads and checks the migration files of `dir`; other files (README.md) are ignored. */
export function loadMigrations(dir: string = defaultMigrationsDir()): Result<readonly Migration[], HistoryError> {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((name) => name.endsWith('.sql')).sort();
  } catch (e) {
    return err(historyError('badMigrations', `cannot read the migrations folder ${dir}: ${(e as Error).message}`));
  }
  const migrations: Migration[] = [];
  for (const file of names) {
    const match = FILE_PATTERN.exec(file);
    if (!match) return err(historyError('badMigrations', `migration file ${path.join(dir, file)} is not named NNNN_name.sql (e.g. 0020_add_pool_labels.sql)`));
    const version = Number(match[1]);
    const expected = (migrations.length + 1) * 10;
    if (version !== expected) {
      return err(historyError('badMigrations', `migration ${file} should be numbered ${String(expected).padStart(4, '0')}: versions go 0010, 0020, ... in steps of 10 without gaps`));
    }
    const sql = fs.readFileSync(path.join(dir, file), 'utf8');
    const forbidden = FORBIDDEN_STATEMENT.exec(stripComments(sql));
    if (forbidden) {
      return err(historyError('badMigrations', `migration ${file} contains "${forbidden[1]}": the runner owns the transaction, the version and the file settings`));
    }
    migrations.push({ version, file, sql });
  }
  if (migrations.length === 0) return err(historyError('badMigrations', `no migration files (NNNN_name.sql) in ${dir}`));
  return ok(migrations);
}

export function latestVersion(migrations: readonly Migration[]): number {
  return migrations[migrations.length - 1]?.version ?? 0;
}

function describeRange(migrations: readonly Migration[]): string {
  const first = migrations[0]?.file ?? '-';
  const last = migrations[migrations.length - 1]?.file ?? '-';
  return first === last ? first : `${first} … ${last}`;
}

interface HeaderFacts {
  readonly userVersion: number;
  readonly applicationId: number;
  readonly tables: readonly string[];
}

function readHeader(db: Database): HeaderFacts {
  const userVersion = db.pragma('user_version', { simple: true }) as number;
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name);
  return { userVersion, applicationId, tables };
}

/**
 * Refuses, before anything is written, a file that is not ours (another application's, or hand-edited)
 * or that is newer than `migrations`. Reads only.
 */
export function inspectDatabase(db: Database, file: string, migrations: readonly Migration[]): HistoryError | undefined {
  let header: HeaderFacts;
  try {
    header = readHeader(db);
  } catch (e) {
    return fromSqliteError(e, file, 'reading the schema version', 'cannotOpen');
  }
  return checkOwnership(header, file) ?? checkVersion(header, file, migrations);
}

function checkVersion(header: HeaderFacts, file: string, migrations: readonly Migration[]): HistoryError | undefined {
  const latest = latestVersion(migrations);
  if (header.userVersion > latest) {
    return historyError(
      'newerSchema',
      `history database ${file} has schema version ${header.userVersion}, newer than this handlespace knows (${latest}: ${describeRange(migrations)}). ` +
        'It was written by a newer handlespace: run that version, or point --db at another file. Nothing was changed.',
    );
  }
  if (header.userVersion % 10 !== 0) {
    return historyError('foreignDatabase', `history database ${file} has schema version ${header.userVersion}, which no handlespace migration produces; it is not ours or was edited by hand. Nothing was changed.`);
  }
  return undefined;
}

/**
 * Brings the database at `file` (only used in messages) up to the newest migration. Runs in one
 * IMMEDIATE transaction: another process migrating the same file at the same moment waits, then finds the
 * work done.
 */
export function migrateDatabase(db: Database, file: string, migrations: readonly Migration[]): Result<MigrationReport, HistoryError> {
  const latest = latestVersion(migrations);
  let header: HeaderFacts;
  try {
    header = readHeader(db);
  } catch (e) {
    return err(fromSqliteError(e, file, 'reading the schema version', 'cannotOpen'));
  }
  const refused = checkOwnership(header, file) ?? checkVersion(header, file, migrations);
  if (refused) return err(refused);
  if (header.userVersion === latest) return ok({ from: latest, to: latest, applied: [], created: false });
  const created = header.userVersion === 0;
  if (created) {
    try {
      // Must be set before the first table exists (it is fixed in the file header from then on): lets the
      // retention pass hand freed pages back with PRAGMA incremental_vacuum instead of a full VACUUM.
      db.pragma('auto_vacuum = INCREMENTAL');
    } catch (e) {
      return err(fromSqliteError(e, file, 'preparing a new database', 'migrationFailed'));
    }
  }
  let applied: string[];
  let from = header.userVersion;
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (e) {
    return err(fromSqliteError(e, file, 'starting the migration', 'migrationFailed'));
  }
  let step: Migration | undefined;
  try {
    // Read again under the write lock: another process may have migrated meanwhile.
    from = db.pragma('user_version', { simple: true }) as number;
    const pending = migrations.filter((m) => m.version > from);
    for (step of pending) db.exec(step.sql);
    step = undefined;
    db.pragma(`application_id = ${HISTORY_APPLICATION_ID}`);
    db.pragma(`user_version = ${latest}`);
    db.exec('COMMIT');
    applied = pending.map((m) => m.file);
  } catch (e) {
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } catch {
      // The rollback's own failure changes nothing: SQLite rolls back an unfinished transaction on close.
    }
    const doing = step ? `applying migration ${step.file}` : 'committing the migration';
    const translated = fromSqliteError(e, file, doing, 'migrationFailed');
    const message = `${translated.message} The database stays at schema version ${from}; start-up stops here.`;
    return err(historyError(translated.code === 'diskFull' || translated.code === 'readOnly' || translated.code === 'corrupt' ? translated.code : 'migrationFailed', message));
  }
  return ok({ from, to: latest, applied, created: from === 0 });
}

function checkOwnership(header: HeaderFacts, file: string): HistoryError | undefined {
  if (header.applicationId === HISTORY_APPLICATION_ID) return undefined;
  if (header.applicationId !== 0) {
    return historyError('foreignDatabase', `${file} is an SQLite database of another application (application_id 0x${(header.applicationId >>> 0).toString(16)}), not a handlespace history. Nothing was changed; point --db at another file.`);
  }
  if (header.userVersion !== 0 || header.tables.length > 0) {
    const tables = header.tables.slice(0, 5).join(', ') + (header.tables.length > 5 ? ', …' : '');
    return historyError('foreignDatabase', `${file} is an SQLite database but not a handlespace history (tables: ${tables || 'none'}, user_version ${header.userVersion}). Nothing was changed; point --db at another file.`);
  }
  return undefined;
}
