/**
 * The Components view: `handlespace serve --csp` receiving Component Status Protocol reports — here its own
 * (`--csp-report` to itself) — lists the reporting registrar live, merged with this registrar's view ("this
 * registrar"), and a server without --csp says the view is unavailable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { Browser } from 'playwright-core';
import { describeWithChromium, launchChromium, openConsole } from './support/browser.js';
import { goTo } from './support/console-steps.js';
import { ensureRendererBuilt } from './support/renderer-build.js';
import { api, startServe, type ServeProcess } from './support/serve-process.js';

async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describeWithChromium('console e2e: components (CSP)', () => {
  describe('console e2e: components (CSP)', () => {
    let serve: ServeProcess;
    let plain: ServeProcess;
    let browser: Browser;

    before(async () => {
      ensureRendererBuilt();
      const port = await freeUdpPort();
      serve = await startServe({ extraArgs: ['--id', '0xc5', '--enrp', 'off', '--csp', `127.0.0.1:${port}`, '--csp-report', `127.0.0.1:${port}`, '--csp-interval', '250'] });
      plain = await startServe({ extraArgs: ['--enrp', 'off'] });
      browser = await launchChromium();
    });

    after(async () => {
      await browser?.close();
      await serve?.stop();
      await plain?.stop();
    });

    test('the reporting registrar is listed live and recognised as this registrar', async () => {
      const c = await openConsole(browser, serve.consoleUrl);
      await goTo(c.page, '#/components');
      const row = c.page.locator('tr[data-component][data-role="registrar"]');
      await row.waitFor({ timeout: 10_000 });
      await row.getByText('this registrar').waitFor();
      assert.match((await row.textContent()) ?? '', /0x000000c5/i);
      const answer = await api<{ components: { id: string }[] }>(serve, 'GET', '/components');
      assert.equal(answer.status, 200);
      assert.ok((answer.body.value?.components.length ?? 0) >= 1);
      assert.deepEqual(c.problems, []);
      await c.close();
    });

    test('without --csp the view says how to turn it on', async () => {
      const c = await openConsole(browser, plain.consoleUrl);
      await goTo(c.page, '#/components');
      await c.page.locator('[data-components-unavailable]').getByText('--csp').waitFor();
      const answer = await api(plain, 'GET', '/components');
      assert.equal(answer.status, 503);
      await c.close();
    });
  });
});
