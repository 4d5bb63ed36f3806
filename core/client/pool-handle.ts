/**
 * Pool handles as the SDKs take them (text or bytes) and as they key maps (hex of the bytes). A pool handle
 * is opaque bytes on the wire (RFC 5354 §3.9); text is encoded as UTF-8. The length limit is RSPLIB's
 * MAX_POOLHANDLESIZE (32), the registrar's decoder limit (docs/protocol.md "Limits").
 */
import { DEFAULT_WIRE_LIMITS } from '../wire/limits.js';

export type PoolHandleInput = string | Uint8Array;

const textEncoder = new TextEncoder();

/**
 * The wire bytes of a pool handle (a copy). An empty or over-long handle is a caller bug: it could never be
 * registered or resolved, so it raises RangeError here rather than failing later on the wire.
 */
export function toPoolHandle(input: PoolHandleInput, maxLength: number = DEFAULT_WIRE_LIMITS.maxPoolHandleLength): Uint8Array {
  const bytes = typeof input === 'string' ? textEncoder.encode(input) : Uint8Array.from(input);
  if (bytes.length === 0) throw new RangeError('a pool handle needs at least one byte');
  if (bytes.length > maxLength) throw new RangeError(`pool handle of ${bytes.length} bytes is longer than ${maxLength} bytes`);
  return bytes;
}

/** A map key for a pool handle: one character per byte (cheaper than hex, computed on every push). */
export function handleKey(handle: Uint8Array): string {
  return String.fromCharCode.apply(null, handle as unknown as number[]);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
