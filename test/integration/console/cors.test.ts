/**
 * Cross-origin use of the LAN API (issue 10: the desktop app and other consoles attach to a remote serve):
 * only origins given with --allow-origin (and the desktop app's app://console) get CORS answers, the
 * preflight needs no token, every real request still does, and the event stream accepts those origins'
 * WebSockets while refusing others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../../core/cli/main.js';
import { memoryIo } from '../../support/memory-io.js';
import { request, spawnServe, StreamRecorder, valueOf, wsUrl } from './http-helpers.js';

const ALLOWED = 'http://ops.example:9000';

test('CORS: allowed origins get their answers (preflight without a token, requests with one); others get none', async (t) => {
  const serve = await spawnServe(t, ['--asap', '127.0.0.1:0', '--announce', 'off', '--enrp', 'off', '--http', '127.0.0.1:0', '--memory', '--allow-origin', ALLOWED]);
  const preflight = await request(serve.base, '/api/v1/snapshot', { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers['access-control-allow-origin'], ALLOWED);
  assert.match(String(preflight.headers['access-control-allow-headers']), /Authorization/);

  const allowed = await request(serve.base, '/api/v1/identity', { token: serve.startupToken, headers: { origin: ALLOWED } });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.headers['access-control-allow-origin'], ALLOWED);
  assert.equal(valueOf<{ role: string }>(allowed).role, 'operator');

  const desktop = await request(serve.base, '/api/v1/identity', { token: serve.startupToken, headers: { origin: 'app://console' } });
  assert.equal(desktop.headers['access-control-allow-origin'], 'app://console', 'the desktop app may attach by default');

  const withoutToken = await request(serve.base, '/api/v1/identity', { headers: { origin: ALLOWED } });
  assert.equal(withoutToken.status, 401, 'CORS never replaces the token');

  const foreign = await request(serve.base, '/api/v1/identity', { token: serve.startupToken, headers: { origin: 'http://evil.example' } });
  assert.equal(foreign.headers['access-control-allow-origin'], undefined);
  const foreignPreflight = await request(serve.base, '/api/v1/identity', { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
  assert.notEqual(foreignPreflight.status, 204);

  const stream = new StreamRecorder(wsUrl(serve.base), { token: serve.startupToken, headers: { origin: ALLOWED } });
  await stream.opened;
  stream.ws.close();
  const refused = new StreamRecorder(wsUrl(serve.base), { token: serve.startupToken, headers: { origin: 'http://evil.example' } });
  await assert.rejects(refused.opened, /403/);
});

test('--allow-origin takes origins only', async () => {
  for (const bad of ['ops.example', 'http://ops.example/path', 'nonsense']) {
    const io = memoryIo();
    assert.equal(await main(['serve', '--asap', '127.0.0.1:0', '--http', '127.0.0.1:0', '--memory', '--allow-origin', bad], io), 2, bad);
    assert.match(io.err(), /--allow-origin .* is not an origin/);
  }
});
