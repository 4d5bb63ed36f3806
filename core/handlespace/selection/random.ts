/**
 * Random (RFC 5356 §4.3): k distinct elements, each k-subset equally likely. The selectable elements sit in
 * an array (swap-remove, so add and remove are O(1)); a resolution is a partial Fisher-Yates shuffle of
 * the array's front, O(k). The array's order carries no meaning, so the shuffle is simply kept.
 */
import type { ElementNode } from '../element.js';
import type { SelectionIndex } from './selection-index.js';

export class RandomSelection implements SelectionIndex {
  private readonly slots: ElementNode[] = [];

  constructor(private readonly random: () => number) {}

  get size(): number {
    return this.slots.length;
  }

  add(node: ElementNode): void {
    node.selPos = this.slots.length;
    this.slots.push(node);
  }

  remove(node: ElementNode): void {
    const slot = node.selPos;
    if (slot < 0) return;
    const last = this.slots.pop() as ElementNode;
    if (slot < this.slots.length) {
      this.slots[slot] = last;
      last.selPos = slot;
    }
    node.selPos = -1;
  }

  update(): void {
    // No policy values.
  }

  select(k: number, out: ElementNode[]): void {
    const slots = this.slots;
    const n = slots.length;
    const m = Math.min(k, n);
    for (let i = 0; i < m; i++) {
      const j = Math.min(n - 1, i + Math.floor(this.random() * (n - i)));
      const chosen = slots[j] as ElementNode;
      if (j !== i) {
        const displaced = slots[i] as ElementNode;
        slots[j] = displaced;
        displaced.selPos = j;
        slots[i] = chosen;
        chosen.selPos = i;
      }
      out.push(chosen);
    }
  }
}
