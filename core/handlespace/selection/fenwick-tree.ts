/**
 * A Fenwick (binary indexed) tree over non-negative slot values: set a value and find the slot holding a
 * given point of the cumulative sum, both O(log n). Values are integers held in doubles, so sums are
 * exact while the total stays below 2^53 (100,000 slots of 0xffffffff come to about 2^49).
 */
export class FenwickTree {
  private tree: Float64Array;
  private values: Float64Array;
  private capacityValue: number;
  private totalValue = 0;

  constructor(capacity = 16) {
    this.capacityValue = FenwickTree.roundUp(capacity);
    this.tree = new Float64Array(this.capacityValue + 1);
    this.values = new Float64Array(this.capacityValue);
  }

  private static roundUp(n: number): number {
    let capacity = 1;
    while (capacity < n) capacity *= 2;
    return capacity;
  }

  get capacity(): number {
    return this.capacityValue;
  }

  get total(): number {
    return this.totalValue;
  }

  value(slot: number): number {
    return this.values[slot] ?? 0;
  }

  set(slot: number, value: number): void {
    const delta = value - (this.values[slot] as number);
    if (delta === 0) return;
    this.values[slot] = value;
    this.totalValue += delta;
    const tree = this.tree;
    const capacity = this.capacityValue;
    for (let i = slot + 1; i <= capacity; i += i & -i) tree[i] = (tree[i] as number) + delta;
  }

  /**
   * The smallest slot whose inclusive prefix sum exceeds `point` (0 <= point < total): drawing `point`
   * uniformly picks each slot with probability value / total; a slot of value 0 is never returned.
   */
  find(point: number): number {
    const tree = this.tree;
    let position = 0;
    let rest = point;
    for (let step = this.capacityValue; step > 0; step >>= 1) {
      const next = position + step;
      if (next <= this.capacityValue) {
        const sum = tree[next] as number;
        if (sum <= rest) {
          position = next;
          rest -= sum;
        }
      }
    }
    return position;
  }

  /** Changes the capacity (a power of two at least `capacity`), keeping the values of the slots that remain. */
  resize(capacity: number): void {
    const newCapacity = FenwickTree.roundUp(capacity);
    const values = new Float64Array(newCapacity);
    values.set(this.values.subarray(0, Math.min(newCapacity, this.capacityValue)));
    const tree = new Float64Array(newCapacity + 1);
    let total = 0;
    for (let i = 1; i <= newCapacity; i++) {
      const v = values[i - 1] as number;
      total += v;
      tree[i] = (tree[i] as number) + v;
      const parent = i + (i & -i);
      if (parent <= newCapacity) tree[parent] = (tree[parent] as number) + (tree[i] as number);
    }
    this.capacityValue = newCapacity;
    this.values = values;
    this.tree = tree;
    this.totalValue = total;
  }
}
