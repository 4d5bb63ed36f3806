/**
 * Shared builders for the handlespace tests: pool elements of each policy, handles, a seeded PRNG.
 */
import { ManualClock } from '../../../core/clock.js';
import { Handlespace, type HandlespaceLimits } from '../../../core/handlespace/handlespace.js';
import { PolicyType } from '../../../core/wire/policy.js';
import type { Policy, PoolElement, UserTransport } from '../../../core/wire/types.js';

export { PolicyType };

/** sfc32: small, fast, good enough for statistics; deterministic from the seed. */
export function seededRandom(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

export function handle(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function tcp(port = 5060, address = '10.0.0.1', transportUse = 0): UserTransport {
  return { kind: 'tcp', port, transportUse, address };
}

export function pe(id: number, policy: Policy = { type: PolicyType.roundRobin }, overrides: Partial<PoolElement> = {}): PoolElement {
  return {
    id,
    homeServerId: 0,
    registrationLife: 30_000,
    userTransport: tcp(5060, `10.0.${(id >> 8) & 255}.${id & 255}`),
    policy,
    ...overrides,
  };
}

export function setup(options: { random?: () => number; limits?: Partial<HandlespaceLimits> } = {}): { clock: ManualClock; hs: Handlespace } {
  const clock = new ManualClock();
  const hs = new Handlespace({ clock, random: options.random ?? seededRandom(1), limits: options.limits });
  return { clock, hs };
}

/** Registers or fails the test. `connection` 'peer' registers as learned from a peer (connectionId undefined). */
export function mustRegister(hs: Handlespace, h: Uint8Array, element: PoolElement, connection: number | 'peer' = 1, homeServerId = 0x1234) {
  const result = hs.register(h, element, connection === 'peer' ? undefined : connection, homeServerId);
  if (!result.ok) throw new Error(`registration of ${element.id} rejected: 0x${result.error.cause.toString(16)} ${result.error.reason}`);
  return result.value;
}

/** PE ids of one resolution. */
export function resolveIds(hs: Handlespace, h: Uint8Array, items: number): number[] {
  const result = hs.resolve(h, items);
  if (!result.ok) throw new Error(`resolve failed: ${result.error}`);
  return result.value.elements.map((e) => e.id);
}
