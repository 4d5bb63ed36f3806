/**
 * What the element table shows and in which order: the effective state of an element, the filters and the
 * sort keys. Pure functions over ElementView, so the 10,000-row table can decide cheaply whether a live
 * update changes the order or only a row's content.
 */
import type { ElementView, PoolCounts } from '../../../core/console/contract.js';

/** The one word an operator reads first: admin state wins over health (a drained failed element is "draining"). */
export type EffectiveState = 'ready' | 'draining' | 'maintenance' | 'failed' | 'suspect';

export function effectiveState(element: ElementView): EffectiveState {
  if (element.admin.state !== 'ready') return element.admin.state;
  if (element.health.state === 'failed') return 'failed';
  if (element.health.state === 'suspect') return 'suspect';
  return 'ready';
}

/** The state that changed last, with its time and cause: "since when and why". */
export function latestState(element: ElementView): { readonly state: string; readonly since: number; readonly cause: string } {
  const admin = element.admin;
  const health = element.health;
  if (admin.state !== 'ready') return admin;
  if (health.state !== 'up') return health;
  return admin.since >= health.since ? admin : health;
}

export function emptyCounts(): { -readonly [K in keyof PoolCounts]: number } {
  return { ready: 0, draining: 0, maintenance: 0, failed: 0, suspect: 0, total: 0 };
}

/**
 * Adds (sign 1) or removes (sign -1) an element's contribution to its pool's counts, by the server's rule
 * (core/console/element-view.ts): admin state first; a suspect element still counts as ready (and suspect).
 */
export function countElement(counts: { -readonly [K in keyof PoolCounts]: number }, element: ElementView, sign: 1 | -1): void {
  counts.total += sign;
  if (element.admin.state === 'draining') counts.draining += sign;
  else if (element.admin.state === 'maintenance') counts.maintenance += sign;
  else if (element.health.state === 'failed') counts.failed += sign;
  else {
    counts.ready += sign;
    if (element.health.state === 'suspect') counts.suspect += sign;
  }
}

export type StateFilter = 'all' | 'unhealthy' | 'notReady' | EffectiveState;

export const STATE_FILTERS: readonly { readonly value: StateFilter; readonly label: string }[] = [
  { value: 'all', label: 'All elements' },
  { value: 'unhealthy', label: 'Only unhealthy (failed or suspect)' },
  { value: 'notReady', label: 'Not ready (any reason)' },
  { value: 'ready', label: 'Ready' },
  { value: 'draining', label: 'Draining' },
  { value: 'maintenance', label: 'Maintenance' },
  { value: 'failed', label: 'Failed' },
  { value: 'suspect', label: 'Suspect' },
];

export type SortKey = 'id' | 'address' | 'state' | 'since' | 'load' | 'weight' | 'registered' | 'heard';

export interface TableQuery {
  readonly search: string;
  readonly state: StateFilter;
  readonly sort: SortKey;
  readonly descending: boolean;
}

export const DEFAULT_QUERY: TableQuery = { search: '', state: 'all', sort: 'id', descending: false };

function passesState(element: ElementView, filter: StateFilter): boolean {
  if (filter === 'all') return true;
  if (filter === 'unhealthy') return element.health.state !== 'up';
  const state = effectiveState(element);
  if (filter === 'notReady') return state !== 'ready';
  return state === filter;
}

/** Lower-cased text the search box matches: ids (hex and decimal), addresses, causes, home registrar. */
function searchText(element: ElementView): string {
  return [
    element.peIdHex,
    String(element.peId),
    ...element.addresses,
    element.admin.state,
    element.health.state,
    element.admin.cause,
    element.health.cause,
    element.homeServerId,
    element.policy,
  ]
    .join(' ')
    .toLowerCase();
}

export function passes(element: ElementView, query: TableQuery): boolean {
  if (!passesState(element, query.state)) return false;
  const needle = query.search.trim().toLowerCase();
  return needle === '' || searchText(element).includes(needle);
}

const STATE_RANK: Record<EffectiveState, number> = { failed: 0, suspect: 1, maintenance: 2, draining: 3, ready: 4 };

export function sortValue(element: ElementView, key: SortKey): number | string {
  switch (key) {
    case 'id':
      return element.peId;
    case 'address':
      return element.addresses[0] ?? '';
    case 'state':
      return STATE_RANK[effectiveState(element)];
    case 'since':
      return latestState(element).since;
    case 'load':
      return element.load ?? -1;
    case 'weight':
      return element.policyValues['weight'] ?? element.policyValues['priority'] ?? -1;
    case 'registered':
      return element.registeredAt;
    case 'heard':
      return element.lastHeardAt;
  }
}

/** A string that changes exactly when the element's place in the ordered, filtered list may change. */
export function orderSignature(element: ElementView, query: TableQuery): string {
  return passes(element, query) ? `+${String(sortValue(element, query.sort))}` : '-';
}

/** The filtered, sorted element ids. Ties are broken by id so the order is stable across updates. */
export function orderElements(elements: Iterable<ElementView>, query: TableQuery): number[] {
  const keyed: { id: number; key: number | string }[] = [];
  for (const element of elements) {
    if (passes(element, query)) keyed.push({ id: element.peId, key: sortValue(element, query.sort) });
  }
  const direction = query.descending ? -1 : 1;
  keyed.sort((a, b) => {
    if (a.key !== b.key) {
      if (typeof a.key === 'number' && typeof b.key === 'number') return (a.key - b.key) * direction;
      return String(a.key).localeCompare(String(b.key), undefined, { numeric: true }) * direction;
    }
    return a.id - b.id;
  });
  return keyed.map((entry) => entry.id);
}
