/**
 * Elements ordered by when their registration life runs out: the earliest expiry in O(1), insert, re-key
 * and removal in O(log n). Elements with an infinite life (-1, expiresAt = Infinity) are not kept here.
 */
import type { ElementNode } from './element.js';
import { IndexedHeap } from './indexed-heap.js';

class ExpiryHeap extends IndexedHeap<ElementNode> {
  protected precedes(a: ElementNode, b: ElementNode): boolean {
    return a.record.expiresAt < b.record.expiresAt;
  }
  protected positionOf(node: ElementNode): number {
    return node.expiryPos;
  }
  protected setPosition(node: ElementNode, position: number): void {
    node.expiryPos = position;
  }
}

export class ExpiryIndex {
  private readonly heap = new ExpiryHeap();

  get size(): number {
    return this.heap.size;
  }

  /** Files the node under its current `record.expiresAt` (or drops it when that became infinite). */
  track(node: ElementNode): void {
    const finite = node.record.expiresAt !== Infinity;
    if (node.expiryPos >= 0) {
      if (finite) this.heap.update(node);
      else this.heap.remove(node);
    } else if (finite) {
      this.heap.insert(node);
    }
  }

  untrack(node: ElementNode): void {
    this.heap.remove(node);
  }

  /** The element that expires first, if any expires at all. */
  first(): ElementNode | undefined {
    return this.heap.peek();
  }
}
