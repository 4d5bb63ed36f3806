/**
 * The desktop app's list of remote consoles (electron/saved-connections.ts): tokens only ever stored
 * encrypted (never in plain text when the OS keychain is missing), the renderer's input validated, damaged
 * files ignored with a note, atomic saves; and the page CSP that lets the renderer reach exactly the
 * attached consoles (electron/security-policy.ts) and the LAN server's page CSP for --allow-origin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeConnections, loadConnections, saveConnections, validateConnections, type TokenCipher } from '../../../electron/saved-connections.js';
import { CONTENT_SECURITY_POLICY, rendererCspFor } from '../../../electron/security-policy.js';
import { contentSecurityPolicyFor, CONTENT_SECURITY_POLICY as PAGE_CSP } from '../../../core/console/http-server.js';

/** A stand-in for safeStorage: reversible, and visibly not plain text. */
const keychain: TokenCipher = {
  isEncryptionAvailable: () => true,
  encryptString: (plain) => Buffer.from(`sealed:${Buffer.from(plain).reverse().toString('latin1')}`, 'latin1'),
  decryptString: (sealed) => {
    const text = sealed.toString('latin1');
    if (!text.startsWith('sealed:')) throw new Error('not ours');
    return Buffer.from(text.slice(7), 'latin1').reverse().toString('utf8');
  },
};
const noKeychain: TokenCipher = { isEncryptionAvailable: () => false, encryptString: () => assert.fail('no encryption here'), decryptString: () => assert.fail('no encryption here') };

const list = { embedded: true, remotes: [{ url: 'http://10.0.0.5:8347', label: 'site B', token: 'hs_secret_token_1' }] };

test('tokens are saved encrypted and come back; without a keychain they are not saved at all', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-connections-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'connections.json');
  const saved = await saveConnections(file, list, keychain);
  assert.ok(saved.ok);
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(!text.includes('hs_secret_token_1'), 'never the token in plain text');
  assert.equal((fs.statSync(file).mode & 0o777).toString(8), '600');
  const loaded = await loadConnections(file, keychain);
  assert.equal(loaded.remotes[0]?.token, 'hs_secret_token_1');
  assert.equal(loaded.note, null);

  const plain = await saveConnections(file, list, noKeychain);
  assert.ok(plain.ok);
  assert.equal(plain.value.remotes[0]?.token, null);
  assert.match(plain.value.note ?? '', /keychain is not available/);
  assert.ok(!fs.readFileSync(file, 'utf8').includes('hs_secret'), 'no token written without encryption');
});

test("the renderer's list is validated: origins only, no credentials in URLs, no duplicates, bounded", () => {
  for (const [bad, field] of [
    [{ embedded: true, remotes: [{ url: 'file:///etc/passwd', label: '', token: null }] }, 'remotes[0].url'],
    [{ embedded: true, remotes: [{ url: 'http://user:pw@host:1', label: '', token: null }] }, 'remotes[0].url'],
    [{ embedded: 'yes', remotes: [] }, 'embedded'],
    [{ embedded: true, remotes: [list.remotes[0], list.remotes[0]] }, 'remotes[1].url'],
    [{ embedded: true, remotes: [{ url: 'http://h:1', label: 'a\u0007b', token: null }] }, 'remotes[0].label'],
  ] as const) {
    const checked = validateConnections(bad);
    assert.ok(!checked.ok, JSON.stringify(bad));
    assert.equal(checked.error.field, field);
  }
  const path = validateConnections({ embedded: false, remotes: [{ url: 'https://ops.example:8347/some/page', label: 'x', token: null }] });
  assert.ok(path.ok);
  assert.equal(path.value.remotes[0]?.url, 'https://ops.example:8347', 'kept as an origin');
});

test('a damaged or foreign file is ignored with a note, never half-read', () => {
  for (const text of ['{', '[]', JSON.stringify({ version: 99, remotes: [] }), JSON.stringify({ version: 1, embedded: true, remotes: [{ url: 'ftp://x' }] })]) {
    const state = decodeConnections(text, keychain);
    assert.deepEqual(state.remotes, [], text);
    assert.match(state.note ?? '', /ignored/, text);
  }
});

test('CSP: the desktop page may reach exactly the attached consoles; the LAN page exactly the allowed origins', () => {
  assert.equal(rendererCspFor([]), CONTENT_SECURITY_POLICY);
  const csp = rendererCspFor(['http://10.0.0.5:8347', 'https://ops.example', 'javascript:alert(1)', 'http://x/path', '*']);
  const connect = csp.split('; ').find((d) => d.startsWith('connect-src')) ?? '';
  assert.equal(connect, "connect-src 'self' http://10.0.0.5:8347 ws://10.0.0.5:8347 https://ops.example wss://ops.example");
  assert.doesNotMatch(csp, /\*|unsafe|javascript/);

  assert.equal(contentSecurityPolicyFor(['app://console']), PAGE_CSP, 'the desktop origin needs no connect-src on the LAN page');
  assert.match(contentSecurityPolicyFor(['app://console', 'http://127.0.0.1:9000']), /connect-src 'self' http:\/\/127\.0\.0\.1:9000 ws:\/\/127\.0\.0\.1:9000;/);
});
