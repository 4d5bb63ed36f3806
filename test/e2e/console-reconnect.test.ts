/**
 * The connection state is always visible and the live model survives a server restart: when the server
 * goes away the header says "reconnecting"; when a new run answers on the same address the stream resumes
 * with a resync (another epoch) and the model is replaced, so nothing of the old run lingers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { describeWithChromium, launchChromium, openConsole } from './support/browser.js';
import { ensureRendererBuilt } from './support/renderer-build.js';
import { createToken, startServe, type ServeProcess } from './support/serve-process.js';
import { registerBulk, type BulkPool } from './support/simulated-pool.js';

describeWithChromium('console e2e: reconnect', () => {
  describe('console e2e: reconnect', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-e2e-reconnect-'));
    const db = path.join(dir, 'history.db');
    let browser: Browser;
    const running: ServeProcess[] = [];
    const peers: BulkPool[] = [];

    before(async () => {
      ensureRendererBuilt();
      browser = await launchChromium();
    });

    after(async () => {
      for (const peer of peers) await peer.close().catch(() => undefined);
      await browser?.close();
      for (const serve of running) await serve.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('reconnecting while the server is away; a new run replaces the model', async () => {
      // A stored token, so the page's token is still valid for the second run.
      const token = createToken(db, 'operator', 'e2e reconnect');
      const first = await startServe({ db });
      running.push(first);
      peers.push(await registerBulk(first.asapPort, 'first-run', 3, 0xb01));
      const c = await openConsole(browser, first.urlWithToken(token));
      const { page } = c;
      await page.locator('[data-pool="first-run"][data-total="3"]').waitFor();

      await first.stop();
      await page.locator('[data-connection="reconnecting"]').waitFor({ timeout: 5000 });
      assert.equal(await page.locator('[data-pool="first-run"]').count(), 1, 'the last known state stays on screen');

      const second = await startServe({ db, httpPort: Number(new URL(first.origin).port) });
      running.push(second);
      peers.push(await registerBulk(second.asapPort, 'second-run', 2, 0xc01));
      await page.locator('[data-connection="live"]').waitFor({ timeout: 15_000 });
      await page.locator('[data-pool="second-run"][data-total="2"]').waitFor();
      assert.equal(await page.locator('[data-pool="first-run"]').count(), 0, 'the old run is gone after the resync');
      const unexpected = c.problems.filter((p) => !/ERR_CONNECTION_REFUSED|WebSocket connection/.test(p));
      assert.deepEqual(unexpected, []);
      await c.close();
    });
  });
});
