/**
 * Elements and pool users against the e2e registrar: real SDK elements (PoolElement) and a subscribed
 * pool user (PoolUser) for the flows, and a raw ASAP peer that registers thousands of elements over one
 * connection (one registration message each, pipelined) for the scale test and the UI benchmark.
 */
import { PoolElement } from '../../../core/client/pool-element.js';
import { PoolUser, type PeStatusEvent } from '../../../core/client/pool-user.js';
import { PolicyType } from '../../../core/wire/policy.js';
import type { Policy, PoolElement as WirePoolElement } from '../../../core/wire/types.js';
import { AsapTestPeer, handle } from '../../support/asap-test-peer.js';

export interface SdkPool {
  readonly elements: PoolElement[];
  close(): Promise<void>;
}

/** Registers `count` SDK elements in `pool` (ids `firstId`, `firstId + 1`, ...), Least Used. */
export async function registerSdkElements(asapPort: number, pool: string, count: number, firstId: number): Promise<SdkPool> {
  const elements: PoolElement[] = [];
  for (let i = 0; i < count; i++) {
    const element = new PoolElement({
      poolHandle: pool,
      identifier: firstId + i,
      userTransport: { host: '127.0.0.1', port: 17_000 + ((firstId + i) % 20_000) },
      policy: { type: PolicyType.leastUsed, load: 0 },
      registrars: [`127.0.0.1:${asapPort}`],
      announces: false,
    });
    await element.register();
    elements.push(element);
  }
  return {
    elements,
    close: async () => {
      await Promise.all(elements.map((e) => e.close().catch(() => undefined)));
    },
  };
}

export interface SubscribedUser {
  readonly user: PoolUser;
  /** Every PE Status pushed so far, in arrival order. */
  readonly statuses: PeStatusEvent[];
  /** Resolves with the first PE Status (arrived or arriving) that matches. */
  waitFor(match: (status: PeStatusEvent) => boolean, timeoutMs?: number): Promise<PeStatusEvent>;
  close(): Promise<void>;
}

export async function subscribeUser(asapPort: number, pool: string): Promise<SubscribedUser> {
  const user = new PoolUser({ registrars: [`127.0.0.1:${asapPort}`], announces: false });
  const statuses: PeStatusEvent[] = [];
  const waiters = new Set<{ match: (s: PeStatusEvent) => boolean; resolve: (s: PeStatusEvent) => void }>();
  user.on('pe-status', (event) => {
    statuses.push(event);
    for (const waiter of waiters) {
      if (waiter.match(event)) {
        waiters.delete(waiter);
        waiter.resolve(event);
      }
    }
  });
  const resolved = await user.resolve(pool, { subscribe: true });
  if (!resolved.ok) throw new Error(`the pool user could not subscribe to ${pool}: ${resolved.error.message}`);
  return {
    user,
    statuses,
    waitFor: (match, timeoutMs = 5000) => {
      const seen = statuses.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve: (s: PeStatusEvent) => (clearTimeout(timer), resolve(s)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching PE Status within ${timeoutMs} ms; received: ${JSON.stringify(statuses.map((s) => [s.status.peId, s.statusName, s.reasonName]))}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close: () => user.close(),
  };
}

export function wireElement(id: number, policy: Policy = { type: PolicyType.weightedRoundRobin, weight: 1 }): WirePoolElement {
  return {
    id,
    homeServerId: 0,
    // An hour: long enough for any test without re-registration traffic.
    registrationLife: 3_600_000,
    userTransport: { kind: 'tcp', port: 20_000 + (id % 40_000), transportUse: 0, address: '127.0.0.1' },
    policy,
  };
}

export interface BulkPool {
  readonly peer: AsapTestPeer;
  /** Sends a re-registration of element `id` with a new weight (a registrar event the console shows). */
  reweigh(id: number, weight: number): void;
  close(): Promise<void>;
}

/**
 * Registers elements `firstId .. firstId + count - 1` in `pool` over one ASAP connection that answers
 * keep-alives, and waits for every registration response.
 */
export async function registerBulk(asapPort: number, pool: string, count: number, firstId = 1, policy?: Policy): Promise<BulkPool> {
  const peer = (await AsapTestPeer.connect(asapPort)).answerKeepAlives();
  const poolHandle = handle(pool);
  let answered = 0;
  let rejected = 0;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${answered} of ${count} registrations answered within 60 s`)), 60_000);
    peer.socket.on('data', () => {
      for (const m of peer.received.splice(0)) {
        if (m.type !== 'registrationResponse') continue;
        answered++;
        if (m.reject) rejected++;
      }
      if (answered >= count) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  // Batches keep the socket's write buffer bounded.
  for (let i = 0; i < count; i++) {
    peer.send({ protocol: 'asap', type: 'registration', poolHandle, poolElement: wireElement(firstId + i, policy) });
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  await done;
  if (rejected > 0) throw new Error(`${rejected} of ${count} registrations were rejected`);
  return {
    peer,
    reweigh: (id, weight) => peer.send({ protocol: 'asap', type: 'registration', poolHandle, poolElement: wireElement(id, { type: PolicyType.weightedRoundRobin, weight }) }),
    close: () => peer.close(),
  };
}
