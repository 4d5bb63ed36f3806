/**
 * A binary min-heap whose items know their own position (an intrusive index), so any item can be removed
 * or re-keyed in O(log n), plus `smallest(k)`: the k first items in order in O(k log k) without disturbing
 * the heap. Subclasses say how items compare and where their position is stored; no per-item allocation.
 */
export abstract class IndexedHeap<T> {
  protected readonly items: T[] = [];
  /** Scratch heap of item positions for `smallest`. */
  private readonly candidates: number[] = [];

  /** Strict order: true when `a` comes before `b`. Must be a total order for deterministic results. */
  protected abstract precedes(a: T, b: T): boolean;
  protected abstract positionOf(item: T): number;
  protected abstract setPosition(item: T, position: number): void;

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  insert(item: T): void {
    const position = this.items.length;
    this.items.push(item);
    this.setPosition(item, position);
    this.siftUp(position);
  }

  /** Removes `item` if it is in this heap (its position is not negative). */
  remove(item: T): void {
    const position = this.positionOf(item);
    if (position < 0) return;
    const last = this.items.pop() as T;
    this.setPosition(item, -1);
    if (position < this.items.length) {
      this.items[position] = last;
      this.setPosition(last, position);
      this.restore(position);
    }
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Re-establishes order after `item`'s key changed. */
  update(item: T): void {
    const position = this.positionOf(item);
    if (position >= 0) this.restore(position);
  }

  /** Appends the first `k` items (fewer if the heap is smaller) to `out`, in order. */
  smallest(k: number, out: T[]): void {
    const items = this.items;
    const n = items.length;
    if (n === 0 || k <= 0) return;
    out.push(items[0] as T);
    if (k === 1) return;
    // Every item not yet taken whose parent was taken is a candidate; the next item is the least of them.
    const candidates = this.candidates;
    candidates.length = 0;
    let taken = 1;
    let from = 0;
    for (;;) {
      const left = 2 * from + 1;
      if (left < n) this.pushCandidate(left);
      if (left + 1 < n) this.pushCandidate(left + 1);
      if (taken >= k || candidates.length === 0) break;
      from = this.popCandidate();
      out.push(items[from] as T);
      taken++;
    }
    candidates.length = 0;
  }

  /** Visits every item in heap order (not sorted). Do not change keys while visiting. */
  forEach(visit: (item: T) => void): void {
    for (const item of this.items) visit(item);
  }

  /** Restores the heap property everywhere, after keys were changed in bulk. O(n). */
  rebuild(): void {
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private restore(position: number): void {
    if (!this.siftUp(position)) this.siftDown(position);
  }

  /** Returns whether the item moved. */
  private siftUp(position: number): boolean {
    const items = this.items;
    const item = items[position] as T;
    let hole = position;
    while (hole > 0) {
      const parentPosition = (hole - 1) >> 1;
      const parent = items[parentPosition] as T;
      if (!this.precedes(item, parent)) break;
      items[hole] = parent;
      this.setPosition(parent, hole);
      hole = parentPosition;
    }
    if (hole === position) return false;
    items[hole] = item;
    this.setPosition(item, hole);
    return true;
  }

  private siftDown(position: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[position] as T;
    let hole = position;
    for (;;) {
      let child = 2 * hole + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this.precedes(items[right] as T, items[child] as T)) child = right;
      const childItem = items[child] as T;
      if (!this.precedes(childItem, item)) break;
      items[hole] = childItem;
      this.setPosition(childItem, hole);
      hole = child;
    }
    if (hole !== position) {
      items[hole] = item;
      this.setPosition(item, hole);
    }
  }

  private pushCandidate(position: number): void {
    const candidates = this.candidates;
    const items = this.items;
    const item = items[position] as T;
    let hole = candidates.length;
    candidates.push(position);
    while (hole > 0) {
      const parent = (hole - 1) >> 1;
      const parentPosition = candidates[parent] as number;
      if (!this.precedes(item, items[parentPosition] as T)) break;
      candidates[hole] = parentPosition;
      hole = parent;
    }
    candidates[hole] = position;
  }

  private popCandidate(): number {
    const candidates = this.candidates;
    const items = this.items;
    const top = candidates[0] as number;
    const last = candidates.pop() as number;
    const n = candidates.length;
    if (n === 0) return top;
    const lastItem = items[last] as T;
    let hole = 0;
    for (;;) {
      let child = 2 * hole + 1;
      if (child >= n) break;
      if (child + 1 < n && this.precedes(items[candidates[child + 1] as number] as T, items[candidates[child] as number] as T)) child++;
      const childPosition = candidates[child] as number;
      if (!this.precedes(items[childPosition] as T, lastItem)) break;
      candidates[hole] = childPosition;
      hole = child;
    }
    candidates[hole] = last;
    return top;
  }
}
