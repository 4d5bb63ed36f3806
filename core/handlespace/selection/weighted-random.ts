/**
 * Weighted Random (RFC 5356 §4.4) and Randomized Least Used (§4.9): each draw picks an element with
 * probability weight / Σ weights, k draws without replacement (a picked element's weight is set to zero
 * for the rest of the resolution, then restored), O(k log n). Elements live in array slots (swap-remove)
 * mirrored by a Fenwick tree of their weights.
 *
 * WRAND's weight is the element's weight (0 = never chosen). RLU's is 0xffffffff − load with a floor of 1,
 * as RSPLIB does, so a fully loaded element keeps a minimal chance instead of vanishing from a pool that is
 * fully loaded everywhere.
 */
import type { ElementNode, ElementRecord } from '../element.js';
import { FenwickTree } from './fenwick-tree.js';
import type { SelectionIndex } from './selection-index.js';

const MIN_CAPACITY = 16;
const MAX_LOAD = 0xffffffff;

export class WeightedRandomSelection implements SelectionIndex {
  private readonly slots: ElementNode[] = [];
  private readonly weights = new FenwickTree(MIN_CAPACITY);
  /** Scratch: slots picked in the current resolution and their weights, to restore afterwards. */
  private readonly picked: number[] = [];

  constructor(private readonly random: () => number) {}

  protected weightOf(record: ElementRecord): number {
    return record.policy.weight ?? 0;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Σ weights of the selectable elements (for tests and diagnostics). */
  get totalWeight(): number {
    return this.weights.total;
  }

  add(node: ElementNode): void {
    const slot = this.slots.length;
    if (slot === this.weights.capacity) this.weights.resize(slot * 2);
    this.slots.push(node);
    node.selPos = slot;
    this.weights.set(slot, this.weightOf(node.record));
  }

  remove(node: ElementNode): void {
    const slot = node.selPos;
    if (slot < 0) return;
    const lastSlot = this.slots.length - 1;
    const last = this.slots.pop() as ElementNode;
    if (slot !== lastSlot) {
      this.slots[slot] = last;
      last.selPos = slot;
      this.weights.set(slot, this.weights.value(lastSlot));
    }
    this.weights.set(lastSlot, 0);
    node.selPos = -1;
    const capacity = this.weights.capacity;
    if (capacity > MIN_CAPACITY && this.slots.length <= capacity / 4) this.weights.resize(capacity / 2);
  }

  update(node: ElementNode): void {
    if (node.selPos >= 0) this.weights.set(node.selPos, this.weightOf(node.record));
  }

  select(k: number, out: ElementNode[]): void {
    const weights = this.weights;
    const picked = this.picked;
    const m = Math.min(k, this.slots.length);
    for (let i = 0; i < m; i++) {
      const total = weights.total;
      if (total <= 0) break;
      const point = Math.min(total - 1, Math.floor(this.random() * total));
      const slot = weights.find(point);
      const node = this.slots[slot];
      if (node === undefined) break;
      picked.push(slot, weights.value(slot));
      weights.set(slot, 0);
      out.push(node);
    }
    for (let i = 0; i < picked.length; i += 2) weights.set(picked[i] as number, picked[i + 1] as number);
    picked.length = 0;
  }
}

export class RandomizedLeastUsedSelection extends WeightedRandomSelection {
  protected override weightOf(record: ElementRecord): number {
    return Math.max(1, MAX_LOAD - (record.policy.load ?? 0));
  }
}
