/**
 * Weighted Round Robin (RFC 5356 §4.2) as stride scheduling: each element has a pass value and a stride
 * inversely proportional to its weight; a resolution returns the k elements with the smallest pass, and
 * the first of them (the head) advances its pass by its stride. Over time each element is the head in
 * proportion to its weight, and its turns are evenly spread (never a run of one element while others are
 * due). Weight 0 means "cannot serve": such an element is never selected.
 *
 * A newcomer's first pass is the current virtual time plus a fraction of its stride, the fractions of
 * successive newcomers following the golden-ratio sequence (0.618, 0.236, 0.854, ...): elements of equal
 * weight then fall due at staggered times instead of all together, which would otherwise give a heavy
 * element long runs between them (weights 8:1:1 would be served 1111111123 rather than 1111213111).
 *
 * Passes are integers (stride = floor(2^44 / weight), at least 4096), so arithmetic is exact; all passes
 * stay within one largest stride of the smallest, and when they grow past 2^52 every pass is shifted down
 * by the smallest one (O(n), but only after billions of resolutions).
 */
import type { ElementNode, ElementRecord } from '../element.js';
import { SelectionHeap } from './ordered-selection.js';
import type { SelectionIndex } from './selection-index.js';

const STRIDE_ONE = 2 ** 44;
const GOLDEN_FRACTION = (Math.sqrt(5) - 1) / 2;
const RENORMALIZE_ABOVE = 2 ** 52;

function strideOf(record: ElementRecord): number {
  const weight = record.policy.weight ?? 0;
  return weight > 0 ? Math.floor(STRIDE_ONE / weight) : 0;
}

export class WeightedRoundRobinSelection implements SelectionIndex {
  private readonly heap = new SelectionHeap();
  private nextSeq = 0;
  /** The pass of the last head: where the pool's virtual time stands when the heap is empty. */
  private lastPass = 0;
  /** Position in the golden-ratio sequence of join phases. */
  private joinPhase = 0;

  get size(): number {
    return this.heap.size;
  }

  /** The pool's virtual time: the smallest pass. */
  private virtualTime(): number {
    return this.heap.peek()?.key ?? this.lastPass;
  }

  add(node: ElementNode): void {
    const stride = strideOf(node.record);
    if (stride === 0) return;
    // A newcomer joins within one stride of the current virtual time: it neither waits behind the elements
    // that were served already nor jumps ahead of everyone whose turn is due.
    this.joinPhase = (this.joinPhase + GOLDEN_FRACTION) % 1;
    node.key = this.virtualTime() + Math.max(1, Math.floor(stride * this.joinPhase));
    node.seq = this.nextSeq++;
    this.heap.insert(node);
  }

  remove(node: ElementNode): void {
    this.heap.remove(node);
  }

  update(node: ElementNode): void {
    const stride = strideOf(node.record);
    if (stride === 0) {
      this.heap.remove(node);
      return;
    }
    if (node.selPos < 0) {
      this.add(node);
      return;
    }
    // A larger weight takes effect at once: the next turn is at most one new stride away.
    const latest = this.virtualTime() + stride;
    if (node.key > latest) {
      node.key = latest;
      this.heap.update(node);
    }
  }

  select(k: number, out: ElementNode[]): void {
    const start = out.length;
    this.heap.smallest(k, out);
    if (out.length === start) return;
    const head = out[start] as ElementNode;
    this.lastPass = head.key;
    head.key += strideOf(head.record);
    head.seq = this.nextSeq++;
    this.heap.update(head);
    if (head.key > RENORMALIZE_ABOVE) this.renormalize();
  }

  private renormalize(): void {
    const base = this.virtualTime();
    // Exact integer subtraction keeps the order, so the heap stays valid.
    this.heap.forEach((node) => {
      node.key -= base;
    });
    this.lastPass -= base;
  }
}
