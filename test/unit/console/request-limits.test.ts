/**
 * The LAN server's per-client limits: the token bucket (burst, refill, Retry-After, bounded memory across
 * many addresses) on a manual clock, the body reader's size limit on a real loopback HTTP exchange (declared
 * and chunked bodies), and how credentials are read from requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ManualClock } from '../../../core/clock.js';
import { credentialOf, identityOf, offeredSubprotocols, peerAddress } from '../../../core/console/access-control.js';
import { RateLimiter, readBody } from '../../../core/console/request-limits.js';

test('rate limiter: a burst, then the sustained rate, with a Retry-After', () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter({ perSecond: 10, burst: 20, maxClients: 100 }, clock);
  for (let i = 0; i < 20; i++) assert.deepStrictEqual(limiter.take('10.0.0.1'), { allowed: true }, `request ${i}`);
  assert.deepStrictEqual(limiter.take('10.0.0.1'), { allowed: false, retryAfterSeconds: 1 });
  assert.deepStrictEqual(limiter.take('10.0.0.2'), { allowed: true }, 'another client has its own bucket');
  clock.advance(100); // one token back
  assert.deepStrictEqual(limiter.take('10.0.0.1'), { allowed: true });
  assert.equal(limiter.take('10.0.0.1').allowed, false);
  clock.advance(60_000);
  for (let i = 0; i < 20; i++) assert.equal(limiter.take('10.0.0.1').allowed, true, 'refilled to the burst, not beyond');
  assert.equal(limiter.take('10.0.0.1').allowed, false);
});

test('rate limiter: Retry-After covers a slow refill; memory is bounded across many addresses', () => {
  const clock = new ManualClock();
  const slow = new RateLimiter({ perSecond: 0.25, burst: 1, maxClients: 3 }, clock);
  assert.equal(slow.take('a').allowed, true);
  assert.deepStrictEqual(slow.take('a'), { allowed: false, retryAfterSeconds: 4 });
  for (const client of ['b', 'c', 'd', 'e']) slow.take(client);
  assert.equal(slow.trackedClients, 3);
});

async function withServer(handler: http.RequestListener, run: (port: number) => Promise<void>): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    await run(address.port);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function post(port: number, body: Buffer, chunked: boolean): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: chunked ? {} : { 'content-length': body.length } }, (response) => {
      let text = '';
      response.on('data', (d: Buffer) => (text += d.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    request.on('error', reject);
    request.setTimeout(5000, () => request.destroy(new Error('timeout')));
    if (chunked) {
      for (let i = 0; i < body.length; i += 1000) request.write(body.subarray(i, i + 1000));
      request.end();
    } else request.end(body);
  });
}

test('readBody: within the limit it is read whole; beyond it (declared or chunked) it is refused', async () => {
  await withServer(
    (req, res) => {
      void readBody(req, 4096).then((result) => {
        res.setHeader('connection', 'close');
        if (result.ok) res.end(`ok ${result.value.length}`);
        else {
          res.statusCode = 413;
          res.end(result.error.code);
        }
      });
    },
    async (port) => {
      assert.deepStrictEqual(await post(port, Buffer.alloc(4096, 1), false), { status: 200, text: 'ok 4096' });
      assert.deepStrictEqual(await post(port, Buffer.alloc(3000, 1), true), { status: 200, text: 'ok 3000' });
      assert.deepStrictEqual(await post(port, Buffer.alloc(4097, 1), false), { status: 413, text: 'tooLarge' });
      assert.deepStrictEqual(await post(port, Buffer.alloc(50_000, 1), true), { status: 413, text: 'tooLarge' });
    },
  );
});

test('credentials: Bearer header, or the token subprotocol on WebSocket upgrades only', () => {
  assert.deepStrictEqual(credentialOf({ authorization: 'Bearer hs_abc' }, false), { kind: 'token', token: 'hs_abc', from: 'authorization' });
  assert.deepStrictEqual(credentialOf({ authorization: 'bearer   hs_abc ' }, false), { kind: 'token', token: 'hs_abc', from: 'authorization' });
  for (const bad of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'hs_abc', 'Bearer\nhs_abc']) {
    assert.equal(credentialOf({ authorization: bad }, false).kind, 'malformed', bad);
  }
  assert.deepStrictEqual(credentialOf({}, false), { kind: 'none' });
  const ws = { 'sec-websocket-protocol': 'handlespace.v1, handlespace.token.hs_abc' };
  assert.deepStrictEqual(credentialOf(ws, false), { kind: 'none' }, 'plain requests never read subprotocols');
  assert.deepStrictEqual(credentialOf(ws, true), { kind: 'token', token: 'hs_abc', from: 'subprotocol' });
  assert.equal(credentialOf({ 'sec-websocket-protocol': 'handlespace.token.a, handlespace.token.b' }, true).kind, 'malformed');
  assert.deepStrictEqual(offeredSubprotocols(' a ,b,, c'), ['a', 'b', 'c']);
});

test('identities and peer addresses as the audit shows them', () => {
  assert.deepStrictEqual(identityOf({ id: 3, role: 'operator', label: 'ops laptop' }), { actor: 'token 3 (ops laptop)', role: 'operator' });
  assert.deepStrictEqual(identityOf({ id: 4, role: 'viewer', label: '' }), { actor: 'token 4', role: 'viewer' });
  assert.deepStrictEqual(identityOf({ id: null, role: 'operator', label: 'local operator' }), { actor: 'local operator', role: 'operator' });
  assert.equal(peerAddress('127.0.0.1', 5000), '127.0.0.1:5000');
  assert.equal(peerAddress('::1', 5000), '[::1]:5000');
});
