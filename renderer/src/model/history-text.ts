/**
 * History rows in words: the store keeps `details`, `before` and `after` as JSON text; the timeline and
 * the history table show them as an operator reads them ("ready → draining", "load 50 %").
 */
import type { HistoryRowView } from '../../../core/console/contract.js';
import { formatLoad } from './format.js';

const FULL_LOAD = 0xffffffff;
/** Detail fields that only help a machine. */
const NOISE = new Set(['connectionId', 'changed', 'source']);

function parseJson(text: string | null): unknown {
  if (text === null || text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** `{"admin":"ready","health":"up"}` → "ready (up)"; text stays text. */
export function describeState(text: string | null): string {
  const value = parseJson(text);
  if (value === null) return '?';
  if (typeof value !== 'object') return String(value);
  const record = value as Record<string, unknown>;
  const admin = typeof record['admin'] === 'string' ? record['admin'] : undefined;
  const health = typeof record['health'] === 'string' ? record['health'] : undefined;
  if (admin && health && health !== 'up') return `${admin} (${health})`;
  return admin ?? health ?? JSON.stringify(value);
}

/** A details object as "load 50 %, weight 3"; null when nothing is worth saying. */
export function describeDetails(text: string | null): string | null {
  const value = parseJson(text);
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) return String(value);
  const parts: string[] = [];
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (NOISE.has(key) || field === null || field === undefined || field === false) continue;
    if (key === 'load' && typeof field === 'number') parts.push(`load ${formatLoad(field / FULL_LOAD)}`);
    else if (typeof field === 'object') parts.push(`${key} ${JSON.stringify(field)}`);
    else if (field === true) parts.push(key);
    else parts.push(`${key} ${String(field)}`);
  }
  return parts.length > 0 ? parts.join(', ') : null;
}

/** One line for a row: what happened, with cause and reason. */
export function describeRow(row: HistoryRowView): string {
  switch (row.kind) {
    case 'audit': {
      const change = row.before !== null || row.after !== null ? ` ${describeState(row.before)} → ${describeState(row.after)}` : '';
      const details = describeDetails(row.details);
      return `${row.actor ?? 'someone'} (${row.role ?? '?'}): ${row.action ?? ''}${change}${row.reason ? ` — “${row.reason}”` : ''}${row.result && row.result !== 'ok' ? ` [${row.result}]` : ''}${details ? ` (${details})` : ''}`;
    }
    case 'notification':
      return `to ${row.puAddress ?? '?'}: ${row.state ?? ''}${row.cause ? ` (${row.cause})` : ''}${row.reason ? ` — “${row.reason}”` : ''}${row.sequence !== null ? ` #${row.sequence}` : ''}`;
    default: {
      const details = describeDetails(row.details);
      return [row.state, row.cause && row.cause !== row.state ? row.cause : null, row.reason ? `“${row.reason}”` : null, details].filter((p) => p !== null && p !== '').join(' · ');
    }
  }
}
