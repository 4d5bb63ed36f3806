/**
 * How a pool user picks one element from a handle-resolution answer, by the pool's overall policy
 * (RFC 5356, "PU side" of each policy): the registrar already did the real selection work, the user only
 * chooses within the list it got.
 *
 *   RR, WRR                    in the returned order, one after the other, starting over at the end
 *   RAND, WRAND                uniformly at random (the registrar's list is already weighted; weighting
 *                              again would skew the distribution)
 *   PRIO                       the highest priority (the first of them on a tie)
 *   LU, LUD, PLU               the first in the returned order (the registrar sorted by load)
 *   RLU                        at random, weight 0xffffffff − load
 *   RSPLIB's private policies  randomized ones like RLU (weight 0xffffffff − load) or like RAND (WRAND-DPF),
 *                              the others in the returned order
 *   unknown policy             round robin (RFC 5352: a missing overall policy means round robin)
 */
import { PolicyType } from '../wire/policy.js';
import type { Policy, PoolElement as WirePoolElement } from '../wire/types.js';

export interface SelectionState {
  /** Round-robin position in the current list; reset whenever the list is replaced. */
  rrCursor: number;
}

/** A random number in [0, 1). Injected so tests can fix the outcome. */
export type RandomSource = () => number;

type Rule = 'roundRobin' | 'random' | 'highestPriority' | 'inOrder' | 'loadWeightedRandom';

function ruleFor(policyType: number): Rule {
  switch (policyType) {
    case PolicyType.roundRobin:
    case PolicyType.weightedRoundRobin:
      return 'roundRobin';
    case PolicyType.random:
    case PolicyType.weightedRandom:
    case PolicyType.weightedRandomDpf:
      return 'random';
    case PolicyType.priority:
      return 'highestPriority';
    case PolicyType.leastUsed:
    case PolicyType.leastUsedDegradation:
    case PolicyType.priorityLeastUsed:
    case PolicyType.priorityLeastUsedDegradation:
    case PolicyType.leastUsedDpf:
    case PolicyType.leastUsedDegradationDpf:
    case PolicyType.priorityLeastUsedDpf:
    case PolicyType.priorityLeastUsedDegradationDpf:
      return 'inOrder';
    case PolicyType.randomizedLeastUsed:
    case PolicyType.randomizedPriorityLeastUsed:
    case PolicyType.randomizedLeastUsedDegradation:
    case PolicyType.randomizedPriorityLeastUsedDegradation:
      return 'loadWeightedRandom';
    default:
      return 'roundRobin';
  }
}

/** Round robin and random pools: the registrar's order says nothing about load, so any element is as good. */
export function orderCarriesNoLoad(policy: Policy): boolean {
  const rule = ruleFor(policy.type);
  return rule === 'roundRobin' || rule === 'random';
}

/** Picks one of `elements` (already filtered by the caller) per `policy`; undefined when the list is empty. */
export function selectElement(policy: Policy, elements: readonly WirePoolElement[], state: SelectionState, random: RandomSource): WirePoolElement | undefined {
  if (elements.length === 0) return undefined;
  switch (ruleFor(policy.type)) {
    case 'roundRobin': {
      const chosen = elements[state.rrCursor % elements.length];
      state.rrCursor = (state.rrCursor + 1) % elements.length;
      return chosen;
    }
    case 'random':
      return elements[Math.min(elements.length - 1, Math.floor(random() * elements.length))];
    case 'highestPriority': {
      let best = elements[0];
      for (const element of elements) if ((element.policy.priority ?? 0) > (best?.policy.priority ?? 0)) best = element;
      return best;
    }
    case 'inOrder':
      return elements[0];
    case 'loadWeightedRandom': {
      const weights = elements.map((element) => 0xffffffff - (element.policy.load ?? 0));
      const total = weights.reduce((sum, weight) => sum + weight, 0);
      // Every element fully loaded: no preference left, pick uniformly.
      if (total === 0) return elements[Math.min(elements.length - 1, Math.floor(random() * elements.length))];
      let point = random() * total;
      for (let i = 0; i < elements.length; i++) {
        point -= weights[i] ?? 0;
        if (point < 0) return elements[i];
      }
      return elements[elements.length - 1];
    }
  }
}
