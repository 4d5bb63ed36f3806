/**
 * The console's LAN API end to end: a real `handlespace serve` process with a history file and its HTTP
 * server on loopback, pool elements registered through the PE SDK, a pool user subscribed through the PU
 * SDK, tokens made and revoked with `handlespace token` while the server runs (another connection to the
 * same file), and every route exercised over real sockets: authentication and its audit rows, the viewer /
 * operator split, validation, 404 / 405 / 413 / 415 / 429, commands and the pool user's notification,
 * history paging, export downloads, metrics, the WebSocket stream (and its resume after a forced
 * disconnect without gaps or repeats), security headers and the renderer's files.
 *
 * Each test sends from its own 127.0.0.x source address, so each has its own rate-limit bucket (Linux
 * routes all of 127.0.0.0/8 to the loopback interface).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../../core/cli/main.js';
import { PoolElement } from '../../../core/client/pool-element.js';
import { PoolUser, type PeStatusEvent } from '../../../core/client/pool-user.js';
import type { CommandOutcome, ElementView, HistoryPageView, HistoryRowView, Identity, MetricSeriesView, PoolView } from '../../../core/console/contract.js';
import type { PoolListView, StatusView } from '../../../core/console/http-routes.js';
import { PolicyType } from '../../../core/wire/policy.js';
import { memoryIo } from '../../support/memory-io.js';
import { errorOf, eventually, request, sleep, spawnServe, StreamRecorder, valueOf, wsUrl, type ServeProcess } from './http-helpers.js';

let dir = '';
let db = '';
let serve: ServeProcess;
let operator = '';
let viewer = '';
let viewerId = 0;
const cleanups: (() => Promise<unknown>)[] = [];

async function element(pool: string, id: number): Promise<PoolElement> {
  const pe = new PoolElement({
    poolHandle: pool,
    identifier: id,
    userTransport: { host: '127.0.0.1', port: 7000 + (id % 1000) },
    policy: { type: PolicyType.roundRobin },
    registrars: [`127.0.0.1:${serve.asapPort}`],
    hunt: { retryDelayMs: 20 },
  });
  await pe.register();
  cleanups.push(() => pe.close());
  return pe;
}

/** `handlespace token create` in this process: a second connection to the file the server uses. */
async function createToken(role: 'viewer' | 'operator', label: string): Promise<{ token: string; id: number }> {
  const io = memoryIo();
  assert.equal(await main(['token', 'create', '--role', role, '--label', label, '--db', db], io), 0, io.err());
  const id = /created token (\d+)/.exec(io.err())?.[1];
  assert.ok(id, io.err());
  return { token: io.out().trim(), id: Number(id) };
}

const commandBody = (body: Record<string, unknown>): string => JSON.stringify(body);

async function auditRows(from: string, match: (row: HistoryRowView) => boolean, what: string): Promise<HistoryRowView> {
  return eventually(async () => {
    const page = valueOf<HistoryPageView>(await request(serve.base, '/api/v1/history?kind=audit&limit=1000', { token: operator, from }));
    return page.rows.find(match);
  }, what);
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-http-api-'));
  db = path.join(dir, 'history.db');
  serve = await spawnServe(undefined, ['--asap', '127.0.0.1:0', '--announce', 'off', '--http', '127.0.0.1:0', '--db', db]);
  operator = serve.startupToken;
  const made = await createToken('viewer', 'wall screen');
  viewer = made.token;
  viewerId = made.id;
  for (const id of [0x101, 0x102, 0x103]) await element('web', id);
  await element('solo', 0x201);
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  const code = await serve?.stop();
  assert.equal(code, 0, serve?.err());
  fs.rmSync(dir, { recursive: true, force: true });
});

