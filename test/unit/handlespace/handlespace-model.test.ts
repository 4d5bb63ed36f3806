/**
 * The Handlespace against a naive model under random sequences of registrations, renewals,
 * deregistrations, admin and health changes, clock advances, expiry and resolutions: counts, pools,
 * connection lists, next expiry and the set of selectable elements must always agree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../../core/clock.js';
import { Handlespace } from '../../../core/handlespace/handlespace.js';
import type { AdminState, Health } from '../../../core/handlespace/handlespace.js';
import type { Policy } from '../../../core/wire/types.js';
import { handle, pe, PolicyType, seededRandom } from './fixtures.js';

interface ModelElement {
  connectionId: number | undefined;
  admin: AdminState;
  health: Health;
  expiresAt: number;
}

const POOLS = ['a', 'b', 'c'].map(handle);
const POLICY_OF_POOL: readonly ((v: number) => Policy)[] = [
  (v) => ({ type: PolicyType.leastUsedDegradation, load: v * 1000, loadDegradation: v }),
  (v) => ({ type: PolicyType.weightedRoundRobin, weight: v % 4 }),
  (v) => ({ type: PolicyType.randomizedLeastUsed, load: v * 100_000_000 }),
];

type Op =
  | { op: 'register'; pool: number; id: number; conn: number; life: number; value: number }
  | { op: 'deregister'; pool: number; id: number }
  | { op: 'admin'; pool: number; id: number; state: AdminState }
  | { op: 'health'; pool: number; id: number; state: Health }
  | { op: 'advance'; ms: number }
  | { op: 'resolve'; pool: number; k: number };

const pool = fc.integer({ min: 0, max: 2 });
const id = fc.integer({ min: 1, max: 8 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('register' as const), pool, id, conn: fc.integer({ min: 0, max: 2 }), life: fc.constantFrom(-1, 100, 500, 2000), value: fc.integer({ min: 0, max: 9 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deregister' as const), pool, id }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('admin' as const), pool, id, state: fc.constantFrom<AdminState>('ready', 'draining', 'maintenance') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('health' as const), pool, id, state: fc.constantFrom<Health>('up', 'suspect', 'failed') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 700 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('resolve' as const), pool, k: fc.integer({ min: 1, max: 10 }) }) },
);

test('Handlespace agrees with a naive model under random operation sequences', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 150 }), (ops) => {
      const clock = new ManualClock();
      const hs = new Handlespace({ clock, random: seededRandom(1) });
      const model = POOLS.map(() => new Map<number, ModelElement>());
      const connectionOf = (conn: number): number | undefined => (conn === 0 ? undefined : conn);

      for (const op of ops) {
        switch (op.op) {
          case 'register': {
            const members = model[op.pool] as Map<number, ModelElement>;
            const existing = members.get(op.id);
            const connectionId = connectionOf(op.conn);
            const result = hs.register(POOLS[op.pool] as Uint8Array, pe(op.id, (POLICY_OF_POOL[op.pool] as (v: number) => Policy)(op.value), { registrationLife: op.life }), connectionId, 1);
            const expiresAt = op.life === -1 ? Infinity : clock.now() + op.life;
            if (existing && existing.connectionId !== undefined && existing.connectionId !== connectionId) {
              assert.equal(result.ok, false);
              if (!result.ok) assert.equal(result.error.cause, 0x4);
            } else {
              assert.ok(result.ok);
              assert.equal(result.value.kind, existing ? 'reregistered' : 'registered');
              if (existing) {
                existing.connectionId = connectionId;
                existing.expiresAt = expiresAt;
              } else {
                members.set(op.id, { connectionId, admin: 'ready', health: 'up', expiresAt });
              }
            }
            break;
          }
          case 'deregister': {
            const members = model[op.pool] as Map<number, ModelElement>;
            const removed = hs.deregister(POOLS[op.pool] as Uint8Array, op.id);
            assert.equal(removed !== undefined, members.has(op.id));
            members.delete(op.id);
            break;
          }
          case 'admin':
          case 'health': {
            const element = (model[op.pool] as Map<number, ModelElement>).get(op.id);
            const record =
              op.op === 'admin'
                ? hs.setAdminState(POOLS[op.pool] as Uint8Array, op.id, op.state, 'test')
                : hs.setHealth(POOLS[op.pool] as Uint8Array, op.id, op.state, 'test');
            assert.equal(record !== undefined, element !== undefined);
            if (element && op.op === 'admin') element.admin = op.state;
            if (element && op.op === 'health') element.health = op.state;
            break;
          }
          case 'advance': {
            clock.advance(op.ms);
            const now = clock.now();
            const expired = hs.expire(now).map((e) => `${e.poolKey}/${e.id}`).sort();
            const expected: string[] = [];
            model.forEach((members, i) => {
              for (const [peId, element] of members) {
                if (element.expiresAt <= now) {
                  expected.push(`${String.fromCharCode(...(POOLS[i] as Uint8Array))}/${peId}`);
                  members.delete(peId);
                }
              }
            });
            assert.deepEqual(expired, expected.sort());
            break;
          }
          case 'resolve': {
            const members = model[op.pool] as Map<number, ModelElement>;
            const result = hs.resolve(POOLS[op.pool] as Uint8Array, op.k);
            if (members.size === 0) {
              assert.deepEqual(result, { ok: false, error: 'unknownPool' });
              break;
            }
            assert.ok(result.ok);
            const ids = result.value.elements.map((e) => e.id);
            assert.equal(new Set(ids).size, ids.length);
            const selectable = [...members].filter(([, e]) => e.admin === 'ready' && e.health !== 'failed').map(([peId]) => peId);
            for (const peId of ids) assert.ok(selectable.includes(peId), `element ${peId} is not selectable`);
            // Only WRR (pool b) may hold selectable elements back (weight 0).
            if (op.pool !== 1) assert.equal(ids.length, Math.min(op.k, selectable.length));
            break;
          }
        }
        // Invariants after every operation.
        const live = model.map((members) => members.size);
        assert.equal(hs.elementCount, live.reduce((a, b) => a + b, 0));
        assert.equal(hs.poolCount, live.filter((n) => n > 0).length);
        model.forEach((members, i) => assert.equal(hs.pool(POOLS[i] as Uint8Array)?.size ?? 0, members.size));
        for (const conn of [1, 2]) {
          const expected = model.flatMap((members, i) => [...members].filter(([, e]) => e.connectionId === conn).map(([peId]) => `${i}/${peId}`)).sort();
          const actual = hs.elementsOfConnection(conn).map((e) => `${POOLS.findIndex((p) => String.fromCharCode(...p) === e.poolKey)}/${e.id}`).sort();
          assert.deepEqual(actual, expected);
        }
        const next = Math.min(...model.flatMap((members) => [...members.values()].map((e) => e.expiresAt)));
        assert.equal(hs.nextExpiry(), next === Infinity ? undefined : next);
      }
    }),
    { numRuns: 200 },
  );
});
