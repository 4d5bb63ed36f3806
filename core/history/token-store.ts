/**
 * Bearer tokens of the LAN console (migration 0020, table api_tokens): creating one (the token text is
 * returned once; only its SHA-256 is stored), revoking, listing, and verifying a presented token. Also the
 * in-memory token set for tokens that must not outlive the process: `handlespace serve`'s start-up token,
 * and every token of a `--memory` run, whose temporary database no other process can reach.
 *
 * Tokens are created by one process (`handlespace token create`) and verified by another (`serve`), so the
 * verifier reads the table, not a copy taken at start; a short positive cache keeps a page load's dozen
 * requests from querying SQLite each, and bounds how late a revocation is seen (VERIFY_CACHE_MS).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { systemClock, type Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { openHistoryDatabase } from './database.js';
import { fromSqliteError, type HistoryErrorCode } from './history-error.js';

export type TokenRole = 'viewer' | 'operator';
export const TOKEN_ROLES: readonly TokenRole[] = ['viewer', 'operator'];

/** "hs_" + 32 random bytes in base64url (43 characters): 256 bits, nothing to guess. */
export const TOKEN_PREFIX = 'hs_';
const TOKEN_PATTERN = /^hs_[A-Za-z0-9_-]{43}$/;
export const MAX_LABEL_LENGTH = 100;

/**
 * How long a verified token is trusted without asking the table again: a revocation (by another process)
 * takes effect at most this late. Unknown tokens are never cached, so a token created a moment ago works
 * at once, and a flood of wrong tokens cannot fill memory.
 */
export const VERIFY_CACHE_MS = 1000;
/** last_used_at is written at most this often per token: a timestamp is not worth a write per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export interface VerifiedToken {
  /** Row id for a stored token; null for an in-memory one. */
  readonly id: number | null;
  readonly role: TokenRole;
  readonly label: string;
}

export interface TokenInfo {
  readonly id: number;
  readonly role: TokenRole;
  readonly label: string;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  readonly lastUsedAt: number | null;
}

export interface CreatedToken {
  readonly info: TokenInfo;
  /** The token itself: shown to the operator once, never stored. */
  readonly token: string;
}

export type TokenErrorCode = HistoryErrorCode | 'notFound' | 'alreadyRevoked' | 'badRole' | 'badLabel';

export interface TokenError {
  readonly code: TokenErrorCode;
  readonly message: string;
}

