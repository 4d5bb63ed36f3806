/**
 * Round Robin (RFC 5356 §4.1): a circular list with a head; a resolution returns k elements from the head
 * and the head advances by one. Kept as the ordered selection with one key for all, so the order is the
 * sequence number and the head is the element with the oldest one.
 */
import { OrderedSelection } from './ordered-selection.js';

export class RoundRobinSelection extends OrderedSelection {
  protected keyOf(): number {
    return 0;
  }
}
