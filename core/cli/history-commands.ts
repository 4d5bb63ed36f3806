/**
 * `handlespace migrate` (bring a history database to this version's schema) and `handlespace export`
 * (stream history rows as CSV or JSON lines). Both open the file through core/history, so every bad file
 * (missing, foreign, damaged, newer, read-only) is refused with the same clear message as at start-up.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { openHistoryDatabase } from '../history/database.js';
import { EXPORT_FORMATS, exportHistory, type ExportFormat } from '../history/history-export.js';
import { HISTORY_KINDS, HistoryQueries, type HistoryFilter, type HistoryKind } from '../history/history-queries.js';
import { loadMigrations } from '../history/migration-runner.js';
import { parseInteger } from './endpoint.js';
import type { CliIo } from './io.js';

export const MIGRATE_USAGE = `Usage: handlespace migrate --db PATH

Brings the history database at PATH to this version's schema (creating it when missing): every pending
step of migrations/ in one transaction. A database written by a newer handlespace, another
application's file or a damaged one is refused and left as it was. Exit status 0 when the database is
up to date, 1 when it could not be migrated.
`;

export const EXPORT_USAGE = `Usage: handlespace export --db PATH --format csv|jsonl [filters] [--out FILE]

Streams history rows (element events, notifications, audit), oldest first, as CSV (RFC 4180, header row,
CRLF) or JSON lines. Times are ISO-8601 UTC, PE identifiers 0x hex.

  --db PATH          the history database
  --format F         csv or jsonl
  --from TIME        first time included (ISO-8601: 2026-11-27, 2026-11-27T10:00:00Z; no zone = UTC)
  --to TIME          first time excluded
  --pool NAME        one pool (its name as shown in exports)
  --pe ID            one pool element (0xHEX or decimal)
  --kind KIND        ${HISTORY_KINDS.join(', ')} (repeatable or comma-separated; default all)
  --out FILE         write to FILE (via FILE.partial, renamed when complete; default standard output)

Columns: time, kind, pool, pe_id, state, cause, details, pu_address, pu_connection, sequence, event_time,
actor, role, action, target, reason, before, after, result, run_id, source, id.
`;

export async function migrateCommand(args: string[], io: CliIo): Promise<number> {
  let values;
  try {
    values = parseArgs({ args, options: { db: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (e) {
    io.stderr(`handlespace migrate: ${(e as Error).message}\n${MIGRATE_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(MIGRATE_USAGE);
    return 0;
  }
  if (!values.db) {
    io.stderr(`handlespace migrate: --db is required\n${MIGRATE_USAGE}`);
    return 2;
  }
  const opened = openHistoryDatabase(values.db);
  if (!opened.ok) {
    io.stderr(`handlespace migrate: ${opened.error.message}\n`);
    return 1;
  }
  const { db, migration } = opened.value;
  db.close();
  if (migration.applied.length === 0) io.stdout(`history database ${values.db}: schema version ${migration.to}, up to date\n`);
  else io.stdout(`history database ${values.db}: schema version ${migration.from} → ${migration.to} (applied ${migration.applied.join(', ')})\n`);
  return 0;
}

/** Parses an ISO-8601 time; a date-time without a zone is read as UTC. */
export function parseIsoTime(text: string): number | undefined {
  const withZone = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text) ? `${text}Z` : text;
  if (!/^\d{4}-\d{2}-\d{2}/.test(withZone)) return undefined;
  const ms = Date.parse(withZone);
  return Number.isFinite(ms) ? ms : undefined;
}

export interface ExportHooks {
  /** Where rows go without --out (default process.stdout). */
  readonly stdout?: Writable;
}

