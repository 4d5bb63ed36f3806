/**
 * The history store's failures as values (DESIGN.md §7): one code per thing an operator can act on, and a
 * message that names the file and says what to do. SQLite's own exceptions are translated here, once.
 */

export type HistoryErrorCode =
  /** The file (or its folder) cannot be opened or created. */
  | 'cannotOpen'
  /** The folder or the file is read-only: SQLite needs to write the file and its -wal / -shm companions. */
  | 'readOnly'
  /** The file is not an SQLite database at all (garbage, truncated header, encrypted). */
  | 'notADatabase'
  /** An SQLite database whose pages are damaged. */
  | 'corrupt'
  /** A sound SQLite database that is not a handlespace history (another application's file). */
  | 'foreignDatabase'
  /** Written by a newer handlespace: its schema version is above every migration this build knows. */
  | 'newerSchema'
  /** The migration files themselves are wrong (numbering, a gap, a transaction statement inside). */
  | 'badMigrations'
  /** A migration step failed; the database was left at its previous version. */
  | 'migrationFailed'
  /** The disk (or the database's max_page_count) is full. */
  | 'diskFull'
  /** Another connection holds the write lock longer than the busy timeout. */
  | 'busy'
  /** Any other failure to write a batch of events. */
  | 'writeFailed'
  /** The writer thread died or could not start. */
  | 'writerFailed'
  /** The history was closed. */
  | 'closed'
  /** A query or an export failed (bad filter, broken output stream). */
  | 'queryFailed';

export interface HistoryError {
  readonly code: HistoryErrorCode;
  readonly message: string;
}

export function historyError(code: HistoryErrorCode, message: string): HistoryError {
  return { code, message };
}

/** What better-sqlite3 throws: an Error with SQLite's extended result code name ('SQLITE_FULL', ...). */
function sqliteCode(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Translates an exception thrown while working on the database at `path` into a HistoryError; `doing`
 * says what was being done ("opening", "writing a batch of 812 events") for the message.
 */
export function fromSqliteError(e: unknown, path: string, doing: string, fallback: HistoryErrorCode = 'writeFailed'): HistoryError {
  const code = sqliteCode(e) ?? '';
  const detail = messageOf(e);
  if (code === 'SQLITE_FULL' || (code.startsWith('SQLITE_IOERR') && /no space|disk is full|ENOSPC/i.test(detail))) {
    return historyError('diskFull', `history database ${path}: the disk is full while ${doing} (${detail}); nothing of this step was written. Free space or move --db to a larger disk.`);
  }
  if (code === 'SQLITE_NOTADB') {
    return historyError('notADatabase', `history database ${path} is not an SQLite database (${detail}). It may be another kind of file or badly damaged; move it aside, or point --db at another file.`);
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return historyError('corrupt', `history database ${path} is damaged (${detail}) while ${doing}. Move it aside and start a new one; \`sqlite3 ${path} .recover\` may save its rows.`);
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return historyError('readOnly', `history database ${path} is read-only (${detail}) while ${doing}: the file and its folder must be writable (SQLite writes ${path}-wal and ${path}-shm beside it).`);
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return historyError('cannotOpen', `cannot open history database ${path} (${detail}): check that its folder exists and is writable.`);
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return historyError('busy', `history database ${path} is locked by another process while ${doing} (${detail}).`);
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return historyError(fallback, `history database ${path}: I/O error while ${doing} (${code}: ${detail}).`);
  }
  return historyError(fallback, `history database ${path}: ${doing} failed: ${detail}${code ? ` (${code})` : ''}.`);
}

/** The Error a rejected `durable()` promise carries: the HistoryError, plus an Error's stack for logs. */
export class HistoryWriteError extends Error {
  constructor(readonly historyError: HistoryError) {
    super(historyError.message);
    this.name = 'HistoryWriteError';
  }

  get code(): HistoryErrorCode {
    return this.historyError.code;
  }
}
