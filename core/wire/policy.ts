/**
 * Member selection policy types and the wire layout of their values (RFC 5356 §4, RSPLIB's private
 * policies from rserpool-policytypes.h / the RSPLIB message structs). The layout table is the one
 * source of truth used by the encoder, the decoder, the JSON form and the tests.
 */

export type PolicyField = 'weight' | 'priority' | 'load' | 'loadDegradation' | 'loadDpf' | 'weightDpf' | 'distance';

export interface PolicyDefinition {
  readonly type: number;
  /** Short name used in the CLI and JSON (e.g. `rr`, `wrr`). */
  readonly short: string;
  readonly name: string;
  /** 32-bit fields after the policy type, in wire order. */
  readonly fields: readonly PolicyField[];
  readonly origin: 'RFC 5356' | 'RSPLIB';
}

export const PolicyType = {
  roundRobin: 0x00000001,
  weightedRoundRobin: 0x00000002,
  random: 0x00000003,
  weightedRandom: 0x00000004,
  priority: 0x00000005,
  leastUsed: 0x40000001,
  leastUsedDegradation: 0x40000002,
  priorityLeastUsed: 0x40000003,
  randomizedLeastUsed: 0x40000004,
  randomizedPriorityLeastUsed: 0xb0001001,
  randomizedLeastUsedDegradation: 0xb0001002,
  priorityLeastUsedDegradation: 0xb0001003,
  randomizedPriorityLeastUsedDegradation: 0xb0001004,
  weightedRandomDpf: 0xb0002001,
  leastUsedDpf: 0xb0002002,
  leastUsedDegradationDpf: 0xb0002003,
  priorityLeastUsedDpf: 0xb0002004,
  priorityLeastUsedDegradationDpf: 0xb0002005,
} as const;

const definitions: readonly PolicyDefinition[] = [
  { type: PolicyType.roundRobin, short: 'rr', name: 'Round Robin', fields: [], origin: 'RFC 5356' },
  { type: PolicyType.weightedRoundRobin, short: 'wrr', name: 'Weighted Round Robin', fields: ['weight'], origin: 'RFC 5356' },
  { type: PolicyType.random, short: 'rand', name: 'Random', fields: [], origin: 'RFC 5356' },
  { type: PolicyType.weightedRandom, short: 'wrand', name: 'Weighted Random', fields: ['weight'], origin: 'RFC 5356' },
  { type: PolicyType.priority, short: 'prio', name: 'Priority', fields: ['priority'], origin: 'RFC 5356' },
  { type: PolicyType.leastUsed, short: 'lu', name: 'Least Used', fields: ['load'], origin: 'RFC 5356' },
  { type: PolicyType.leastUsedDegradation, short: 'lud', name: 'Least Used with Degradation', fields: ['load', 'loadDegradation'], origin: 'RFC 5356' },
  { type: PolicyType.priorityLeastUsed, short: 'plu', name: 'Priority Least Used', fields: ['load', 'loadDegradation'], origin: 'RFC 5356' },
  { type: PolicyType.randomizedLeastUsed, short: 'rlu', name: 'Randomized Least Used', fields: ['load'], origin: 'RFC 5356' },
  { type: PolicyType.randomizedPriorityLeastUsed, short: 'rplu', name: 'Randomized Priority Least Used', fields: ['load'], origin: 'RSPLIB' },
  { type: PolicyType.randomizedLeastUsedDegradation, short: 'rlud', name: 'Randomized Least Used with Degradation', fields: ['load', 'loadDegradation'], origin: 'RSPLIB' },
  { type: PolicyType.priorityLeastUsedDegradation, short: 'plud', name: 'Priority Least Used with Degradation', fields: ['load', 'loadDegradation'], origin: 'RSPLIB' },
  { type: PolicyType.randomizedPriorityLeastUsedDegradation, short: 'rplud', name: 'Randomized Priority Least Used with Degradation', fields: ['load', 'loadDegradation'], origin: 'RSPLIB' },
  { type: PolicyType.weightedRandomDpf, short: 'wrand-dpf', name: 'Weighted Random with Delay Penalty Factor', fields: ['weight', 'weightDpf', 'distance'], origin: 'RSPLIB' },
  { type: PolicyType.leastUsedDpf, short: 'lu-dpf', name: 'Least Used with Delay Penalty Factor', fields: ['load', 'loadDpf', 'distance'], origin: 'RSPLIB' },
  { type: PolicyType.leastUsedDegradationDpf, short: 'lud-dpf', name: 'Least Used with Degradation and Delay Penalty Factor', fields: ['load', 'loadDegradation', 'loadDpf', 'distance'], origin: 'RSPLIB' },
  { type: PolicyType.priorityLeastUsedDpf, short: 'plu-dpf', name: 'Priority Least Used with Delay Penalty Factor', fields: ['load', 'loadDpf', 'distance'], origin: 'RSPLIB' },
  { type: PolicyType.priorityLeastUsedDegradationDpf, short: 'plud-dpf', name: 'Priority Least Used with Degradation and Delay Penalty Factor', fields: ['load', 'loadDegradation', 'loadDpf', 'distance'], origin: 'RSPLIB' },
];

const byType = new Map<number, PolicyDefinition>(definitions.map((d) => [d.type, d]));
const byShort = new Map<string, PolicyDefinition>(definitions.map((d) => [d.short, d]));

export const POLICY_DEFINITIONS = definitions;

export function policyDefinition(type: number): PolicyDefinition | undefined {
  return byType.get(type);
}

export function policyByShortName(short: string): PolicyDefinition | undefined {
  return byShort.get(short);
}

/**
 * RFC 5356 §3: 0x00000000 and 0x40000000 are invalid; everything else is a policy number, known or not.
 */
export function isValidPolicyType(type: number): boolean {
  return type !== 0x00000000 && type !== 0x40000000;
}
