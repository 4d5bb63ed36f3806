/**
 * Bounded fuzzing: the decoder is total. 120,000 inputs (random bytes, and valid encodings with bytes
 * flipped, inserted, deleted or truncated, and with lengths rewritten) never make it throw, never hit its
 * internal-error safety net, and always finish; every error names an offset inside the input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeMessage } from '../../core/wire/encoder.js';
import { decodeMessage } from '../../core/wire/decoder.js';
import { TcpFramer } from '../../core/wire/tcp-framer.js';
import type { Protocol } from '../../core/wire/types.js';
import { message } from '../support/wire-arbitraries.js';

/** A small deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  const bytes = Array.from(input);
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * Math.max(bytes.length, 1));
    switch (Math.floor(rand() * 6)) {
      case 0:
        bytes[at] = Math.floor(rand() * 256);
        break;
      case 1:
        bytes[at] = (bytes[at] ?? 0) ^ (1 << Math.floor(rand() * 8));
        break;
      case 2:
        bytes.splice(at, 0, Math.floor(rand() * 256));
        break;
      case 3:
        bytes.splice(at, 1 + Math.floor(rand() * 4));
        break;
      case 4:
        bytes.length = Math.floor(rand() * bytes.length);
        break;
      default: {
        // Rewrite a 16-bit length-looking field: the classic way to confuse a TLV parser.
        const v = [0, 1, 3, 4, 5, 0xffff, Math.floor(rand() * 0x10000)][Math.floor(rand() * 7)] ?? 0;
        bytes[at] = v >> 8;
        bytes[at + 1] = v & 0xff;
        break;
      }
    }
  }
  return Uint8Array.from(bytes.slice(0, 70000));
}

const outcomes = { decoded: 0, rejected: 0, reasons: new Set<string>() };

function checkTotal(protocol: Protocol, input: Uint8Array): void {
  let result;
  try {
    result = decodeMessage(protocol, input);
  } catch (e) {
    assert.fail(`decoder threw on ${Buffer.from(input).toString('hex')}: ${String(e)}`);
  }
  if (result.ok) outcomes.decoded++;
  else {
    outcomes.rejected++;
    outcomes.reasons.add(result.error.rule);
    assert.notEqual(result.error.internal, true, `${result.error.reason} on ${Buffer.from(input).toString('hex')}`);
    assert.ok(result.error.offset >= 0 && result.error.offset <= input.length);
  }
}

test('fuzz: 120,000 random and mutated inputs never throw and never reach the safety net', { timeout: 120_000 }, () => {
  const seed = Number(process.env['FUZZ_SEED'] ?? 20261127);
  const rand = prng(seed);
  const corpus = fc.sample(message, { numRuns: 2000, seed }).map((m) => ({ protocol: m.protocol, bytes: encodeMessage(m) }));
  const started = Date.now();
  let count = 0;
  for (let i = 0; i < 20_000; i++) {
    const random = Uint8Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256));
    // Give random bytes a plausible header half of the time, so they reach the parameter parser.
    if (random.length >= 4 && rand() < 0.5) {
      random[2] = random.length >> 8;
      random[3] = random.length & 0xff;
    }
    checkTotal(rand() < 0.5 ? 'asap' : 'enrp', random);
    count++;
  }
  for (let i = 0; i < 100_000; i++) {
    const base = corpus[i % corpus.length]!;
    const protocol: Protocol = rand() < 0.9 ? base.protocol : base.protocol === 'asap' ? 'enrp' : 'asap';
    checkTotal(protocol, mutate(base.bytes, rand));
    count++;
  }
  assert.equal(count, 120_000);
  // The inputs must reach deep into the parser, not all die at the header.
  assert.ok(outcomes.decoded > 1000, `only ${outcomes.decoded} mutated inputs still decoded`);
  assert.ok(outcomes.reasons.size >= 6, `only ${outcomes.reasons.size} distinct rules hit: ${[...outcomes.reasons].join('; ')}`);
  assert.ok(Date.now() - started < 110_000, 'fuzzing stays within its time bound');
});

test('fuzz: the TCP framer survives random streams in random chunks', () => {
  const rand = prng(7);
  for (let run = 0; run < 2000; run++) {
    const framer = new TcpFramer();
    const stream = Uint8Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256));
    let at = 0;
    let errors = 0;
    let framed = 0;
    while (at < stream.length) {
      const n = 1 + Math.floor(rand() * 40);
      for (const event of framer.push(stream.subarray(at, at + n))) {
        if (event.kind === 'error') errors++;
        else framed += event.bytes.length;
      }
      at += n;
    }
    assert.ok(errors <= 1, 'at most one error ends a stream');
    assert.ok(framed + framer.buffered <= stream.length);
  }
});
