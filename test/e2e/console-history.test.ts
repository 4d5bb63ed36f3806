/**
 * The history view against a real `handlespace serve --memory`: filtering by pool, element and kind, the
 * cursor pages, and the export of the same filter as CSV and as JSON lines, checked in the downloaded
 * files themselves.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { describeWithChromium, launchChromium, openConsole } from './support/browser.js';
import { goTo } from './support/console-steps.js';
import { ensureRendererBuilt } from './support/renderer-build.js';
import { api, startServe, type ServeProcess } from './support/serve-process.js';
import { registerSdkElements, type SdkPool } from './support/simulated-pool.js';

/** RFC 4180 records (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || record.length > 0) records.push([...record, field]);
  return records;
}

describeWithChromium('console e2e: history and export', () => {
  describe('console e2e: history and export', () => {
    let serve: ServeProcess;
    let browser: Browser;
    let pools: SdkPool[] = [];
    const downloads = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-e2e-downloads-'));

    before(async () => {
      ensureRendererBuilt();
      serve = await startServe();
      browser = await launchChromium();
      pools = [await registerSdkElements(serve.asapPort, 'hist-a', 2, 0x801), await registerSdkElements(serve.asapPort, 'hist-b', 2, 0x901)];
      for (const [pool, id, reason] of [['hist-a', 0x801, 'audit me in pool a'], ['hist-b', 0x901, 'audit me in pool b']] as const) {
        const answer = await api(serve, 'POST', `/pools/${pool}/elements/${id}/drain`, { reason });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
      }
    });

    after(async () => {
      for (const pool of pools) await pool.close();
      await browser?.close();
      await serve?.stop();
      fs.rmSync(downloads, { recursive: true, force: true });
    });

    async function filterTo(page: Page, pool: string, kinds: readonly string[], element = ''): Promise<void> {
      await page.locator('input[name="history-pool"]').fill(pool);
      await page.locator('input[name="history-element"]').fill(element);
      for (const kind of ['registered', 'reregistered', 'health', 'admin', 'removed', 'notification', 'audit']) {
        await page.locator(`input[name="kind-${kind}"]`).setChecked(kinds.includes(kind));
      }
      await page.locator('[data-history-apply]').click();
      await page.locator('table[data-loading="false"]').waitFor();
    }

    test('filter by pool, kind and element; the rows match', async () => {
      const c = await openConsole(browser, serve.consoleUrl);
      const { page } = c;
      await goTo(page, '#/history');
      await page.locator('[data-view="history"] table[data-loading="false"]').waitFor();

      await filterTo(page, 'hist-a', ['audit']);
      await page.locator('table[data-loading="false"]:not([data-history-rows="0"])').waitFor();
      const kinds = await page.locator('tbody tr[data-kind]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind')));
      assert.ok(kinds.length > 0);
      assert.ok(kinds.every((k) => k === 'audit'), `only audit rows: ${kinds.join(',')}`);
      const text = await page.locator('tbody').textContent();
      assert.match(text ?? '', /audit me in pool a/);
      assert.doesNotMatch(text ?? '', /audit me in pool b/);

      await filterTo(page, 'hist-a', ['registered'], '0x802');
      await page.locator('tbody tr[data-kind="registered"]').first().waitFor();
      const ids = await page.locator('tbody tr[data-kind]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pe-id')));
      assert.deepEqual([...new Set(ids)], [String(0x802)]);
      assert.deepEqual(c.problems, []);
      await c.close();
    });

    test('export CSV and JSON lines: the downloaded files hold exactly the filtered rows', async () => {
      const c = await openConsole(browser, serve.consoleUrl);
      const { page } = c;
      await goTo(page, '#/history');
      await filterTo(page, 'hist-b', ['audit', 'admin']);

      await page.locator('select[name="export-format"]').selectOption('csv');
      const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.locator('[data-export]').click()]);
      assert.match(csvDownload.suggestedFilename(), /^handlespace-history-.*\.csv$/);
      const csvFile = path.join(downloads, 'export.csv');
      await csvDownload.saveAs(csvFile);
      const records = parseCsv(fs.readFileSync(csvFile, 'utf8'));
      const [header, ...rows] = records;
      assert.ok(header && header.includes('kind') && header.includes('pool') && header.includes('reason'), `header: ${header?.join(',')}`);
      const column = (name: string): number => header!.indexOf(name);
      assert.ok(rows.length >= 2, `rows: ${rows.length}`);
      for (const r of rows) {
        assert.equal(r[column('pool')], 'hist-b');
        assert.ok(['audit', 'admin'].includes(r[column('kind')] ?? ''), r[column('kind')]);
      }
      assert.ok(rows.some((r) => r[column('kind')] === 'audit' && r[column('reason')] === 'audit me in pool b' && r[column('pe_id')] === '0x00000901'));
      await page.locator('[data-export-status]', { hasText: `Exported ${rows.length} rows` }).waitFor();

      await page.locator('select[name="export-format"]').selectOption('jsonl');
      const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.locator('[data-export]').click()]);
      assert.match(jsonDownload.suggestedFilename(), /\.jsonl$/);
      const jsonFile = path.join(downloads, 'export.jsonl');
      await jsonDownload.saveAs(jsonFile);
      const lines = fs.readFileSync(jsonFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lines.length, rows.length, 'the same rows in both formats');
      assert.ok(lines.every((l) => l['pool'] === 'hist-b' && (l['kind'] === 'audit' || l['kind'] === 'admin')));
      assert.ok(lines.some((l) => l['kind'] === 'audit' && l['reason'] === 'audit me in pool b'));
      assert.deepEqual(c.problems, []);
      await c.close();
    });
  });
});
