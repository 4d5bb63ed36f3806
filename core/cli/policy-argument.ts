/**
 * `--policy` values of `handlespace pe`: rr, wrr:W, rand, wrand:W, prio:P, lu, lud:D, plu:D, rlu. Weights
 * and priorities are integers; a degradation D is a share of full load, written as a percentage ("5%") or as
 * a raw 32-bit value ("0x0ccccccc").
 */
import { err, ok, type Result } from '../result.js';
import { PolicyType } from '../wire/policy.js';
import type { Policy } from '../wire/types.js';

export const POLICY_SYNTAX = 'rr|wrr:W|rand|wrand:W|prio:P|lu|lud:D|plu:D|rlu';

function uint32(text: string, what: string): Result<number, string> {
  const value = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) return err(`${what} ${JSON.stringify(text)} is not a 32-bit unsigned integer`);
  return ok(value);
}

function share(text: string, what: string): Result<number, string> {
  if (text.endsWith('%')) {
    const percent = Number(text.slice(0, -1));
    if (!Number.isFinite(percent) || percent < 0 || percent > 100) return err(`${what} ${JSON.stringify(text)} is not a percentage 0-100%`);
    return ok(Math.round((percent / 100) * 0xffffffff));
  }
  return uint32(text, what);
}

export function parsePolicy(text: string): Result<Policy, string> {
  const [name = '', value, ...rest] = text.split(':');
  if (rest.length > 0) return err(`--policy ${JSON.stringify(text)}: expected ${POLICY_SYNTAX}`);
  const needs = (what: string): Result<Policy, string> => err(`--policy ${name} needs a ${what}, e.g. ${name}:${what === 'weight' || what === 'priority' ? '10' : '5%'}`);
  const noValue = (policy: Policy): Result<Policy, string> => (value === undefined ? ok(policy) : err(`--policy ${name} takes no value`));
  const withValue = (what: string, parse: (t: string, w: string) => Result<number, string>, build: (n: number) => Policy): Result<Policy, string> => {
    if (value === undefined) return needs(what);
    const parsed = parse(value, `${name} ${what}`);
    return parsed.ok ? ok(build(parsed.value)) : parsed;
  };
  switch (name) {
    case 'rr':
      return noValue({ type: PolicyType.roundRobin });
    case 'rand':
      return noValue({ type: PolicyType.random });
    case 'lu':
      return noValue({ type: PolicyType.leastUsed, load: 0 });
    case 'rlu':
      return noValue({ type: PolicyType.randomizedLeastUsed, load: 0 });
    case 'wrr':
      return withValue('weight', uint32, (weight) => ({ type: PolicyType.weightedRoundRobin, weight }));
    case 'wrand':
      return withValue('weight', uint32, (weight) => ({ type: PolicyType.weightedRandom, weight }));
    case 'prio':
      return withValue('priority', uint32, (priority) => ({ type: PolicyType.priority, priority }));
    case 'lud':
      return withValue('degradation', share, (loadDegradation) => ({ type: PolicyType.leastUsedDegradation, load: 0, loadDegradation }));
    case 'plu':
      return withValue('degradation', share, (loadDegradation) => ({ type: PolicyType.priorityLeastUsed, load: 0, loadDegradation }));
    default:
      return err(`--policy ${JSON.stringify(text)}: unknown policy; expected ${POLICY_SYNTAX}`);
  }
}

/** Whether the policy carries a load the element should report. */
export function reportsLoad(policy: Policy): boolean {
  return policy.load !== undefined;
}
