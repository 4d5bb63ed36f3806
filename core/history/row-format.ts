/**
 * How protocol values become column text: transports as "tcp 10.0.0.1:7001", policies as JSON with their
 * name, PE Status codes by name. One place, so the rows, the queries and the exports read the same.
 */
import { hex32, type Json } from '../wire/json.js';
import { policyDefinition } from '../wire/policy.js';
import { PeStatusCode, PeStatusReason, type Policy, type ServerTransport, type UserTransport } from '../wire/types.js';

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function formatTransport(transport: UserTransport | ServerTransport | undefined): string {
  if (!transport) return '';
  switch (transport.kind) {
    case 'sctp': {
      const addresses = transport.addresses.map((a) => (a.includes(':') ? `[${a}]` : a)).join(',');
      return `sctp ${addresses}:${transport.port}${transport.transportUse === 1 ? ' (data+control)' : ''}`;
    }
    case 'tcp':
      return `tcp ${hostPort(transport.address, transport.port)}${transport.transportUse === 1 ? ' (data+control)' : ''}`;
    case 'udp':
      return `udp ${hostPort(transport.address, transport.port)}`;
    case 'udpLite':
      return `udp-lite ${hostPort(transport.address, transport.port)}`;
    case 'dccp':
      return `dccp ${hostPort(transport.address, transport.port)} service ${transport.serviceCode}`;
    case 'opaque':
      return `opaque ${Buffer.from(transport.data).toString('hex')}`;
  }
}

/**
 * A policy parameter as JSON, its type by number and name. `withoutLoad` leaves the load out: what the
 * element's row keeps (the load changes all the time; its history is in the element events and metrics).
 */
export function policyToJson(policy: Policy, options: { readonly withoutLoad?: boolean } = {}): { [key: string]: Json } {
  const out: { [key: string]: Json } = { type: hex32(policy.type), policyName: policyDefinition(policy.type)?.name ?? 'unknown' };
  for (const [key, value] of Object.entries(policy)) {
    if (key === 'type' || value === undefined || (key === 'load' && options.withoutLoad)) continue;
    out[key] = value instanceof Uint8Array ? { hex: Buffer.from(value).toString('hex') } : (value as number);
  }
  return out;
}

/** Names by code, built once (looked up for every notification row written). */
const STATUS_NAMES = new Map<number, string>(Object.entries(PeStatusCode).map(([name, code]) => [code, name]));
const REASON_NAMES = new Map<number, string>(Object.entries(PeStatusReason).map(([name, code]) => [code, name]));

/** A PE Status code by name; an unknown code (a newer registrar's) as "statusN". */
export function statusName(code: number): string {
  return STATUS_NAMES.get(code) ?? `status${code}`;
}

export function reasonName(code: number): string {
  return REASON_NAMES.get(code) ?? `reason${code}`;
}

/** The last second isoTime formatted ("2026-11-27T00:53:44."): exports format runs of rows in the same second. */
let isoSecond = NaN;
let isoPrefix = '';
const MS_DIGITS = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(3, '0')}Z`);

/** Milliseconds since the epoch → ISO-8601 UTC ("2026-11-27T00:53:44.123Z"); '' for null. */
export function isoTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  if (!Number.isInteger(ms) || Math.abs(ms) > 8.64e15) return new Date(ms).toISOString(); // (beyond the Date range: throws, as before)
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    const iso = new Date(second * 1000).toISOString();
    isoPrefix = iso.slice(0, iso.length - 4);
    isoSecond = second;
  }
  return isoPrefix + (MS_DIGITS[ms - second * 1000] as string);
}
