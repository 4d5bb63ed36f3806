/**
 * The nine RFC 5356 selection policies as a resolution sees them: order, round robin among equals,
 * proportions (seeded PRNG), degradation, no duplicates, and k larger than the pool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Handlespace } from '../../../core/handlespace/handlespace.js';
import type { Policy } from '../../../core/wire/types.js';
import { handle, mustRegister, pe, PolicyType, resolveIds, seededRandom, setup } from './fixtures.js';

const h = handle('pool');

function counts(hs: Handlespace, rounds: number, k = 1): Map<number, number> {
  const seen = new Map<number, number>();
  for (let i = 0; i < rounds; i++) for (const id of resolveIds(hs, h, k)) seen.set(id, (seen.get(id) ?? 0) + 1);
  return seen;
}

function assertShares(seen: Map<number, number>, expected: Map<number, number>, rounds: number, tolerance: number): void {
  const total = [...expected.values()].reduce((a, b) => a + b, 0);
  for (const [id, weight] of expected) {
    const share = (seen.get(id) ?? 0) / rounds;
    const want = weight / total;
    assert.ok(Math.abs(share - want) <= tolerance, `element ${id}: share ${share.toFixed(4)}, expected ${want.toFixed(4)} ± ${tolerance}`);
  }
}

function longestRun(sequence: readonly number[], id: number): number {
  let longest = 0;
  let run = 0;
  for (const x of sequence) {
    run = x === id ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest;
}

// ---- Round Robin --------------------------------------------------------------------------------------

test('RR: each resolution returns k elements from the head; the head advances by one', () => {
  const { hs } = setup();
  for (let id = 1; id <= 5; id++) mustRegister(hs, h, pe(id));
  const rounds = Array.from({ length: 6 }, () => resolveIds(hs, h, 3));
  assert.deepEqual(rounds, [
    [1, 2, 3],
    [2, 3, 4],
    [3, 4, 5],
    [4, 5, 1],
    [5, 1, 2],
    [1, 2, 3],
  ]);
  const result = hs.resolve(h, 1);
  assert.ok(result.ok);
  assert.deepEqual(result.value.overallPolicy, { type: PolicyType.roundRobin });
});

test('RR: a new element joins at the end of the circle; a removed head passes the turn on', () => {
  const { hs } = setup();
  for (let id = 1; id <= 3; id++) mustRegister(hs, h, pe(id));
  assert.deepEqual(resolveIds(hs, h, 1), [1]);
  mustRegister(hs, h, pe(4));
  assert.deepEqual(resolveIds(hs, h, 4), [2, 3, 1, 4]);
  hs.deregister(h, 3);
  assert.deepEqual(resolveIds(hs, h, 4), [1, 4, 2]);
  assert.deepEqual(resolveIds(hs, h, 1), [4]);
  // Re-registration keeps the element's place in the circle.
  mustRegister(hs, h, pe(2));
  assert.deepEqual(resolveIds(hs, h, 3), [2, 1, 4]);
});

test('RR: k = 1 visits every element once per cycle', () => {
  const { hs } = setup();
  for (let id = 1; id <= 7; id++) mustRegister(hs, h, pe(id));
  const sequence = Array.from({ length: 21 }, () => resolveIds(hs, h, 1)[0]);
  assert.deepEqual(sequence, [1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7]);
});

// ---- Weighted Round Robin -----------------------------------------------------------------------------

const wrr = (weight: number): Policy => ({ type: PolicyType.weightedRoundRobin, weight });

test('WRR: over 10,000 resolutions each element is returned in proportion to its weight (±2 %)', () => {
  const { hs } = setup();
  const weights = new Map([[1, 1], [2, 2], [3, 3], [4, 4], [5, 10]]);
  for (const [id, weight] of weights) mustRegister(hs, h, pe(id, wrr(weight)));
  const rounds = 10_000;
  const seen = counts(hs, rounds);
  const total = 20;
  for (const [id, weight] of weights) {
    const expected = (rounds * weight) / total;
    const got = seen.get(id) ?? 0;
    assert.ok(Math.abs(got - expected) <= expected * 0.02, `element ${id}: ${got} of ${rounds}, expected ${expected} ± 2 %`);
  }
});

test('WRR: turns are evenly spread, not in runs', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, wrr(8)));
  mustRegister(hs, h, pe(2, wrr(1)));
  mustRegister(hs, h, pe(3, wrr(1)));
  const sequence = Array.from({ length: 1000 }, () => resolveIds(hs, h, 1)[0] as number);
  // With weights 8:1:1 the heavy element can be spread into runs of at most 4 between the light ones.
  assert.ok(longestRun(sequence, 1) <= 5, `longest run of the heavy element: ${longestRun(sequence, 1)}`);
  assert.equal(longestRun(sequence, 2), 1);
  assert.equal(longestRun(sequence, 3), 1);
  // Every window of one full cycle (Σ weights = 10) holds each element within one turn of its weight.
  for (let start = 0; start + 10 <= sequence.length; start++) {
    const window = sequence.slice(start, start + 10);
    for (const [id, weight] of [[1, 8], [2, 1], [3, 1]] as const) {
      const n = window.filter((x) => x === id).length;
      assert.ok(Math.abs(n - weight) <= 1, `window at ${start}: element ${id} ${n} times, weight ${weight}`);
    }
  }
});

test('WRR: many weight mixes: every window of Σ weights resolutions holds each element within one turn of its weight', () => {
  for (const weights of [[5, 3, 1, 1], [7, 5, 3, 2, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1, 50], [2, 1], [100, 1]]) {
    const { hs } = setup();
    weights.forEach((weight, i) => mustRegister(hs, h, pe(i + 1, wrr(weight))));
    const total = weights.reduce((a, b) => a + b, 0);
    const sequence = Array.from({ length: total * 20 }, () => resolveIds(hs, h, 1)[0] as number);
    for (let start = 0; start + total <= sequence.length; start++) {
      const window = sequence.slice(start, start + total);
      weights.forEach((weight, i) => {
        const n = window.filter((x) => x === i + 1).length;
        assert.ok(Math.abs(n - weight) <= 1, `weights ${weights.join(':')}, window at ${start}: element ${i + 1} ${n} times`);
      });
    }
  }
});

test('WRR: passes are shifted down when they grow large, without disturbing order or proportions', () => {
  // Weight 1 has the largest stride (2^44), so the passes pass 2^52 after a few hundred turns.
  const { hs } = setup();
  mustRegister(hs, h, pe(1, wrr(1)));
  mustRegister(hs, h, pe(2, wrr(2)));
  const sequence = Array.from({ length: 3000 }, () => resolveIds(hs, h, 1)[0] as number);
  for (let start = 0; start + 3 <= sequence.length; start++) {
    const window = sequence.slice(start, start + 3);
    assert.equal(window.filter((x) => x === 1).length, 1, `window at ${start}: ${window.join(',')}`);
  }
  // A newcomer after many renormalizations still joins at the current virtual time.
  mustRegister(hs, h, pe(3, wrr(1)));
  const after = Array.from({ length: 400 }, () => resolveIds(hs, h, 1)[0] as number);
  assert.equal(after.filter((x) => x === 3).length, 100);
  assert.equal(after.filter((x) => x === 2).length, 200);
  assert.ok(after.slice(0, 4).includes(3));
});

test('WRR: equal weights behave as round robin; weight 0 is never selected', () => {
  const { hs } = setup();
  for (let id = 1; id <= 3; id++) mustRegister(hs, h, pe(id, wrr(5)));
  mustRegister(hs, h, pe(4, wrr(0)));
  const sequence = Array.from({ length: 9 }, () => resolveIds(hs, h, 1)[0]);
  assert.deepEqual(sequence.slice(0, 3).sort(), [1, 2, 3]);
  assert.deepEqual(sequence.slice(3, 6), sequence.slice(0, 3));
  assert.deepEqual(sequence.slice(6, 9), sequence.slice(0, 3));
  assert.deepEqual(resolveIds(hs, h, 128).sort(), [1, 2, 3]);
  // Weight 0 → 4 makes it selectable; back to 0 removes it.
  mustRegister(hs, h, pe(4, wrr(4)));
  assert.deepEqual(resolveIds(hs, h, 128).sort(), [1, 2, 3, 4]);
  mustRegister(hs, h, pe(4, wrr(0)));
  assert.ok(!counts(hs, 100).has(4));
});

test('WRR: a newcomer joins at the current virtual time: it neither starves others nor is starved', () => {
  const { hs } = setup();
  for (let id = 1; id <= 3; id++) mustRegister(hs, h, pe(id, wrr(1)));
  counts(hs, 1000);
  mustRegister(hs, h, pe(4, wrr(1)));
  const sequence = Array.from({ length: 400 }, () => resolveIds(hs, h, 1)[0] as number);
  for (let id = 1; id <= 4; id++) {
    assert.equal(sequence.filter((x) => x === id).length, 100, `element ${id}`);
    assert.equal(longestRun(sequence, id), 1);
  }
  assert.ok(sequence.slice(0, 4).includes(4), 'the newcomer gets its turn within the first cycle');
});

test('WRR: a weight change by re-registration takes effect', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, wrr(1)));
  mustRegister(hs, h, pe(2, wrr(1)));
  counts(hs, 10);
  mustRegister(hs, h, pe(2, wrr(3)));
  const seen = counts(hs, 4000);
  assert.ok(Math.abs((seen.get(2) ?? 0) - 3000) <= 60, `element 2: ${seen.get(2)}`);
});

test('WRR: extreme weights stay proportional (integer strides, no drift)', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, wrr(0xffffffff)));
  mustRegister(hs, h, pe(2, wrr(0x7fffffff)));
  mustRegister(hs, h, pe(3, wrr(1)));
  const seen = counts(hs, 30_000);
  assert.ok(Math.abs((seen.get(1) ?? 0) - 20_000) <= 20, `element 1: ${seen.get(1)}`);
  assert.ok(Math.abs((seen.get(2) ?? 0) - 10_000) <= 20, `element 2: ${seen.get(2)}`);
  assert.ok((seen.get(3) ?? 0) <= 1);
});

// ---- Random -------------------------------------------------------------------------------------------

test('RAND: uniform over 10,000 resolutions (±1.5 percentage points) and never a duplicate', () => {
  const { hs } = setup({ random: seededRandom(42) });
  for (let id = 1; id <= 10; id++) mustRegister(hs, h, pe(id, { type: PolicyType.random }));
  const seen = counts(hs, 10_000);
  assertShares(seen, new Map(Array.from({ length: 10 }, (_, i) => [i + 1, 1])), 10_000, 0.015);
  // k = 3: each element is in a resolution with probability 3/10.
  const triples = new Map<number, number>();
  for (let i = 0; i < 10_000; i++) {
    const ids = resolveIds(hs, h, 3);
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 3, `duplicate in ${ids.join(',')}`);
    for (const id of ids) triples.set(id, (triples.get(id) ?? 0) + 1);
  }
  for (const [id, n] of triples) assert.ok(Math.abs(n / 10_000 - 0.3) <= 0.02, `element ${id}: ${n}`);
});

test('RAND: ordered positions are uniform too (the first pick is not biased)', () => {
  const { hs } = setup({ random: seededRandom(7) });
  for (let id = 1; id <= 4; id++) mustRegister(hs, h, pe(id, { type: PolicyType.random }));
  const firsts = new Map<number, number>();
  for (let i = 0; i < 8000; i++) {
    const first = resolveIds(hs, h, 2)[0] as number;
    firsts.set(first, (firsts.get(first) ?? 0) + 1);
  }
  assertShares(firsts, new Map([[1, 1], [2, 1], [3, 1], [4, 1]]), 8000, 0.02);
});

// ---- Weighted Random and Randomized Least Used -------------------------------------------------------

const wrand = (weight: number): Policy => ({ type: PolicyType.weightedRandom, weight });

test('WRAND: probability weight / Σ weights over 10,000 resolutions (±2 percentage points)', () => {
  const { hs } = setup({ random: seededRandom(3) });
  const weights = new Map([[1, 1], [2, 2], [3, 3], [4, 4]]);
  for (const [id, weight] of weights) mustRegister(hs, h, pe(id, wrand(weight)));
  mustRegister(hs, h, pe(5, wrand(0)));
  const seen = counts(hs, 10_000);
  assertShares(seen, weights, 10_000, 0.02);
  assert.ok(!seen.has(5), 'weight 0 is never selected');
});

test('WRAND: k draws without replacement; weight 0 never; k beyond the pool returns each positive weight once', () => {
  const { hs } = setup({ random: seededRandom(5) });
  mustRegister(hs, h, pe(1, wrand(1000)));
  mustRegister(hs, h, pe(2, wrand(1)));
  mustRegister(hs, h, pe(3, wrand(1)));
  mustRegister(hs, h, pe(4, wrand(0)));
  let heavyFirst = 0;
  for (let i = 0; i < 2000; i++) {
    const ids = resolveIds(hs, h, 2);
    assert.equal(ids.length, 2);
    assert.equal(new Set(ids).size, 2);
    assert.ok(!ids.includes(4));
    if (ids[0] === 1) heavyFirst++;
    // Without replacement, the second draw is among the others: a light element whenever the heavy one came first.
    if (ids[0] === 1) assert.ok(ids[1] === 2 || ids[1] === 3);
  }
  assert.ok(heavyFirst > 1980, `heavy element first in ${heavyFirst} of 2000`);
  assert.deepEqual(resolveIds(hs, h, 128).sort(), [1, 2, 3]);
  // Weights restored after each resolution: proportions unchanged.
  assertShares(counts(hs, 10_000), new Map([[1, 1000], [2, 1], [3, 1]]), 10_000, 0.01);
});

test('WRAND: a weight change by re-registration and removals keep proportions right', () => {
  const { hs } = setup({ random: seededRandom(11) });
  for (let id = 1; id <= 6; id++) mustRegister(hs, h, pe(id, wrand(1)));
  hs.deregister(h, 2);
  hs.setAdminState(h, 4, 'draining', 'test');
  mustRegister(hs, h, pe(6, wrand(5)));
  assertShares(counts(hs, 10_000), new Map([[1, 1], [3, 1], [5, 1], [6, 5]]), 10_000, 0.02);
});

test('RLU: weight = 0xffffffff − load (±2 percentage points); a fully loaded element keeps only a floor weight', () => {
  const { hs } = setup({ random: seededRandom(9) });
  const max = 0xffffffff;
  mustRegister(hs, h, pe(1, { type: PolicyType.randomizedLeastUsed, load: 0 }));
  mustRegister(hs, h, pe(2, { type: PolicyType.randomizedLeastUsed, load: Math.round(max / 2) }));
  mustRegister(hs, h, pe(3, { type: PolicyType.randomizedLeastUsed, load: Math.round((max * 3) / 4) }));
  mustRegister(hs, h, pe(4, { type: PolicyType.randomizedLeastUsed, load: max }));
  const seen = counts(hs, 10_000);
  assertShares(seen, new Map([[1, 4], [2, 2], [3, 1]]), 10_000, 0.02);
  assert.ok(!seen.has(4), 'a 100 % loaded element is (practically) never chosen among idle ones');
  // ... but it is still returned when asked for every element.
  assert.deepEqual(resolveIds(hs, h, 128).sort(), [1, 2, 3, 4]);
  // A load change by re-registration re-weights.
  mustRegister(hs, h, pe(4, { type: PolicyType.randomizedLeastUsed, load: 0 }));
  assertShares(counts(hs, 10_000), new Map([[1, 4], [2, 2], [3, 1], [4, 4]]), 10_000, 0.02);
});

// ---- Priority -----------------------------------------------------------------------------------------

const prio = (priority: number): Policy => ({ type: PolicyType.priority, priority });

test('PRIO: highest priority first, in decreasing order; round robin among equal priorities', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, prio(5)));
  mustRegister(hs, h, pe(2, prio(9)));
  mustRegister(hs, h, pe(3, prio(5)));
  mustRegister(hs, h, pe(4, prio(1)));
  mustRegister(hs, h, pe(5, prio(5)));
  mustRegister(hs, h, pe(6, prio(0xffffffff)));
  const all = resolveIds(hs, h, 128);
  assert.deepEqual([all[0], all[1]], [6, 2]);
  assert.deepEqual(all.slice(2, 5).sort(), [1, 3, 5]);
  assert.equal(all[5], 4);
  // k = 3: the two highest always, the third rotates among the three of priority 5.
  const thirds = Array.from({ length: 6 }, () => resolveIds(hs, h, 3));
  for (const ids of thirds) assert.deepEqual(ids.slice(0, 2), [6, 2]);
  const rotation = thirds.map((ids) => ids[2]);
  assert.deepEqual(rotation.slice(0, 3).sort(), [1, 3, 5]);
  assert.deepEqual(rotation.slice(3), rotation.slice(0, 3));
});

test('PRIO: k = 1 alternates among the highest equals; a priority change re-sorts', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, prio(7)));
  mustRegister(hs, h, pe(2, prio(7)));
  mustRegister(hs, h, pe(3, prio(3)));
  assert.deepEqual(Array.from({ length: 4 }, () => resolveIds(hs, h, 1)[0]), [1, 2, 1, 2]);
  mustRegister(hs, h, pe(3, prio(8)));
  assert.deepEqual(resolveIds(hs, h, 1), [3]);
  hs.setHealth(h, 3, 'failed', 'x');
  assert.deepEqual(resolveIds(hs, h, 1).length, 1);
  assert.notEqual(resolveIds(hs, h, 1)[0], 3);
});

// ---- Least Used family --------------------------------------------------------------------------------

const lu = (load: number): Policy => ({ type: PolicyType.leastUsed, load });

test('LU: least loaded first, sorted ascending; round robin among equal loads', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, lu(10)));
  mustRegister(hs, h, pe(2, lu(20)));
  mustRegister(hs, h, pe(3, lu(20)));
  mustRegister(hs, h, pe(4, lu(5)));
  mustRegister(hs, h, pe(5, lu(0xffffffff)));
  const all = resolveIds(hs, h, 128);
  assert.deepEqual([all[0], all[1]], [4, 1]);
  assert.deepEqual(all.slice(2, 4).sort(), [2, 3]);
  assert.equal(all[4], 5);
  assert.deepEqual(Array.from({ length: 5 }, () => resolveIds(hs, h, 1)[0]), [4, 4, 4, 4, 4]);
  // Equal loads at the top alternate.
  mustRegister(hs, h, pe(4, lu(20)));
  mustRegister(hs, h, pe(1, lu(20)));
  const firsts = Array.from({ length: 8 }, () => resolveIds(hs, h, 1)[0]);
  assert.deepEqual(firsts.slice(0, 4).sort(), [1, 2, 3, 4]);
  assert.deepEqual(firsts.slice(4), firsts.slice(0, 4));
  // Equal loads below the top rotate too.
  mustRegister(hs, h, pe(1, lu(0)));
  const seconds = Array.from({ length: 6 }, () => resolveIds(hs, h, 2));
  for (const ids of seconds) assert.equal(ids[0], 1);
  assert.deepEqual(seconds.slice(0, 3).map((ids) => ids[1]).sort(), [2, 3, 4]);
});

test('LUD: each return degrades the element, so the most picked one drifts back until it re-registers', () => {
  const { hs } = setup();
  const lud = (load: number, loadDegradation: number): Policy => ({ type: PolicyType.leastUsedDegradation, load, loadDegradation });
  mustRegister(hs, h, pe(1, lud(0, 30)));
  mustRegister(hs, h, pe(2, lud(100, 30)));
  // Keys: 1 → 0, 30, 60, 90, 120 ...; 2 → 100, 130 ...
  const sequence = Array.from({ length: 7 }, () => resolveIds(hs, h, 1)[0]);
  assert.deepEqual(sequence, [1, 1, 1, 1, 2, 1, 2]);
  assert.equal(hs.element(h, 1)?.degradation, 5);
  assert.equal(hs.element(h, 2)?.degradation, 2);
  // Re-registration resets the counter: element 1 is the least used again.
  mustRegister(hs, h, pe(1, lud(0, 30)));
  assert.equal(hs.element(h, 1)?.degradation, 0);
  assert.deepEqual(resolveIds(hs, h, 1), [1]);
  // Every element returned is degraded, not only the first.
  const both = resolveIds(hs, h, 2);
  assert.deepEqual(both, [1, 2]);
  assert.equal(hs.element(h, 1)?.degradation, 2);
  assert.equal(hs.element(h, 2)?.degradation, 3);
});

test('LUD: exact keys at the 32-bit extremes, and round robin among equals', () => {
  const { hs } = setup();
  const lud = (load: number, loadDegradation: number): Policy => ({ type: PolicyType.leastUsedDegradation, load, loadDegradation });
  mustRegister(hs, h, pe(1, lud(0xfffffffe, 0xffffffff)));
  mustRegister(hs, h, pe(2, lud(0xffffffff, 0xffffffff)));
  // 0xfffffffe < 0xffffffff; then 0xfffffffe + 0xffffffff > 0xffffffff; then 2 · 0xffffffff + ... (no clamping).
  assert.deepEqual(Array.from({ length: 4 }, () => resolveIds(hs, h, 1)[0]), [1, 2, 1, 2]);
  const { hs: flat } = setup();
  for (let id = 1; id <= 3; id++) mustRegister(flat, h, pe(id, lud(7, 0)));
  // No degradation: plain round robin, the head advancing by one.
  assert.deepEqual(Array.from({ length: 3 }, () => resolveIds(flat, h, 2)), [[1, 2], [2, 3], [3, 1]]);
});

test('PLU: ordered by load + load degradation, ascending; round robin among equals', () => {
  const { hs } = setup();
  const plu = (load: number, loadDegradation: number): Policy => ({ type: PolicyType.priorityLeastUsed, load, loadDegradation });
  mustRegister(hs, h, pe(1, plu(10, 50)));
  mustRegister(hs, h, pe(2, plu(40, 0)));
  mustRegister(hs, h, pe(3, plu(20, 30)));
  mustRegister(hs, h, pe(4, plu(0xffffffff, 0xffffffff)));
  mustRegister(hs, h, pe(5, plu(0xffffffff, 0xfffffffe)));
  assert.deepEqual(resolveIds(hs, h, 5), [2, 3, 1, 5, 4]);
  // Degradation is static under PLU: repeated resolutions do not move anyone.
  assert.deepEqual(resolveIds(hs, h, 3), [2, 3, 1]);
  assert.equal(hs.element(h, 2)?.degradation, 0);
  mustRegister(hs, h, pe(6, plu(25, 25)));
  mustRegister(hs, h, pe(7, plu(50, 0)));
  const firstTies = Array.from({ length: 4 }, () => resolveIds(hs, h, 3)[2]);
  // Keys 40, 50, 50, 50, 60, ...: the third place rotates among the keys of 50.
  assert.equal(firstTies.slice(0, 2).includes(firstTies[0] as number), true);
  assert.deepEqual(new Set(Array.from({ length: 6 }, () => resolveIds(hs, h, 2)[1])), new Set([3, 6, 7]));
});

// ---- Common -------------------------------------------------------------------------------------------

const everyPolicy: readonly (readonly [string, (id: number) => Policy])[] = [
  ['RR', () => ({ type: PolicyType.roundRobin })],
  ['WRR', (id) => wrr(1 + (id % 3))],
  ['RAND', () => ({ type: PolicyType.random })],
  ['WRAND', (id) => wrand(1 + (id % 3))],
  ['PRIO', (id) => prio(id % 3)],
  ['LU', (id) => lu(id % 4)],
  ['LUD', (id) => ({ type: PolicyType.leastUsedDegradation, load: id % 4, loadDegradation: 1 })],
  ['PLU', (id) => ({ type: PolicyType.priorityLeastUsed, load: id % 4, loadDegradation: id % 2 })],
  ['RLU', (id) => ({ type: PolicyType.randomizedLeastUsed, load: (id * 1_000_003) % 0xffffffff })],
];

for (const [name, policyOf] of everyPolicy) {
  test(`${name}: k larger than the pool returns each selectable element once; no resolution has a duplicate`, () => {
    const { hs } = setup({ random: seededRandom(13) });
    for (let id = 1; id <= 9; id++) mustRegister(hs, h, pe(id, policyOf(id)));
    hs.setAdminState(h, 9, 'maintenance', 'test');
    for (let i = 0; i < 3; i++) assert.deepEqual(resolveIds(hs, h, 128).sort(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(resolveIds(hs, h, 8).sort(), [1, 2, 3, 4, 5, 6, 7, 8]);
    const random = seededRandom(99);
    for (let i = 0; i < 500; i++) {
      const k = 1 + Math.floor(random() * 9);
      const ids = resolveIds(hs, h, k);
      assert.equal(ids.length, Math.min(k, 8));
      assert.equal(new Set(ids).size, ids.length);
      assert.ok(!ids.includes(9));
      // Churn: renew, remove and re-add elements between resolutions.
      const id = 1 + Math.floor(random() * 8);
      if (i % 3 === 0) mustRegister(hs, h, pe(id, policyOf(id + i)));
      if (i % 7 === 0) {
        hs.deregister(h, id);
        mustRegister(hs, h, pe(id, policyOf(id)));
      }
    }
    assert.deepEqual(resolveIds(hs, h, 0), []);
  });
}
