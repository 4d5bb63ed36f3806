/**
 * Shared helpers for the history tests: a fresh temporary folder per test (removed afterwards), element
 * values and events to record.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { ElementValues, HistoryEvent } from '../../../core/history/history-event.js';

/** A new folder under the OS temp dir, removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'handlespace-history-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The real migration files, oldest first, and the newest version (what a fresh database is created at). */
export const REAL_MIGRATIONS = (): string[] => fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort();
export const LATEST_VERSION = (): number => Number(REAL_MIGRATIONS().at(-1)?.slice(0, 4));

export const MIGRATIONS_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'migrations');

/**
 * A migrations folder with the real steps up to `realUpTo` (default 10: only 0010, so the runner's tests
 * can number their own steps from 0020) and the given extra steps ({ '0020_x.sql': 'SQL' }).
 */
export function migrationsWith(dir: string, extra: Record<string, string>, options: { readonly withoutReal?: boolean; readonly realUpTo?: number } = {}): string {
  const target = path.join(dir, 'migrations');
  fs.mkdirSync(target, { recursive: true });
  if (!options.withoutReal) {
    const upTo = options.realUpTo ?? 10;
    for (const file of fs.readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql') && Number(f.slice(0, 4)) <= upTo)) {
      fs.copyFileSync(path.join(MIGRATIONS_DIR, file), path.join(target, file));
    }
  }
  for (const [file, sql] of Object.entries(extra)) fs.writeFileSync(path.join(target, file), sql);
  return target;
}

export function elementValues(i = 1, load?: number): ElementValues {
  return {
    homeServerId: 0xabc,
    registrationLife: 30_000,
    userTransport: { kind: 'tcp', port: 7000 + (i % 1000), transportUse: 0, address: `10.0.${(i >> 8) & 255}.${i & 255}` },
    asapTransport: { kind: 'tcp', port: 40_000 + (i % 20_000), transportUse: 0, address: `10.0.${(i >> 8) & 255}.${i & 255}` },
    policy: load === undefined ? { type: 0x1 } : { type: 0x40000001, load },
  };
}

export const T0 = Date.UTC(2026, 10, 27, 0, 0, 0);

export function registered(peId: number, time = T0, poolKey = 'echo'): HistoryEvent {
  return { kind: 'registered', time, poolKey, peId, cause: 'registered', element: elementValues(peId) };
}

export function removed(peId: number, time = T0, poolKey = 'echo', cause = 'keepAliveTimeout'): HistoryEvent {
  return { kind: 'removed', time, poolKey, peId, cause, details: { detail: 'no keep-alive ACK within 5000 ms' } };
}

export { memoryIo } from '../../support/memory-io.js';
