/**
 * Several registrars at once (issue 10): two `handlespace serve` processes (not ENRP peers), the console
 * of the first in Chromium. The second is attached with its URL and operator token; the All registrars
 * view shows both pools; a drain on an element of the second goes to the second (checked through its API,
 * and the first has no such element); a wrong token shows "unauthorized" after a few requests, not a
 * retry storm; the second restarted on the same ports reconnects and resyncs.
 *
 * Needs the LAN server to allow a bearer-token request from an allowed foreign origin (CORS, WebSocket
 * Origin, and the page's connect-src): each serve gets the other's origin with --allow-origin.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { describeWithChromium, launchChromium, openConsole } from './support/browser.js';
import { goTo } from './support/console-steps.js';
import { ensureRendererBuilt } from './support/renderer-build.js';
import { api, createToken, startServe, type ServeProcess } from './support/serve-process.js';
import { registerSdkElements, type SdkPool } from './support/simulated-pool.js';
import { freePort } from '../support/free-port.js';
import type { PoolView } from '../../core/console/contract.js';

describeWithChromium('console e2e: several registrars', () => {
  describe('console e2e: several registrars', () => {
    let a: ServeProcess;
    let b: ServeProcess;
    let browser: Browser;
    const pools: SdkPool[] = [];
    let portA = 0;
    let portB = 0;
    let asapB = 0;

    // B keeps its tokens in a database, so the token attached with survives B's restart (a start-up
    // token would not).
    const dirB = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-e2e-multi-'));
    const dbB = path.join(dirB, 'history.db');
    let tokenB = '';
    const startB = (): Promise<ServeProcess> =>
      startServe({ db: dbB, httpPort: portB, extraArgs: ['--enrp', 'off', '--allow-origin', `http://127.0.0.1:${portA}`, ...(asapB ? ['--asap', `127.0.0.1:${asapB}`] : [])] });

    before(async () => {
      ensureRendererBuilt();
      [portA, portB] = [await freePort(), await freePort()];
      tokenB = createToken(dbB, 'operator', 'e2e attach');
      a = await startServe({ httpPort: portA, extraArgs: ['--enrp', 'off', '--allow-origin', `http://127.0.0.1:${portB}`] });
      b = await startB();
      asapB = b.asapPort;
      browser = await launchChromium();
      pools.push(await registerSdkElements(a.asapPort, 'alpha', 1, 0xa01));
      pools.push(await registerSdkElements(b.asapPort, 'beta', 2, 0xb01));
    });

    after(async () => {
      for (const pool of pools) await pool.close();
      await browser?.close();
      await a?.stop();
      await b?.stop();
      fs.rmSync(dirB, { recursive: true, force: true });
    });

    test('attach the second, see both pools, drain on the second, wrong token, restart', async () => {
      const c = await openConsole(browser, a.consoleUrl);
      const { page } = c;
      await goTo(page, '#/connections');
      const form = page.locator('[data-add-connection]');
      await form.locator('input[name="url"]').fill(b.origin);
      await form.locator('input[name="token"]').fill(tokenB);
      await form.getByRole('button', { name: 'Attach' }).click();
      await page
        .locator(`tr[data-conn="${b.origin}"][data-conn-state="live"]`)
        .waitFor({ timeout: 10_000 })
        .catch((error: unknown) => assert.fail(`the second console did not go live: ${String(error)}\npage problems: ${c.problems.join('\n')}`));

      await goTo(page, '#/all');
      await page.locator('[data-all-pool="alpha"]').waitFor();
      const beta = page.locator('[data-all-pool="beta"]');
      await beta.waitFor({ timeout: 10_000 });
      await beta.getByRole('button', { name: 'Elements' }).click();
      const element = beta.locator(`tr[data-all-element="${0xb01}"]`);
      await element.waitFor();
      await element.locator('[data-command="drain"]').click();
      const dialog = page.locator('dialog[data-command-dialog="drain"]');
      await dialog.waitFor();
      await dialog.locator('textarea').fill('e2e: drain on the second registrar');
      await dialog.locator('button[type="submit"]').click();
      await beta.locator(`tr[data-all-element="${0xb01}"][data-state="draining"]`).waitFor({ timeout: 5000 });
      await dialog.getByText(/ready → draining/).waitFor();
      await dialog.getByRole('button', { name: 'Close' }).click();
      await dialog.waitFor({ state: 'hidden' });
      const onB = await api<PoolView>(b, 'GET', '/pools/beta');
      assert.equal(onB.body.value?.elements.find((e) => e.peId === 0xb01)?.admin.state, 'draining', 'the second registrar drained it');
      const onA = await api<PoolView>(a, 'GET', '/pools/beta');
      assert.ok(!onA.body.ok || !onA.body.value?.elements.some((e) => e.peId === 0xb01), 'the first registrar has no such element');

      // The second restarted on the same ports: the connection reconnects and resyncs (a new epoch).
      await b.stop();
      await goTo(page, '#/connections');
      await page.locator(`tr[data-conn="${b.origin}"][data-conn-state="reconnecting"]`).waitFor({ timeout: 10_000 });
      b = await startB();
      pools.push(await registerSdkElements(b.asapPort, 'gamma', 1, 0xb02));
      await goTo(page, '#/connections');
      await page.locator(`tr[data-conn="${b.origin}"][data-conn-state="live"]`).waitFor({ timeout: 15_000 });
      await goTo(page, '#/all');
      await page.locator('[data-all-pool="gamma"]').waitFor({ timeout: 10_000 });

      // A wrong token: "unauthorized", and only a few requests to that server.
      await goTo(page, '#/connections');
      let requests = 0;
      page.on('request', (request) => {
        if (request.url().startsWith(b.origin)) requests += 1;
      });
      const row = page.locator(`tr[data-conn="${b.origin}"]`);
      await row.getByRole('button', { name: 'Remove' }).click();
      await row.waitFor({ state: 'detached' });
      await form.locator('input[name="url"]').fill(b.origin);
      await form.locator('input[name="token"]').fill('hs_wrong_token_for_e2e');
      await form.getByRole('button', { name: 'Attach' }).click();
      await page.locator(`tr[data-conn="${b.origin}"][data-conn-state="unauthorized"]`).waitFor({ timeout: 10_000 });
      await page.waitForTimeout(3000); // a retry storm would show within this time: count what went out
      assert.ok(requests <= 4, `at most a few requests with a wrong token, saw ${requests}`);
      // Expected noise: the wrong token's 401s, the refused connections while B was stopped on purpose, and
      // the discovery panel's one 503 per visit (these servers run with announces and discovery off).
      assert.deepEqual(c.problems.filter((p) => !/401|Unauthorized|ERR_CONNECTION_REFUSED|status of 503/i.test(p)), []);
      await c.close();
    });
  });
});
