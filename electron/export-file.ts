/**
 * Naming of history exports chosen in a save dialog (no Electron at run time): the suggested file name,
 * the dialog's filters, and the format a chosen file name implies.
 */
import path from 'node:path';
import type { ExportFormatName } from '../core/console/contract.js';

export const EXPORT_FILTERS: readonly { readonly name: string; readonly extensions: string[]; readonly format: ExportFormatName }[] = [
  { name: 'CSV (RFC 4180)', extensions: ['csv'], format: 'csv' },
  { name: 'JSON lines', extensions: ['jsonl', 'ndjson'], format: 'jsonl' },
];

const EXTENSION: Readonly<Record<ExportFormatName, string>> = { csv: '.csv', jsonl: '.jsonl' };

/** "handlespace-history-2026-11-27T10-15-00Z.csv": sortable, and valid on every file system. */
export function suggestedExportName(format: ExportFormatName, now: Date): string {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
  return `handlespace-history-${stamp}${EXTENSION[format]}`;
}

/** The format a file name asks for by its extension, or null when it names none we write. */
export function formatOfFile(file: string): ExportFormatName | null {
  const extension = path.extname(file).toLowerCase().slice(1);
  return EXPORT_FILTERS.find((filter) => filter.extensions.includes(extension))?.format ?? null;
}

/**
 * The file and format for a name chosen in the save dialog. Some dialogs (GTK) do not add the filter's
 * extension: a name without a known extension gets the fallback format's.
 */
export function exportTarget(chosen: string, fallback: ExportFormatName): { readonly file: string; readonly format: ExportFormatName } {
  const format = formatOfFile(chosen);
  return format ? { file: chosen, format } : { file: `${chosen}${EXTENSION[fallback]}`, format: fallback };
}
