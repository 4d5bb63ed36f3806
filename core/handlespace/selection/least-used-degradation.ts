/**
 * Least Used with Degradation (RFC 5356 §4.7): key = load + degradation × load degradation, lowest first,
 * round robin among equals. Every element a resolution returns has its degradation counter raised by one
 * (the RFC's "each time the PE is returned"; RSPLIB raises only the first) and is re-keyed, so an element
 * that keeps being picked drifts back behind its peers until it re-registers (which resets the counter).
 *
 * The key is exact while degradation × load degradation stays below 2^53 (over two million returns between
 * two registrations at the largest load degradation); beyond that it rounds, and the order stays monotonic.
 */
import type { ElementNode, ElementRecord } from '../element.js';
import { OrderedSelection } from './ordered-selection.js';

export class LeastUsedDegradationSelection extends OrderedSelection {
  protected keyOf(record: ElementRecord): number {
    return (record.policy.load ?? 0) + record.degradation * (record.policy.loadDegradation ?? 0);
  }

  protected override keyAfterReturn(node: ElementNode): number {
    node.record.degradation++;
    return this.keyOf(node.record);
  }
}
