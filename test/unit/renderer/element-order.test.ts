/**
 * The element table's pure logic (renderer/src/model/element-order.ts): effective state (admin wins over
 * health), the pool counts by the server's rule, the state filters, the search box, the sort keys and the
 * order signature the table uses to decide whether an update re-orders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  countElement,
  DEFAULT_QUERY,
  effectiveState,
  emptyCounts,
  latestState,
  orderElements,
  orderSignature,
  passes,
  sortValue,
  STATE_FILTERS,
  type TableQuery,
} from '../../../renderer/src/model/element-order.js';
import { element } from './fixtures.js';

const query = (overrides: Partial<TableQuery>): TableQuery => ({ ...DEFAULT_QUERY, ...overrides });

test('effectiveState: admin state wins over health; failed and suspect show only on ready elements', () => {
  assert.equal(effectiveState(element(1)), 'ready');
  assert.equal(effectiveState(element(1, { health: 'failed' })), 'failed');
  assert.equal(effectiveState(element(1, { health: 'suspect' })), 'suspect');
  assert.equal(effectiveState(element(1, { admin: 'draining', health: 'failed' })), 'draining');
  assert.equal(effectiveState(element(1, { admin: 'maintenance', health: 'suspect' })), 'maintenance');
});

test('latestState: a non-ready admin state, else an unhealthy health, else whichever changed last', () => {
  const drained = element(1, { admin: 'draining', adminSince: 5, adminCause: 'op', health: 'failed', healthSince: 9 });
  assert.deepEqual(latestState(drained), { state: 'draining', since: 5, cause: 'op' });
  const failed = element(1, { adminSince: 9, health: 'failed', healthSince: 5, healthCause: 'probe' });
  assert.deepEqual(latestState(failed), { state: 'failed', since: 5, cause: 'probe' });
  const readiedLater = element(1, { adminSince: 20, adminCause: 'readied', healthSince: 10, healthCause: 'recovered' });
  assert.deepEqual(latestState(readiedLater), { state: 'ready', since: 20, cause: 'readied' });
  const recoveredLater = element(1, { adminSince: 10, healthSince: 20, healthCause: 'recovered' });
  assert.deepEqual(latestState(recoveredLater), { state: 'up', since: 20, cause: 'recovered' });
});

test('countElement: the server rule (admin first, suspect counts as ready too), and -1 undoes +1', () => {
  const counts = emptyCounts();
  const elements = [
    element(1),
    element(2, { health: 'suspect' }),
    element(3, { health: 'failed' }),
    element(4, { admin: 'draining', health: 'failed' }),
    element(5, { admin: 'maintenance', health: 'suspect' }),
  ];
  for (const e of elements) countElement(counts, e, 1);
  assert.deepEqual(counts, { ready: 2, draining: 1, maintenance: 1, failed: 1, suspect: 1, total: 5 });
  for (const e of elements) countElement(counts, e, -1);
  assert.deepEqual(counts, emptyCounts());
});

test('emptyCounts returns a fresh object each time', () => {
  const a = emptyCounts();
  a.total = 7;
  assert.equal(emptyCounts().total, 0);
});

test('state filters: all, unhealthy, notReady and each effective state', () => {
  const elements = {
    ready: element(1),
    suspect: element(2, { health: 'suspect' }),
    failed: element(3, { health: 'failed' }),
    drainingFailed: element(4, { admin: 'draining', health: 'failed' }),
    maintenance: element(5, { admin: 'maintenance' }),
  };
  const matching = (state: TableQuery['state']): number[] =>
    Object.values(elements)
      .filter((e) => passes(e, query({ state })))
      .map((e) => e.peId);
  assert.deepEqual(matching('all'), [1, 2, 3, 4, 5]);
  // Unhealthy looks at health alone: a drained failed element is unhealthy too.
  assert.deepEqual(matching('unhealthy'), [2, 3, 4]);
  assert.deepEqual(matching('notReady'), [2, 3, 4, 5]);
  assert.deepEqual(matching('ready'), [1]);
  assert.deepEqual(matching('suspect'), [2]);
  assert.deepEqual(matching('failed'), [3]);
  assert.deepEqual(matching('draining'), [4]);
  assert.deepEqual(matching('maintenance'), [5]);
  // Every filter the menu offers is one passes() understands (each matches something here).
  for (const { value } of STATE_FILTERS) assert.ok(matching(value).length > 0, value);
});

test('search: hex and decimal ids, addresses, states, causes, home registrar and policy, case-insensitive and trimmed', () => {
  const e = element(0x1f, {
    addresses: ['[2001:db8::1]:7000', '192.0.2.7:7001'],
    admin: 'draining',
    adminCause: 'Kernel Upgrade',
    healthCause: 'probe timeout',
    homeServerId: '0xCAFE0001',
    policy: 'Least Used',
  });
  for (const needle of ['0x0000001f', '0X0000001F', '31', '2001:db8::1', '192.0.2.7:7001', 'draining', 'kernel upgrade', 'PROBE', '0xcafe0001', 'least used', '  31  ', '']) {
    assert.ok(passes(e, query({ search: needle })), `"${needle}" should match`);
  }
  for (const needle of ['0x20', '192.0.2.8', 'maintenance', 'round robin']) {
    assert.ok(!passes(e, query({ search: needle })), `"${needle}" should not match`);
  }
  // Search and state filter both apply.
  assert.ok(!passes(e, query({ search: 'kernel', state: 'ready' })));
  assert.ok(passes(e, query({ search: 'kernel', state: 'notReady' })));
});

test('sortValue for every key', () => {
  const e = element(9, {
    addresses: ['10.0.0.9:1', '10.0.0.10:1'],
    load: 0.25,
    policyValues: { priority: 4 },
    registeredAt: 111,
    lastHeardAt: 222,
    health: 'suspect',
    healthSince: 333,
  });
  assert.equal(sortValue(e, 'id'), 9);
  assert.equal(sortValue(e, 'address'), '10.0.0.9:1');
  assert.equal(sortValue(e, 'state'), 1);
  assert.equal(sortValue(e, 'since'), 333);
  assert.equal(sortValue(e, 'load'), 0.25);
  assert.equal(sortValue(e, 'weight'), 4, 'priority stands in for a missing weight');
  assert.equal(sortValue(element(1, { policyValues: { weight: 7, priority: 2 } }), 'weight'), 7);
  assert.equal(sortValue(element(1), 'weight'), -1);
  assert.equal(sortValue(element(1), 'load'), -1, 'no load sorts below zero load');
  assert.equal(sortValue(element(1, { addresses: [] }), 'address'), '');
  assert.equal(sortValue(e, 'registered'), 111);
  assert.equal(sortValue(e, 'heard'), 222);
});

test('orderElements: state order is failed, suspect, maintenance, draining, ready; ties by id', () => {
  const elements = [
    element(7),
    element(6, { admin: 'draining' }),
    element(5, { admin: 'maintenance' }),
    element(4, { health: 'suspect' }),
    element(3, { health: 'failed' }),
    element(2),
    element(1, { health: 'failed' }),
  ];
  assert.deepEqual(orderElements(elements, query({ sort: 'state' })), [1, 3, 4, 5, 6, 2, 7]);
  // Descending reverses the key order; equal keys stay in ascending id order (stable across updates).
  assert.deepEqual(orderElements(elements, query({ sort: 'state', descending: true })), [2, 7, 6, 5, 4, 1, 3]);
});

test('orderElements: ids numerically, addresses in natural order, filters applied', () => {
  const elements = [element(100), element(20), element(3)];
  assert.deepEqual(orderElements(elements, DEFAULT_QUERY), [3, 20, 100]);
  assert.deepEqual(orderElements(elements, query({ descending: true })), [100, 20, 3]);

  const byAddress = [
    element(1, { addresses: ['10.0.0.10:7000'] }),
    element(2, { addresses: ['10.0.0.9:7000'] }),
    element(3, { addresses: [] }),
    element(4, { addresses: ['10.0.0.9:7000'] }),
  ];
  assert.deepEqual(orderElements(byAddress, query({ sort: 'address' })), [3, 2, 4, 1]);

  const mixed = [element(1), element(2, { health: 'failed' }), element(3, { health: 'failed' })];
  assert.deepEqual(orderElements(mixed, query({ state: 'failed', sort: 'id', descending: true })), [3, 2]);
  assert.deepEqual(orderElements(mixed, query({ search: 'no such thing' })), []);
  assert.deepEqual(orderElements([], DEFAULT_QUERY), []);
});

test('orderElements accepts any iterable (the pool keeps a Map)', () => {
  const map = new Map([element(2, { load: 0.5 }), element(1, { load: 0.9 }), element(3)].map((e) => [e.peId, e] as const));
  assert.deepEqual(orderElements(map.values(), query({ sort: 'load', descending: true })), [1, 2, 3]);
});

test('orderSignature changes exactly when the filter result or the sort key changes', () => {
  const q = query({ sort: 'load', state: 'ready' });
  const before = element(1, { load: 0.5, lastHeardAt: 1 });
  const heardAgain = element(1, { load: 0.5, lastHeardAt: 99 });
  const loaded = element(1, { load: 0.75 });
  const failed = element(1, { load: 0.5, health: 'failed' });
  assert.equal(orderSignature(before, q), '+0.5');
  assert.equal(orderSignature(heardAgain, q), orderSignature(before, q), 'a field outside the sort key does not re-order');
  assert.notEqual(orderSignature(loaded, q), orderSignature(before, q));
  assert.equal(orderSignature(failed, q), '-');
});
