/**
 * The console against a real `handlespace serve`: live status within a second, the drain flow with its
 * confirmation and reason (and the subscribed pool user's notification), fail over, the last-ready-element
 * guard, maintenance after drain, and bulk commands. Every wait is on the page's own state (data
 * attributes the views render) or on the pool user's events, never a sleep.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { describeWithChromium, launchChromium, openConsole, type ConsolePage } from './support/browser.js';
import { goTo, openCommand, openPool, row, waitForRowState } from './support/console-steps.js';
import { ensureRendererBuilt } from './support/renderer-build.js';
import { api, startServe, type ServeProcess } from './support/serve-process.js';
import { PolicyType } from '../../core/wire/policy.js';
import { registerBulk, registerSdkElements, subscribeUser, type SdkPool, type SubscribedUser } from './support/simulated-pool.js';

/** In-page expressions are strings: the Node side has no DOM types, and tsx would wrap functions in a helper. */
const FOCUSED_NAME = `document.activeElement?.getAttribute('name') ?? null`;

const hex = (id: number): string => `0x${id.toString(16).padStart(8, '0')}`;

describeWithChromium('console e2e: operations', () => {
  describe('console e2e: operations', () => {
    let serve: ServeProcess;
    let browser: Browser;
    const cleanups: (() => Promise<unknown>)[] = [];

    before(async () => {
      ensureRendererBuilt();
      serve = await startServe();
      browser = await launchChromium();
    });

    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
      await browser?.close();
      await serve?.stop();
    });

    async function elements(pool: string, count: number, firstId: number): Promise<SdkPool> {
      const registered = await registerSdkElements(serve.asapPort, pool, count, firstId);
      cleanups.push(() => registered.close());
      return registered;
    }

    async function user(pool: string): Promise<SubscribedUser> {
      const subscribed = await subscribeUser(serve.asapPort, pool);
      cleanups.push(() => subscribed.close());
      return subscribed;
    }

    async function consolePage(): Promise<ConsolePage> {
      const opened = await openConsole(browser, serve.consoleUrl);
      cleanups.push(() => opened.close());
      return opened;
    }

    /** No console errors, page errors or CSP violations, except the browser's note on an expected HTTP status. */
    function noProblems(c: ConsolePage, expectedStatus?: number): void {
      const unexpected = c.problems.filter((p) => expectedStatus === undefined || !p.includes(`the server responded with a status of ${expectedStatus}`));
      assert.deepEqual(unexpected, [], 'the page logged no errors and no CSP violations');
    }

    test('the token leaves the address bar; the header shows live and operator', async () => {
      const c = await consolePage();
      assert.doesNotMatch(c.page.url(), /token/, 'the token was removed from the URL');
      assert.equal(await c.page.locator('[data-connection="live"]').getAttribute('data-role'), 'operator');
      assert.equal(await c.page.evaluate(`sessionStorage.getItem('handlespace.console.token') !== null`), true, 'the token is kept for reloads');
      noProblems(c);
    });

    test('a status change appears within 1 s', async () => {
      const sdk = await elements('live', 2, 0x201);
      const crashing = await registerBulk(serve.asapPort, 'live', 1, 0x2ff, { type: PolicyType.leastUsed, load: 0 });
      cleanups.push(() => crashing.close());
      const c = await consolePage();
      const { page } = c;
      await openPool(page, 'live');
      for (const id of [0x201, 0x202, 0x2ff]) await row(page, id).waitFor();

      // Another operator drains an element through the API.
      let start = Date.now();
      const drained = api(serve, 'POST', `/pools/live/elements/${0x201}/drain`, { reason: 'drained from the API' });
      await waitForRowState(page, 0x201, 'draining', 1000);
      const drainMs = Date.now() - start;
      assert.equal((await drained).status, 200);

      // An element's load changes (its SDK re-registers with the new value).
      start = Date.now();
      sdk.elements[1]!.setLoad(0x80000000);
      await page.locator(`[role="row"][data-pe-id="${0x202}"][data-load^="0.5"]`).waitFor({ timeout: 1000 });
      const loadMs = Date.now() - start;

      // An element's connection breaks: the registrar removes it, the row goes.
      start = Date.now();
      crashing.peer.socket.destroy();
      await row(page, 0x2ff).waitFor({ state: 'detached', timeout: 1000 });
      const removedMs = Date.now() - start;
      console.error(`e2e: status change → DOM: drain ${drainMs} ms, load ${loadMs} ms, connection lost ${removedMs} ms`);
      for (const ms of [drainMs, loadMs, removedMs]) assert.ok(ms < 1000, `${ms} ms`);
      noProblems(c);
    });

    test('drain: confirmation names element and pool, requires a reason; the subscribed pool user is told', async () => {
      await elements('drain', 2, 0x301);
      const pu = await user('drain');
      const c = await consolePage();
      const { page } = c;
      await openPool(page, 'drain');
      await row(page, 0x301).waitFor();
      const dialog = await openCommand(page, 0x301, 'drain');
      const title = await dialog.locator('h2').textContent();
      assert.match(title ?? '', /Drain element 0x00000301 in pool drain\?/);

      assert.equal(await page.evaluate(FOCUSED_NAME), 'reason', 'the reason field has the focus');

      // Without a reason nothing is sent, and the focus goes back to the reason.
      await dialog.locator('[data-confirm]').click();
      await dialog.getByText('A reason is required').waitFor();
      assert.equal(await row(page, 0x301).getAttribute('data-state'), 'ready');

      // From the keyboard: type the reason, Tab to Cancel, Tab to Drain, Enter.
      assert.equal(await page.evaluate(FOCUSED_NAME), 'reason');
      await page.keyboard.type('rolling kernel update');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(`document.activeElement?.hasAttribute('data-confirm') ?? false`), true, 'Tab reaches the confirm button');
      await page.keyboard.press('Enter');
      await dialog.locator('[data-result="ok"]').waitFor();
      assert.match((await dialog.locator('[data-result="ok"]').textContent()) ?? '', /ready → draining/);
      await waitForRowState(page, 0x301, 'draining');

      const status = await pu.waitFor((s) => s.status.peId === 0x301 && s.statusName === 'draining');
      assert.equal(status.status.reasonText, 'rolling kernel update');
      await dialog.locator('[data-close]').click();
      await dialog.waitFor({ state: 'detached' });

      // The feed shows the notification that went to the pool user.
      await goTo(page, '#/feed');
      await page.locator(`[data-feed-row][data-pe-id="${0x301}"][data-status="draining"]`).first().waitFor();
      assert.ok(Number(await page.locator('[data-pu-count]').first().locator('.num').textContent()) >= 1);
      noProblems(c);
    });

    test('fail over: the pool user is told to move to the other element', async () => {
      await elements('failover', 2, 0x401);
      const pu = await user('failover');
      const c = await consolePage();
      const { page } = c;
      await openPool(page, 'failover');
      await row(page, 0x401).waitFor();
      const dialog = await openCommand(page, 0x401, 'failover');
      await dialog.locator('textarea[name="reason"]').fill('switch to the standby');
      await dialog.locator('[data-confirm]').click();
      const result = dialog.locator('[data-result="ok"]');
      await result.waitFor();
      assert.match((await result.textContent()) ?? '', new RegExp(`move to ${hex(0x402)}`));
      const status = await pu.waitFor((s) => s.status.peId === 0x401 && s.statusName !== 'up' && s.statusName !== 'loadChanged');
      assert.equal(status.status.replacementPeId, 0x402, 'the push names the replacement');
      assert.equal(status.status.reasonText, 'switch to the standby');
      await waitForRowState(page, 0x401, 'maintenance');
      noProblems(c);
    });

    test('last-ready-element guard: force is offered only when the server refuses', async () => {
      await elements('guard', 1, 0x501);
      const c = await consolePage();
      const { page } = c;
      await openPool(page, 'guard');
      await row(page, 0x501).waitFor();

      // Escape cancels the dialog without doing anything.
      let dialog = await openCommand(page, 0x501, 'drain');
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });

      dialog = await openCommand(page, 0x501, 'drain');
      assert.equal(await dialog.locator('input[name="force"]').count(), 0, 'no force before the guard');
      await dialog.locator('textarea[name="reason"]').fill('replace the disk');
      await dialog.locator('[data-confirm]').click();
      await dialog.locator('[data-guard="lastReadyElement"]').waitFor();
      assert.match((await dialog.locator('[data-guard]').textContent()) ?? '', /0x00000501 is the last ready element of pool guard/);
      assert.equal(await dialog.locator('[data-result="lastReadyElement"]').count(), 1);
      assert.equal(await dialog.locator('[data-force]').isDisabled(), true, 'force needs the checkbox');
      assert.equal(await row(page, 0x501).getAttribute('data-state'), 'ready', 'nothing happened yet');

      await dialog.locator('input[name="force"]').check();
      await dialog.locator('[data-force]').click();
      await dialog.locator('[data-result="ok"]').waitFor();
      await waitForRowState(page, 0x501, 'draining');
      await dialog.locator('[data-close]').click();

      await goTo(page, '#/overview');
      await page.locator('[data-banner-pool="guard"]').waitFor();
      noProblems(c, 409);
    });

    test('maintenance after drain: an idle element goes into maintenance', async () => {
      await elements('maint', 2, 0x601);
      const c = await consolePage();
      const { page } = c;
      await openPool(page, 'maint');
      await row(page, 0x601).waitFor();
      const dialog = await openCommand(page, 0x601, 'maintenance');
      assert.equal(await dialog.locator('input[name="after-drain"]').isChecked(), true, 'drain first is the default');
      await dialog.locator('input[name="timeout-minutes"]').fill('2');
      await dialog.locator('textarea[name="reason"]').fill('firmware');
      await dialog.locator('[data-confirm]').click();
      await dialog.locator('[data-result="ok"]').waitFor();
      // Load 0: the drain is complete at once and maintenance follows.
      await waitForRowState(page, 0x601, 'maintenance');
      noProblems(c);
    });

    test('bulk: drain two selected elements with one reason', async () => {
      await elements('bulk', 3, 0x701);
      const c = await consolePage();
      const { page } = c;
      await openPool(page, 'bulk');
      for (const id of [0x701, 0x702]) await row(page, id).getByRole('checkbox').check();
      await page.locator('[data-selected="2"]').waitFor();
      await page.locator('[data-bulk-command="drain"]').click();
      const dialog = page.locator('dialog[data-command-dialog="drain"]');
      assert.match((await dialog.locator('h2').textContent()) ?? '', /Drain 2 elements in pool bulk\?/);
      await dialog.locator('textarea[name="reason"]').fill('rack 7 power work');
      await dialog.locator('[data-confirm]').click();
      await dialog.locator('[data-phase="done"]').or(page.locator('dialog[data-phase="done"]')).waitFor();
      assert.equal(await dialog.locator('[data-result="ok"]').count(), 2);
      await waitForRowState(page, 0x701, 'draining');
      await waitForRowState(page, 0x702, 'draining');
      assert.equal(await row(page, 0x703).getAttribute('data-state'), 'ready');
      noProblems(c);
    });
  });
});