test('every /api route needs a token: missing, wrong, malformed and revoked ones get 401 and an audit row', async () => {
  const from = '127.0.0.2';
  const missing = await request(serve.base, '/api/v1/status', { from });
  errorOf(missing, 401, 'unauthorized');
  assert.match(String(missing.headers['www-authenticate']), /^Bearer/);
  errorOf(await request(serve.base, '/api/v1/status', { from, token: `hs_${'A'.repeat(43)}` }), 401, 'unauthorized');
  errorOf(await request(serve.base, '/api/v1/status', { from, token: 'not-a-token' }), 401, 'unauthorized');
  errorOf(await request(serve.base, '/api/v1/status', { from, headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 401, 'unauthorized');
  // Unknown routes, too: nothing about the API is told without a token.
  errorOf(await request(serve.base, '/api/v1/no-such-route', { from }), 401, 'unauthorized');
  errorOf(await request(serve.base, '/api/v1/pools/web/elements/0x101/drain', { from, body: commandBody({ reason: 'x' }) }), 401, 'unauthorized');

  // A token made by `handlespace token create` while serve runs works at once; revoked, it stops within ~1 s.
  const made = await createToken('operator', 'to revoke');
  assert.deepStrictEqual(valueOf<Identity>(await request(serve.base, '/api/v1/identity', { from, token: made.token })), { actor: `token ${made.id} (to revoke)`, role: 'operator' });
  const io = memoryIo();
  assert.equal(await main(['token', 'revoke', String(made.id), '--db', db], io), 0, io.err());
  const revokedAt = Date.now();
  for (;;) {
    const answer = await request(serve.base, '/api/v1/identity', { from, token: made.token });
    if (answer.status === 401) break;
    assert.equal(answer.status, 200, answer.text);
    assert.ok(Date.now() - revokedAt < 3000, 'the revocation took effect within 3 s');
    await sleep(100);
  }

  const row = await auditRows(from, (r) => r.action === 'access' && r.result === 'unauthorized' && r.target === 'GET /api/v1/status', 'the audit row of a refused access');
  assert.match(row.actor ?? '', /127\.0\.0\.2/);
});

test('a viewer reads but cannot command: 403, an audit row naming the token, and nothing changes', async () => {
  const from = '127.0.0.3';
  assert.deepStrictEqual(valueOf<Identity>(await request(serve.base, '/api/v1/identity', { from, token: viewer })), { actor: `token ${viewerId} (wall screen)`, role: 'viewer' });
  assert.ok(valueOf<PoolListView>(await request(serve.base, '/api/v1/pools', { from, token: viewer })).pools.length >= 2);
  errorOf(await request(serve.base, '/api/v1/pools/web/elements/0x101/drain', { from, token: viewer, body: commandBody({ reason: 'curious' }) }), 403, 'forbidden');
  const row = await auditRows(from, (r) => r.action === 'access' && r.result === 'forbidden', 'the audit row of the refused command');
  assert.equal(row.actor, `token ${viewerId} (wall screen)`);
  assert.equal(row.role, 'viewer');
  assert.equal(row.target, 'POST /api/v1/pools/web/elements/0x101/drain');
  const pe = valueOf<ElementView>(await request(serve.base, '/api/v1/pools/web/elements/0x101', { from, token: viewer }));
  assert.equal(pe.admin.state, 'ready');
});

test('status, identity, pool list, pool and element views', async () => {
  const from = '127.0.0.4';
  const status = valueOf<StatusView>(await request(serve.base, '/api/v1/status', { from, token: operator }));
  assert.deepStrictEqual(status.identity, { actor: 'local operator', role: 'operator' });
  assert.equal(status.registrar.asap, `127.0.0.1:${serve.asapPort}`);
  assert.equal(status.registrar.history?.file, db);
  assert.ok(status.epoch.length > 0 && status.sequence > 0);
  assert.ok(status.pools >= 2 && status.elements >= 4, JSON.stringify(status));

  const list = valueOf<PoolListView>(await request(serve.base, '/api/v1/pools', { from, token: operator }));
  const web = list.pools.find((p) => p.name === 'web');
  assert.ok(web, JSON.stringify(list));
  assert.equal(web.counts.total, 3);
  assert.equal(web.handleHex, '0x776562');
  assert.ok(!('elements' in web), 'the list leaves the elements out');

  const pool = valueOf<PoolView>(await request(serve.base, '/api/v1/pools/web', { from, token: operator }));
  assert.deepStrictEqual(pool.elements.map((e) => e.peId).sort(), [0x101, 0x102, 0x103]);
  const byHex = valueOf<PoolView>(await request(serve.base, '/api/v1/pools/0x776562', { from, token: operator }));
  assert.equal(byHex.name, 'web');
  const pe = valueOf<ElementView>(await request(serve.base, '/api/v1/pools/web/elements/258', { from, token: operator }));
  assert.equal(pe.peIdHex, '0x00000102');
  assert.equal(pe.pool, 'web');
});

test('unknown pools, elements and routes are 404; bad handles and ids are 400; wrong methods 405', async () => {
  const from = '127.0.0.5';
  const get = (p: string): ReturnType<typeof request> => request(serve.base, p, { from, token: operator });
  errorOf(await get('/api/v1/pools/nope'), 404, 'notFound');
  errorOf(await get('/api/v1/pools/web/elements/0x999'), 404, 'notFound');
  errorOf(await get('/api/v1/nothing'), 404, 'notFound');
  errorOf(await get('/api/v1/pools/web/members'), 404, 'notFound');
  errorOf(await request(serve.base, '/api/v1/pools/web/elements/0x101/explode', { from, token: operator, body: commandBody({ reason: 'x' }) }), 404, 'notFound');
  errorOf(await request(serve.base, '/api/v1/pools/nope/elements/0x1/drain', { from, token: operator, body: commandBody({ reason: 'x' }) }), 404, 'notFound');
  assert.equal(errorOf(await get('/api/v1/pools/%E2%82'), 400, 'badRequest').field, 'pool');
  assert.equal(errorOf(await get('/api/v1/pools/web/elements/zz'), 400, 'badRequest').field, 'peId');
  assert.equal(errorOf(await get('/api/v1/pools/web/elements/0x100000000'), 400, 'badRequest').field, 'peId');
  assert.equal(errorOf(await get('/api/v1/status?verbose=1'), 400, 'badRequest').field, 'verbose');
  const post = await request(serve.base, '/api/v1/status', { from, token: operator, method: 'POST', body: '{}' });
  errorOf(post, 405, 'badRequest');
  assert.equal(post.headers['allow'], 'GET');
  errorOf(await request(serve.base, '/api/v1/pools/web/elements/0x101/drain', { from, token: operator }), 405, 'badRequest');
});

test('command bodies are validated strictly: 400 naming the field, 415 without JSON, 413 beyond 16 KiB', async () => {
  const from = '127.0.0.6';
  const drain = (body: string, headers: Record<string, string> = {}): ReturnType<typeof request> =>
    request(serve.base, '/api/v1/pools/web/elements/0x103/drain', { from, token: operator, body, headers });
  assert.equal(errorOf(await drain('{"reason":'), 400, 'badRequest').field, 'body');
  assert.equal(errorOf(await drain('[1]'), 400, 'badRequest').field, 'body');
  assert.equal(errorOf(await drain('{}'), 400, 'badRequest').field, 'reason');
  assert.equal(errorOf(await drain('{"reason":""}'), 400, 'badRequest').field, 'reason');
  assert.equal(errorOf(await drain('{"reason":"x","forced":true}'), 400, 'badRequest').field, 'forced');
  assert.equal(errorOf(await drain('{"reason":"x","force":"true"}'), 400, 'badRequest').field, 'force');
  assert.equal(errorOf(await drain('{"reason":"x","afterDrainTimeoutMs":5000}'), 400, 'badRequest').field, 'afterDrainTimeoutMs');
  assert.equal(errorOf(await drain(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]).toString('latin1')), 400, 'badRequest').field, 'body');
  assert.equal(errorOf(await drain('{"reason":"x"}', { 'content-type': 'text/plain' }), 415, 'badRequest').field, 'content-type');
  errorOf(await drain(commandBody({ reason: 'x'.repeat(20 * 1024) })), 413, 'tooLarge');
  const pe = valueOf<ElementView>(await request(serve.base, '/api/v1/pools/web/elements/0x103', { from, token: operator }));
  assert.equal(pe.admin.state, 'ready', 'no refused request changed anything');
});

