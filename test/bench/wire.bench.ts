/**
 * Codec throughput on one core: encodes and decodes per second for a registration and for handle
 * resolution responses with 3 and 128 pool elements. One JSON line per figure.
 */
import { encodeMessage } from '../../core/wire/encoder.js';
import { decodeMessage } from '../../core/wire/decoder.js';
import type { Message, PoolElement } from '../../core/wire/types.js';

const handle = new TextEncoder().encode('sip-proxy-pool');

function element(i: number): PoolElement {
  return {
    id: 0x10000000 + i,
    homeServerId: 0xabcdef01,
    registrationLife: 30000,
    userTransport: { kind: 'tcp', port: 5060, transportUse: 0, address: `10.0.${(i >> 8) & 255}.${i & 255}` },
    policy: { type: 0x40000001, load: (i * 7919) >>> 0 },
    asapTransport: { kind: 'tcp', port: 40000 + (i % 20000), transportUse: 0, address: `10.0.${(i >> 8) & 255}.${i & 255}` },
  };
}

const registration: Message = {
  protocol: 'asap',
  type: 'registration',
  poolHandle: handle,
  poolElement: { ...element(1), asapTransport: undefined } as PoolElement,
};
const response = (n: number): Message => ({
  protocol: 'asap',
  type: 'handleResolutionResponse',
  accepted: false,
  poolHandle: handle,
  overallPolicy: { type: 0x40000001, load: 0 },
  poolElements: Array.from({ length: n }, (_, i) => element(i)),
  peStatus: [],
});

interface Figure {
  readonly bench: 'wire';
  readonly figure: string;
  readonly opsPerSecond: number;
  readonly bytes: number;
  readonly iterations: number;
  readonly seconds: number;
}

/** Runs `op` repeatedly for about `seconds` after a warm-up; returns operations per second. */
function measure(op: () => void, seconds: number): { ops: number; iterations: number; elapsed: number } {
  const warmEnd = performance.now() + 300;
  while (performance.now() < warmEnd) for (let i = 0; i < 1000; i++) op();
  let iterations = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i++) op();
    iterations += 1000;
    now = performance.now();
  }
  const elapsed = (now - start) / 1000;
  return { ops: iterations / elapsed, iterations, elapsed };
}

export function runWireBench(seconds = Number(process.env['BENCH_SECONDS'] ?? 2)): Figure[] {
  const figures: Figure[] = [];
  const cases: [string, Message][] = [
    ['registration', registration],
    ['handle-resolution-response-3', response(3)],
    ['handle-resolution-response-128', response(128)],
  ];
  let sink = 0;
  for (const [name, message] of cases) {
    const bytes = encodeMessage(message);
    const enc = measure(() => {
      sink += encodeMessage(message).length;
    }, seconds);
    figures.push({ bench: 'wire', figure: `encode ${name}`, opsPerSecond: Math.round(enc.ops), bytes: bytes.length, iterations: enc.iterations, seconds: enc.elapsed });
    const dec = measure(() => {
      const r = decodeMessage('asap', bytes);
      if (!r.ok) throw new Error(r.error.reason);
      sink += 1;
    }, seconds);
    figures.push({ bench: 'wire', figure: `decode ${name}`, opsPerSecond: Math.round(dec.ops), bytes: bytes.length, iterations: dec.iterations, seconds: dec.elapsed });
  }
  if (sink === 0) throw new Error('unreachable: keeps the work observable');
  return figures;
}
