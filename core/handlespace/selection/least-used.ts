/**
 * Least Used (RFC 5356 §4.6) and Priority Least Used (§4.8): lowest key first, sorted ascending, round
 * robin among equal keys. LU's key is the load; PLU's is load + load degradation, both exact (a double
 * holds the 33-bit sum exactly; RSPLIB clamps it at 0xffffffff, which would merge distinct keys).
 */
import type { ElementRecord } from '../element.js';
import { OrderedSelection } from './ordered-selection.js';

export class LeastUsedSelection extends OrderedSelection {
  protected keyOf(record: ElementRecord): number {
    return record.policy.load ?? 0;
  }
}

export class PriorityLeastUsedSelection extends OrderedSelection {
  protected keyOf(record: ElementRecord): number {
    return (record.policy.load ?? 0) + (record.policy.loadDegradation ?? 0);
  }
}
