/**
 * The IPC validators (core/console/ipc-protocol.ts) against what a compromised renderer or a confused
 * sender might send: every refusal is a badRequest naming the field, valid input comes back as a fresh
 * object with only known fields, and the envelope parsers keep the request id when they can.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  callArguments,
  CALL_METHODS,
  IPC_LIMITS,
  parseCapabilityCall,
  parseExportQuery,
  parseHostToMainMessage,
  parseMainToHostMessage,
  parseStreamPosition,
} from '../../../core/console/ipc-protocol.js';

const target = { pool: 'echo', peId: 0x77 };
const options = { reason: 'kernel update' };

test('valid calls come back typed, and callArguments restores what was sent', () => {
  const calls: [string, unknown[]][] = [
    ['identity', []],
    ['snapshot', []],
    ['pool', ['echo']],
    ['pool', ['0x6563686f']],
    ['history', [{}]],
    ['history', [{ from: 0, to: 1_700_000_000_000, pool: 'echo', peId: 0, kinds: ['audit', 'health'], cursor: 'abc', limit: 1000 }]],
    ['metrics', [{ pool: 'echo', from: 1, to: 2 }]],
    ['metrics', [{ pool: 'echo', from: 1, to: 2, intervalMs: 60_000 }]],
    ['components', []],
    ['heardRegistrars', []],
    ['drain', [target, options]],
    ['ready', [target, { reason: '' }]],
    ['maintenance', [target, { reason: 'x', force: true, afterDrainTimeoutMs: 60_000 }]],
    ['failover', [target, { reason: 'x', force: false }]],
    ['deregister', [{ pool: 'echo', peId: 0xffffffff }, options]],
  ];
  for (const [method, args] of calls) {
    const parsed = parseCapabilityCall(method, args);
    assert.ok(parsed.ok, `${method}: ${JSON.stringify(parsed)}`);
    assert.equal(parsed.value.method, method);
    assert.deepEqual(callArguments(parsed.value), args, method);
  }
  assert.deepEqual(CALL_METHODS, ['identity', 'snapshot', 'pool', 'history', 'metrics', 'components', 'heardRegistrars', 'drain', 'ready', 'maintenance', 'failover', 'deregister']);
});

test('history without a query is the default query', () => {
  assert.deepEqual(parseCapabilityCall('history', []), { ok: true, value: { method: 'history', query: {} } });
});

const hostile = Object.create(null) as Record<string, unknown>;
hostile['pool'] = 'echo';
hostile['peId'] = 1;

class Target {
  pool = 'echo';
  peId = 1;
}

for (const [label, method, args, field] of [
  ['unknown capability', 'exec', [], 'method'],
  ['prototype name as capability', '__proto__', [], 'method'],
  ['non-string capability', 42, [], 'method'],
  ['args not a list', 'snapshot', { 0: 1 }, 'args'],
  ['too many args', 'pool', ['a', 'b'], 'args'],
  ['pool name missing', 'pool', [], 'pool'],
  ['empty pool name', 'pool', [''], 'pool'],
  ['pool name too long', 'pool', ['x'.repeat(IPC_LIMITS.poolNameChars + 1)], 'pool'],
  ['pool name with NUL', 'pool', ['ec\0ho'], 'pool'],
  ['pool name as number', 'pool', [7], 'pool'],
  ['pool name as array', 'pool', [['echo']], 'pool'],
  ['target missing', 'drain', [], 'target'],
  ['target null', 'drain', [null, options], 'target'],
  ['target as array', 'drain', [['echo', 1], options], 'target'],
  ['target from a class', 'drain', [new Target(), options], 'target'],
  ['negative peId', 'drain', [{ pool: 'echo', peId: -1 }, options], 'target.peId'],
  ['peId beyond 32 bits', 'drain', [{ pool: 'echo', peId: 2 ** 32 }, options], 'target.peId'],
  ['fractional peId', 'drain', [{ pool: 'echo', peId: 0.5 }, options], 'target.peId'],
  ['NaN peId', 'drain', [{ pool: 'echo', peId: Number.NaN }, options], 'target.peId'],
  ['hex string peId', 'drain', [{ pool: 'echo', peId: '0x77' }, options], 'target.peId'],
  ['extra target field', 'drain', [{ ...target, constructor: 'x' }, options], 'target'],
  ['options missing', 'drain', [target], 'options'],
  ['reason missing', 'drain', [target, {}], 'options.reason'],
  ['reason not text', 'drain', [target, { reason: ['why'] }], 'options.reason'],
  ['reason far too long', 'drain', [target, { reason: 'r'.repeat(IPC_LIMITS.reasonChars + 1) }], 'options.reason'],
  ['force not boolean', 'drain', [target, { reason: 'x', force: 'yes' }], 'options.force'],
  ['drain timeout not integer', 'maintenance', [target, { reason: 'x', afterDrainTimeoutMs: 1.5 }], 'options.afterDrainTimeoutMs'],
  ['unknown option', 'drain', [target, { reason: 'x', actor: 'root' }], 'options'],
  ['history query null', 'history', [null], 'query'],
  ['history limit zero', 'history', [{ limit: 0 }], 'query.limit'],
  ['history limit huge', 'history', [{ limit: 1001 }], 'query.limit'],
  ['history from negative', 'history', [{ from: -1 }], 'query.from'],
  ['history from as text', 'history', [{ from: '2026-01-01' }], 'query.from'],
  ['history range reversed', 'history', [{ from: 2, to: 1 }], 'query'],
  ['history unknown kind', 'history', [{ kinds: ['secrets'] }], 'query.kinds[0]'],
  ['history kinds not a list', 'history', [{ kinds: 'audit' }], 'query.kinds'],
  ['history too many kinds', 'history', [{ kinds: Array(8).fill('audit') }], 'query.kinds'],
  ['history cursor too long', 'history', [{ cursor: 'c'.repeat(IPC_LIMITS.historyCursorChars + 1) }], 'query.cursor'],
  ['history unknown field', 'history', [{ sql: 'DROP TABLE' }], 'query'],
  ['metrics without pool', 'metrics', [{ from: 1, to: 2 }], 'query.pool'],
  ['metrics without range', 'metrics', [{ pool: 'echo' }], 'query.from'],
  ['metrics odd interval', 'metrics', [{ pool: 'echo', from: 1, to: 2, intervalMs: 5000 }], 'query.intervalMs'],
  ['null-prototype target with extra field', 'drain', [Object.assign(hostile, { extra: 1 }), options], 'target'],
] as const) {
  test(`refused: ${label}`, () => {
    const parsed = parseCapabilityCall(method, args);
    assert.equal(parsed.ok, false);
    assert.ok(!parsed.ok);
    assert.equal(parsed.error.code, 'badRequest');
    assert.equal(parsed.error.field, field, parsed.error.message);
    assert.ok(parsed.error.message.length < 300, 'messages stay short whatever the input');
  });
}

test('a null-prototype object (as structured clone may give) is accepted when its fields are right', () => {
  const plain = Object.create(null) as Record<string, unknown>;
  plain['pool'] = 'echo';
  plain['peId'] = 5;
  const parsed = parseCapabilityCall('drain', [plain, options]);
  assert.ok(parsed.ok);
  assert.equal(Object.getPrototypeOf((parsed.value as { target: object }).target), Object.prototype, 'a fresh plain object comes back');
});

test('export queries: the format is required, the rest like history', () => {
  assert.deepEqual(parseExportQuery({ format: 'csv' }), { ok: true, value: { format: 'csv' } });
  assert.deepEqual(parseExportQuery({ format: 'jsonl', pool: 'echo', kinds: ['audit'] }), { ok: true, value: { format: 'jsonl', pool: 'echo', kinds: ['audit'] } });
  for (const [query, field] of [
    [undefined, 'query'],
    [{}, 'query.format'],
    [{ format: 'xlsx' }, 'query.format'],
    [{ format: 'csv', limit: 5 }, 'query'],
    [{ format: 'csv', from: 5, to: 1 }, 'query'],
  ] as const) {
    const parsed = parseExportQuery(query);
    assert.ok(!parsed.ok, JSON.stringify(query));
    assert.equal(parsed.error.field, field);
  }
});

test('stream positions: absent, null or { epoch, sequence }', () => {
  assert.deepEqual(parseStreamPosition(undefined), { ok: true, value: undefined });
  assert.deepEqual(parseStreamPosition(null), { ok: true, value: undefined });
  assert.deepEqual(parseStreamPosition({ epoch: 'ab', sequence: 3 }), { ok: true, value: { epoch: 'ab', sequence: 3 } });
  for (const position of [{ epoch: '', sequence: 1 }, { epoch: 'x'.repeat(129), sequence: 1 }, { epoch: 'a', sequence: -1 }, { epoch: 'a' }, 'a:1', { epoch: 'a', sequence: 1, at: 2 }]) {
    assert.equal(parseStreamPosition(position).ok, false, JSON.stringify(position));
  }
});

test('host envelope: calls keep their id even when refused, garbage has none', () => {
  const good = parseMainToHostMessage({ type: 'call', id: 4, method: 'pool', args: ['echo'] });
  assert.deepEqual(good, { ok: true, value: { type: 'call', id: 4, call: { method: 'pool', pool: 'echo' } } });

  const badArgs = parseMainToHostMessage({ type: 'call', id: 5, method: 'pool', args: [''] });
  assert.ok(!badArgs.ok);
  assert.equal(badArgs.error.id, 5);
  assert.equal(badArgs.error.error.field, 'pool');

  const extraField = parseMainToHostMessage({ type: 'call', id: 6, method: 'snapshot', args: [], sudo: true });
  assert.ok(!extraField.ok);
  assert.equal(extraField.error.id, 6);

  for (const garbage of [null, 'call', 7, [], { type: 'call', id: -1, method: 'snapshot', args: [] }, { type: 'call', id: 2 ** 60, method: 'snapshot', args: [] }, { type: 'reboot' }, { id: 1 }]) {
    const parsed = parseMainToHostMessage(garbage);
    assert.ok(!parsed.ok, JSON.stringify(garbage));
    assert.equal(parsed.error.id, null, JSON.stringify(garbage));
  }
});

test('host envelope: start options, exports to absolute paths only, subscriptions, shutdown', () => {
  assert.deepEqual(parseMainToHostMessage({ type: 'start', options: { history: { kind: 'file', path: '/var/lib/h/history.db' }, version: '1.0.0' } }), {
    ok: true,
    value: { type: 'start', options: { history: { kind: 'file', path: '/var/lib/h/history.db' }, version: '1.0.0' } },
  });
  assert.ok(parseMainToHostMessage({ type: 'start', options: { history: { kind: 'temporary' }, registrar: { asap: { host: '127.0.0.1', port: 0 }, announce: 'off' } } }).ok);
  assert.ok(!parseMainToHostMessage({ type: 'start', options: { history: { kind: 'none', path: '/x' } } }).ok);
  assert.ok(!parseMainToHostMessage({ type: 'start', options: { history: { kind: 'file', path: 'relative.db' } } }).ok);
  assert.ok(!parseMainToHostMessage({ type: 'start', options: { history: { kind: 'temporary' }, registrar: { asap: { host: 'h', port: 70000 } } } }).ok);

  assert.ok(parseMainToHostMessage({ type: 'export', id: 1, query: { format: 'csv' }, file: '/home/op/h.csv' }).ok);
  assert.ok(parseMainToHostMessage({ type: 'export', id: 1, query: { format: 'csv' }, file: 'C:\\Users\\op\\h.csv' }).ok);
  for (const file of ['h.csv', '../h.csv', '', '/tmp/a\0b', `/${'x'.repeat(IPC_LIMITS.filePathChars)}`]) {
    const parsed = parseMainToHostMessage({ type: 'export', id: 9, query: { format: 'csv' }, file });
    assert.ok(!parsed.ok, file);
    assert.equal(parsed.error.id, 9);
    assert.equal(parsed.error.error.field, 'file');
  }

  assert.deepEqual(parseMainToHostMessage({ type: 'subscribe', subscription: 3, position: null }), { ok: true, value: { type: 'subscribe', subscription: 3, position: undefined } });
  assert.deepEqual(parseMainToHostMessage({ type: 'unsubscribe', subscription: 3 }), { ok: true, value: { type: 'unsubscribe', subscription: 3 } });
  assert.deepEqual(parseMainToHostMessage({ type: 'shutdown', reason: 'quit' }), { ok: true, value: { type: 'shutdown', reason: 'quit' } });
  assert.ok(!parseMainToHostMessage({ type: 'subscribe', subscription: 'all' }).ok);
});

test('main side: host messages are checked for what routing needs', () => {
  assert.ok(parseHostToMainMessage({ type: 'result', id: 1, result: { ok: true, value: null } }).ok);
  assert.ok(parseHostToMainMessage({ type: 'result', id: 1, result: { ok: false, error: { code: 'internal', message: 'x' } } }).ok);
  assert.ok(parseHostToMainMessage({ type: 'event', subscription: 1, message: { kind: 'events', events: [] } }).ok);
  assert.ok(parseHostToMainMessage({ type: 'rejected', id: null, reason: 'x' }).ok);
  for (const bad of [
    null,
    { type: 'result', id: 'x', result: { ok: true } },
    { type: 'result', id: 1, result: { ok: 'yes' } },
    { type: 'event', subscription: 1, message: { kind: 'spam' } },
    { type: 'ready', epoch: 'e' },
    { type: 'takeover' },
  ]) {
    assert.equal(parseHostToMainMessage(bad).ok, false, JSON.stringify(bad));
  }
});
