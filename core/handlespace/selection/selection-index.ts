/**
 * The contract every per-pool selection index fulfils, and the factory that picks the index for a pool's
 * policy type. The pool adds an element when it becomes selectable (admin ready, health not failed) and
 * removes it when it stops being so; `update` re-keys a selectable element whose policy values (or LUD
 * degradation) changed. `select` costs O(k log n) or O(k) expected, never O(n).
 */
import { PolicyType } from '../../wire/policy.js';
import type { ElementNode } from '../element.js';
import { LeastUsedDegradationSelection } from './least-used-degradation.js';
import { LeastUsedSelection, PriorityLeastUsedSelection } from './least-used.js';
import { PrioritySelection } from './priority.js';
import { RandomSelection } from './random.js';
import { RoundRobinSelection } from './round-robin.js';
import { RandomizedLeastUsedSelection, WeightedRandomSelection } from './weighted-random.js';
import { WeightedRoundRobinSelection } from './weighted-round-robin.js';

export interface SelectionIndex {
  /** Elements that can currently be chosen (weight-0 elements of WRR are not counted). */
  readonly size: number;
  add(node: ElementNode): void;
  /** No-op for a node that is not in the index. */
  remove(node: ElementNode): void;
  update(node: ElementNode): void;
  /** Appends at most `k` distinct nodes to `out`, in the policy's order, and applies the policy's side effects. */
  select(k: number, out: ElementNode[]): void;
}

/** The nine RFC 5356 policies; every other type is refused at registration (see registration-rules.ts). */
export const SUPPORTED_POLICY_TYPES: ReadonlySet<number> = new Set([
  PolicyType.roundRobin,
  PolicyType.weightedRoundRobin,
  PolicyType.random,
  PolicyType.weightedRandom,
  PolicyType.priority,
  PolicyType.leastUsed,
  PolicyType.leastUsedDegradation,
  PolicyType.priorityLeastUsed,
  PolicyType.randomizedLeastUsed,
]);

export function createSelectionIndex(policyType: number, random: () => number): SelectionIndex {
  switch (policyType) {
    case PolicyType.roundRobin:
      return new RoundRobinSelection();
    case PolicyType.weightedRoundRobin:
      return new WeightedRoundRobinSelection();
    case PolicyType.random:
      return new RandomSelection(random);
    case PolicyType.weightedRandom:
      return new WeightedRandomSelection(random);
    case PolicyType.priority:
      return new PrioritySelection();
    case PolicyType.leastUsed:
      return new LeastUsedSelection();
    case PolicyType.leastUsedDegradation:
      return new LeastUsedDegradationSelection();
    case PolicyType.priorityLeastUsed:
      return new PriorityLeastUsedSelection();
    case PolicyType.randomizedLeastUsed:
      return new RandomizedLeastUsedSelection(random);
    default:
      // Registration refuses unsupported types before a pool exists, so this is a bug.
      throw new Error(`no selection index for policy type 0x${policyType.toString(16).padStart(8, '0')}`);
  }
}
