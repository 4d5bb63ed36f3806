/**
 * The server-side registration rules of RFC 5352 §3.1 that do not depend on the handlespace's state, and
 * the comparisons a re-registration needs: which values are invalid (cause 0x3), whether an element fits
 * its pool (0x5 policy type, 0x7 transport kind, 0x8 data/control use), who may renew an element (0x4),
 * and what a re-registration changed.
 */
import { Cause, INFINITE_REGISTRATION_LIFE } from '../wire/constants.js';
import { isValidPolicyType, policyDefinition } from '../wire/policy.js';
import type { Policy, PoolElement, ServerTransport, UserTransport } from '../wire/types.js';
import type { ChangedField, ElementRecord } from './element.js';
import { SUPPORTED_POLICY_TYPES } from './selection/selection-index.js';

export interface RegistrationRejection {
  /** Wire Cause code (RFC 5354 §3.12). */
  readonly cause: number;
  /** Human-readable explanation for logs and the console. */
  readonly reason: string;
  /** For 0x5: the pool's overall policy. */
  readonly policy?: Policy;
  /** For 0x7: a transport of the pool's kind (the pool's first element's user transport). */
  readonly transport?: UserTransport;
}

/** The pool-wide values the first element fixes. */
export interface PoolTraits {
  readonly policyType: number;
  readonly transportKind: UserTransport['kind'];
  readonly transportUse: number;
  readonly overallPolicy: Policy;
  readonly referenceTransport: UserTransport;
}

const UINT32_MAX = 0xffffffff;
const INT32_MAX = 0x7fffffff;

export function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= UINT32_MAX;
}

/** SCTP and TCP carry a data/control use (RFC 5354 §3.4; RSPLIB reads TCP's reserved field the same way). */
export function transportUseOf(transport: UserTransport): number {
  return transport.kind === 'sctp' || transport.kind === 'tcp' ? transport.transportUse : 0;
}

function invalid(reason: string): RegistrationRejection {
  return { cause: Cause.invalidValues, reason };
}

/** Why a policy type cannot be registered here, or undefined when it can. */
export function unsupportedPolicyReason(type: number): string | undefined {
  if (SUPPORTED_POLICY_TYPES.has(type)) return undefined;
  if (!isUint32(type)) return `policy type ${String(type)} is not a 32-bit number`;
  if (!isValidPolicyType(type)) return `policy type ${hex32(type)} is reserved as invalid (RFC 5356 §3)`;
  const definition = policyDefinition(type);
  if (definition && definition.origin === 'RSPLIB') {
    return `RSPLIB's experimental policy ${definition.name} (${hex32(type)}) is not supported by this registrar`;
  }
  return `unknown policy type ${hex32(type)}`;
}

/**
 * Values no pool would accept (cause 0x3 Invalid Values). A registration life of 0 is refused: the element
 * would expire the moment it registered (only -1 "infinite" or a positive number of milliseconds is valid).
 */
export function validateRegistration(handle: Uint8Array, pe: PoolElement): RegistrationRejection | undefined {
  if (handle.length === 0) return invalid('the pool handle is empty');
  if (!isUint32(pe.id)) return invalid(`PE identifier ${String(pe.id)} is not a 32-bit number`);
  const life = pe.registrationLife;
  if (!Number.isInteger(life) || life > INT32_MAX || (life < 1 && life !== INFINITE_REGISTRATION_LIFE)) {
    return invalid(
      life === 0
        ? 'registration life 0 ms: the element would expire at once (use -1 for infinite)'
        : `registration life ${String(life)} ms is invalid (a positive signed 32-bit number of ms, or -1 for infinite)`,
    );
  }
  const policy = pe.policy;
  const unsupported = unsupportedPolicyReason(policy.type);
  if (unsupported !== undefined) return invalid(unsupported);
  const definition = policyDefinition(policy.type);
  for (const field of definition?.fields ?? []) {
    const value = policy[field];
    if (!isUint32(value)) {
      return invalid(`${definition?.name ?? 'policy'} ${field} ${value === undefined ? 'is missing' : `${String(value)} is not a 32-bit number`}`);
    }
  }
  const use = transportUseOf(pe.userTransport);
  if (use !== 0 && use !== 1) {
    return invalid(`transport use ${String(use)} is neither 0 (data only) nor 1 (data plus control)`);
  }
  return undefined;
}

