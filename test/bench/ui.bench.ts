/**
 * Console UI figures (`npm run bench -- ui`), one JSON line each: the time from a registrar event to the
 * element's row being updated in the page's DOM, with 10,000 elements in the pool and 100 events/s.
 *
 * A real `handlespace serve` (history in a temporary file), 10,000 elements registered over one ASAP
 * connection, the built console in Debian's Chromium (playwright-core) showing the pool. Each event is a
 * re-registration of an element in view with a new weight (a registrar event the console streams as
 * `elementUpdated`); the time runs from handing the message to the socket until a MutationObserver in the
 * page sees that row's `data-weight` take the new value ("DOM"), and until the next animation frame after
 * it ("frame", when it can be on screen). Page and bench clocks are aligned by the round trip with the
 * smallest delay (error ≤ half of it, reported). Two runs: sorted by id (rows change in place) and sorted
 * by weight, descending (every event moves its row to the top: a re-sort of 10,000 rows each time).
 *
 * Goal: p99 ≤ 250 ms (issue 7). BENCH_SECONDS sets each run's length (default 10); BENCH_UI_RATE the
 * events/s (default 100); BENCH_UI_ELEMENTS the pool size (default 10,000).
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import { chromiumMissingReason, launchChromium, openConsole, waitInPage } from '../e2e/support/browser.js';
import { openPool } from '../e2e/support/console-steps.js';
import { ensureRendererBuilt } from '../e2e/support/renderer-build.js';
import { startServe } from '../e2e/support/serve-process.js';
import { registerBulk, type BulkPool } from '../e2e/support/simulated-pool.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const RATE = Number(process.env['BENCH_UI_RATE'] ?? 100);
const ELEMENTS = Number(process.env['BENCH_UI_ELEMENTS'] ?? 10_000);
const GOAL_P99_MS = 250;
/** Elements the events go to: all in view at the top of the table. */
const TARGETS = 16;

interface Figure {
  readonly bench: 'ui';
  readonly figure: string;
  readonly [key: string]: unknown;
}

const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits;
const now = (): number => performance.timeOrigin + performance.now();

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** In the page (strings: tsx would wrap named functions in a helper the page lacks). */
const PAGE_CLOCK = 'performance.timeOrigin + performance.now()';
const OBSERVE_WEIGHTS = `(() => {
  const seen = (window.__benchSeen = new Map());
  const framed = (window.__benchFramed = new Map());
  const table = document.querySelector('[data-view="pool"] [role="table"]');
  const observer = new MutationObserver((records) => {
    const t = performance.timeOrigin + performance.now();
    const fresh = [];
    for (const record of records) {
      const weight = Number(record.target.getAttribute('data-weight'));
      if (weight && !seen.has(weight)) { seen.set(weight, t); fresh.push(weight); }
    }
    if (fresh.length > 0) requestAnimationFrame(() => { const f = performance.timeOrigin + performance.now(); for (const w of fresh) framed.set(w, f); });
  });
  observer.observe(table, { subtree: true, attributes: true, attributeFilter: ['data-weight'] });
  window.__benchStop = () => observer.disconnect();
})()`;
const COLLECT = `(() => { window.__benchStop(); return { seen: [...window.__benchSeen], framed: [...window.__benchFramed] }; })()`;

/** Page clock minus bench clock, from the round trip with the least delay. */
async function clockOffset(page: Page): Promise<{ offset: number; error: number }> {
  let best = { offset: 0, error: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 20; i++) {
    const sent = now();
    const pageTime = (await page.evaluate(PAGE_CLOCK)) as number;
    const received = now();
    const error = (received - sent) / 2;
    if (error < best.error) best = { offset: pageTime - (sent + received) / 2, error };
  }
  return best;
}

