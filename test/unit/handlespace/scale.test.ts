/**
 * Selection is not O(n): with 100,000 elements in one pool, 10,000 resolutions of 3 elements must take
 * well under a second for every policy (asserted below 2 s to stay robust on a slow CI machine; an O(n)
 * scan would need about 10^9 steps). Churn between resolutions (renewals with new policy values, admin
 * changes) must stay cheap too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { Policy } from '../../../core/wire/types.js';
import { handle, pe, PolicyType, seededRandom, setup } from './fixtures.js';

const N = 100_000;
const RESOLUTIONS = 10_000;
const BUDGET_MS = 2000;

const policies: readonly (readonly [string, (i: number) => Policy])[] = [
  ['RR', () => ({ type: PolicyType.roundRobin })],
  ['WRR', (i) => ({ type: PolicyType.weightedRoundRobin, weight: 1 + (i % 10) })],
  ['RAND', () => ({ type: PolicyType.random })],
  ['WRAND', (i) => ({ type: PolicyType.weightedRandom, weight: 1 + (i % 10) })],
  ['PRIO', (i) => ({ type: PolicyType.priority, priority: i % 100 })],
  ['LU', (i) => ({ type: PolicyType.leastUsed, load: (i * 2654435761) % 0xffffffff })],
  ['LUD', (i) => ({ type: PolicyType.leastUsedDegradation, load: (i * 2654435761) % 0xffffffff, loadDegradation: 0x1000000 })],
  ['PLU', (i) => ({ type: PolicyType.priorityLeastUsed, load: i % 1000, loadDegradation: i % 7 })],
  ['RLU', (i) => ({ type: PolicyType.randomizedLeastUsed, load: (i * 2654435761) % 0xffffffff })],
];

for (const [name, policyOf] of policies) {
  test(`${name}: 10,000 resolutions of 3 from a pool of 100,000 elements in under ${BUDGET_MS} ms`, () => {
    const { hs } = setup({ random: seededRandom(17) });
    const h = handle(`scale-${name}`);
    for (let i = 0; i < N; i++) {
      const result = hs.register(h, pe(i, policyOf(i)), 1 + (i % 50), 1);
      assert.ok(result.ok);
    }
    assert.equal(hs.pool(h)?.size, N);
    const random = seededRandom(5);
    const start = performance.now();
    let returned = 0;
    for (let r = 0; r < RESOLUTIONS; r++) {
      const result = hs.resolve(h, 3);
      if (!result.ok) assert.fail('pool vanished');
      returned += result.value.elements.length;
      if (r % 10 === 0) {
        // Churn: a renewal with new values and an admin flip, O(log n) each.
        const id = Math.floor(random() * N);
        hs.register(h, pe(id, policyOf(id + r)), 1 + (id % 50), 1);
        hs.setAdminState(h, id, r % 20 === 0 ? 'draining' : 'ready', 'scale test');
      }
    }
    const elapsed = performance.now() - start;
    assert.equal(returned, 3 * RESOLUTIONS);
    assert.ok(elapsed < BUDGET_MS, `${name}: ${elapsed.toFixed(0)} ms for ${RESOLUTIONS} resolutions`);
  });
}
