/**
 * The desktop shell's security decisions (electron/security-policy.ts), which security.ts hands to
 * Electron: the CSP, permissions, navigation, new windows and which frames may use IPC. Adversarial
 * inputs next to the functions they attack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildContentSecurityPolicy,
  CONTENT_SECURITY_POLICY,
  decideNavigation,
  decideWindowOpen,
  isPermissionGranted,
  isTrustedIpcSender,
  RENDERER_CSP_DIRECTIVES,
} from '../../../electron/security-policy.js';

test('the renderer CSP allows only our own origin, no inline code and no eval', () => {
  const directives = new Map(CONTENT_SECURITY_POLICY.split('; ').map((part) => [part.split(' ')[0], part.split(' ').slice(1)]));
  assert.deepEqual(directives.get('default-src'), ["'none'"]);
  assert.deepEqual(directives.get('script-src'), ["'self'"]);
  assert.deepEqual(directives.get('style-src'), ["'self'"]);
  assert.deepEqual(directives.get('object-src'), ["'none'"]);
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
  assert.deepEqual(directives.get('base-uri'), ["'none'"]);
  assert.deepEqual(directives.get('form-action'), ["'none'"]);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe|\*|https?:|wss?:|file:/);
  assert.equal(buildContentSecurityPolicy(RENDERER_CSP_DIRECTIVES), CONTENT_SECURITY_POLICY);
});

test('the CSP builder refuses what would open or break the policy', () => {
  const base = { 'default-src': ["'none'"] };
  for (const [label, extra] of [
    ['unsafe-inline', { 'script-src': ["'self'", "'unsafe-inline'"] }],
    ['unsafe-eval', { 'script-src': ["'unsafe-eval'"] }],
    ['wildcard', { 'img-src': ['*'] }],
    ['any https host', { 'connect-src': ['https:'] }],
    ['header injection with ;', { 'img-src': ["'self'; script-src *"] }],
    ['source with a space', { 'img-src': ["'self' data:"] }],
    ['empty source list', { 'img-src': [] }],
    ['none mixed with sources', { 'img-src': ["'none'", "'self'"] }],
    ['bad directive name', { 'script-src;': ["'self'"] }],
  ] as const) {
    assert.throws(() => buildContentSecurityPolicy({ ...base, ...extra }), RangeError, label);
  }
  assert.throws(() => buildContentSecurityPolicy({ 'script-src': ["'self'"] }), /default-src/);
});

test('permissions: only clipboard writing, only for our renderer', () => {
  assert.equal(isPermissionGranted('clipboard-sanitized-write', 'app://console/index.html'), true);
  assert.equal(isPermissionGranted('clipboard-sanitized-write', 'https://evil.example/'), false);
  assert.equal(isPermissionGranted('clipboard-sanitized-write', ''), false);
  for (const permission of ['notifications', 'media', 'geolocation', 'clipboard-read', 'openExternal', 'fullscreen', 'hid', 'usb', 'serial', 'unknown', '']) {
    assert.equal(isPermissionGranted(permission, 'app://console/index.html'), false, permission);
  }
});

test('navigation inside the renderer is allowed', () => {
  for (const url of ['app://console/index.html', 'app://console/', 'app://console/index.html#/pools/echo']) {
    assert.deepEqual(decideNavigation(url), { action: 'allow' }, url);
  }
});

test('navigation anywhere else is refused; plain web links may go to the system browser', () => {
  const external = decideNavigation('https://www.rfc-editor.org/rfc/rfc5352');
  assert.equal(external.action, 'deny');
  assert.equal(external.action === 'deny' && external.external?.href, 'https://www.rfc-editor.org/rfc/rfc5352');
  for (const url of [
    'file:///etc/passwd',
    'javascript:alert(1)',
    'data:text/html,<script>1</script>',
    'app://evil/index.html',
    'app://user:pw@console/',
    'https://user:pw@example.com/',
    'ftp://example.com/',
    'chrome://settings',
    'devtools://devtools/bundled/inspector.html',
    'about:blank',
    '',
    'not a url',
  ]) {
    const decision = decideNavigation(url);
    assert.deepEqual(decision, { action: 'deny', external: null }, url);
  }
});

test('the app never opens a window of its own', () => {
  assert.equal(decideWindowOpen('app://console/index.html').action, 'deny');
  assert.equal(decideWindowOpen('app://console/index.html').external, null, 'our own pages never open outside either');
  assert.equal(decideWindowOpen('https://example.com/').external?.href, 'https://example.com/');
  assert.equal(decideWindowOpen('javascript:alert(1)').external, null);
});

test('IPC is answered only for frames showing our renderer', () => {
  assert.equal(isTrustedIpcSender('app://console/index.html'), true);
  for (const url of [null, undefined, '', 'https://console/', 'app://console.evil/', 'file:///app/index.html']) {
    assert.equal(isTrustedIpcSender(url), false, String(url));
  }
});