async function run(page: Page, bulk: BulkPool, scenario: string, firstWeight: number): Promise<Figure[]> {
  const clock = await clockOffset(page);
  await page.evaluate(OBSERVE_WEIGHTS);
  const sentAt = new Map<number, number>();
  const total = Math.round(SECONDS * RATE);
  const start = now();
  const load0 = loadavg()[0] ?? 0;
  let n = 0;
  // Open loop: event n is due at start + n / RATE; a late tick sends what is due at once.
  while (n < total) {
    const due = start + (n * 1000) / RATE;
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait - 0.5));
    while (n < total && start + (n * 1000) / RATE <= now()) {
      const weight = firstWeight + n;
      sentAt.set(weight, now());
      bulk.reweigh(1 + (n % TARGETS), weight);
      n++;
    }
  }
  const elapsed = (now() - start) / 1000;
  // Let the last events arrive (bounded), then read what the page saw.
  const lastWeight = firstWeight + total - 1;
  await waitInPage(page, `window.__benchFramed.has(${lastWeight})`, 10_000).catch(() => undefined);
  const { seen, framed } = (await page.evaluate(COLLECT)) as { seen: [number, number][]; framed: [number, number][] };
  const toBench = (pageTime: number): number => pageTime - clock.offset;
  const latencies = (entries: [number, number][]): number[] =>
    entries.flatMap(([weight, t]) => {
      const sent = sentAt.get(weight);
      return sent === undefined ? [] : [toBench(t) - sent];
    }).sort((a, b) => a - b);
  const dom = latencies(seen);
  const frame = latencies(framed);
  const machine = { cores: cpus().length, loadavg1: [round(load0, 2), round(loadavg()[0] ?? 0, 2)], clockAlignmentErrorMs: round(clock.error, 2) };
  const figure = (what: string, values: number[]): Figure => ({
    bench: 'ui',
    figure: `registrar event → ${what} (ms), ${scenario}`,
    elements: ELEMENTS,
    eventsPerSecond: round(total / elapsed),
    events: total,
    measured: values.length,
    missed: total - values.length,
    p50: round(percentile(values, 50)),
    p99: round(percentile(values, 99)),
    max: round(values[values.length - 1] ?? Number.NaN),
    goalP99: GOAL_P99_MS,
    met: values.length === total && percentile(values, 99) <= GOAL_P99_MS,
    machine,
  });
  return [figure('row updated in the DOM', dom), figure('next frame after the update', frame)];
}

export async function runUiBench(): Promise<Figure[]> {
  const missing = chromiumMissingReason();
  if (missing) return [{ bench: 'ui', figure: 'skipped', reason: missing }];
  ensureRendererBuilt();
  const serve = await startServe();
  let bulk: BulkPool | undefined;
  const browser = await launchChromium();
  try {
    bulk = await registerBulk(serve.asapPort, 'bench', ELEMENTS, 1);
    const c = await openConsole(browser, serve.consoleUrl);
    const { page } = c;
    await openPool(page, 'bench');
    await page.locator(`[data-view="pool"] .viewport[data-row-count="${ELEMENTS}"]`).waitFor({ timeout: 30_000 });
    const figures: Figure[] = [];
    figures.push(...(await run(page, bulk, 'sorted by id', 1_000_000)));
    // Sort by weight, descending: each new (largest) weight moves its row to the top.
    const weightHeader = page.locator('[role="columnheader"]', { has: page.locator('[data-sort="weight"]') });
    await page.locator('[data-sort="weight"]').click();
    await weightHeader.and(page.locator('[aria-sort="ascending"]')).waitFor();
    await page.locator('[data-sort="weight"]').click();
    await weightHeader.and(page.locator('[aria-sort="descending"]')).waitFor();
    figures.push(...(await run(page, bulk, 'sorted by weight (each event re-sorts)', 2_000_000)));
    if (c.problems.length > 0) figures.push({ bench: 'ui', figure: 'page problems', problems: c.problems });
    await c.close();
    return figures;
  } finally {
    await browser.close();
    await bulk?.close();
    await serve.stop();
  }
}
