/**
 * A 10,000-element pool (registered over one ASAP connection with raw messages) stays smooth: the table
 * keeps only the rows in view in the DOM, scrolling through it holds the frame rate (frame times measured
 * in the page with requestAnimationFrame), and sorting and searching answer promptly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import type { Browser } from 'playwright-core';
import { describeWithChromium, launchChromium, openConsole } from './support/browser.js';
import { openPool } from './support/console-steps.js';
import { ensureRendererBuilt } from './support/renderer-build.js';
import { startServe, type ServeProcess } from './support/serve-process.js';
import { registerBulk, type BulkPool } from './support/simulated-pool.js';

const ELEMENTS = 10_000;

/**
 * Runs in the page (a string: tsx would wrap named functions in a helper the page does not have). Scrolls
 * top to bottom in steps of 240 px per frame, then jumps around; returns every frame's duration.
 */
const SCROLL_SCRIPT = `(async () => {
  const viewport = document.querySelector('[data-view="pool"] .viewport');
  if (!viewport) throw new Error('no viewport');
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  // The baseline: frames with nothing to do (on a busy machine these are slow too).
  const idle = [];
  let last = await frame();
  for (let i = 0; i < 120; i++) {
    const now = await frame();
    idle.push(now - last);
    last = now;
  }
  // Warm-up, not measured: the first rows through the window compile the row code.
  for (let i = 0; i < 30; i++) {
    viewport.scrollTop += 240;
    await frame();
  }
  viewport.scrollTop = 0;
  last = await frame();
  const times = [];
  for (let i = 0; i < 300; i++) {
    if (i < 240) viewport.scrollTop += 240;
    else viewport.scrollTop = ((i * 7919) % 97) * (viewport.scrollHeight / 97);
    const now = await frame();
    times.push(now - last);
    last = now;
  }
  viewport.scrollTop = viewport.scrollHeight;
  await frame();
  await frame();
  const rows = document.querySelectorAll('[data-view="pool"] [role="row"][data-pe-id]');
  return { idle, times, lastRow: Number(rows[rows.length - 1]?.getAttribute('data-pe-id')) };
})()`;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

describeWithChromium('console e2e: 10,000 elements', () => {
  describe('console e2e: 10,000 elements', () => {
    let serve: ServeProcess;
    let browser: Browser;
    let bulk: BulkPool;

    before(async () => {
      ensureRendererBuilt();
      serve = await startServe();
      browser = await launchChromium();
      const started = Date.now();
      bulk = await registerBulk(serve.asapPort, 'big', ELEMENTS, 1);
      console.error(`e2e: registered ${ELEMENTS} elements in ${Date.now() - started} ms`);
    });

    after(async () => {
      await bulk?.close();
      await browser?.close();
      await serve?.stop();
    });

    test('the table scrolls smoothly through 10,000 rows', async () => {
      const c = await openConsole(browser, serve.consoleUrl);
      const { page } = c;
      const opened = Date.now();
      await openPool(page, 'big');
      await page.locator(`[data-view="pool"] .viewport[data-row-count="${ELEMENTS}"]`).waitFor({ timeout: 15_000 });
      const openMs = Date.now() - opened;
      const domRows = await page.locator('[role="row"][data-pe-id]').count();
      assert.ok(domRows > 10 && domRows < 120, `only the rows in view are in the DOM (${domRows})`);

      // Scroll from top to bottom in steps of 240 px per frame, then jump around; record every frame's time.
      const frames = (await page.evaluate(SCROLL_SCRIPT)) as { idle: number[]; times: number[]; lastRow: number };
      const sorted = [...frames.times].sort((a, b) => a - b);
      const p50 = percentile(sorted, 50);
      const p95 = percentile(sorted, 95);
      const p99 = percentile(sorted, 99);
      const longFrames = sorted.filter((t) => t > 50).length;
      const idleSorted = [...frames.idle].sort((a, b) => a - b);
      const idleP95 = percentile(idleSorted, 95);
      const load = os.loadavg()[0]?.toFixed(1);
      console.error(
        `e2e: ${ELEMENTS} rows: pool view ready ${openMs} ms, ${domRows} rows in the DOM; scroll frames p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${sorted[sorted.length - 1]?.toFixed(1)} ms, ${longFrames} of ${sorted.length} over 50 ms (idle frames p95 ${idleP95.toFixed(1)} ms; load average ${load} on ${os.cpus().length} cores)`,
      );
      assert.equal(frames.lastRow, ELEMENTS, 'the last row is reachable');
      // Smooth: the median frame at the display rate (rendering all 10,000 rows would blow this at once),
      // and the slow frames bounded. Another process keeping every core busy makes slow frames of its
      // own; then the p95 figure is reported, not judged.
      assert.ok(p50 <= 20, `median frame ${p50.toFixed(1)} ms`);
      const overloaded = (os.loadavg()[0] ?? 0) > os.cpus().length;
      const p95Budget = Math.max(67, 3 * idleP95);
      if (overloaded && p95 > p95Budget) console.error(`e2e: NOT JUDGED: p95 frame ${p95.toFixed(1)} ms with load average ${load} on ${os.cpus().length} cores`);
      else assert.ok(p95 <= p95Budget, `p95 frame ${p95.toFixed(1)} ms > ${p95Budget.toFixed(1)} ms (load average ${load})`);

      // Sorting and searching 10,000 rows (from the top of the table).
      await page.evaluate(`document.querySelector('[data-view="pool"] .viewport').scrollTop = 0`);
      await page.locator('[data-view="pool"] .viewport[data-first-row="0"]').waitFor();
      let start = Date.now();
      await page.locator('[data-sort="id"]').click();
      await page.locator(`[data-view="pool"] [role="row"][data-pe-id="${ELEMENTS}"][aria-rowindex="2"]`).waitFor();
      const sortMs = Date.now() - start;
      start = Date.now();
      await page.locator('input[name="search"]').fill('0x00000fa0');
      await page.locator('[data-shown="1"]').waitFor();
      const searchMs = Date.now() - start;
      console.error(`e2e: ${ELEMENTS} rows: sort ${sortMs} ms, search ${searchMs} ms (120 ms of it the typing debounce)`);
      assert.ok(sortMs < 1000 && searchMs < 1000);
      assert.deepEqual(c.problems, []);
      await c.close();
    });
  });
});
