/**
 * The "All registrars" overview: pools merged across connections. Registrars that are ENRP peers of each
 * other (one's snapshot lists the other's serverId among its registrars) share one handlespace, so a pool
 * handle on several of them is shown once, each element once (from its home registrar's view), with a
 * per-registrar breakdown; registrars that are not peers keep separate rows for the same handle.
 */
import type { ElementView, PoolCounts } from '../../../core/console/contract.js';
import type { Connection } from './connections.svelte.js';
import { countElement, emptyCounts } from './element-order.js';

export interface MergedElement {
  readonly element: ElementView;
  /** Where commands for it go: the connection whose registrar is its home, else the one it was seen on. */
  readonly owner: Connection;
}

export interface PoolBreakdown {
  readonly connection: Connection;
  readonly counts: PoolCounts;
  /** Elements whose home is this registrar. */
  readonly owned: number;
}

export interface MergedPool {
  /** Unique: pool name and the group's first connection. */
  readonly key: string;
  readonly name: string;
  readonly registrars: readonly Connection[];
  /** True when the registrars are ENRP peers (one handlespace). */
  readonly peered: boolean;
  readonly counts: PoolCounts;
  readonly breakdown: readonly PoolBreakdown[];
  readonly elements: readonly MergedElement[];
}

/** Connections with a snapshot, grouped by ENRP peering (transitively), in list order. */
export function peerGroups(connections: readonly Connection[]): Connection[][] {
  const withData = connections.filter((c) => c.model?.registrar);
  const parent = withData.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i] ?? i)));
  const listed = (a: Connection, b: Connection): boolean => {
    const id = b.serverId;
    return id !== null && (a.model?.registrars ?? []).some((r) => r.role !== 'self' && r.serverId === id);
  };
  for (let i = 0; i < withData.length; i++) {
    for (let j = i + 1; j < withData.length; j++) {
      const a = withData[i];
      const b = withData[j];
      if (a && b && (listed(a, b) || listed(b, a) || (a.serverId !== null && a.serverId === b.serverId))) parent[find(j)] = find(i);
    }
  }
  const groups = new Map<number, Connection[]>();
  withData.forEach((c, i) => {
    const root = find(i);
    groups.set(root, [...(groups.get(root) ?? []), c]);
  });
  return [...groups.values()];
}

/** The merged pools of every group, sorted by pool name. Reading it follows every model's pools. */
export function mergePools(connections: readonly Connection[]): MergedPool[] {
  const out: MergedPool[] = [];
  for (const group of peerGroups(connections)) {
    const names = new Set<string>();
    for (const c of group) for (const pool of c.model?.poolList ?? []) names.add(pool.name);
    for (const name of names) {
      const elements = new Map<number, MergedElement>();
      const breakdown: PoolBreakdown[] = [];
      for (const c of group) {
        const pool = c.model?.pools.get(name);
        if (!pool) continue;
        void pool.revision;
        breakdown.push({ connection: c, counts: pool.countsView, owned: [...pool.elements.values()].filter((e) => e.homeServerId === c.serverId).length });
        for (const element of pool.elements.values()) {
          const seen = elements.get(element.peId);
          const home = element.homeServerId === c.serverId;
          if (!seen || (home && seen.owner.serverId !== element.homeServerId)) elements.set(element.peId, { element, owner: seen && !home ? seen.owner : c });
        }
      }
      const counts = emptyCounts();
      for (const { element } of elements.values()) countElement(counts, element, 1);
      const first = group[0];
      out.push({
        key: `${name}\u0000${first?.id ?? ''}`,
        name,
        registrars: group,
        peered: group.length > 1,
        counts,
        breakdown,
        elements: [...elements.values()].sort((a, b) => a.element.peId - b.element.peId),
      });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.key.localeCompare(b.key));
}
