/**
 * History store figures (`npm run bench -- history`), one JSON line each, goals as fields (`goal`, `met`;
 * a missed goal never fails the run):
 *
 * - sustained events/s: a producer on this thread keeps the writer's queue fed (closed loop: it records
 *   2,000 events per turn while fewer than 20,000 wait) with a registrar-like mix (notifications,
 *   load re-registrations, renewals, health changes, registrations and removals over 10,000 elements in
 *   10 pools); events committed per second; goal ≥ 100,000;
 * - the longest block of this thread per batch (copying a batch into the writer thread's message), with
 *   the count of hand-overs above the 5 ms goal and the event-loop delay seen by a 1 ms timer meanwhile;
 * - enqueue-to-durable latency at an offered 50,000 and 100,000 events/s (open loop, a tick every 5 ms,
 *   every 50th event awaited with durable()): p50 / p99 / max; goal p99 ≤ 50 ms at 100,000;
 * - bytes per event of that mix in the file (after the close folded the WAL in);
 * - export to CSV (and JSON lines) of 1,000,000 rows in a child process: rows/s (goal ≥ 500,000) and its
 *   peak RSS next to the same export of 100,000 rows; constant memory is shown by the 1,000,000-row export
 *   completing in a 48 MiB V8 heap with about the small export's peak RSS (without a cap V8 grows its
 *   heap lazily, so uncapped peaks vary by some 30 MiB from run to run).
 *
 * synchronous=FULL throughout (the durability rule's setting). BENCH_SECONDS sets the measured windows
 * (default 5); BENCH_EXPORT_ROWS the large export (default 1,000,000); BENCH_HISTORY_PARTS a subset of
 * sustained,durable,export.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { BatchWriter } from '../../core/history/batch-writer.js';
import { openHistoryDatabase } from '../../core/history/database.js';
import type { ElementValues, HistoryEvent } from '../../core/history/history-event.js';
import { History } from '../../core/history/history.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const EXPORT_CHILD = path.join(HERE, 'history-export-child.ts');
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const EXPORT_ROWS = Number(process.env['BENCH_EXPORT_ROWS'] ?? 1_000_000);

interface Figure {
  readonly bench: 'history';
  readonly figure: string;
  readonly [key: string]: unknown;
}

const POOLS = Array.from({ length: 10 }, (_, i) => `pool-${i}`);
const ELEMENTS = 10_000;

function values(i: number, load: number): ElementValues {
  return {
    homeServerId: 0xabcdef01,
    registrationLife: 90_000,
    userTransport: { kind: 'tcp', port: 7000 + (i % 1000), transportUse: 0, address: `10.0.${(i >> 8) & 255}.${i & 255}` },
    asapTransport: { kind: 'tcp', port: 40000 + (i % 20000), transportUse: 0, address: `10.0.${(i >> 8) & 255}.${i & 255}` },
    policy: { type: 0x40000001, load },
  };
}

/** A registrar-like mix: half notifications, then load re-registrations, renewals, health, churn. */
function mixedEvent(n: number, time: number): HistoryEvent {
  const element = (n * 7919) % ELEMENTS;
  const poolKey = POOLS[element % POOLS.length] as string;
  const peId = 0x10000000 + element;
  const slot = n % 20;
  if (slot < 10) {
    return {
      kind: 'notification',
      time,
      connectionId: 1000 + (n % 100),
      address: `10.1.0.${n % 100}:${50000 + (n % 100)}`,
      poolKey,
      statuses: [{ peId, status: 7, reason: 13, sequence: n >>> 0, eventTimeMs: time, load: (n * 13) % 0xffffffff }],
    };
  }
  if (slot < 16) return { kind: 'reregistered', time, poolKey, peId, cause: 'load', element: values(element, (n * 13) % 0xffffffff), details: { changed: ['load'], load: (n * 13) % 0xffffffff } };
  if (slot < 18) return { kind: 'seen', time, poolKey, peId };
  if (slot === 18) return { kind: 'health', time, poolKey, peId, state: n % 40 < 20 ? 'suspect' : 'up', cause: 'reported unreachable; probing', details: { detail: 'reported unreachable by 10.1.0.9:50009; probing' } };
  return n % 40 < 20
    ? { kind: 'removed', time, poolKey, peId, cause: 'keepAliveTimeout', details: { detail: 'no keep-alive ACK within 5000 ms' } }
    : { kind: 'registered', time, poolKey, peId, cause: 'registered', element: values(element, 0), details: { connectionId: n % 5000 } };
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-history-bench-'));
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function open(file: string): Promise<History> {
  const opened = await History.open({ path: file, maintenanceIntervalMs: 0 });
  if (!opened.ok) throw new Error(opened.error.message);
  return opened.value;
}

async function sustained(): Promise<Figure[]> {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'history.db');
    const history = await open(file);
    history.record({ kind: 'runStarted', time: Date.now(), serverId: 1, settings: {}, appVersion: 'bench' });
    // Warm-up: pools and elements exist, code is hot.
    for (let n = 0; n < 40_000; n++) history.record(mixedEvent(n, Date.now()));
    await history.barrier();
    const warm = history.stats.committed; // (stats computes percentiles: read it outside the loop)
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const started = performance.now();
    const end = started + SECONDS * 1000;
    let n = 40_000;
    while (performance.now() < end) {
      if (history.queued < 20_000) {
        const time = Date.now();
        for (let k = 0; k < 2000; k++) history.record(mixedEvent(n++, time));
      }
      await turn();
    }
    await history.barrier();
    const elapsed = (performance.now() - started) / 1000;
    delay.disable();
    const stats = history.stats;
    const committed = stats.committed - warm;
    const closed = await history.close();
    if (!closed.ok) throw new Error(closed.error.message);
    const bytes = fs.statSync(file).size;
    const eventsPerSecond = Math.round(committed / elapsed);
    return [
      { bench: 'history', figure: 'sustained events/s (mix, synchronous=FULL)', eventsPerSecond, events: committed, seconds: round(elapsed), batches: stats.batches, goal: 100_000, met: eventsPerSecond >= 100_000 },
      {
        bench: 'history',
        figure: 'longest event-loop block per batch (ms)',
        maxHandOverMs: round(stats.maxHandOverMs, 3),
        handOverP50Ms: round(stats.handOverP50Ms, 3),
        handOverP99Ms: round(stats.handOverP99Ms, 3),
        maxFlushMs: round(stats.maxFlushMs, 3),
        handOvers: stats.handOvers,
        handOversOverBudget: stats.handOversOverBudget,
        eventLoopDelayMaxMs: round(delay.max / 1e6, 3),
        eventLoopDelayP99Ms: round(delay.percentile(99) / 1e6, 3),
        maxCommitMsOnWriterThread: round(stats.maxCommitMs, 3),
        goal: 5,
        met: stats.maxHandOverMs <= 5,
        metAtP99: stats.handOverP99Ms <= 5,
      },
      { bench: 'history', figure: 'bytes per event (mix, file after close)', bytesPerEvent: round(bytes / (stats.committed - stats.failedEvents), 1), fileBytes: bytes, events: stats.committed },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function durableLatency(rate: number): Promise<Figure[]> {
  const dir = tempDir();
  try {
    const history = await open(path.join(dir, 'history.db'));
    for (let n = 0; n < 20_000; n++) history.record(mixedEvent(n, Date.now()));
    await history.barrier();
    const latencies: number[] = [];
    const pending: Promise<void>[] = [];
    let n = 20_000;
    let offered = 0;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      // Open loop at `rate` events/s: every 5 ms, as many events as the time since the start calls for.
      const timer = setInterval(() => {
        const now = performance.now();
        const due = Math.floor(((now - started) / 1000) * rate);
        const time = Date.now();
        while (offered < due) {
          const event = mixedEvent(n++, time);
          offered++;
          if (offered % 50 === 0) {
            const t0 = performance.now();
            pending.push(history.durable(event).then(() => void latencies.push(performance.now() - t0)));
          } else history.record(event);
        }
        if (now - started >= SECONDS * 1000) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    const offeringSeconds = (performance.now() - started) / 1000;
    await Promise.all(pending);
    await history.close();
    latencies.sort((a, b) => a - b);
    const p99 = percentile(latencies, 99);
    return [
      {
        bench: 'history',
        figure: `enqueue-to-durable latency at ${rate.toLocaleString('en')} events/s offered (ms)`,
        p50: round(percentile(latencies, 50)),
        p99: round(p99),
        max: round(latencies[latencies.length - 1] ?? NaN),
        samples: latencies.length,
        offeredPerSecond: Math.round(offered / offeringSeconds),
        ...(rate === 100_000 ? { goal: 50, met: p99 <= 50 } : {}),
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A file of `rows` element events (written directly, in big transactions: this is set-up, not measured). */
function fill(file: string, rows: number): void {
  const opened = openHistoryDatabase(file);
  if (!opened.ok) throw new Error(opened.error.message);
  const db = opened.value.db;
  db.pragma('synchronous = OFF');
  const writer = new BatchWriter(db);
  const time = Date.UTC(2026, 10, 1);
  for (let start = 0; start < rows; start += 20_000) {
    const batch: HistoryEvent[] = [];
    for (let n = start; n < Math.min(rows, start + 20_000); n++) {
      const element = n % ELEMENTS;
      batch.push({ kind: 'reregistered', time: time + n, poolKey: POOLS[element % POOLS.length] as string, peId: 0x10000000 + element, cause: 'load', element: values(element, n), details: { changed: ['load'], load: n } });
    }
    writer.writeBatch(batch);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

function runExportChild(db: string, format: string, out: string, nodeFlags: readonly string[] = []): Promise<{ status: number; rows: number; bytes: number; seconds: number; maxRssBytes: number; stderr?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', EXPORT_CHILD, db, format, out], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('exit', () => {
      try {
        resolve(JSON.parse(output.trim()) as { status: number; rows: number; bytes: number; seconds: number; maxRssBytes: number });
      } catch {
        reject(new Error(`export child printed ${JSON.stringify(output)}`));
      }
    });
  });
}

async function exports(): Promise<Figure[]> {
  const dir = tempDir();
  try {
    const small = path.join(dir, 'small.db');
    const large = path.join(dir, 'large.db');
    fill(small, Math.round(EXPORT_ROWS / 10));
    fill(large, EXPORT_ROWS);
    const figures: Figure[] = [];
    const smallCsv = await runExportChild(small, 'csv', path.join(dir, 'small.csv'));
    fs.rmSync(path.join(dir, 'small.csv'), { force: true });
    // Constant memory, shown without waiting on V8's lazy heap growth: the large export in a 48 MiB heap.
    const capped = await runExportChild(large, 'csv', path.join(dir, 'capped.csv'), ['--max-old-space-size=48']);
    fs.rmSync(path.join(dir, 'capped.csv'), { force: true });
    for (const format of ['csv', 'jsonl'] as const) {
      const out = path.join(dir, `large.${format}`);
      const result = await runExportChild(large, format, out);
      fs.rmSync(out, { force: true });
      if (result.status !== 0) throw new Error(`export failed: ${result.stderr ?? ''}`);
      const rowsPerSecond = Math.round(result.rows / result.seconds);
      figures.push({
        bench: 'history',
        figure: `export rows/s to ${format.toUpperCase()} (${result.rows.toLocaleString('en')} rows, child process)`,
        rowsPerSecond,
        rows: result.rows,
        outputBytes: result.bytes,
        seconds: round(result.seconds),
        peakRssMiB: round(result.maxRssBytes / 2 ** 20, 1),
        ...(format === 'csv'
          ? {
              peakRssMiBAt10xFewerRows: round(smallCsv.maxRssBytes / 2 ** 20, 1),
              peakRssMiBIn48MiBHeap: round(capped.maxRssBytes / 2 ** 20, 1),
              completedIn48MiBHeap: capped.status === 0 && capped.rows === result.rows,
              constantMemory: capped.status === 0 && capped.rows === result.rows && capped.maxRssBytes < smallCsv.maxRssBytes * 1.25,
              goal: 500_000,
              met: rowsPerSecond >= 500_000,
            }
          : {}),
      });
    }
    return figures;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function runHistoryBench(): Promise<Figure[]> {
  // BENCH_HISTORY_PARTS=sustained,durable,export runs only those parts.
  const parts = new Set((process.env['BENCH_HISTORY_PARTS'] ?? 'sustained,durable,export').split(','));
  const figures: Figure[] = [];
  if (parts.has('sustained')) figures.push(...(await sustained()));
  if (parts.has('durable')) for (const rate of [50_000, 100_000]) figures.push(...(await durableLatency(rate)));
  if (parts.has('export')) figures.push(...(await exports()));
  return figures;
}
