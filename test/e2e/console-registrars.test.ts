/**
 * The Registrars view over a real ENRP deployment: two `handlespace serve` processes peered with --peer;
 * the console of one lists both (this registrar first, the peer active with an agreeing checksum), an
 * element registered at the peer shows in the pool view with the peer as its home, and stopping the peer
 * shows it leaving the active state live.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { describeWithChromium, launchChromium, openConsole } from './support/browser.js';
import { goTo, openPool, row } from './support/console-steps.js';
import { ensureRendererBuilt } from './support/renderer-build.js';
import { startServe, type ServeProcess } from './support/serve-process.js';
import { registerSdkElements, type SdkPool } from './support/simulated-pool.js';
import { freePort } from '../support/free-port.js';


const TIMERS = ['--peer-heartbeat-cycle', '200', '--peer-max-time-last-heard', '800', '--peer-max-time-no-response', '800', '--mentor-discovery-timeout', '500', '--enrp-announce', 'off'];

describeWithChromium('console e2e: registrars (ENRP)', () => {
  describe('console e2e: registrars (ENRP)', () => {
    let a: ServeProcess;
    let b: ServeProcess;
    let browser: Browser;
    let pool: SdkPool | undefined;

    before(async () => {
      ensureRendererBuilt();
      const [portA, portB] = [await freePort(), await freePort()];
      a = await startServe({ extraArgs: ['--id', '0xa', '--enrp', `127.0.0.1:${portA}`, '--peer', `127.0.0.1:${portB}`, ...TIMERS] });
      b = await startServe({ extraArgs: ['--id', '0xb', '--enrp', `127.0.0.1:${portB}`, '--peer', `127.0.0.1:${portA}`, ...TIMERS] });
      browser = await launchChromium();
    });

    after(async () => {
      await pool?.close();
      await browser?.close();
      await a?.stop();
      await b?.stop();
    });

    test('both registrars are listed; an element of the peer shows its home; a stopped peer leaves the active state', async () => {
      const c = await openConsole(browser, a.consoleUrl);
      const { page } = c;
      await goTo(page, '#/registrars');
      await page.locator('[data-view="registrars"]').waitFor();
      await page.locator('tr[data-registrar="0x0000000a"]').waitFor();
      await page.locator('tr[data-registrar="0x0000000b"][data-state="active"]').waitFor({ timeout: 10_000 });
      const first = await page.locator('tr[data-registrar]').first().getAttribute('data-registrar');
      assert.equal(first, '0x0000000a', 'this registrar comes first');

      pool = await registerSdkElements(b.asapPort, 'peered', 1, 0xb01);
      await openPool(page, 'peered');
      await row(page, 0xb01).waitFor({ timeout: 10_000 });
      await row(page, 0xb01).getByRole('button', { name: /^Details of/ }).click();
      await page.locator(`[data-detail-pe="${0xb01}"]`).getByText('0x0000000b').waitFor();

      await pool.close();
      pool = undefined;
      await b.stop();
      await goTo(page, '#/registrars');
      await page.locator('tr[data-registrar="0x0000000b"]:not([data-state="active"])').waitFor({ timeout: 10_000 });
      assert.deepEqual(c.problems, []);
      await c.close();
    });
  });
});
