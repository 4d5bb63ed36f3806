/**
 * Adversarial inputs for the desktop shell's URL decisions (electron/trusted-url.ts): what counts as our
 * renderer, which files app:// may serve, and which links may open in the system browser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  contentTypeFor,
  isTrustedRendererUrl,
  parseExternalUrl,
  RENDERER_ENTRY_URL,
  resolveAppAsset,
} from '../../electron/trusted-url.js';

const rendererRoot = path.resolve('/opt/handlespace/dist/renderer');

test('the renderer entry URL is trusted', () => {
  assert.equal(isTrustedRendererUrl(RENDERER_ENTRY_URL), true);
  assert.equal(isTrustedRendererUrl('app://console/'), true);
  assert.equal(isTrustedRendererUrl('app://console/index.html#/pools'), true);
});

for (const foreign of [
  'app://evil/index.html',
  'app://console.evil.example/index.html',
  'app://user:secret@console/index.html',
  'https://console/index.html',
  'file:///work/main/dist/renderer/index.html',
  'javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'about:blank',
  'devtools://devtools/bundled/inspector.html',
  '',
  'app:console',
  'not a url',
]) {
  test(`not our renderer: ${JSON.stringify(foreign)}`, () => {
    assert.equal(isTrustedRendererUrl(foreign), false);
  });
}

test('app:// paths map into the renderer folder', () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['app://console/', 'index.html'],
    ['app://console', 'index.html'],
    ['app://console/index.html', 'index.html'],
    ['app://console/assets/index-abc.js', 'assets/index-abc.js'],
    ['app://console/assets/index-abc.js?v=1#x', 'assets/index-abc.js'],
    ['app://console/assets/with%20space.css', 'assets/with space.css'],
    // The URL parser resolves dot segments before we see the path, so these stay inside the root.
    ['app://console/../../etc/passwd', 'etc/passwd'],
    ['app://console/%2e%2e/%2e%2e/etc/passwd', 'etc/passwd'],
  ];
  for (const [url, expected] of cases) {
    const resolved = resolveAppAsset(url, rendererRoot);
    assert.deepEqual(resolved, { ok: true, value: path.join(rendererRoot, expected) }, url);
  }
});

for (const [url, status] of [
  ['app://console/assets%2f..%2f..%2f..%2fetc%2fpasswd', 404],
  ['app://console/..%2f..%2fetc%2fpasswd', 404],
  ['app://console/%2e%2e%2f%2e%2e%2fetc%2fpasswd', 404],
  ['app://console/assets/%00.js', 400],
  ['app://console/..%5c..%5cwindows%5cwin.ini', 400],
  ['app://console/%E0%A4%A', 400],
  ['app://other/index.html', 403],
  ['file:///etc/passwd', 403],
  ['https://console/index.html', 403],
] as const) {
  test(`app:// refuses ${url} with ${status}`, () => {
    const resolved = resolveAppAsset(url, rendererRoot);
    assert.equal(resolved.ok, false);
    if (!resolved.ok) assert.equal(resolved.error.status, status);
  });
}

test('external links: plain http(s) only', () => {
  assert.equal(parseExternalUrl('https://www.rfc-editor.org/rfc/rfc5352')?.href, 'https://www.rfc-editor.org/rfc/rfc5352');
  assert.equal(parseExternalUrl('http://example.com/')?.href, 'http://example.com/');
  for (const refused of [
    'javascript:alert(1)',
    'file:///etc/passwd',
    'smb://host/share',
    'mailto:ops@example.com',
    'app://console/index.html',
    'https://user:password@example.com/',
    'ms-msdt:/id PCWDiagnostic',
    'not a url',
    '',
  ]) {
    assert.equal(parseExternalUrl(refused), null, refused);
  }
});

test('content types for the files vite emits', () => {
  assert.equal(contentTypeFor('/x/index.html'), 'text/html; charset=utf-8');
  assert.equal(contentTypeFor('/x/assets/index-abc.js'), 'text/javascript; charset=utf-8');
  assert.equal(contentTypeFor('/x/assets/index-abc.CSS'), 'text/css; charset=utf-8');
  assert.equal(contentTypeFor('/x/unknown.bin'), 'application/octet-stream');
});
