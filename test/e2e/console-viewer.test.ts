/**
 * Viewer mode: a token made with `handlespace token create --role viewer --db FILE` for a server started
 * with that `--db FILE` sees everything and can command nothing: no command buttons anywhere, and the
 * header says so.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { describeWithChromium, launchChromium, openConsole } from './support/browser.js';
import { goTo, openPool, row } from './support/console-steps.js';
import { ensureRendererBuilt } from './support/renderer-build.js';
import { api, createToken, startServe, type ServeProcess } from './support/serve-process.js';
import { registerSdkElements, type SdkPool } from './support/simulated-pool.js';

describeWithChromium('console e2e: viewer mode', () => {
  describe('console e2e: viewer mode', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-e2e-viewer-'));
    const db = path.join(dir, 'history.db');
    let serve: ServeProcess;
    let browser: Browser;
    let pool: SdkPool;
    let viewerToken: string;

    before(async () => {
      ensureRendererBuilt();
      viewerToken = createToken(db, 'viewer', 'e2e viewer');
      serve = await startServe({ db });
      browser = await launchChromium();
      pool = await registerSdkElements(serve.asapPort, 'watched', 2, 0xa01);
    });

    after(async () => {
      await pool?.close();
      await browser?.close();
      await serve?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('a viewer sees pools and elements but no command buttons', async () => {
      const c = await openConsole(browser, serve.urlWithToken(viewerToken));
      const { page } = c;
      assert.equal(await page.locator('[data-connection="live"]').getAttribute('data-role'), 'viewer');
      await page.getByText('Viewer (read only)').waitFor();

      await page.locator('[data-pool="watched"]').waitFor();
      await openPool(page, 'watched');
      await row(page, 0xa01).waitFor();
      assert.equal(await page.locator('[data-bulk-command]').count(), 0, 'no bulk actions');
      assert.equal(await page.getByRole('toolbar', { name: 'Bulk actions' }).count(), 0);
      assert.equal(await page.locator('[role="row"] input[type="checkbox"]').count(), 0, 'nothing to select without commands');

      await row(page, 0xa01).getByRole('button', { name: /^Details of/ }).click();
      await page.locator(`[data-detail-pe="${0xa01}"]`).waitFor();
      assert.equal(await page.locator('[data-command]').count(), 0, 'no command buttons in the detail');
      for (const name of ['Drain', 'Ready', 'Maintenance', 'Fail over', 'Deregister']) {
        assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `no ${name} button`);
      }

      // The other views have no commands either; the history is readable.
      for (const view of ['#/feed', '#/charts', '#/history', '#/overview']) {
        await goTo(page, view);
        await page.locator(`[data-view="${view.slice(2)}"]`).waitFor();
        assert.equal(await page.locator('[data-command], [data-bulk-command], dialog').count(), 0, `${view} has no commands`);
      }
      assert.deepEqual(c.problems, []);
      await c.close();

      // The server refuses a viewer's command as well (the UI is not the only guard).
      const refused = await api(serve, 'POST', `/pools/watched/elements/${0xa01}/drain`, { reason: 'viewer tries' }, viewerToken);
      assert.equal(refused.status, 403);
    });

    test('the start-up token of the same server is an operator', async () => {
      const c = await openConsole(browser, serve.consoleUrl);
      assert.equal(await c.page.locator('[data-connection="live"]').getAttribute('data-role'), 'operator');
      await openPool(c.page, 'watched');
      await c.page.locator('[data-bulk-command="drain"]').waitFor();
      await c.close();
    });
  });
});
