/**
 * Writes docs/screenshots/*.png: every view of the console against a real `handlespace serve` with a few
 * busy pools (SDK elements changing load, subscribed pool users resolving, operator actions through the
 * API). Run it after changing the UI: `npx tsx test/e2e/screenshots.ts`. Every wait is on the page's
 * state or the server's answers; the activity runs until the charts have the samples they show.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumMissingReason, launchChromium, openConsole, waitInPage } from './support/browser.js';
import { goTo, openPool, row } from './support/console-steps.js';
import { ensureRendererBuilt, ROOT } from './support/renderer-build.js';
import { api, startServe } from './support/serve-process.js';
import { registerSdkElements, subscribeUser, type SdkPool, type SubscribedUser } from './support/simulated-pool.js';

const OUT = path.join(ROOT, 'docs/screenshots');
/** Metric samples (one per second) the charts should show before their screenshot. */
const CHART_SAMPLES = 40;

async function shoot(page: Page, name: string): Promise<void> {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file });
  console.log(`wrote ${path.relative(ROOT, file)}`);
}

async function command(serve: Awaited<ReturnType<typeof startServe>>, pool: string, peId: number, verb: string, body: Record<string, unknown>): Promise<void> {
  const answer = await api(serve, 'POST', `/pools/${pool}/elements/${peId}/${verb}`, body);
  if (!answer.body.ok) throw new Error(`${verb} ${pool}/${peId}: ${JSON.stringify(answer.body.error)}`);
}

async function main(): Promise<void> {
  const missing = chromiumMissingReason();
  if (missing) throw new Error(missing);
  ensureRendererBuilt();
  fs.mkdirSync(OUT, { recursive: true });
  const serve = await startServe();
  const pools: SdkPool[] = [];
  const users: SubscribedUser[] = [];
  let active = true;
  const browser = await launchChromium();
  try {
    pools.push(await registerSdkElements(serve.asapPort, 'echo', 8, 0x1001));
    pools.push(await registerSdkElements(serve.asapPort, 'billing-db', 4, 0x2001));
    pools.push(await registerSdkElements(serve.asapPort, 'cache', 2, 0x3001));
    for (const [pool, count] of [['echo', 3], ['billing-db', 2], ['cache', 1]] as const) {
      for (let i = 0; i < count; i++) users.push(await subscribeUser(serve.asapPort, pool));
    }
    // Activity: loads move (pushed to the subscribers), pool users resolve.
    const [echo] = pools;
    let tick = 0;
    const activity = (async () => {
      while (active) {
        tick++;
        for (const [i, element] of (echo?.elements ?? []).entries()) element.setLoad(Math.round(0xffffffff * (0.15 + 0.35 * (1 + Math.sin(tick / 4 + i)) * (0.4 + i / 12))));
        for (const user of users) await user.user.resolve('echo', { refresh: true });
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    await command(serve, 'billing-db', 0x2002, 'drain', { reason: 'schema migration on replica 2' });
    await command(serve, 'billing-db', 0x2003, 'maintenance', { reason: 'disk replacement (ticket OPS-4711)' });
    await command(serve, 'echo', 0x1003, 'drain', { reason: 'kernel update, rolling' });
    await command(serve, 'cache', 0x3001, 'drain', { reason: 'memory leak under investigation' });
    await command(serve, 'cache', 0x3002, 'failover', { reason: 'node reboot', force: true });

    const c = await openConsole(browser, serve.consoleUrl, { viewport: { width: 1440, height: 860 } });
    const { page } = c;
    await page.locator('[data-banner-pool="cache"]').waitFor();
    await page.locator('[data-pool="echo"] [data-count="notifications-per-minute"]:not(:text("0"))').waitFor();
    await shoot(page, 'overview');

    await openPool(page, 'echo');
    await row(page, 0x1003).getByRole('button', { name: /^Details of/ }).click();
    await page.locator('[data-detail-pe="4099"] [data-kind="audit"]').first().waitFor();
    await shoot(page, 'pool');

    await page.locator('[data-detail-pe="4099"] [data-command="maintenance"]').click();
    const dialog = page.locator('dialog[data-command-dialog="maintenance"]');
    await dialog.locator('textarea[name="reason"]').fill('kernel update: reboot when idle');
    await shoot(page, 'command-dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await openPool(page, 'cache');
    await row(page, 0x3001).getByRole('button', { name: /^Details of/ }).click();
    await page.locator('[data-detail-pe="12289"] [data-command="ready"]').waitFor();
    await goTo(page, '#/feed');
    await page.locator('[data-feed-row]').nth(10).waitFor();
    await command(serve, 'echo', 0x1005, 'drain', { reason: 'moving to rack 12' });
    await page.locator(`[data-feed-row][data-status="draining"][data-pe-id="${0x1005}"]`).first().waitFor();
    await shoot(page, 'notifications');

    await goTo(page, '#/charts/echo');
    await page.locator('[data-view="charts"]').waitFor();
    await page.getByRole('radio', { name: 'Last 5 min' }).click();
    await waitInPage(page, `Number(document.querySelector('[data-view="charts"]')?.getAttribute('data-points')) >= ${CHART_SAMPLES}`, 120_000);
    await shoot(page, 'charts');

    await goTo(page, '#/history');
    await page.locator('table[data-loading="false"] tbody tr[data-kind]').first().waitFor();
    for (const kind of ['registered', 'reregistered', 'notification']) await page.locator(`input[name="kind-${kind}"]`).setChecked(false);
    await page.locator('[data-history-apply]').click();
    await page.locator('table[data-loading="false"] tbody tr[data-kind="audit"]').first().waitFor();
    await shoot(page, 'history');

    await page.locator('select[name="theme"]').selectOption('dark');
    await goTo(page, '#/overview');
    await page.locator('[data-banner-pool="cache"]').waitFor();
    await shoot(page, 'overview-dark');
    await goTo(page, '#/charts/echo');
    await waitInPage(page, `Number(document.querySelector('[data-view="charts"]')?.getAttribute('data-points')) >= ${CHART_SAMPLES}`, 30_000);
    await shoot(page, 'charts-dark');
    if (c.problems.length > 0) console.error(`page problems: ${c.problems.join('\n')}`);
    await c.close();
    active = false;
    await activity;
  } finally {
    active = false;
    await browser.close();
    for (const user of users) await user.close();
    for (const pool of pools) await pool.close();
    await serve.stop();
  }
}

await main();
