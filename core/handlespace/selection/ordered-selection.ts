/**
 * The sorted selection shared by RR, PRIO, LU, LUD and PLU (and the heap WRR uses): elements ordered by a
 * policy key, then by a sequence number, so a resolution takes the first k, O(k log n).
 *
 * Round robin among equal keys: after a resolution, the first element returned of each key gets a new,
 * largest sequence number and so moves behind every element with that key. For RR (one key for all) this
 * is the RFC's "the head advances by one per resolution", as RSPLIB does it; for PRIO, LU and PLU it also
 * rotates a group of equals that is not at the top (RSPLIB moves only the very first element, so with
 * k = 3 and one least-loaded element the 2nd and 3rd places would never rotate).
 */
import type { ElementNode, ElementRecord } from '../element.js';
import { IndexedHeap } from '../indexed-heap.js';
import type { SelectionIndex } from './selection-index.js';

export class SelectionHeap extends IndexedHeap<ElementNode> {
  protected precedes(a: ElementNode, b: ElementNode): boolean {
    return a.key < b.key || (a.key === b.key && a.seq < b.seq);
  }
  protected positionOf(node: ElementNode): number {
    return node.selPos;
  }
  protected setPosition(node: ElementNode, position: number): void {
    node.selPos = position;
  }
}

export abstract class OrderedSelection implements SelectionIndex {
  protected readonly heap = new SelectionHeap();
  /** Next sequence number; a double, so it cannot wrap in any realistic lifetime (2^53 resolutions). */
  protected nextSeq = 0;

  /** The policy's sort key for an element: smaller is chosen first. */
  protected abstract keyOf(record: ElementRecord): number;

  get size(): number {
    return this.heap.size;
  }

  add(node: ElementNode): void {
    node.key = this.keyOf(node.record);
    node.seq = this.nextSeq++;
    this.heap.insert(node);
  }

  remove(node: ElementNode): void {
    this.heap.remove(node);
  }

  update(node: ElementNode): void {
    const key = this.keyOf(node.record);
    if (key === node.key) return;
    node.key = key;
    this.heap.update(node);
  }

  select(k: number, out: ElementNode[]): void {
    const start = out.length;
    this.heap.smallest(k, out);
    // `out` is sorted by key, so the first of each key is where the key changes.
    let previousKey = NaN;
    for (let i = start; i < out.length; i++) {
      const node = out[i] as ElementNode;
      const key = node.key;
      const firstOfKey = key !== previousKey;
      previousKey = key;
      const newKey = this.keyAfterReturn(node);
      if (newKey !== key || firstOfKey) {
        node.key = newKey;
        node.seq = this.nextSeq++;
        this.heap.update(node);
      }
    }
  }

  /** The policy's side effect of returning an element (LUD degradation): its new key. */
  protected keyAfterReturn(node: ElementNode): number {
    return node.key;
  }
}
