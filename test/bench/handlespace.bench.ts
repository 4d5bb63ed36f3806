/**
 * Handlespace figures: handle resolutions per second (3 elements each, RSPLIB's default) for every RFC 5356
 * policy at 10, 1,000, 10,000 and 100,000 elements in the pool, and heap bytes per element at 100,000
 * elements: in total (records, nodes, indexes and the element's decoded transports and policy, which the
 * handlespace keeps alive) and the handlespace's own share (the same elements built before the baseline).
 * Heap is measured after a full GC: global.gc when node runs with --expose-gc, else a gc function obtained
 * by setting V8's --expose-gc flag at run time; only if both fail, raw process.memoryUsage() deltas
 * (noisy; `gc` says which was used).
 */
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ManualClock } from '../../core/clock.js';
import { Handlespace } from '../../core/handlespace/handlespace.js';
import { PolicyType } from '../../core/wire/policy.js';
import type { Policy, PoolElement } from '../../core/wire/types.js';

const SIZES = [10, 1_000, 10_000, 100_000] as const;
const ITEMS = 3;

const POLICIES: readonly (readonly [string, (i: number) => Policy])[] = [
  ['rr', () => ({ type: PolicyType.roundRobin })],
  ['wrr', (i) => ({ type: PolicyType.weightedRoundRobin, weight: 1 + (i % 10) })],
  ['rand', () => ({ type: PolicyType.random })],
  ['wrand', (i) => ({ type: PolicyType.weightedRandom, weight: 1 + (i % 10) })],
  ['prio', (i) => ({ type: PolicyType.priority, priority: i % 100 })],
  ['lu', (i) => ({ type: PolicyType.leastUsed, load: (i * 2654435761) % 0xffffffff })],
  ['lud', (i) => ({ type: PolicyType.leastUsedDegradation, load: (i * 2654435761) % 0xffffffff, loadDegradation: 0x1000000 })],
  ['plu', (i) => ({ type: PolicyType.priorityLeastUsed, load: (i * 2654435761) % 0xffffffff, loadDegradation: i % 7 })],
  ['rlu', (i) => ({ type: PolicyType.randomizedLeastUsed, load: (i * 2654435761) % 0xffffffff })],
];

interface ResolutionFigure {
  readonly bench: 'handlespace';
  readonly figure: string;
  readonly policy: string;
  readonly elements: number;
  readonly items: number;
  readonly opsPerSecond: number;
  readonly iterations: number;
  readonly seconds: number;
}

interface MemoryFigure {
  readonly bench: 'handlespace';
  readonly figure: string;
  readonly policy: string;
  readonly elements: number;
  /** Everything retained per element, its decoded transports and policy included. */
  readonly heapBytesPerElement: number;
  /** What the handlespace adds on top of the element objects it is given. */
  readonly handlespaceBytesPerElement: number;
  readonly gc: 'global.gc' | 'v8 flag' | 'none';
}

/** What the registrar hands over: a decoded element with its own transport and policy objects. */
function element(i: number, policyOf: (i: number) => Policy): PoolElement {
  const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return {
    id: (0x10000000 + i) >>> 0,
    homeServerId: 0xabcdef01,
    registrationLife: 30_000,
    userTransport: { kind: 'tcp', port: 5060, transportUse: 0, address },
    policy: policyOf(i),
    asapTransport: { kind: 'tcp', port: 40_000 + (i % 20_000), transportUse: 0, address },
  };
}

function fill(hs: Handlespace, handle: Uint8Array, n: number, policyOf: (i: number) => Policy, given?: readonly PoolElement[]): void {
  for (let i = 0; i < n; i++) {
    const result = hs.register(handle, given?.[i] ?? element(i, policyOf), 1 + (i % 100), 0xabcdef01);
    if (!result.ok) throw new Error(`registration ${i} rejected: ${result.error.reason}`);
  }
}

/** Runs `op` for about `seconds` after a short warm-up; returns resolutions per second. */
function measure(op: () => void, seconds: number): { ops: number; iterations: number; elapsed: number } {
  const warmEnd = performance.now() + Math.min(200, seconds * 250);
  while (performance.now() < warmEnd) for (let i = 0; i < 100; i++) op();
  let iterations = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) op();
    iterations += 100;
    now = performance.now();
  }
  const elapsed = (now - start) / 1000;
  return { ops: iterations / elapsed, iterations, elapsed };
}

function findGc(): { readonly gc: (() => void) | undefined; readonly how: MemoryFigure['gc'] } {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return { gc: exposed, how: 'global.gc' };
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    if (typeof gc === 'function') return { gc: gc as () => void, how: 'v8 flag' };
  } catch {
    // Fall through to raw deltas.
  }
  return { gc: undefined, how: 'none' };
}

function heapUsed(gc: (() => void) | undefined): number {
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/**
 * Heap retained by a handlespace of `n` elements. Its own frame, so nothing of the previous measurement is
 * still referenced from a register when the baseline is taken.
 */
function heapGrowth(handle: Uint8Array, n: number, policyOf: (i: number) => Policy, gc: (() => void) | undefined, given?: readonly PoolElement[]): number {
  const before = heapUsed(gc);
  const hs = new Handlespace({ clock: new ManualClock() });
  fill(hs, handle, n, policyOf, given);
  // Resolve once so lazily grown scratch space is counted too.
  hs.resolve(handle, 128);
  const after = heapUsed(gc);
  if (hs.elementCount !== n) throw new Error('elements went missing');
  return after - before;
}

export function runHandlespaceBench(seconds = Number(process.env['BENCH_SECONDS'] ?? 0.5)): object[] {
  const figures: (ResolutionFigure | MemoryFigure)[] = [];
  const handle = new TextEncoder().encode('bench-pool');
  let sink = 0;

  for (const [name, policyOf] of POLICIES) {
    for (const n of SIZES) {
      const hs = new Handlespace({ clock: new ManualClock() });
      fill(hs, handle, n, policyOf);
      const run = measure(() => {
        const result = hs.resolve(handle, ITEMS);
        if (result.ok) sink += result.value.elements.length;
      }, seconds);
      figures.push({
        bench: 'handlespace',
        figure: `resolve ${name} k=${ITEMS} n=${n}`,
        policy: name,
        elements: n,
        items: ITEMS,
        opsPerSecond: Math.round(run.ops),
        iterations: run.iterations,
        seconds: Number(run.elapsed.toFixed(3)),
      });
    }
  }

  const n = 100_000;
  const { gc, how } = findGc();
  for (const [name, policyOf] of POLICIES) {
    const total = heapGrowth(handle, n, policyOf, gc);
    const given = Array.from({ length: n }, (_, i) => element(i, policyOf));
    const own = heapGrowth(handle, n, policyOf, gc, given);
    sink += given.length;
    figures.push({
      bench: 'handlespace',
      figure: `heap per element ${name} n=${n}`,
      policy: name,
      elements: n,
      heapBytesPerElement: Math.round(total / n),
      handlespaceBytesPerElement: Math.round(own / n),
      gc: how,
    });
  }
  if (sink < 0) console.log(sink);
  return figures;
}
