/**
 * Opening the history's SQLite file: the checks that turn a wrong path, a read-only folder, a foreign or
 * damaged file into a clear HistoryError before SQLite's own terse message would, the connection settings
 * every connection shares (WAL, busy timeout), and the automatic migration on open.
 */
import fs from 'node:fs';
import path from 'node:path';
import Sqlite, { type Database } from 'better-sqlite3';
import { err, ok, type Result } from '../result.js';
import { fromSqliteError, historyError, type HistoryError } from './history-error.js';
import { inspectDatabase, loadMigrations, migrateDatabase, type Migration, type MigrationReport } from './migration-runner.js';

export type { Database } from 'better-sqlite3';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** How long a connection waits for another one's write lock before reporting 'busy'. */
export const BUSY_TIMEOUT_MS = 5000;

export interface OpenDatabaseOptions {
  /** Migrations to apply (default: the files of migrations/). */
  readonly migrations?: readonly Migration[];
}

export interface OpenedDatabase {
  readonly db: Database;
  readonly migration: MigrationReport;
}

/**
 * Checks what can be checked without SQLite: the folder exists and is writable, an existing file is
 * writable and starts with SQLite's header (an empty file is a new database).
 */
export function precheckDatabasePath(file: string): HistoryError | undefined {
  const dir = path.dirname(path.resolve(file));
  let dirStat: fs.Stats;
  try {
    dirStat = fs.statSync(dir);
  } catch {
    return historyError('cannotOpen', `cannot open history database ${file}: its folder ${dir} does not exist.`);
  }
  if (!dirStat.isDirectory()) return historyError('cannotOpen', `cannot open history database ${file}: ${dir} is not a folder.`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    return historyError('readOnly', `cannot open history database ${file}: its folder ${dir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); SQLite needs to create ${path.basename(file)}-wal and -shm beside it.`);
  }
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(file);
  } catch {
    return undefined; // a new file
  }
  if (!stat.isFile()) return historyError('cannotOpen', `cannot open history database ${file}: it is not a regular file.`);
  try {
    fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
  } catch (e) {
    return historyError('readOnly', `history database ${file} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
  if (stat.size === 0) return undefined;
  const head = Buffer.alloc(SQLITE_HEADER.length);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const read = fs.readSync(fd, head, 0, head.length, 0);
    if (read < head.length || !head.equals(SQLITE_HEADER)) {
      return historyError('notADatabase', `history database ${file} is not an SQLite database (its first bytes are not "SQLite format 3"). It may be another kind of file or badly damaged; nothing was changed. Move it aside, or point --db at another file.`);
    }
  } catch (e) {
    return historyError('cannotOpen', `cannot read history database ${file}: ${(e as Error).message}`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return undefined;
}

/** Settings of every read-write connection. */
function configure(db: Database): void {
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // Readers never block the writer and the writer never blocks readers; commits append to the -wal file.
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw Object.assign(new Error(`the file system refused WAL mode (journal_mode is ${String(mode)})`), { code: 'SQLITE_CANTOPEN' });
  db.pragma('foreign_keys = ON');
}

/**
 * Opens (creating it if needed) and migrates the history database at `file`. The connection is the
 * caller's to close. Nothing of the file is changed when the result is an error, except that a brand new
 * empty file may be left behind.
 */
export function openHistoryDatabase(file: string, options: OpenDatabaseOptions = {}): Result<OpenedDatabase, HistoryError> {
  const problem = precheckDatabasePath(file);
  if (problem) return err(problem);
  let migrations = options.migrations;
  if (!migrations) {
    const loaded = loadMigrations();
    if (!loaded.ok) return loaded;
    migrations = loaded.value;
  }
  let db: Database;
  try {
    db = new Sqlite(file);
  } catch (e) {
    return err(fromSqliteError(e, file, 'opening', 'cannotOpen'));
  }
  try {
    // Read the schema first: a damaged, foreign or newer file is refused here, before anything is written.
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    const refused = inspectDatabase(db, file, migrations);
    if (refused) {
      db.close();
      return err(refused);
    }
    const fresh = (db.pragma('page_count', { simple: true }) as number) === 0;
    if (fresh) db.pragma('auto_vacuum = INCREMENTAL');
    configure(db);
  } catch (e) {
    db.close();
    return err(fromSqliteError(e, file, 'opening', 'cannotOpen'));
  }
  const migrated = migrateDatabase(db, file, migrations);
  if (!migrated.ok) {
    db.close();
    return migrated;
  }
  return ok({ db, migration: migrated.value });
}

/**
 * A second connection to an already migrated file, for the writer thread or a reader. Checks the schema
 * version matches `expectedVersion` (another process may have migrated it further meanwhile).
 */
export function connectHistoryDatabase(file: string, expectedVersion: number, options: { readonly readonly?: boolean } = {}): Result<Database, HistoryError> {
  let db: Database;
  try {
    db = new Sqlite(file, { readonly: options.readonly === true, fileMustExist: true });
  } catch (e) {
    return err(fromSqliteError(e, file, 'opening', 'cannotOpen'));
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (!options.readonly) configure(db);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== expectedVersion) {
      db.close();
      return err(historyError('newerSchema', `history database ${file} changed schema version under us (${expectedVersion} → ${version}): another handlespace migrated it; restart.`));
    }
  } catch (e) {
    db.close();
    return err(fromSqliteError(e, file, 'opening', 'cannotOpen'));
  }
  return ok(db);
}