/** What a transport needs: who holds this token, if anyone. */
export interface TokenVerifier {
  verify(token: string): VerifiedToken | undefined;
}

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A well-formed token; anything else is refused before hashing or querying. */
export function isTokenShaped(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export function checkLabel(label: string): TokenError | undefined {
  if (label.length > MAX_LABEL_LENGTH) return { code: 'badLabel', message: `the label is longer than ${MAX_LABEL_LENGTH} characters` };
  // The label is printed in audit rows and logs: no control characters that could forge lines there.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(label)) return { code: 'badLabel', message: 'the label contains control characters' };
  return undefined;
}

function checkRole(role: string): role is TokenRole {
  return (TOKEN_ROLES as readonly string[]).includes(role);
}

/**
 * Tokens that live only as long as this process (the start-up token; every token of a `--memory` run).
 * Held by hash like the stored ones, so a heap dump shows no usable token either.
 */
export class MemoryTokenStore implements TokenVerifier {
  private readonly byHash = new Map<string, VerifiedToken>();

  /** A new token for `role`; `label` names its holder in audit rows ("local operator"). */
  create(role: TokenRole, label: string): string {
    const token = generateToken();
    this.byHash.set(hashToken(token), { id: null, role, label });
    return token;
  }

  revoke(token: string): boolean {
    return this.byHash.delete(hashToken(token));
  }

  verify(token: string): VerifiedToken | undefined {
    if (!isTokenShaped(token)) return undefined;
    return this.byHash.get(hashToken(token));
  }
}

/** Asks each verifier in turn (in-memory tokens first: they never touch the disk). */
export function chainVerifiers(...verifiers: readonly TokenVerifier[]): TokenVerifier {
  return {
    verify: (token) => {
      for (const verifier of verifiers) {
        const found = verifier.verify(token);
        if (found) return found;
      }
      return undefined;
    },
  };
}

interface TokenRow {
  readonly id: number;
  readonly role: string;
  readonly label: string;
  readonly created_at: number;
  readonly revoked_at: number | null;
  readonly last_used_at: number | null;
}

interface CachedToken {
  readonly token: VerifiedToken;
  readonly checkedAt: number;
}

function infoOf(row: TokenRow): TokenInfo {
  return {
    id: row.id,
    role: checkRole(row.role) ? row.role : 'viewer',
    label: row.label,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}

export interface SqliteTokenStoreOptions {
  readonly clock?: Clock;
  /**
   * How long a write waits for the history writer's lock. `serve` keeps it short: its only writes are the
   * best-effort last_used_at updates, and a wait there would block the registrar's event loop.
   */
  readonly busyTimeoutMs?: number;
}

/** The api_tokens table of a history database. */
export class SqliteTokenStore implements TokenVerifier {
  private readonly cache = new Map<string, CachedToken>();
  /** Token id → last use not yet written. */
  private readonly pendingLastUsed = new Map<number, number>();
  /** Token id → when its last use was last written (or tried: a busy database is not retried per request). */
  private readonly lastUsedAttempted = new Map<number, number>();
  private readonly clock: Clock;
  private readonly selectByHash: Statement<[string], TokenRow>;
  private readonly selectById: Statement<[number], TokenRow>;
  private readonly selectAll: Statement<[], TokenRow>;
  private readonly insert: Statement<[string, string, string, number]>;
  private readonly markRevoked: Statement<[number, number]>;
  private readonly markUsed: Statement<[number, number]>;
  private closed = false;

  private constructor(
    private readonly db: Database,
    readonly file: string,
    options: SqliteTokenStoreOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.selectByHash = db.prepare<[string], TokenRow>('SELECT id, role, label, created_at, revoked_at, last_used_at FROM api_tokens WHERE hash = ?');
    this.selectById = db.prepare<[number], TokenRow>('SELECT id, role, label, created_at, revoked_at, last_used_at FROM api_tokens WHERE id = ?');
    this.selectAll = db.prepare<[], TokenRow>('SELECT id, role, label, created_at, revoked_at, last_used_at FROM api_tokens ORDER BY id');
    this.insert = db.prepare<[string, string, string, number]>('INSERT INTO api_tokens (hash, role, label, created_at) VALUES (?, ?, ?, ?)');
    this.markRevoked = db.prepare<[number, number]>('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
    this.markUsed = db.prepare<[number, number]>('UPDATE api_tokens SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?');
  }

  /** Opens (creating and migrating it if needed) the history database at `file` for its tokens. */
  static open(file: string, options: SqliteTokenStoreOptions = {}): Result<SqliteTokenStore, TokenError> {
    const opened = openHistoryDatabase(file);
    if (!opened.ok) return opened;
    const { db } = opened.value;
    try {
      if (options.busyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs))}`);
      return ok(new SqliteTokenStore(db, file, options));
    } catch (e) {
      db.close();
      return err(fromSqliteError(e, file, 'opening', 'cannotOpen'));
    }
  }

  create(role: string, label: string): Result<CreatedToken, TokenError> {
    if (!checkRole(role)) return err({ code: 'badRole', message: `role must be viewer or operator, not ${JSON.stringify(role)}` });
    const badLabel = checkLabel(label);
    if (badLabel) return err(badLabel);
    const token = generateToken();
    const createdAt = this.clock.now();
    try {
      const id = Number(this.insert.run(hashToken(token), role, label, createdAt).lastInsertRowid);
      return ok({ token, info: { id, role, label, createdAt, revokedAt: null, lastUsedAt: null } });
    } catch (e) {
      return err(fromSqliteError(e, this.file, 'writing', 'writeFailed'));
    }
  }

  /** Revokes token `id`: every server using this database refuses it within VERIFY_CACHE_MS. */
  revoke(id: number): Result<TokenInfo, TokenError> {
    try {
      const row = this.selectById.get(id);
      if (!row) return err({ code: 'notFound', message: `there is no token ${id}` });
      if (row.revoked_at !== null) return err({ code: 'alreadyRevoked', message: `token ${id} was revoked at ${new Date(row.revoked_at).toISOString()}` });
      const now = this.clock.now();
      this.markRevoked.run(now, id);
      for (const [hash, cached] of this.cache) if (cached.token.id === id) this.cache.delete(hash);
      return ok({ ...infoOf(row), revokedAt: now });
    } catch (e) {
      return err(fromSqliteError(e, this.file, 'writing', 'writeFailed'));
    }
  }

  list(): Result<TokenInfo[], TokenError> {
    try {
      this.flushLastUsed();
      return ok(this.selectAll.all().map(infoOf));
    } catch (e) {
      return err(fromSqliteError(e, this.file, 'reading', 'queryFailed'));
    }
  }

  /**
   * The holder of `token`, if it is a live stored token. The lookup is by the token's SHA-256 through the
   * unique index, not a comparison of secrets: a timing difference could at most reveal how much of the
   * *hash* of the attacker's own guess matches a stored hash, which does not help find a token whose hash
   * it is (that needs a SHA-256 preimage). So no constant-time comparison is needed here.
   */
  verify(token: string): VerifiedToken | undefined {
    if (this.closed || !isTokenShaped(token)) return undefined;
    const hash = hashToken(token);
    const now = this.clock.now();
    const cached = this.cache.get(hash);
    let found: VerifiedToken | undefined;
    if (cached && now - cached.checkedAt < VERIFY_CACHE_MS) {
      found = cached.token;
    } else {
      this.cache.delete(hash);
      let row: TokenRow | undefined;
      try {
        row = this.selectByHash.get(hash);
      } catch {
        // A read failure (damaged file) must refuse, never let a caller in.
        return undefined;
      }
      if (!row || row.revoked_at !== null || !checkRole(row.role)) return undefined;
      found = { id: row.id, role: row.role, label: row.label };
      this.cache.set(hash, { token: found, checkedAt: now });
    }
    if (found.id !== null) this.noteUse(found.id, now);
    return found;
  }

  /** Writes the last-use times gathered so far (best effort: a busy database keeps them for next time). */
  flushLastUsed(now: number = this.clock.now()): void {
    if (this.closed || this.pendingLastUsed.size === 0) return;
    const pending = [...this.pendingLastUsed];
    for (const [id] of pending) this.lastUsedAttempted.set(id, now);
    try {
      this.db.transaction(() => {
        for (const [id, time] of pending) this.markUsed.run(time, id);
      })();
      for (const [id, time] of pending) if (this.pendingLastUsed.get(id) === time) this.pendingLastUsed.delete(id);
    } catch {
      // Busy or read-only: a last-use time is informational; try again with the next flush.
    }
  }

  close(): void {
    if (this.closed) return;
    this.flushLastUsed();
    this.closed = true;
    this.db.close();
  }

  private noteUse(id: number, now: number): void {
    this.pendingLastUsed.set(id, now);
    const attempted = this.lastUsedAttempted.get(id);
    if (attempted === undefined || now - attempted >= LAST_USED_RESOLUTION_MS) this.flushLastUsed(now);
  }
}
