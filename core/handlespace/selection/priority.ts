/**
 * Priority (RFC 5356 §4.5): highest priority first, in decreasing order; round robin among equal priorities.
 */
import type { ElementRecord } from '../element.js';
import { OrderedSelection } from './ordered-selection.js';

export class PrioritySelection extends OrderedSelection {
  protected keyOf(record: ElementRecord): number {
    // Larger priority = chosen first; 0 rather than -0 keeps keys comparable with ===.
    return 0 - (record.policy.priority ?? 0);
  }
}