test('drain through POST: the subscribed pool user is told at once; a repeat is a conflict; ready restores', async () => {
  const from = '127.0.0.7';
  const pu = new PoolUser({ registrars: [`127.0.0.1:${serve.asapPort}`] });
  cleanups.push(() => pu.close());
  const statuses: PeStatusEvent[] = [];
  pu.on('pe-status', (event) => statuses.push(event));
  const resolved = await pu.resolve('web', { subscribe: true });
  assert.ok(resolved.ok && resolved.value.subscribed);

  const drained = valueOf<CommandOutcome>(await request(serve.base, '/api/v1/pools/web/elements/0x101/drain', { from, token: operator, body: commandBody({ reason: 'kernel upgrade' }) }));
  assert.equal(drained.command, 'drain');
  assert.equal(drained.before, 'ready');
  assert.equal(drained.after, 'draining');
  assert.equal(drained.element?.admin.state, 'draining');
  assert.equal(drained.element?.admin.cause, 'kernel upgrade');
  const told = await eventually(() => statuses.find((s) => s.status.peId === 0x101 && s.statusName === 'draining'), 'the pool user hearing of the drain');
  assert.equal(told.status.reasonText, 'kernel upgrade');
  assert.equal(told.reasonName, 'operatorDrain');

  errorOf(await request(serve.base, '/api/v1/pools/web/elements/0x101/drain', { from, token: operator, body: commandBody({ reason: 'again' }) }), 409, 'conflict');
  const ready = valueOf<CommandOutcome>(await request(serve.base, '/api/v1/pools/0x776562/elements/0x101/ready', { from, token: operator, body: commandBody({ reason: 'upgrade done' }) }));
  assert.equal(ready.after, 'ready');
  const row = await auditRows(from, (r) => r.action === 'drain' && r.result === 'ok' && r.reason === 'kernel upgrade', 'the drain audit row');
  assert.equal(row.actor, 'local operator');
});

