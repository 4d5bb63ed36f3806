/**
 * Turning the registrar's live records into the console's plain JSON views (contract.ts), and parsing the
 * operator's names for pools and elements back into handle bytes and identifiers.
 */
import { hex32, poolHandleToText } from '../wire/json.js';
import { policyDefinition } from '../wire/policy.js';
import type { UserTransport } from '../wire/types.js';
import type { ElementRecord } from '../handlespace/element.js';
import { err, ok, type Result } from '../result.js';
import type { ElementView, PendingMaintenance, PoolCounts } from './contract.js';

/** Wire load values run 0 .. 0xffffffff (RFC 5356 §4.1); the console shows 0..1. */
const FULL_LOAD = 0xffffffff;
const MAX_POOL_HANDLE_BYTES = 32;

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function transportAddresses(transport: UserTransport): string[] {
  switch (transport.kind) {
    case 'sctp':
      return transport.addresses.map((a) => hostPort(a, transport.port));
    case 'opaque':
      return [`opaque ${Buffer.from(transport.data).toString('hex')}`];
    default:
      return [hostPort(transport.address, transport.port)];
  }
}

export function policyValues(element: ElementRecord): Record<string, number> {
  const values: Record<string, number> = {};
  for (const [key, value] of Object.entries(element.policy)) {
    if (key === 'type' || typeof value !== 'number') continue;
    values[key] = value;
  }
  return values;
}

export function loadOf(element: ElementRecord): number | null {
  return element.policy.load === undefined ? null : element.policy.load / FULL_LOAD;
}

export function policyName(type: number): string {
  return policyDefinition(type)?.name ?? `policy ${hex32(type)}`;
}

export function elementView(element: ElementRecord, lastHeardAt: number, pending: PendingMaintenance | null): ElementView {
  const asap = element.asapTransport;
  return {
    pool: poolHandleToText(element.poolHandle),
    peId: element.id,
    peIdHex: hex32(element.id),
    addresses: transportAddresses(element.userTransport),
    transport: element.userTransport.kind,
    admin: { ...element.admin },
    health: { ...element.health },
    load: loadOf(element),
    policy: policyName(element.policy.type),
    policyValues: policyValues(element),
    registrationLifeMs: element.registrationLife,
    registeredAt: element.registeredAt,
    lastRegistrationAt: element.lastRegistrationAt,
    lastHeardAt,
    homeServerId: hex32(element.homeServerId),
    asapAddress: asap && asap.kind === 'tcp' ? hostPort(asap.address, asap.port) : asap && asap.kind === 'sctp' ? transportAddresses(asap).join(',') : null,
    unreachableReports: element.unreachableReports,
    pendingMaintenance: pending,
  };
}

export function emptyCounts(): { -readonly [K in keyof PoolCounts]: number } {
  return { ready: 0, draining: 0, maintenance: 0, failed: 0, suspect: 0, total: 0 };
}

/** Admin state first: a draining element counts as draining whatever its health. */
export function countElement(counts: { -readonly [K in keyof PoolCounts]: number }, element: ElementRecord): void {
  counts.total++;
  if (element.admin.state === 'draining') counts.draining++;
  else if (element.admin.state === 'maintenance') counts.maintenance++;
  else if (element.health.state === 'failed') counts.failed++;
  else {
    counts.ready++;
    if (element.health.state === 'suspect') counts.suspect++;
  }
}

/**
 * A pool as an operator names it: `0x` + hex digits for the handle bytes, otherwise the text itself
 * (UTF-8). The inverse of poolHandleToText for every handle it prints.
 */
export function parsePoolName(text: string): Result<Uint8Array, string> {
  if (text.length === 0) return err('the pool name is empty');
  let bytes: Uint8Array;
  if (/^0[xX]/.test(text)) {
    const digits = text.slice(2);
    if (digits.length === 0 || digits.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(digits)) return err(`"${text}" is not a pool handle in hex (0x followed by pairs of hex digits)`);
    bytes = new Uint8Array(Buffer.from(digits, 'hex'));
  } else {
    bytes = new Uint8Array(Buffer.from(text, 'utf8'));
  }
  if (bytes.length > MAX_POOL_HANDLE_BYTES) return err(`a pool handle has at most ${MAX_POOL_HANDLE_BYTES} bytes (this one has ${bytes.length})`);
  return ok(bytes);
}

/** A PE identifier: `0x` hex or decimal, 32 bits. */
export function parsePeId(text: string): Result<number, string> {
  const value = /^0[xX][0-9a-fA-F]{1,8}$/.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) return err(`"${text}" is not an element identifier (0x hex or decimal, 32 bits)`);
  return ok(value);
}
