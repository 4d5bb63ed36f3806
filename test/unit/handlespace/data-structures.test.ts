/**
 * The building blocks of the indexes, checked against naive models with random operation sequences:
 * the indexed heap (insert, remove, re-key, smallest k), the Fenwick tree (set, find, resize) and the
 * connection lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IndexedHeap } from '../../../core/handlespace/indexed-heap.js';
import { FenwickTree } from '../../../core/handlespace/selection/fenwick-tree.js';

interface Item {
  id: number;
  key: number;
  pos: number;
}

class ItemHeap extends IndexedHeap<Item> {
  protected precedes(a: Item, b: Item): boolean {
    return a.key < b.key || (a.key === b.key && a.id < b.id);
  }
  protected positionOf(item: Item): number {
    return item.pos;
  }
  protected setPosition(item: Item, position: number): void {
    item.pos = position;
  }
}

const byKey = (a: Item, b: Item): number => a.key - b.key || a.id - b.id;

type HeapOp = { op: 'insert'; key: number } | { op: 'remove'; pick: number } | { op: 'rekey'; pick: number; key: number } | { op: 'smallest'; k: number } | { op: 'pop' };

const heapOp: fc.Arbitrary<HeapOp> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), key: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('rekey' as const), pick: fc.nat(), key: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ op: fc.constant('smallest' as const), k: fc.integer({ min: 0, max: 12 }) }),
  fc.record({ op: fc.constant('pop' as const) }),
);

test('IndexedHeap matches a sorted-array model under random inserts, removals, re-keys and pops', () => {
  fc.assert(
    fc.property(fc.array(heapOp, { maxLength: 200 }), (ops) => {
      const heap = new ItemHeap();
      let model: Item[] = [];
      let nextId = 0;
      for (const op of ops) {
        switch (op.op) {
          case 'insert': {
            const item = { id: nextId++, key: op.key, pos: -1 };
            heap.insert(item);
            model.push(item);
            break;
          }
          case 'remove': {
            if (model.length === 0) break;
            const item = model[op.pick % model.length] as Item;
            heap.remove(item);
            assert.equal(item.pos, -1);
            heap.remove(item); // a second removal is a no-op
            model = model.filter((x) => x !== item);
            break;
          }
          case 'rekey': {
            if (model.length === 0) break;
            const item = model[op.pick % model.length] as Item;
            item.key = op.key;
            heap.update(item);
            break;
          }
          case 'smallest': {
            const out: Item[] = [];
            heap.smallest(op.k, out);
            assert.deepEqual(out.map((x) => x.id), [...model].sort(byKey).slice(0, op.k).map((x) => x.id));
            break;
          }
          case 'pop': {
            const expected = [...model].sort(byKey)[0];
            assert.equal(heap.pop(), expected);
            model = model.filter((x) => x !== expected);
            break;
          }
        }
        assert.equal(heap.size, model.length);
        assert.equal(heap.peek(), [...model].sort(byKey)[0]);
      }
      // Positions are consistent: every model item sits where it says.
      for (const item of model) assert.ok(item.pos >= 0 && item.pos < heap.size);
    }),
    { numRuns: 300 },
  );
});

test('IndexedHeap.smallest appends after what is already in the output and leaves the heap intact', () => {
  const heap = new ItemHeap();
  const items = Array.from({ length: 100 }, (_, i) => ({ id: i, key: (i * 37) % 100, pos: -1 }));
  for (const item of items) heap.insert(item);
  const out: Item[] = [{ id: -1, key: -1, pos: -1 }];
  heap.smallest(10, out);
  assert.equal(out.length, 11);
  assert.deepEqual(out.slice(1).map((x) => x.key), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const all: Item[] = [];
  heap.smallest(1000, all);
  assert.deepEqual(all.map((x) => x.key), Array.from({ length: 100 }, (_, i) => i));
  heap.rebuild();
  assert.equal(heap.peek()?.key, 0);
});

test('FenwickTree finds the slot holding each point of the cumulative sum, through sets and resizes', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ slot: fc.nat({ max: 40 }), value: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 }), fc.constant(0xffffffff)) }), { maxLength: 80 }),
      fc.nat({ max: 40 }),
      (sets, shrinkTo) => {
        const tree = new FenwickTree(4);
        const model = new Array<number>(64).fill(0);
        for (const { slot, value } of sets) {
          while (slot >= tree.capacity) tree.resize(tree.capacity * 2);
          tree.set(slot, value);
          model[slot] = value;
        }
        const check = (): void => {
          const total = model.reduce((a, b) => a + b, 0);
          assert.equal(tree.total, total);
          let prefix = 0;
          for (let slot = 0; slot < tree.capacity; slot++) {
            assert.equal(tree.value(slot), model[slot] ?? 0);
            const value = model[slot] ?? 0;
            if (value > 0) {
              assert.equal(tree.find(prefix), slot, `start of slot ${slot}`);
              assert.equal(tree.find(prefix + value - 1), slot, `end of slot ${slot}`);
            }
            prefix += value;
          }
        };
        check();
        // Shrinking keeps the slots that remain (the caller only shrinks past empty slots).
        for (let slot = shrinkTo; slot < model.length; slot++) {
          if (slot < tree.capacity) tree.set(slot, 0);
          model[slot] = 0;
        }
        tree.resize(Math.max(1, shrinkTo));
        check();
      },
    ),
    { numRuns: 300 },
  );
});

test('FenwickTree sums stay exact at 100,000 slots of 0xffffffff', () => {
  const tree = new FenwickTree(16);
  const n = 100_000;
  tree.resize(n);
  for (let i = 0; i < n; i++) tree.set(i, 0xffffffff);
  assert.equal(tree.total, n * 0xffffffff);
  assert.equal(tree.find(n * 0xffffffff - 1), n - 1);
  assert.equal(tree.find(0xffffffff * 500), 500);
  tree.set(500, 0);
  assert.equal(tree.find(0xffffffff * 500), 501);
});
