/**
 * Export file naming (electron/export-file.ts) and the application menu template (electron/app-menu.ts):
 * the menu has what the desktop issue asks for and each item calls its action.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MenuItemConstructorOptions } from 'electron';
import { applicationMenuTemplate } from '../../../electron/app-menu.js';
import { exportTarget, formatOfFile, suggestedExportName } from '../../../electron/export-file.js';

test('suggested export names are sortable and valid on every file system', () => {
  const name = suggestedExportName('csv', new Date('2026-11-27T10:15:00.123Z'));
  assert.equal(name, 'handlespace-history-2026-11-27T10-15-00Z.csv');
  assert.doesNotMatch(name, /[:\\/*?"<>|]/);
  assert.equal(suggestedExportName('jsonl', new Date(0)), 'handlespace-history-1970-01-01T00-00-00Z.jsonl');
});

test('the chosen file name decides the format; without a known extension the fallback adds its own', () => {
  assert.equal(formatOfFile('/tmp/a.CSV'), 'csv');
  assert.equal(formatOfFile('/tmp/a.ndjson'), 'jsonl');
  assert.equal(formatOfFile('/tmp/a.json'), null);
  assert.deepEqual(exportTarget('/tmp/out.jsonl', 'csv'), { file: '/tmp/out.jsonl', format: 'jsonl' });
  assert.deepEqual(exportTarget('/tmp/out', 'csv'), { file: '/tmp/out.csv', format: 'csv' });
  assert.deepEqual(exportTarget('/tmp/out.txt', 'jsonl'), { file: '/tmp/out.txt.jsonl', format: 'jsonl' });
});

function items(template: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] {
  return template.flatMap((item) => [item, ...(Array.isArray(item.submenu) ? items(item.submenu) : [])]);
}

test('the menu: File has Export history…, Open data folder and Quit; Help has About', () => {
  const called: string[] = [];
  const actions = {
    exportHistory: () => called.push('export'),
    openDataFolder: () => called.push('open'),
    showAbout: () => called.push('about'),
  };
  const template = applicationMenuTemplate(actions, { productName: 'Handlespace Console', platform: 'linux', developerTools: false });
  const [file] = template;
  assert.equal(file?.label, '&File');
  const fileItems = Array.isArray(file?.submenu) ? file.submenu : [];
  assert.deepEqual(
    fileItems.map((item) => item.label ?? item.type ?? item.role),
    ['Export history…', 'Open data folder', 'separator', 'Quit'],
  );
  assert.equal(fileItems.find((item) => item.label === 'Quit')?.role, 'quit');
  const all = items(template);
  for (const id of ['export-history', 'open-data-folder', 'about']) {
    const item = all.find((candidate) => candidate.id === id);
    assert.ok(item?.click, id);
    (item.click as () => void)();
  }
  assert.deepEqual(called, ['export', 'open', 'about']);
  assert.equal(all.find((item) => item.id === 'about')?.label, 'About Handlespace Console');
  assert.equal(all.some((item) => item.role === 'toggleDevTools' || item.role === 'reload'), false, 'no developer tools when packaged');
});

test('macOS gets its app menu; developer tools only when unpackaged', () => {
  const noop = { exportHistory: () => {}, openDataFolder: () => {}, showAbout: () => {} };
  const mac = applicationMenuTemplate(noop, { productName: 'H', platform: 'darwin', developerTools: true });
  assert.equal(mac[0]?.role, 'appMenu');
  assert.ok(items(mac).some((item) => item.role === 'toggleDevTools'));
});
