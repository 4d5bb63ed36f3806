/**
 * The LAN API's parsers against adversarial input: routes and methods, pool handle and element id path
 * segments, query strings (unknown or repeated parameters, bad times, kinds, limits), stream positions,
 * and command bodies (strict: unknown fields, wrong types, missing reason). Every refusal names its field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  httpStatusFor,
  matchRoute,
  parseCommandBody,
  parseElementId,
  parseExportQuery,
  parseHistoryQuery,
  parseMetricQuery,
  parsePoolSegment,
  parseStreamPosition,
  parseTime,
} from '../../../core/console/http-routes.js';

const q = (text: string): URLSearchParams => new URLSearchParams(text);

test('routes: every path the API serves, with its method', () => {
  assert.deepStrictEqual(matchRoute('GET', '/api/v1/status'), { ok: true, value: { name: 'status' } });
  assert.deepStrictEqual(matchRoute('GET', '/api/v1/identity'), { ok: true, value: { name: 'identity' } });
  assert.deepStrictEqual(matchRoute('GET', '/api/v1/pools'), { ok: true, value: { name: 'pools' } });
  assert.deepStrictEqual(matchRoute('GET', '/api/v1/pools/echo'), { ok: true, value: { name: 'pool', pool: 'echo' } });
  assert.deepStrictEqual(matchRoute('GET', '/api/v1/pools/%E2%82%AC%20pool%2Fa'), { ok: true, value: { name: 'pool', pool: '€ pool/a' } });
  assert.deepStrictEqual(matchRoute('GET', '/api/v1/pools/0x6563686f'), { ok: true, value: { name: 'pool', pool: '0x6563686f' } });
  assert.deepStrictEqual(matchRoute('GET', '/api/v1/pools/echo/elements/0x1f'), { ok: true, value: { name: 'element', pool: 'echo', peId: 31 } });
  for (const command of ['drain', 'ready', 'maintenance', 'failover', 'deregister']) {
    assert.deepStrictEqual(matchRoute('POST', `/api/v1/pools/echo/elements/42/${command}`), { ok: true, value: { name: 'command', pool: 'echo', peId: 42, command } });
  }
  for (const name of ['history', 'metrics', 'export', 'events', 'snapshot']) assert.ok(matchRoute('GET', `/api/v1/${name}`).ok, name);
});

test('routes: unknown paths are 404, wrong methods 405 with Allow, bad segments 400 naming the field', () => {
  for (const path of ['/api/v1', '/api/v1/', '/api/v2/status', '/api/v1/statuses', '/api/v1/pools/', '/api/v1//pools', '/api/v1/pools/echo/elements', '/api/v1/pools/echo/members/1', '/api/v1/pools/echo/elements/1/explode', '/api/v1/pools/echo/elements/1/drain/now', '/api/v1/status/x']) {
    const r = matchRoute('GET', path);
    assert.ok(!r.ok && r.error.status === 404 && r.error.error.code === 'notFound', path);
  }
  const post = matchRoute('POST', '/api/v1/status');
  assert.ok(!post.ok && post.error.status === 405 && post.error.allow === 'GET');
  const getCommand = matchRoute('GET', '/api/v1/pools/echo/elements/1/drain');
  assert.ok(!getCommand.ok && getCommand.error.status === 405 && getCommand.error.allow === 'POST');
  const head = matchRoute('HEAD', '/api/v1/status');
  assert.ok(!head.ok && head.error.status === 405);
  const badPool = matchRoute('GET', '/api/v1/pools/%E2%82');
  assert.ok(!badPool.ok && badPool.error.status === 400 && badPool.error.error.field === 'pool');
  const badId = matchRoute('POST', '/api/v1/pools/echo/elements/0x100000000/drain');
  assert.ok(!badId.ok && badId.error.status === 400 && badId.error.error.field === 'peId');
});

test('element ids: 0x hex or decimal, 32-bit', () => {
  assert.deepStrictEqual(parseElementId('0'), { ok: true, value: 0 });
  assert.deepStrictEqual(parseElementId('4294967295'), { ok: true, value: 0xffffffff });
  assert.deepStrictEqual(parseElementId('0xFFFFFFFF'), { ok: true, value: 0xffffffff });
  for (const bad of ['4294967296', '0x100000000', '-1', '1.5', '1e3', '0x', '0xg', ' 1', '1 ', '', '+1', '00000000001', 'NaN', 'Infinity', '0b1', '0o7']) {
    const r = parseElementId(bad);
    assert.ok(!r.ok && r.error.field === 'peId', bad);
  }
});

test('pool segments: percent-decoded UTF-8, never empty or huge', () => {
  assert.deepStrictEqual(parsePoolSegment('a%2Fb%3F'), { ok: true, value: 'a/b?' });
  for (const bad of ['', '%', '%zz', '%C3', '%FF', 'x'.repeat(513)]) {
    const r = parsePoolSegment(bad);
    assert.ok(!r.ok && r.error.field === 'pool', bad);
  }
});

test('times: milliseconds or ISO-8601 (no zone = UTC)', () => {
  assert.deepStrictEqual(parseTime('1700000000000', 'from'), { ok: true, value: 1_700_000_000_000 });
  assert.deepStrictEqual(parseTime('2026-11-27T10:00:00', 'from'), { ok: true, value: Date.UTC(2026, 10, 27, 10) });
  assert.deepStrictEqual(parseTime('2026-11-27T10:00:00+01:00', 'from'), { ok: true, value: Date.UTC(2026, 10, 27, 9) });
  assert.deepStrictEqual(parseTime('2026-11-27', 'to'), { ok: true, value: Date.UTC(2026, 10, 27) });
  for (const bad of ['yesterday', '-1', '1e12', '2026-13-40', 'Tue, 27 Nov 2026', '']) {
    const r = parseTime(bad, 'to');
    assert.ok(!r.ok && r.error.field === 'to', bad);
  }
});

test('history queries: filters, cursor, limit; unknown, repeated and bad parameters are 400 naming them', () => {
  assert.deepStrictEqual(parseHistoryQuery(q('from=1000&to=2000&pool=echo&pe=0x10&kind=admin,audit&cursor=abc&limit=50')), {
    ok: true,
    value: { from: 1000, to: 2000, pool: 'echo', peId: 16, kinds: ['admin', 'audit'], cursor: 'abc', limit: 50 },
  });
  assert.deepStrictEqual(parseHistoryQuery(q('')), { ok: true, value: {} });
  const cases: [string, string][] = [
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['kind=admin,bogus', 'kind'],
    ['kind=', 'kind'],
    ['pe=0x1ffffffff', 'pe'],
    ['from=soon', 'from'],
    ['from=2000&to=1000', 'to'],
    ['kinds=admin', 'kinds'],
    ['pool=a&pool=b', 'pool'],
    ['cursor=', 'cursor'],
    ['token=hs_x', 'token'],
  ];
  for (const [text, field] of cases) {
    const r = parseHistoryQuery(q(text));
    assert.ok(!r.ok && r.error.code === 'badRequest' && r.error.field === field, `${text}: ${JSON.stringify(r)}`);
  }
});

test('metric queries: pool required, the last hour by default, named or millisecond intervals', () => {
  const now = 10_000_000;
  assert.deepStrictEqual(parseMetricQuery(q('pool=echo'), now), { ok: true, value: { pool: 'echo', from: now - 3_600_000, to: now } });
  assert.deepStrictEqual(parseMetricQuery(q('pool=echo&from=1000&to=5000&interval=1m'), now), { ok: true, value: { pool: 'echo', from: 1000, to: 5000, intervalMs: 60_000 } });
  assert.deepStrictEqual(parseMetricQuery(q('pool=echo&interval=3600000'), now).ok, true);
  for (const [text, field] of [
    ['', 'pool'],
    ['pool=', 'pool'],
    ['pool=echo&interval=5m', 'interval'],
    ['pool=echo&from=5000&to=5000', 'to'],
    ['pool=echo&step=1s', 'step'],
  ] as const) {
    const r = parseMetricQuery(q(text), now);
    assert.ok(!r.ok && r.error.field === field, text);
  }
});

test('export queries: format csv or jsonl is required', () => {
  assert.deepStrictEqual(parseExportQuery(q('format=csv&pool=echo')), { ok: true, value: { format: 'csv', pool: 'echo' } });
  assert.deepStrictEqual(parseExportQuery(q('format=jsonl&kind=audit')), { ok: true, value: { format: 'jsonl', kinds: ['audit'] } });
  for (const text of ['', 'format=xml', 'format=CSV']) {
    const r = parseExportQuery(q(text));
    assert.ok(!r.ok && r.error.field === 'format', text);
  }
  const extra = parseExportQuery(q('format=csv&cursor=x'));
  assert.ok(!extra.ok && extra.error.field === 'cursor');
});

test('stream positions: both epoch and since, or neither', () => {
  assert.deepStrictEqual(parseStreamPosition(q('')), { ok: true, value: undefined });
  assert.deepStrictEqual(parseStreamPosition(q('epoch=abc&since=12')), { ok: true, value: { epoch: 'abc', sequence: 12 } });
  for (const [text, field] of [
    ['since=3', 'epoch'],
    ['epoch=abc', 'since'],
    ['epoch=abc&since=-1', 'since'],
    ['epoch=abc&since=1.5', 'since'],
    ['epoch=&since=1', 'epoch'],
    ['epoch=a&since=1&token=x', 'token'],
  ] as const) {
    const r = parseStreamPosition(q(text));
    assert.ok(!r.ok && r.error.field === field, text);
  }
});

test('command bodies: strict JSON objects with a reason', () => {
  assert.deepStrictEqual(parseCommandBody('drain', '{"reason":"kernel upgrade"}'), { ok: true, value: { reason: 'kernel upgrade' } });
  assert.deepStrictEqual(parseCommandBody('failover', '{"reason":"x","force":true}'), { ok: true, value: { reason: 'x', force: true } });
  assert.deepStrictEqual(parseCommandBody('maintenance', '{"reason":"x","afterDrainTimeoutMs":60000}'), { ok: true, value: { reason: 'x', afterDrainTimeoutMs: 60_000 } });
  const cases: [string, string, string][] = [
    ['drain', '', 'body'],
    ['drain', 'reason=x', 'body'],
    ['drain', '{"reason":"x"', 'body'],
    ['drain', '[]', 'body'],
    ['drain', 'null', 'body'],
    ['drain', '"x"', 'body'],
    ['drain', '{}', 'reason'],
    ['drain', '{"reason":""}', 'reason'],
    ['drain', '{"reason":"   "}', 'reason'],
    ['drain', '{"reason":5}', 'reason'],
    ['drain', `{"reason":"${'x'.repeat(501)}"}`, 'reason'],
    ['drain', '{"reason":"x","force":"yes"}', 'force'],
    ['drain', '{"reason":"x","force":1}', 'force'],
    ['drain', '{"reason":"x","Force":true}', 'Force'],
    ['drain', '{"reason":"x","__proto__":{"force":true}}', '__proto__'],
    ['drain', '{"reason":"x","afterDrainTimeoutMs":5000}', 'afterDrainTimeoutMs'],
    ['maintenance', '{"reason":"x","afterDrainTimeoutMs":999}', 'afterDrainTimeoutMs'],
    ['maintenance', '{"reason":"x","afterDrainTimeoutMs":86400001}', 'afterDrainTimeoutMs'],
    ['maintenance', '{"reason":"x","afterDrainTimeoutMs":1500.5}', 'afterDrainTimeoutMs'],
    ['maintenance', '{"reason":"x","afterDrainTimeoutMs":"60000"}', 'afterDrainTimeoutMs'],
  ];
  for (const [command, body, field] of cases) {
    const r = parseCommandBody(command as 'drain', body);
    assert.ok(!r.ok && r.error.code === 'badRequest' && r.error.field === field, `${command} ${body}: ${JSON.stringify(r)}`);
  }
});

test('every error code has its HTTP status', () => {
  assert.deepStrictEqual(
    (['badRequest', 'unauthorized', 'forbidden', 'notFound', 'lastReadyElement', 'conflict', 'tooLarge', 'rateLimited', 'unavailable', 'internal'] as const).map(httpStatusFor),
    [400, 401, 403, 404, 409, 409, 413, 429, 503, 500],
  );
});