export async function exportCommand(args: string[], io: CliIo, hooks: ExportHooks = {}): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        db: { type: 'string' },
        format: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        pool: { type: 'string' },
        pe: { type: 'string' },
        kind: { type: 'string', multiple: true },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    io.stderr(`handlespace export: ${(e as Error).message}\n${EXPORT_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(EXPORT_USAGE);
    return 0;
  }
  const problems: string[] = [];
  if (!values.db) problems.push('--db is required');
  if (!values.format) problems.push('--format is required (csv or jsonl)');
  else if (!(EXPORT_FORMATS as readonly string[]).includes(values.format)) problems.push(`--format must be csv or jsonl, not ${JSON.stringify(values.format)}`);
  const filter: { -readonly [K in keyof HistoryFilter]: HistoryFilter[K] } = {};
  for (const name of ['from', 'to'] as const) {
    const text = values[name];
    if (text === undefined) continue;
    const ms = parseIsoTime(text);
    if (ms === undefined) problems.push(`--${name} ${JSON.stringify(text)} is not an ISO-8601 time (e.g. 2026-11-27 or 2026-11-27T10:00:00Z)`);
    else filter[name] = ms;
  }
  if (values.pool !== undefined) filter.pool = values.pool;
  if (values.pe !== undefined) {
    const pe = parseInteger(values.pe, 'pe');
    if (!pe.ok) problems.push(pe.error);
    else if (pe.value < 0 || pe.value > 0xffffffff) problems.push('--pe must be a 32-bit value');
    else filter.peId = pe.value;
  }
  if (values.kind) {
    const kinds = values.kind.flatMap((k) => k.split(',')).map((k) => k.trim()).filter((k) => k !== '');
    const unknown = kinds.filter((k) => !(HISTORY_KINDS as readonly string[]).includes(k));
    if (unknown.length > 0) problems.push(`--kind ${unknown.join(', ')} unknown (known: ${HISTORY_KINDS.join(', ')})`);
    else filter.kinds = kinds as HistoryKind[];
  }
  if (problems.length > 0 || !values.db || !values.format) {
    io.stderr(`handlespace export: ${problems.join('\n  ')}\n`);
    return 2;
  }
  if (!fs.existsSync(values.db)) {
    io.stderr(`handlespace export: there is no history database at ${values.db}\n`);
    return 1;
  }
  const migrations = loadMigrations();
  if (!migrations.ok) {
    io.stderr(`handlespace export: ${migrations.error.message}\n`);
    return 1;
  }
  const opened = openHistoryDatabase(values.db, { migrations: migrations.value });
  if (!opened.ok) {
    io.stderr(`handlespace export: ${opened.error.message}\n`);
    return 1;
  }
  const { db } = opened.value;
  const outFile = values.out;
  const partial = outFile === undefined ? undefined : `${outFile}.partial`;
  let out: Writable;
  if (partial !== undefined) {
    try {
      out = fs.createWriteStream(partial, { flags: 'w' });
      await new Promise<void>((resolve, reject) => {
        out.once('open', () => resolve());
        out.once('error', reject);
      });
    } catch (e) {
      db.close();
      io.stderr(`handlespace export: cannot write ${partial}: ${(e as Error).message}\n`);
      return 1;
    }
  } else {
    out = hooks.stdout ?? process.stdout;
  }
  const result = await exportHistory(new HistoryQueries(db), filter, values.format as ExportFormat, out);
  db.close();
  if (partial !== undefined && outFile !== undefined) {
    const finished = await new Promise<Error | undefined>((resolve) => {
      out.once('error', (e) => resolve(e));
      out.end(() => resolve(undefined));
    });
    if (!result.ok || finished) {
      fs.rmSync(partial, { force: true });
      io.stderr(`handlespace export: ${result.ok ? `writing ${partial} failed: ${finished?.message ?? ''}` : result.error.message}; ${partial} removed\n`);
      return 1;
    }
    fs.renameSync(partial, outFile);
    io.stderr(`handlespace export: ${result.value.rows} rows (${result.value.bytes} bytes) written to ${path.resolve(outFile)}\n`);
    return 0;
  }
  if (!result.ok) {
    io.stderr(`handlespace export: ${result.error.message}\n`);
    return 1;
  }
  io.stderr(`handlespace export: ${result.value.rows} rows\n`);
  return 0;
}
