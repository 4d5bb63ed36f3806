/**
 * A min-heap of deadlines keyed by an owner: schedule, reschedule and cancel in O(log n), and one clock timer
 * for the earliest deadline only, so 100,000 elements cost one pending timer, not 100,000.
 */
import type { Clock, TimerHandle } from '../clock.js';

interface Entry<K> {
  key: K;
  due: number;
  index: number;
}

export class DeadlineQueue<K> {
  private readonly heap: Entry<K>[] = [];
  private readonly entries = new Map<K, Entry<K>>();
  private timer: TimerHandle | undefined;
  private timerDue = Infinity;
  private running = false;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: K) => void,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  dueOf(key: K): number | undefined {
    return this.entries.get(key)?.due;
  }

  /** Sets (or moves) the deadline of `key`. */
  schedule(key: K, due: number): void {
    const existing = this.entries.get(key);
    if (existing) {
      const earlier = due < existing.due;
      existing.due = due;
      if (earlier) this.up(existing.index);
      else this.down(existing.index);
    } else {
      const entry: Entry<K> = { key, due, index: this.heap.length };
      this.heap.push(entry);
      this.entries.set(key, entry);
      this.up(entry.index);
    }
    this.arm();
  }

  cancel(key: K): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const last = this.heap.pop();
    if (last && last !== entry) {
      this.heap[entry.index] = last;
      last.index = entry.index;
      this.up(last.index);
      this.down(last.index);
    }
    this.arm();
  }

  clear(): void {
    this.heap.length = 0;
    this.entries.clear();
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
  }

  /** Runs every deadline that is due now (also called by the timer). */
  runDue(): void {
    if (this.running) return;
    this.running = true;
    try {
      const now = this.clock.now();
      for (let top = this.heap[0]; top && top.due <= now; top = this.heap[0]) {
        this.cancel(top.key);
        this.onDue(top.key);
      }
    } finally {
      this.running = false;
      this.arm();
    }
  }

  private arm(): void {
    if (this.running) return;
    const next = this.heap[0]?.due ?? Infinity;
    if (next === this.timerDue) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = next;
    if (next !== Infinity) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.timerDue = Infinity;
        this.runDue();
      }, next - this.clock.now());
    }
  }

  private up(i: number): void {
    const heap = this.heap;
    const entry = heap[i];
    if (!entry) return;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex];
      if (!parent || parent.due <= entry.due) break;
      heap[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    heap[i] = entry;
    entry.index = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const entry = heap[i];
    if (!entry) return;
    const n = heap.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      const l = heap[left];
      const r = heap[right];
      if (r && l && r.due < l.due) child = right;
      const c = heap[child];
      if (!c || c.due >= entry.due) break;
      heap[i] = c;
      c.index = i;
      i = child;
    }
    heap[i] = entry;
    entry.index = i;
  }
}
