/**
 * Hand-built wire bytes for negative tests: lets a test write exactly the malformed message it means,
 * independent of the encoder under test.
 */
export function u8(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

export function u16(value: number): Uint8Array {
  return u8((value >> 8) & 0xff, value & 0xff);
}

export function u32(value: number): Uint8Array {
  return u8((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function pad(bytes: Uint8Array): Uint8Array {
  return concat(bytes, new Uint8Array((4 - (bytes.length % 4)) % 4));
}

/** A TLV with a correct length (unless `length` overrides it), padded. */
export function tlv(type: number, value: Uint8Array, length = 4 + value.length): Uint8Array {
  return pad(concat(u16(type), u16(length), value));
}

/** A message with a correct length (unless `length` overrides it), padded. */
export function msg(type: number, flags: number, body: Uint8Array, length = 4 + body.length): Uint8Array {
  return pad(concat(u8(type, flags), u16(length), body));
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const ipv4 = (a: number, b: number, c: number, d: number): Uint8Array => tlv(0x1, u8(a, b, c, d));
export const tcpTransport = (port: number, ...addresses: Uint8Array[]): Uint8Array => tlv(0x5, concat(u16(port), u16(0), ...addresses));
export const policyRr = (): Uint8Array => tlv(0x8, u32(1));
export const poolHandle = (s: string): Uint8Array => tlv(0x9, text(s));
export const peIdentifier = (id: number): Uint8Array => tlv(0xe, u32(id));
export function poolElement(id: number, life = 30000, inner: Uint8Array = concat(tcpTransport(7, ipv4(127, 0, 0, 1)), policyRr())): Uint8Array {
  return tlv(0xa, concat(u32(id), u32(0), u32(life >>> 0), inner));
}
