/**
 * Discovery on the LAN through the console (issue 10): two `handlespace serve` processes announce their
 * registrars (ASAP_SERVER_ANNOUNCE with our Console Endpoint parameter) and listen for announces. In
 * Chromium on the first's console, "Registrars on the LAN" lists the second with an Attach button and the
 * first itself as this one; an RSPLIB-style announce (no console parameter, sent as a raw datagram) is
 * listed as not attachable. Attaching the second with a token from the panel makes its connection live, and
 * All registrars shows its pool.
 *
 * Over UDP multicast on loopback when this host routes it back, else (or with DISCOVERY_TEST_UNICAST=1)
 * over unicast: each serve announces to both `--discover 127.0.0.1:PORT` addresses (the same listener,
 * without the group join), as test/integration/console/discovery.test.ts does.
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
import { createToken, startServe, type ServeProcess } from './support/serve-process.js';
import { registerSdkElements, type SdkPool } from './support/simulated-pool.js';
import { freePort } from '../support/free-port.js';
import { encodeMessage } from '../../core/wire/encoder.js';
import type { AsapServerAnnounce } from '../../core/wire/types.js';
import { multicastWorks, sendDatagram } from '../support/udp.js';

const GROUP = '239.0.0.50';
const ID_A = '0x0000000a';
const ID_B = '0x0000000b';
const RSPLIB_ID = 0x5151_0002;
const RSPLIB_ID_TEXT = '0x51510002';

describeWithChromium('console e2e: discovery on the LAN', () => {
  describe('console e2e: discovery on the LAN', () => {
    let a: ServeProcess;
    let b: ServeProcess;
    let browser: Browser;
    const pools: SdkPool[] = [];
    // Where the raw RSPLIB-style announce goes: the group, or A's unicast discovery address.
    let announceTo = { host: GROUP, port: 0 };
    let mode = '';

    const dirB = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-e2e-discovery-'));
    const dbB = path.join(dirB, 'history.db');
    let tokenB = '';

    before(async () => {
      ensureRendererBuilt();
      const [portA, portB] = [await freePort(), await freePort()];
      const port = await freePort();
      const multicast = process.env['DISCOVERY_TEST_UNICAST'] !== '1' && (await multicastWorks(GROUP, port));
      const discoverA = multicast ? port : await freePort();
      const discoverB = multicast ? port : await freePort();
      const discovery = (own: number): string[] =>
        multicast
          ? ['--announce', `${GROUP}:${port}`, '--discover', `${GROUP}:${port}`]
          : ['--announce', 'off', '--announce-target', `127.0.0.1:${discoverA}`, '--announce-target', `127.0.0.1:${discoverB}`, '--discover', `127.0.0.1:${own}`];
      announceTo = multicast ? { host: GROUP, port } : { host: '127.0.0.1', port: discoverA };
      mode = multicast ? `multicast ${GROUP}:${port}` : `unicast to 127.0.0.1:${discoverA} and :${discoverB}`;

      tokenB = createToken(dbB, 'operator', 'e2e discovery attach');
      const common = ['--enrp', 'off', '--announce-interval', '300'];
      a = await startServe({ httpPort: portA, extraArgs: [...common, '--id', '0xa', ...discovery(discoverA), '--allow-origin', `http://127.0.0.1:${portB}`] });
      b = await startServe({ db: dbB, httpPort: portB, extraArgs: [...common, '--id', '0xb', ...discovery(discoverB), '--allow-origin', `http://127.0.0.1:${portA}`] });
      assert.match(a.output(), /discovery: listing registrars heard announcing on/, a.output());
      assert.match(b.output(), /discovery: listing registrars heard announcing on/, b.output());
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

    test('the panel lists B (attachable), A as this one, an RSPLIB registrar (not attachable); attaching B shows its pool', { timeout: 120_000 }, async (t) => {
      t.diagnostic(`discovery over ${mode}`);
      const c = await openConsole(browser, a.consoleUrl);
      const { page } = c;
      const diagnose = (what: string) => (error: unknown) =>
        assert.fail(`${what} (${mode}): ${String(error)}\npage problems: ${c.problems.join('\n')}\nA:\n${a.output()}\nB:\n${b.output()}`);
      await goTo(page, '#/connections');
      await page.locator('[data-view="connections"]').waitFor();
      const panel = page.locator('[data-heard]');

      // B: heard with its console, so it can be attached.
      const rowB = panel.locator(`tr[data-heard-registrar="${ID_B}"]`);
      await rowB.locator(`[data-attach="${ID_B}"]`).waitFor({ timeout: 15_000 }).catch(diagnose('B was not listed with an Attach button'));
      await rowB.getByText(b.origin).waitFor();

      // A itself: marked as this one, with its own console, already attached (it is the primary connection).
      const rowA = panel.locator(`tr[data-heard-registrar="${ID_A}"]`);
      await rowA.getByText('(this one)').waitFor({ timeout: 10_000 }).catch(diagnose('A was not listed as this one'));
      await rowA.getByText('Attached', { exact: true }).waitFor();
      assert.equal(await rowA.locator('[data-attach]').count(), 0, 'no Attach button for this registrar');
      assert.equal(await rowB.getByText('(this one)').count(), 0, 'B is not this one');

      // An RSPLIB registrar's announce, without the Console Endpoint parameter: listed, not attachable.
      const rsplib: AsapServerAnnounce = { protocol: 'asap', type: 'serverAnnounce', serverId: RSPLIB_ID, transports: [{ kind: 'tcp', port: 3863, transportUse: 0, address: '0.0.0.0' }] };
      await sendDatagram(encodeMessage(rsplib), announceTo.host, announceTo.port);
      const rowRsplib = panel.locator(`tr[data-heard-registrar="${RSPLIB_ID_TEXT}"]`);
      await rowRsplib.getByText(/Cannot be attached/).waitFor({ timeout: 10_000 }).catch(diagnose('the RSPLIB announce was not listed as not attachable'));
      await rowRsplib.getByText(/:3863$/).waitFor();
      assert.equal(await rowRsplib.locator('[data-attach]').count(), 0, 'no Attach button without a console');

      // Attach B from the panel with its token: the connection goes live, the panel marks B attached.
      await rowB.locator(`[data-attach="${ID_B}"]`).click();
      await rowB.locator('[data-attach-token]').fill(tokenB);
      await rowB.getByRole('button', { name: 'Attach', exact: true }).click();
      await page
        .locator(`tr[data-conn="${b.origin}"][data-conn-state="live"]`)
        .waitFor({ timeout: 15_000 })
        .catch(diagnose('B did not go live'));
      await rowB.getByText('Attached', { exact: true }).waitFor({ timeout: 10_000 });
      assert.equal(await rowB.locator('[data-attach]').count(), 0, 'no Attach button once attached');

      // All registrars: A's pool and B's.
      await goTo(page, '#/all');
      await page.locator('[data-all-pool="alpha"]').waitFor({ timeout: 10_000 });
      const beta = page.locator('[data-all-pool="beta"]');
      await beta.waitFor({ timeout: 10_000 }).catch(diagnose('B\'s pool did not show in All registrars'));
      await beta.getByRole('button', { name: 'Elements' }).click();
      await beta.locator(`tr[data-all-element="${0xb01}"]`).waitFor();
      await beta.locator(`tr[data-all-element="${0xb02}"]`).waitFor();

      assert.deepEqual(c.problems, []);
      await c.close();
    });
  });
});
