/**
 * Exports of the merged history (DESIGN.md §4): CSV (RFC 4180: header row, CRLF line ends, quotes as the
 * RFC says, written by csv-stringify) or JSON lines, ISO-8601 UTC timestamps, PE and server identifiers as
 * 0x hex. Rows stream from one SQLite iterator through small chunks into the output and wait for it to
 * drain, so memory stays flat however many rows there are.
 *
 * Columns (stable; new ones are only ever appended): HISTORY_COLUMNS in history-queries.ts.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { err, ok, type Result } from '../result.js';
import { hex32 } from '../wire/json.js';
import { historyError, type HistoryError } from './history-error.js';
import { HISTORY_COLUMNS, type HistoryFilter, type HistoryQueries, type RawHistoryRow } from './history-queries.js';
import { isoTime } from './row-format.js';

export type ExportFormat = 'csv' | 'jsonl';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'jsonl'];

export interface ExportResult {
  readonly rows: number;
  readonly bytes: number;
}

/** Rows formatted and written per chunk: big enough to amortise the write, small enough to stay flat. */
const CHUNK_ROWS = 1024;

const JSON_TEXT_COLUMNS = new Set([6, 16, 17]); // details, before, after: already JSON text
type Cell = string | number | null;

/** A raw row as exported (in place: each row is a fresh array): times as ISO-8601, the PE identifier as 0x hex. */
function exportCells(raw: RawHistoryRow): Cell[] {
  const cells = raw as Cell[];
  cells[0] = isoTime(raw[0]);
  if (raw[3] !== null) cells[3] = hex32(raw[3]);
  if (raw[10] !== null) cells[10] = isoTime(raw[10]);
  return cells;
}

function jsonLine(cells: readonly Cell[]): string {
  let line = '{';
  let first = true;
  for (let i = 0; i < HISTORY_COLUMNS.length; i++) {
    const value = cells[i];
    if (value === null || value === undefined) continue;
    line += `${first ? '' : ','}"${HISTORY_COLUMNS[i] as string}":${JSON_TEXT_COLUMNS.has(i) ? String(value) : JSON.stringify(value)}`;
    first = false;
  }
  return `${line}}\n`;
}

/** Writes `text`; when the stream's buffer is full, waits for 'drain' (or fails on 'error' / 'close'). */
async function write(out: Writable, text: string): Promise<void> {
  if (out.write(text)) return;
  const ac = new AbortController();
  try {
    await Promise.race([
      once(out, 'drain', { signal: ac.signal }),
      once(out, 'close', { signal: ac.signal }).then(() => {
        throw new Error('the output was closed');
      }),
    ]);
  } finally {
    ac.abort();
  }
}

/**
 * Streams every row matching `filter` to `out` (which it does not end). The queries' connection is busy
 * for the whole export: give it a connection of its own when others need to read meanwhile.
 */
export async function exportHistory(queries: HistoryQueries, filter: HistoryFilter, format: ExportFormat, out: Writable): Promise<Result<ExportResult, HistoryError>> {
  const iterated = queries.iterateRaw(filter);
  if (!iterated.ok) return iterated;
  const rows = iterated.value;
  let count = 0;
  let bytes = 0;
  let outputError: Error | undefined;
  const onError = (e: Error): void => {
    outputError = e;
  };
  out.on('error', onError);
  const csvOptions = { record_delimiter: 'windows' as const, cast: { number: (n: number): string => String(n) } };
  try {
    if (format === 'csv') {
      const header = stringify([HISTORY_COLUMNS.slice()], csvOptions);
      bytes += Buffer.byteLength(header);
      await write(out, header);
    }
    let chunk: Cell[][] = [];
    const emit = async (): Promise<void> => {
      const text = format === 'csv' ? stringify(chunk, csvOptions) : chunk.map(jsonLine).join('');
      chunk = [];
      bytes += Buffer.byteLength(text);
      await write(out, text);
      if (outputError) throw outputError;
    };
    for (const raw of rows) {
      chunk.push(exportCells(raw));
      count++;
      if (chunk.length >= CHUNK_ROWS) await emit();
    }
    if (chunk.length > 0) await emit();
    if (outputError) throw outputError;
  } catch (e) {
    rows.return?.();
    const error = outputError ?? e;
    return err(historyError('queryFailed', `export stopped after ${count} rows: ${(error as Error).message}`));
  } finally {
    out.off('error', onError);
  }
  return ok({ rows: count, bytes });
}
