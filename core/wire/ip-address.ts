/**
 * IP address text <-> bytes for the IPv4 / IPv6 Address parameters. IPv6 text is written in the RFC 5952
 * canonical form (lower case, longest zero run compressed, IPv4-mapped in dotted form), so
 * decode -> encode -> decode is stable.
 */

export type AddressBytes = { readonly family: 4 | 6; readonly bytes: Uint8Array };

export function formatIpv4(buf: Uint8Array, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

export function formatIpv6(buf: Uint8Array, at: number): string {
  // RFC 5952 §5: an IPv4-mapped address is written with its IPv4 part in dotted form.
  let mapped = buf[at + 10] === 0xff && buf[at + 11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) mapped = buf[at + i] === 0;
  if (mapped) return `::ffff:${formatIpv4(buf, at + 12)}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((buf[at + 2 * i] ?? 0) << 8) | (buf[at + 2 * i + 1] ?? 0));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups (the first one on a tie).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (g: number): string => g.toString(16);
  if (bestStart < 0) return groups.map(hex).join(':');
  const head = groups.slice(0, bestStart).map(hex).join(':');
  const tail = groups.slice(bestStart + bestLength).map(hex).join(':');
  return `${head}::${tail}`;
}

/** Dotted quad only: four decimal parts 0-255 without leading zeros (no octal or shorthand forms). */
export function parseIpv4(text: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return undefined; // leading zero
      value = value * 10 + (c - 0x30);
      if (++digits > 3 || value > 255) return undefined;
    } else return undefined;
  }
  return part === 4 ? out : undefined;
}

export function parseIpv6(text: string): Uint8Array | undefined {
  let input = text;
  const zone = input.indexOf('%');
  if (zone >= 0) return undefined; // zone ids have no wire form
  const out = new Uint8Array(16);
  let tailV4: Uint8Array | undefined;
  const lastColon = input.lastIndexOf(':');
  if (lastColon >= 0 && input.indexOf('.', lastColon) > lastColon) {
    tailV4 = parseIpv4(input.slice(lastColon + 1));
    if (!tailV4) return undefined;
    input = `${input.slice(0, lastColon + 1)}0:0`;
  }
  const doubleColon = input.indexOf('::');
  if (doubleColon !== input.lastIndexOf('::')) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      groups.push(parseInt(g, 16));
    }
    return groups;
  };
  let groups: number[];
  if (doubleColon >= 0) {
    const head = parseGroups(input.slice(0, doubleColon));
    const tail = parseGroups(input.slice(doubleColon + 2));
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(input);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? 0;
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  }
  if (tailV4) out.set(tailV4, 12);
  return out;
}

/** Parses an address of either family; IPv6 is recognised by a colon. */
export function parseIpAddress(text: string): AddressBytes | undefined {
  if (text.includes(':')) {
    const bytes = parseIpv6(text);
    return bytes ? { family: 6, bytes } : undefined;
  }
  const bytes = parseIpv4(text);
  return bytes ? { family: 4, bytes } : undefined;
}
