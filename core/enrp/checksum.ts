/**
 * The ENRP PE checksum (RFC 5353 §3.11, RFC 5354 §3.14) exactly as RSPLIB computes and sends it, so our
 * audit agrees with RSPLIB peers: per element, the 16-bit words of the pool handle (zero-padded) followed
 * by the PE identifier in network byte order; the words are added in host (little-endian) order into a
 * 32-bit accumulator that wraps, the carries are folded once at the end and the result is complemented
 * (`handlespaceChecksumFinish`). RSPLIB writes the 16-bit result to the wire as it lies in memory, so the
 * parameter's bytes are the little-endian bytes of that value.
 *
 * While the accumulator does not wrap (fewer than about 3,600 elements per owner) this is the RFC 1071
 * Internet checksum of the blocks; beyond, it is RSPLIB's value, which is what interoperates.
 */

/** The 32-bit partial sum of one element: handle words then the identifier, little-endian words. */
export function elementPartialSum(poolHandle: Uint8Array, peId: number): number {
  let sum = 0;
  const n = poolHandle.length;
  let i = 0;
  for (; i + 1 < n; i += 2) sum += (poolHandle[i] as number) | ((poolHandle[i + 1] as number) << 8);
  if (i < n) sum += poolHandle[i] as number;
  // htonl(id) in memory is b3 b2 b1 b0 (most significant first); read as two little-endian words.
  const b3 = (peId >>> 24) & 0xff;
  const b2 = (peId >>> 16) & 0xff;
  const b1 = (peId >>> 8) & 0xff;
  const b0 = peId & 0xff;
  sum += b3 | (b2 << 8);
  sum += b1 | (b0 << 8);
  return sum;
}

/** Adds a partial sum to a 32-bit accumulator the way RSPLIB's uint32 does (wrapping). */
export function accumulate(accumulator: number, partial: number): number {
  return (accumulator + partial) >>> 0;
}

/** Removes a partial sum again (RSPLIB's handlespaceChecksumSub, wrapping). */
export function deduct(accumulator: number, partial: number): number {
  return (accumulator - partial) >>> 0;
}

/** Folds the carries and complements: the 16-bit value RSPLIB holds in host order. */
export function finishChecksum(accumulator: number): number {
  let sum = accumulator >>> 0;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The value our codec puts in the PE Checksum parameter (it writes big-endian): RSPLIB's host value with
 * its bytes swapped, so the bytes on the wire are those RSPLIB writes on a little-endian host.
 */
export function wireChecksum(accumulator: number): number {
  const host = finishChecksum(accumulator);
  return ((host & 0xff) << 8) | (host >>> 8);
}

/** The wire checksum of a whole set of elements (tests and one-off audits). */
export function checksumOf(elements: Iterable<{ readonly poolHandle: Uint8Array; readonly id: number }>): number {
  let accumulator = 0;
  for (const e of elements) accumulator = accumulate(accumulator, elementPartialSum(e.poolHandle, e.id));
  return wireChecksum(accumulator);
}
