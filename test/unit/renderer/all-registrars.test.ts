/**
 * The "All registrars" overview (renderer/src/model/all-registrars.ts): connections grouped by ENRP peering
 * (transitively), pools merged per group with each element once from its home registrar's view, and the
 * per-registrar breakdown.
 *
 * The module imports its Connection type from connections.svelte.ts, which needs DOM types (Storage) the
 * root tsconfig does not have, so it is loaded with a computed specifier (tsc does not follow it) and its
 * functions are typed here against the fields they read. At run time it loads under tsx as is: that import
 * is type-only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ElementView, PoolCounts, RegistrarPeerView } from '../../../core/console/contract.js';
import { element } from './fixtures.js';

/** The parts of a Connection (and its LiveModel) that peerGroups and mergePools read. */
interface FakePool {
  readonly revision: number;
  readonly countsView: PoolCounts;
  readonly elements: Map<number, ElementView>;
}
interface FakeConnection {
  readonly id: string;
  readonly serverId: string | null;
  readonly model: {
    readonly registrar: { readonly serverId: string } | null;
    readonly registrars: readonly Pick<RegistrarPeerView, 'role' | 'serverId'>[];
    readonly poolList: readonly { readonly name: string }[];
    readonly pools: Map<string, FakePool>;
  } | null;
}
interface MergedPool {
  readonly key: string;
  readonly name: string;
  readonly registrars: readonly FakeConnection[];
  readonly peered: boolean;
  readonly counts: PoolCounts;
  readonly breakdown: readonly { readonly connection: FakeConnection; readonly counts: PoolCounts; readonly owned: number }[];
  readonly elements: readonly { readonly element: ElementView; readonly owner: FakeConnection }[];
}
interface AllRegistrarsModule {
  peerGroups(connections: readonly FakeConnection[]): FakeConnection[][];
  mergePools(connections: readonly FakeConnection[]): MergedPool[];
}

const specifier = '../../../renderer/src/model/all-registrars.js';
const { peerGroups, mergePools } = (await import(specifier)) as AllRegistrarsModule;

function connection(id: string, serverId: string | null, options: { peers?: string[]; pools?: Record<string, ElementView[]> } = {}): FakeConnection {
  const pools = new Map<string, FakePool>();
  for (const [name, elements] of Object.entries(options.pools ?? {})) {
    pools.set(name, { revision: 1, countsView: { ready: elements.length, draining: 0, maintenance: 0, failed: 0, suspect: 0, total: elements.length }, elements: new Map(elements.map((e) => [e.peId, e])) });
  }
  return {
    id,
    serverId,
    model:
      serverId === null
        ? { registrar: null, registrars: [], poolList: [], pools: new Map() }
        : {
            registrar: { serverId },
            registrars: [{ role: 'self', serverId }, ...(options.peers ?? []).map((peer) => ({ role: 'peer' as const, serverId: peer }))],
            poolList: [...pools.keys()].map((name) => ({ name })),
            pools,
          },
  };
}

const ids = (groups: FakeConnection[][]): string[][] => groups.map((group) => group.map((c) => c.id));

test('peerGroups: connections without a model or snapshot are left out', () => {
  const noToken: FakeConnection = { id: 'c0', serverId: null, model: null };
  const noSnapshot = connection('c1', null);
  const a = connection('c2', '0x0000000a');
  assert.deepEqual(ids(peerGroups([noToken, noSnapshot, a])), [['c2']]);
  assert.deepEqual(peerGroups([]), []);
});

test('peerGroups: peering is symmetric and transitive; unrelated registrars stay alone; list order kept', () => {
  const a = connection('a', '0x0000000a', { peers: ['0x0000000b'] });
  const b = connection('b', '0x0000000b');
  const c = connection('c', '0x0000000c', { peers: ['0x0000000b'] });
  const d = connection('d', '0x0000000d');
  // c lists b, a lists b: a, b and c are one handlespace even though a and c do not list each other.
  assert.deepEqual(ids(peerGroups([d, c, a, b])), [['d'], ['c', 'a', 'b']]);
  assert.deepEqual(ids(peerGroups([a, d, b])), [['a', 'b'], ['d']]);
});

test('peerGroups: the same registrar attached twice is one group; a "self" row does not peer', () => {
  const one = connection('one', '0x0000000a');
  const again = connection('again', '0x0000000a');
  assert.deepEqual(ids(peerGroups([one, again])), [['one', 'again']]);
  // A registrar whose table says "self" with another's id (a stale row) is not thereby a peer of it.
  const odd: FakeConnection = {
    id: 'odd',
    serverId: '0x0000000e',
    model: { registrar: { serverId: '0x0000000e' }, registrars: [{ role: 'self', serverId: '0x0000000f' }], poolList: [], pools: new Map() },
  };
  const f = connection('f', '0x0000000f');
  assert.deepEqual(ids(peerGroups([odd, f])), [['odd'], ['f']]);
});

