/**
 * Admin state and health (draining, maintenance and failed elements leave resolutions and come back),
 * unreachable report counting, and registration-life expiry driven by a ManualClock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handle, mustRegister, pe, PolicyType, resolveIds, setup } from './fixtures.js';

const h = handle('pool');

for (const [name, type, extra] of [
  ['RR', PolicyType.roundRobin, {}],
  ['WRR', PolicyType.weightedRoundRobin, { weight: 1 }],
  ['RAND', PolicyType.random, {}],
  ['WRAND', PolicyType.weightedRandom, { weight: 1 }],
  ['PRIO', PolicyType.priority, { priority: 1 }],
  ['LU', PolicyType.leastUsed, { load: 1 }],
  ['LUD', PolicyType.leastUsedDegradation, { load: 1, loadDegradation: 1 }],
  ['PLU', PolicyType.priorityLeastUsed, { load: 1, loadDegradation: 1 }],
  ['RLU', PolicyType.randomizedLeastUsed, { load: 1 }],
] as const) {
  test(`${name}: draining, maintenance and failed elements are left out of resolutions and come back`, () => {
    const { hs, clock } = setup();
    for (let id = 1; id <= 4; id++) mustRegister(hs, h, pe(id, { type, ...extra }));
    const all = (): number[] => resolveIds(hs, h, 128).sort((a, b) => a - b);
    assert.deepEqual(all(), [1, 2, 3, 4]);

    clock.advance(10);
    const drained = hs.setAdminState(h, 1, 'draining', 'operator drain');
    assert.deepEqual(drained?.admin, { state: 'draining', since: clock.now(), cause: 'operator drain' });
    hs.setAdminState(h, 2, 'maintenance', 'operator maintenance');
    hs.setHealth(h, 3, 'failed', 'keep-alive timeout');
    for (let i = 0; i < 20; i++) assert.deepEqual(all(), [4]);
    // Suspect stays selectable.
    hs.setHealth(h, 4, 'suspect', 'reported unreachable');
    assert.deepEqual(all(), [4]);
    hs.setHealth(h, 4, 'failed', 'probe failed');
    const empty = hs.resolve(h, 3);
    assert.ok(empty.ok);
    assert.deepEqual(empty.value.elements, []);
    assert.deepEqual(empty.value.overallPolicy, { type });

    // Health 'up' alone is not enough while the admin state is not ready, and vice versa.
    hs.setHealth(h, 1, 'failed', 'x');
    hs.setAdminState(h, 1, 'ready', 'operator ready');
    assert.deepEqual(all(), []);
    hs.setHealth(h, 1, 'up', 'keep-alive answered');
    assert.deepEqual(all(), [1]);
    hs.setAdminState(h, 2, 'draining', 'maintenance over, still draining');
    assert.deepEqual(all(), [1]);
    hs.setAdminState(h, 2, 'ready', 'operator ready');
    hs.setHealth(h, 3, 'suspect', 'answering again');
    hs.setHealth(h, 4, 'up', 'answering again');
    assert.deepEqual(all(), [1, 2, 3, 4]);
    // A draining element that re-registers stays draining and out of resolutions.
    hs.setAdminState(h, 4, 'draining', 'drain');
    mustRegister(hs, h, pe(4, { type, ...extra }));
    assert.deepEqual(all(), [1, 2, 3]);
  });
}

test('a state set again keeps its stamp; unknown elements give undefined', () => {
  const { hs, clock } = setup();
  mustRegister(hs, h, pe(1));
  const first = hs.setAdminState(h, 1, 'draining', 'first')?.admin;
  clock.advance(100);
  const again = hs.setAdminState(h, 1, 'draining', 'second')?.admin;
  assert.equal(again, first);
  assert.equal(hs.setAdminState(h, 2, 'ready', 'x'), undefined);
  assert.equal(hs.setHealth(handle('other'), 1, 'up', 'x'), undefined);
  assert.equal(hs.countUnreachableReport(h, 2), undefined);
});

test('unreachable reports are counted per element', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1));
  mustRegister(hs, h, pe(2));
  assert.equal(hs.countUnreachableReport(h, 1), 1);
  assert.equal(hs.countUnreachableReport(h, 1), 2);
  assert.equal(hs.countUnreachableReport(h, 2), 1);
  assert.equal(hs.element(h, 1)?.unreachableReports, 2);
});

test('expiry: nextExpiry is the earliest expiresAt; expire removes exactly the due elements, earliest first', () => {
  const { hs, clock } = setup();
  const t0 = clock.now();
  assert.equal(hs.nextExpiry(), undefined);
  mustRegister(hs, h, pe(1, undefined, { registrationLife: 3000 }));
  mustRegister(hs, h, pe(2, undefined, { registrationLife: 1000 }));
  mustRegister(hs, h, pe(3, undefined, { registrationLife: -1 }));
  mustRegister(hs, handle('other'), pe(4, undefined, { registrationLife: 2000 }));
  assert.equal(hs.element(h, 3)?.expiresAt, Infinity);
  assert.equal(hs.nextExpiry(), t0 + 1000);

  clock.advance(999);
  assert.deepEqual(hs.expire(clock.now()), []);
  clock.advance(1);
  assert.deepEqual(hs.expire(clock.now()).map((e) => e.id), [2]);
  assert.equal(hs.element(h, 2), undefined);
  assert.equal(hs.nextExpiry(), t0 + 2000);

  // Re-registration pushes the expiry out.
  clock.advance(500);
  mustRegister(hs, handle('other'), pe(4, undefined, { registrationLife: 2000 }));
  assert.equal(hs.nextExpiry(), t0 + 3000);
  clock.advance(10_000);
  assert.deepEqual(hs.expire(clock.now()).map((e) => e.id), [1, 4]);
  assert.equal(hs.pool(handle('other')), undefined);
  assert.equal(hs.elementCount, 1);
  // Only the infinite element is left, and it never expires.
  assert.equal(hs.nextExpiry(), undefined);
  assert.deepEqual(hs.expire(Number.MAX_SAFE_INTEGER), []);
  // Infinite to finite and back.
  mustRegister(hs, h, pe(3, undefined, { registrationLife: 50 }));
  assert.equal(hs.nextExpiry(), clock.now() + 50);
  mustRegister(hs, h, pe(3, undefined, { registrationLife: -1 }));
  assert.equal(hs.nextExpiry(), undefined);
});

test('expiry of many elements comes out in time order and leaves the rest', () => {
  const { hs, clock } = setup();
  const t0 = clock.now();
  const lives = Array.from({ length: 500 }, (_, i) => 1 + ((i * 7919) % 1000));
  lives.forEach((life, i) => mustRegister(hs, h, pe(i, undefined, { registrationLife: life })));
  const removed = hs.expire(t0 + 500);
  const times = removed.map((e) => e.expiresAt);
  assert.deepEqual(times, [...times].sort((a, b) => a - b));
  assert.equal(removed.length, lives.filter((l) => l <= 500).length);
  assert.equal(hs.elementCount, 500 - removed.length);
  assert.equal(hs.nextExpiry(), t0 + Math.min(...lives.filter((l) => l > 500)));
  // Deregistered elements leave the expiry index too.
  for (const e of [...(hs.pool(h)?.elements() ?? [])]) hs.deregister(h, e.id);
  assert.equal(hs.nextExpiry(), undefined);
});