test('the last ready element of a pool is kept unless forced (409 lastReadyElement)', async () => {
  const from = '127.0.0.8';
  const url = '/api/v1/pools/solo/elements/0x201/maintenance';
  errorOf(await request(serve.base, url, { from, token: operator, body: commandBody({ reason: 'disk swap' }) }), 409, 'lastReadyElement');
  const forced = valueOf<CommandOutcome>(await request(serve.base, url, { from, token: operator, body: commandBody({ reason: 'disk swap', force: true }) }));
  assert.equal(forced.after, 'maintenance');
  valueOf<CommandOutcome>(await request(serve.base, '/api/v1/pools/solo/elements/0x201/ready', { from, token: operator, body: commandBody({ reason: 'back' }) }));
});

test('history pages follow the cursor with no row skipped or repeated', async () => {
  const from = '127.0.0.9';
  const all = valueOf<HistoryPageView>(await request(serve.base, '/api/v1/history?pool=web&limit=1000', { from, token: viewer }));
  assert.equal(all.next, null);
  assert.ok(all.rows.length >= 4, JSON.stringify(all.rows.length));
  assert.ok(all.rows.some((r) => r.kind === 'registered' && r.peId === 0x101));
  const paged: HistoryRowView[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const query: string = `/api/v1/history?pool=web&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = valueOf<HistoryPageView>(await request(serve.base, query, { from, token: viewer }));
    assert.ok(page.rows.length <= 2);
    paged.push(...page.rows);
    cursor = page.next;
    if (cursor === null) break;
  }
  // Rows recorded meanwhile (notifications) may extend the paged list; the first ones must match exactly.
  assert.deepStrictEqual(paged.slice(0, all.rows.length), all.rows);
  const kinds = valueOf<HistoryPageView>(await request(serve.base, '/api/v1/history?kind=registered&pe=0x102', { from, token: viewer }));
  assert.ok(kinds.rows.length >= 1 && kinds.rows.every((r) => r.kind === 'registered' && r.peId === 0x102));
  const future = valueOf<HistoryPageView>(await request(serve.base, `/api/v1/history?from=${new Date(Date.now() + 86_400_000).toISOString()}`, { from, token: viewer }));
  assert.deepStrictEqual(future, { rows: [], next: null });
  assert.equal(errorOf(await request(serve.base, '/api/v1/history?cursor=garbage', { from, token: viewer }), 400, 'badRequest').field, 'cursor');
  assert.equal(errorOf(await request(serve.base, '/api/v1/history?kind=nonsense', { from, token: viewer }), 400, 'badRequest').field, 'kind');
});

test('export streams CSV and JSON lines as attachments; a bad format is a JSON error', async () => {
  const from = '127.0.0.10';
  const csv = await request(serve.base, '/api/v1/export?format=csv&pool=web', { from, token: viewer });
  assert.equal(csv.status, 200, csv.text);
  assert.equal(csv.headers['content-type'], 'text/csv; charset=utf-8');
  assert.match(String(csv.headers['content-disposition']), /^attachment; filename="handlespace-history-\d{8}T\d{6}Z\.csv"$/);
  const lines = csv.text.trimEnd().split('\r\n');
  assert.match(lines[0] ?? '', /^time,kind,pool,pe_id,/);
  assert.ok(lines.some((l) => /,registered,web,0x00000101,/.test(l)), csv.text.slice(0, 2000));

  const jsonl = await request(serve.base, '/api/v1/export?format=jsonl&pe=0x101&kind=registered,admin', { from, token: viewer });
  assert.equal(jsonl.status, 200, jsonl.text);
  assert.equal(jsonl.headers['content-type'], 'application/x-ndjson; charset=utf-8');
  const records = jsonl.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(records.length >= 1);
  assert.ok(records.every((r) => r['pe_id'] === '0x00000101' && (r['kind'] === 'registered' || r['kind'] === 'admin')), jsonl.text);

  assert.equal(errorOf(await request(serve.base, '/api/v1/export?format=xml', { from, token: viewer }), 400, 'badRequest').field, 'format');
  assert.equal(errorOf(await request(serve.base, '/api/v1/export', { from, token: viewer }), 400, 'badRequest').field, 'format');
});

test('metrics: a pool series; the pool is required and the interval checked', async () => {
  const from = '127.0.0.11';
  const series = await eventually(async () => {
    const value = valueOf<MetricSeriesView>(await request(serve.base, `/api/v1/metrics?pool=web&from=${Date.now() - 600_000}&interval=1s`, { from, token: viewer }));
    return value.points.length > 0 ? value : undefined;
  }, 'a metric sample of pool web', 8000);
  assert.equal(series.pool, 'web');
  assert.equal(series.intervalMs, 1000);
  const point = series.points.at(-1);
  assert.ok(point && point.up + point.draining + point.maintenance + point.failed + point.suspect >= 3, JSON.stringify(point));
  assert.equal(errorOf(await request(serve.base, '/api/v1/metrics', { from, token: viewer }), 400, 'badRequest').field, 'pool');
  assert.equal(errorOf(await request(serve.base, '/api/v1/metrics?pool=web&interval=7s', { from, token: viewer }), 400, 'badRequest').field, 'interval');
});

test('event stream: hello and a snapshot, then every event once, also across a forced disconnect and resume', async () => {
  const first = new StreamRecorder(wsUrl(serve.base), { token: operator, headers: {} });
  await first.opened;
  const hello = await eventually(() => first.hello(), 'hello');
  assert.deepStrictEqual(hello.identity, { actor: 'local operator', role: 'operator' });
  const resync = await eventually(() => first.messages.find((m) => m.kind === 'resync'), 'the first snapshot');
  assert.ok(resync.kind === 'resync' && resync.snapshot.pools.some((p) => p.name === 'web'));

  // Events keep coming (elements registering and leaving) while the client is cut off and comes back.
  let churning = true;
  const churn = (async () => {
    for (let id = 0x5000; churning; id++) {
      const pe = new PoolElement({ poolHandle: 'churn', identifier: id, userTransport: { host: '127.0.0.1', port: 7100 }, registrars: [`127.0.0.1:${serve.asapPort}`] });
      await pe.register();
      await pe.close();
    }
  })();
  try {
    await eventually(() => (first.sequences().length >= 6 ? true : undefined), 'live events on the first socket');
    first.ws.terminate();
    await first.closed;
    const resumeFrom = first.lastSequence();
    assert.ok(resumeFrom !== undefined);
    await sleep(200); // the gap: events the first socket never saw
    const second = new StreamRecorder(wsUrl(serve.base, `?epoch=${hello.epoch}&since=${resumeFrom}`), { token: operator });
    await second.opened;
    await eventually(() => (second.sequences().length >= 6 ? true : undefined), 'live events on the resumed socket');
    churning = false;
    await churn;
    const final = valueOf<StatusView>(await request(serve.base, '/api/v1/status', { token: operator, from: '127.0.0.12' })).sequence;
    await eventually(() => ((second.lastSequence() ?? 0) >= final ? true : undefined), `the resumed socket reaching sequence ${final}`);
    assert.equal(second.hello()?.epoch, hello.epoch);
    assert.ok(!second.messages.some((m) => m.kind === 'resync'), 'a short gap is replayed, not resynced');

    const seqs = [...first.sequences(), ...second.sequences()];
    const start = resync.kind === 'resync' ? resync.snapshot.sequence + 1 : 1;
    assert.equal(seqs[0], start, 'the events follow the snapshot');
    const expected = Array.from({ length: seqs.length }, (_, i) => start + i);
    assert.deepStrictEqual(seqs, expected, 'no gap and no duplicate across the reconnect');
    assert.ok((seqs.at(-1) ?? 0) >= final);
    second.ws.close();
    await second.closed;
  } finally {
    churning = false;
    await churn.catch(() => undefined);
  }

  // A position from another run (or one no longer kept) gets a fresh snapshot.
  const foreign = new StreamRecorder(wsUrl(serve.base, '?epoch=not-this-run&since=5'), { token: viewer });
  await foreign.opened;
  const resent = await eventually(() => foreign.messages.find((m) => m.kind === 'resync'), 'a resync for a foreign epoch');
  assert.equal(resent.kind, 'resync');
  foreign.ws.close();
  await foreign.closed;
});

test('event stream authentication: the browser subprotocol form, refused tokens, foreign origins, plain GET', async () => {
  const from = '127.0.0.13';
  const browser = new StreamRecorder(wsUrl(serve.base), { protocols: ['handlespace.v1', `handlespace.token.${viewer}`] });
  await browser.opened;
  assert.equal(browser.ws.protocol, 'handlespace.v1', 'the token is never echoed');
  assert.deepStrictEqual((await eventually(() => browser.hello(), 'hello')).identity, { actor: `token ${viewerId} (wall screen)`, role: 'viewer' });
  browser.ws.close();
  await browser.closed;

  // A browser-style client with a bad token is told why with close code 4401 (a refused upgrade would be an anonymous 1006).
  const refused = new StreamRecorder(wsUrl(serve.base), { protocols: ['handlespace.v1', `handlespace.token.hs_${'B'.repeat(43)}`] });
  const closed = await refused.closed;
  assert.equal(closed.code, 4401);
  assert.match(closed.reason, /unauthorized/);
  assert.equal(refused.messages.length, 0, 'nothing is sent to a refused client');

  // Other clients get HTTP answers.
  const noToken = new StreamRecorder(wsUrl(serve.base));
  await assert.rejects(noToken.opened, /HTTP 401/);
  const foreignOrigin = new StreamRecorder(wsUrl(serve.base), { token: operator, headers: { origin: 'http://evil.example' } });
  await assert.rejects(foreignOrigin.opened, /HTTP 403/);
  const badPosition = new StreamRecorder(wsUrl(serve.base, '?since=3'), { token: operator });
  await assert.rejects(badPosition.opened, /HTTP 400/);
  const sameOrigin = new StreamRecorder(wsUrl(serve.base), { token: operator, headers: { origin: serve.base.replace(/\/$/, '') } });
  await sameOrigin.opened;
  sameOrigin.ws.close();
  await sameOrigin.closed;

  const plain = await request(serve.base, '/api/v1/events', { from, token: operator });
  errorOf(plain, 426, 'badRequest');
  const row = await auditRows(from, (r) => r.action === 'access' && r.result === 'unauthorized' && /WebSocket/.test(r.target ?? ''), 'the audit row of a refused stream');
  assert.match(row.target ?? '', /^GET \/api\/v1\/events/);
});

test('rate limit: beyond the burst a client gets 429 with Retry-After; other clients are unaffected', async () => {
  const from = '127.0.0.14';
  const answers = await Promise.all(Array.from({ length: 160 }, () => request(serve.base, '/api/v1/identity', { from, token: viewer })));
  const limited = answers.filter((a) => a.status === 429);
  const served = answers.filter((a) => a.status === 200);
  assert.equal(limited.length + served.length, answers.length, answers.map((a) => a.status).join(','));
  assert.ok(limited.length >= 1, 'some requests were limited');
  assert.ok(served.length >= 100, `the burst of 100 was served (${served.length})`);
  const first = limited[0];
  assert.ok(first);
  errorOf(first, 429, 'rateLimited');
  assert.match(String(first.headers['retry-after']), /^\d+$/);
  valueOf<Identity>(await request(serve.base, '/api/v1/identity', { from: '127.0.0.15', token: viewer }));
});

test('security headers on every answer, no CORS, and the renderer at / without path traversal', async () => {
  const from = '127.0.0.16';
  const answers = [
    await request(serve.base, '/api/v1/status', { from, token: viewer, headers: { origin: 'http://evil.example' } }),
    await request(serve.base, '/api/v1/status', { from }),
    await request(serve.base, '/', { from }),
    await request(serve.base, '/no-such-file.js', { from }),
    await request(serve.base, '/api/v1/status', { from, method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } }),
  ];
  for (const answer of answers) {
    assert.match(String(answer.headers['content-security-policy']), /default-src 'self'.*frame-ancestors 'none'/);
    assert.equal(answer.headers['x-content-type-options'], 'nosniff');
    assert.equal(answer.headers['referrer-policy'], 'no-referrer');
    assert.equal(answer.headers['access-control-allow-origin'], undefined);
  }
  const index = answers[2];
  assert.ok(index);
  assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
  if (index.status === 200) {
    assert.match(index.text, /<html|<!doctype html/i);
    const script = /src="\.?\/?(assets\/[^"]+\.js)"/.exec(index.text)?.[1];
    if (script) {
      const js = await request(serve.base, `/${script}`, { from });
      assert.equal(js.status, 200);
      assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.match(String(js.headers['cache-control']), /immutable/);
    }
  } else {
    assert.equal(index.status, 503);
    assert.match(index.text, /npm run build/);
  }
  for (const attempt of ['/../package.json', '/%2e%2e/package.json', '/assets/%2e%2e%2f%2e%2e%2fpackage.json', '/..%5cpackage.json', '/.git/config']) {
    const answer = await request(serve.base, attempt, { from });
    assert.ok(answer.status === 404 || answer.status === 400, `${attempt}: ${answer.status}`);
    assert.doesNotMatch(answer.text, /"name": "handlespace"/);
  }
  const post = await request(serve.base, '/', { from, method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
});