test('mergePools: a pool on peered registrars is one row with each element once, owned by its home', () => {
  const A = '0x0000000a';
  const B = '0x0000000b';
  // Both registrars know both elements (ENRP shares the handlespace); element 1's home is A, 2's is B.
  const onA1 = element(1, { homeServerId: A, load: 0.1 });
  const onA2 = element(2, { homeServerId: B, load: 0.2, health: 'failed' });
  const onB1 = element(1, { homeServerId: A, load: 0.9 });
  const onB2 = element(2, { homeServerId: B, load: 0.8, health: 'failed' });
  const a = connection('a', A, { peers: [B], pools: { echo: [onA1, onA2] } });
  const b = connection('b', B, { pools: { echo: [onB2, onB1] } });
  const merged = mergePools([a, b]);
  assert.equal(merged.length, 1);
  const [pool] = merged;
  assert.ok(pool);
  assert.equal(pool.name, 'echo');
  assert.equal(pool.peered, true);
  assert.deepEqual(pool.registrars.map((c) => c.id), ['a', 'b']);
  assert.deepEqual(
    pool.elements.map(({ element: e, owner }) => [e.peId, e.load, owner.id]),
    [
      [1, 0.1, 'a'],
      [2, 0.8, 'b'],
    ],
    "each element from its home registrar's view",
  );
  // Counts come from the merged elements, not the sum of both registrars' counts.
  assert.deepEqual(pool.counts, { ready: 1, draining: 0, maintenance: 0, failed: 1, suspect: 0, total: 2 });
  assert.deepEqual(
    pool.breakdown.map((row) => [row.connection.id, row.owned, row.counts.total]),
    [
      ['a', 1, 2],
      ['b', 1, 2],
    ],
  );
});

test('mergePools: an element whose home is not attached keeps the first registrar it was seen on', () => {
  const far = '0x000000ff';
  const a = connection('a', '0x0000000a', { peers: ['0x0000000b'], pools: { echo: [element(5, { homeServerId: far, load: 0.1 })] } });
  const b = connection('b', '0x0000000b', { pools: { echo: [element(5, { homeServerId: far, load: 0.2 })] } });
  const [pool] = mergePools([a, b]);
  assert.ok(pool);
  assert.equal(pool.elements.length, 1);
  assert.equal(pool.elements[0]?.owner.id, 'a');
  assert.equal(pool.elements[0]?.element.load, 0.1);
  assert.deepEqual(pool.breakdown.map((row) => row.owned), [0, 0]);
});

test('mergePools: registrars that are not peers keep separate rows for the same handle, sorted by name', () => {
  const a = connection('a', '0x0000000a', { pools: { zeta: [element(1, { homeServerId: '0x0000000a' })], echo: [element(1, { homeServerId: '0x0000000a' })] } });
  const b = connection('b', '0x0000000b', { pools: { echo: [element(1, { homeServerId: '0x0000000b', admin: 'draining' })] } });
  const merged = mergePools([a, b]);
  assert.deepEqual(
    merged.map((p) => [p.name, p.registrars.map((c) => c.id).join(), p.peered]),
    [
      ['echo', 'a', false],
      ['echo', 'b', false],
      ['zeta', 'a', false],
    ],
  );
  assert.equal(new Set(merged.map((p) => p.key)).size, merged.length, 'keys are unique');
  assert.equal(merged[1]?.counts.draining, 1);
  assert.equal(merged[0]?.counts.ready, 1);
});

test('mergePools: elements sorted by id; a pool listed but not loaded on one registrar is skipped there', () => {
  const A = '0x0000000a';
  const a = connection('a', A, { peers: ['0x0000000b'], pools: { echo: [9, 3, 7].map((id) => element(id, { homeServerId: A })) } });
  const b = connection('b', '0x0000000b');
  const listedOnly: FakeConnection = { ...b, model: b.model && { ...b.model, poolList: [{ name: 'echo' }, { name: 'ghost' }] } };
  const merged = mergePools([a, listedOnly]);
  const echo = merged.find((p) => p.name === 'echo');
  assert.ok(echo);
  assert.deepEqual(echo.elements.map(({ element: e }) => e.peId), [3, 7, 9]);
  assert.deepEqual(echo.breakdown.map((row) => row.connection.id), ['a']);
  const ghost = merged.find((p) => p.name === 'ghost');
  assert.ok(ghost, 'a listed pool still gets its row');
  assert.deepEqual(ghost.elements, []);
  assert.equal(ghost.counts.total, 0);
});
