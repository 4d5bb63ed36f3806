/**
 * The ENRP PE checksum: equal to the RFC 1071 Internet checksum of the RFC 5353 §3.11 blocks (pool handle
 * padded to 32 bits, PE identifier) while RSPLIB's 32-bit accumulator does not wrap, and equal to a literal
 * transcription of RSPLIB's C (little-endian words, wrapping uint32, fold, complement, stored as it lies in
 * memory) beyond; the incremental ledger always agrees with a recomputation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checksumOf, elementPartialSum, wireChecksum } from '../../../core/enrp/checksum.js';
import { elementKey, OwnershipLedger } from '../../../core/enrp/ownership-ledger.js';

interface Block {
  readonly poolHandle: Uint8Array;
  readonly id: number;
}

/** RFC 1071 over big-endian words of the concatenated blocks, each handle zero-padded to 4 bytes. */
function rfc1071(blocks: readonly Block[]): number {
  let sum = 0;
  for (const { poolHandle, id } of blocks) {
    const padded = new Uint8Array(((poolHandle.length + 3) & ~3) + 4);
    padded.set(poolHandle);
    new DataView(padded.buffer).setUint32(padded.length - 4, id);
    for (let i = 0; i < padded.length; i += 2) {
      sum += ((padded[i] as number) << 8) | (padded[i + 1] as number);
      sum = (sum & 0xffff) + (sum >>> 16);
    }
  }
  return ~sum & 0xffff;
}

/** RSPLIB's poolElementNodeComputeChecksum + handlespaceChecksumAdd + handlespaceChecksumFinish on x86. */
function rsplibOnLittleEndian(blocks: readonly Block[]): number {
  let acc = 0;
  for (const { poolHandle, id } of blocks) {
    let pe = 0;
    const words = (bytes: Uint8Array): void => {
      let i = 0;
      for (; i + 1 < bytes.length; i += 2) pe = (pe + ((bytes[i] as number) | ((bytes[i + 1] as number) << 8))) >>> 0;
      if (i < bytes.length) pe = (pe + (bytes[i] as number)) >>> 0;
    };
    words(poolHandle);
    const idBytes = new Uint8Array(4);
    new DataView(idBytes.buffer).setUint32(0, id); // htonl
    words(idBytes);
    acc = (acc + pe) >>> 0;
  }
  while (acc >>> 16) acc = (acc & 0xffff) + (acc >>> 16);
  const host = ~acc & 0xffff;
  // `*checksum = value` on a little-endian host: low byte first on the wire; read back big-endian.
  return ((host & 0xff) << 8) | (host >>> 8);
}

const block = fc.record({ poolHandle: fc.uint8Array({ minLength: 1, maxLength: 32 }), id: fc.integer({ min: 0, max: 0xffffffff }) });

test('small handlespaces: the RFC 1071 checksum of the RFC 5353 blocks', () => {
  fc.assert(fc.property(fc.array(block, { maxLength: 200 }), (blocks) => assert.equal(checksumOf(blocks), rfc1071(blocks))));
  assert.equal(checksumOf([]), 0xffff, 'nothing owned: the complement of zero');
});

test('any handlespace: byte for byte what RSPLIB sends (its 32-bit accumulator wraps past ~3,600 elements)', () => {
  fc.assert(fc.property(fc.array(block, { maxLength: 200 }), (blocks) => assert.equal(checksumOf(blocks), rsplibOnLittleEndian(blocks))));
  const big: Block[] = [];
  for (let i = 0; i < 100_000; i++) big.push({ poolHandle: new Uint8Array([0xff, 0xff, 0xfe, i & 0xff]), id: (0xfffffff0 - i) >>> 0 });
  assert.equal(checksumOf(big), rsplibOnLittleEndian(big));
  assert.notEqual(rfc1071(big), rsplibOnLittleEndian(big), 'the vector is large enough to make the accumulator wrap');
});

test('a known vector: pool "echo", element 0x12345678', () => {
  // Words (big-endian): 6563 686f 1234 5678 → sum 0x1367e → fold 0x367f → complement 0xc980.
  assert.equal(checksumOf([{ poolHandle: new TextEncoder().encode('echo'), id: 0x12345678 }]), 0xc980);
  assert.equal(wireChecksum(elementPartialSum(new TextEncoder().encode('echo'), 0x12345678)), 0xc980);
});

test('the ownership ledger: incremental add, move and remove always equal a recomputation', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), block, owner: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('delete' as const), index: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const ledger = new OwnershipLedger();
      const truth = new Map<string, { block: Block; owner: number }>();
      for (const o of ops) {
        if (o.kind === 'set') {
          const key = elementKey(Buffer.from(o.block.poolHandle).toString('latin1'), o.block.id);
          // The same key always means the same pool and identifier.
          const existing = truth.get(key);
          const b = existing ? existing.block : o.block;
          ledger.set(key, b.poolHandle, b.id, o.owner);
          truth.set(key, { block: b, owner: o.owner });
        } else {
          const keys = [...truth.keys()];
          const key = keys[o.index % Math.max(1, keys.length)];
          if (key === undefined) continue;
          ledger.delete(key);
          truth.delete(key);
        }
      }
      for (let owner = 1; owner <= 4; owner++) {
        const owned = [...truth.values()].filter((v) => v.owner === owner).map((v) => v.block);
        assert.equal(ledger.checksum(owner), checksumOf(owned));
        assert.equal(ledger.count(owner), owned.length);
        assert.equal(ledger.keysOf(owner).length, owned.length);
      }
    }),
  );
});
