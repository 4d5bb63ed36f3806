/**
 * The renderer's files as the LAN server maps request paths to them: index.html for '/', content types,
 * caching of hashed assets, and every way out of the folder refused (dot segments raw and encoded,
 * backslashes, NUL, dotfiles, a symbolic link pointing outside).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { contentTypeFor, findRendererDir, resolveStaticFile } from '../../../core/console/static-files.js';
import { tempDir } from '../history/helpers.js';

function site(t: import('node:test').TestContext): { root: string; outside: string } {
  const dir = tempDir(t, 'handlespace-static-');
  const root = path.join(dir, 'renderer');
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html>');
  fs.writeFileSync(path.join(root, 'assets', 'index-DDWlCIJi.js'), 'export {}');
  fs.writeFileSync(path.join(root, 'assets', 'logo.svg'), '<svg/>');
  fs.writeFileSync(path.join(root, '.env'), 'SECRET=1');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'secret');
  fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(root, 'link.txt'));
  return { root, outside: path.join(dir, 'secret.txt') };
}

test('/ is index.html; hashed assets are immutable, the rest revalidated', (t) => {
  const { root } = site(t);
  const index = resolveStaticFile('/', root);
  assert.ok(index.ok);
  assert.equal(index.value.file, fs.realpathSync(path.join(root, 'index.html')));
  assert.equal(index.value.contentType, 'text/html; charset=utf-8');
  assert.equal(index.value.cacheControl, 'no-cache');
  const asset = resolveStaticFile('/assets/index-DDWlCIJi.js', root);
  assert.ok(asset.ok);
  assert.equal(asset.value.contentType, 'text/javascript; charset=utf-8');
  assert.match(asset.value.cacheControl, /immutable/);
  const logo = resolveStaticFile('/assets/logo.svg', root);
  assert.ok(logo.ok && logo.value.contentType === 'image/svg+xml' && logo.value.cacheControl === 'no-cache');
  assert.equal(contentTypeFor('x.unknown'), 'application/octet-stream');
});

test('nothing outside the renderer folder is served', (t) => {
  const { root } = site(t);
  const attempts = [
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E%2Fsecret.txt',
    '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/..%5csecret.txt',
    '/assets\\..\\..\\secret.txt',
    '/index.html%00.png',
    '/.env',
    '/%2eenv',
    '/link.txt',
    '/assets',
    '/assets/',
    '//etc/passwd',
    '/missing.js',
    '/%E0%A4%A',
    'index.html',
  ];
  for (const attempt of attempts) {
    const r = resolveStaticFile(attempt, root);
    assert.ok(!r.ok, `${attempt} must be refused, got ${r.ok ? r.value.file : ''}`);
    assert.ok(r.error.status === 400 || r.error.status === 404, attempt);
  }
});

test('the built renderer is found from the module location, sources or dist', (t) => {
  const dir = tempDir(t, 'handlespace-static-');
  fs.mkdirSync(path.join(dir, 'dist', 'renderer'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'dist', 'renderer', 'index.html'), 'x');
  fs.mkdirSync(path.join(dir, 'core', 'console'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'dist', 'core', 'console'), { recursive: true });
  const fromSources = findRendererDir(`file://${path.join(dir, 'core', 'console', 'static-files.ts')}`);
  const fromDist = findRendererDir(`file://${path.join(dir, 'dist', 'core', 'console', 'static-files.js')}`);
  assert.equal(fromSources, path.join(dir, 'dist', 'renderer'));
  assert.equal(fromDist, path.join(dir, 'dist', 'renderer'));
  fs.rmSync(path.join(dir, 'dist', 'renderer', 'index.html'));
  assert.equal(findRendererDir(`file://${path.join(dir, 'core', 'console', 'static-files.ts')}`), undefined);
});