/** Traits a new pool takes from its first element (already validated). */
export function poolTraitsOf(pe: PoolElement, overallPolicy: Policy): PoolTraits {
  return {
    policyType: pe.policy.type,
    transportKind: pe.userTransport.kind,
    transportUse: transportUseOf(pe.userTransport),
    overallPolicy,
    referenceTransport: pe.userTransport,
  };
}

/** RFC 5352 §3.1: a new or renewed element must match the pool's policy type, transport kind and use. */
export function checkPoolConsistency(pool: PoolTraits, pe: PoolElement): RegistrationRejection | undefined {
  if (pe.policy.type !== pool.policyType) {
    return {
      cause: Cause.inconsistentPoolingPolicy,
      reason: `policy ${policyName(pe.policy.type)} differs from the pool's ${policyName(pool.policyType)}`,
      policy: pool.overallPolicy,
    };
  }
  if (pe.userTransport.kind !== pool.transportKind) {
    return {
      cause: Cause.inconsistentTransportType,
      reason: `transport ${pe.userTransport.kind} differs from the pool's ${pool.transportKind}`,
      transport: pool.referenceTransport,
    };
  }
  const use = transportUseOf(pe.userTransport);
  if (use !== pool.transportUse) {
    return {
      cause: Cause.inconsistentDataControlConfiguration,
      reason: `transport use ${useName(use)} differs from the pool's ${useName(pool.transportUse)}`,
    };
  }
  return undefined;
}

function policyName(type: number): string {
  const definition = policyDefinition(type);
  return definition ? `${definition.name} (${hex32(type)})` : hex32(type);
}

function useName(use: number): string {
  return use === 0 ? 'data only' : use === 1 ? 'data plus control' : String(use);
}

/**
 * Who may renew an existing element: the connection that registered it; a peer (undefined) an element
 * learned from a peer; and any connection an element learned from a peer — the element moved its home to
 * us (RFC 5352 §3.1: the accepting server becomes the home even if another one owned it before; the PE SDK
 * re-registers with a surviving registrar on failover). An element owned by a live local connection
 * cannot be taken by another connection nor by a peer: cause 0x4.
 */
export function mayRenew(existing: number | undefined, requesting: number | undefined): boolean {
  return existing === requesting || existing === undefined;
}

const LOAD_FIELD = 'load';

/**
 * What a re-registration changes. 'load' for the load alone, 'policy' for any other policy value,
 * 'transport' for the user or ASAP transport, 'lifetime' for the registration life, 'connection' for the
 * registering connection or the home registrar.
 */
export function changedFields(record: ElementRecord, pe: PoolElement, connectionId: number | undefined, homeServerId: number): ChangedField[] {
  const changed: ChangedField[] = [];
  const definition = policyDefinition(pe.policy.type);
  let load = false;
  let other = false;
  for (const field of definition?.fields ?? []) {
    if ((record.policy[field] ?? 0) !== (pe.policy[field] ?? 0)) {
      if (field === LOAD_FIELD) load = true;
      else other = true;
    }
  }
  if (other) changed.push('policy');
  if (load) changed.push('load');
  if (!sameUserTransport(record.userTransport, pe.userTransport) || !sameServerTransport(record.asapTransport, pe.asapTransport)) {
    changed.push('transport');
  }
  if (record.registrationLife !== pe.registrationLife) changed.push('lifetime');
  if (record.connectionId !== connectionId || record.homeServerId !== homeServerId) changed.push('connection');
  return changed;
}

function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sameUserTransport(a: UserTransport, b: UserTransport): boolean {
  if (a === b) return true;
  switch (a.kind) {
    case 'sctp':
      return b.kind === 'sctp' && a.port === b.port && a.transportUse === b.transportUse && sameAddresses(a.addresses, b.addresses);
    case 'tcp':
      return b.kind === 'tcp' && a.port === b.port && a.transportUse === b.transportUse && a.address === b.address;
    case 'udp':
      return b.kind === 'udp' && a.port === b.port && a.reserved === b.reserved && a.address === b.address;
    case 'udpLite':
      return b.kind === 'udpLite' && a.port === b.port && a.reserved === b.reserved && a.address === b.address;
    case 'dccp':
      return b.kind === 'dccp' && a.port === b.port && a.reserved === b.reserved && a.serviceCode === b.serviceCode && a.address === b.address;
    case 'opaque':
      return b.kind === 'opaque' && sameBytes(a.data, b.data);
  }
}

function sameServerTransport(a: ServerTransport | undefined, b: ServerTransport | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return sameUserTransport(a, b);
}
