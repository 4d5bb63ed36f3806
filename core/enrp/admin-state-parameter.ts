/**
 * Our Admin State extension parameter (type 0x8c03, docs/protocol.md "Admin state between registrars"):
 * carries an operator's action on an element (drain, ready, maintenance, failover, deregister) between
 * registrars inside ENRP_HANDLE_UPDATE and ENRP_HANDLE_TABLE_RESPONSE. Its action bits are `10`, so RSPLIB
 * and any RFC 5354 receiver skip it; our codec keeps it as an unrecognized parameter and this module
 * builds and reads its value. Reading is total: bad bytes give an error value, never an exception.
 */
import { err, ok, type Result } from '../result.js';
import { ReservedExtensionParam } from '../wire/constants.js';
import type { UnrecognizedParameter } from '../wire/types.js';

export const ADMIN_STATE_PARAMETER_TYPE = ReservedExtensionParam.adminState;

/** The operator actions, with their wire codes. */
export const AdminActionCode = { drain: 1, ready: 2, maintenance: 3, failover: 4, deregister: 5 } as const;
export type AdminAction = keyof typeof AdminActionCode;

export interface AdminStateNotice {
  readonly poolHandle: Uint8Array;
  readonly peId: number;
  readonly action: AdminAction;
  /** When the operator acted, ms since 1970 (the version: a later one wins; ties go to the higher server). */
  readonly since: number;
  /** The registrar where the operator acted. */
  readonly setBy: number;
  readonly reasonText: string;
}

const FIXED = 20;
const MAX_REASON_BYTES = 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const ACTIONS: readonly (AdminAction | undefined)[] = [undefined, 'drain', 'ready', 'maintenance', 'failover', 'deregister'];

/** The parameter as the codec writes it back: an unrecognized top-level parameter with our type. */
export function adminStateParameter(notice: AdminStateNotice): UnrecognizedParameter {
  let reason = encoder.encode(notice.reasonText);
  if (reason.length > MAX_REASON_BYTES) reason = encoder.encode(truncateUtf8(notice.reasonText, MAX_REASON_BYTES));
  const handleLength = notice.poolHandle.length;
  const paddedHandle = (handleLength + 3) & ~3;
  const value = new Uint8Array(FIXED + paddedHandle + reason.length);
  const view = new DataView(value.buffer);
  view.setUint32(0, notice.peId >>> 0);
  view.setUint8(4, AdminActionCode[notice.action]);
  view.setUint16(6, handleLength);
  view.setUint32(8, Math.floor(notice.since / 0x100000000));
  view.setUint32(12, notice.since % 0x100000000);
  view.setUint32(16, notice.setBy >>> 0);
  value.set(notice.poolHandle, FIXED);
  value.set(reason, FIXED + paddedHandle);
  return { type: ADMIN_STATE_PARAMETER_TYPE, value, nested: false };
}

/** Reads one parameter's value (the bytes after its TLV header). */
export function readAdminState(value: Uint8Array): Result<AdminStateNotice, string> {
  if (value.length < FIXED) return err(`Admin State value of ${value.length} bytes is shorter than its ${FIXED} fixed bytes`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const action = ACTIONS[view.getUint8(4)];
  if (!action) return err(`Admin State action ${view.getUint8(4)} is unknown`);
  const handleLength = view.getUint16(6);
  if (handleLength === 0 || handleLength > 255) return err(`Admin State pool handle length ${handleLength} is out of range`);
  const paddedHandle = (handleLength + 3) & ~3;
  if (FIXED + paddedHandle > value.length) return err(`Admin State pool handle of ${handleLength} bytes runs past the parameter`);
  const since = view.getUint32(8) * 0x100000000 + view.getUint32(12);
  if (!Number.isSafeInteger(since)) return err('Admin State time is beyond 2^53 ms');
  let reasonText: string;
  try {
    reasonText = decoder.decode(value.subarray(FIXED + paddedHandle));
  } catch {
    return err('Admin State reason text is not UTF-8');
  }
  return ok({
    poolHandle: value.slice(FIXED, FIXED + handleLength),
    peId: view.getUint32(0),
    action,
    since,
    setBy: view.getUint32(16),
    reasonText,
  });
}

/** Every Admin State parameter a message carried, the readable ones and the count of bad ones. */
export function adminStatesOf(unrecognized: readonly UnrecognizedParameter[] | undefined): { readonly notices: AdminStateNotice[]; readonly malformed: string[] } {
  const notices: AdminStateNotice[] = [];
  const malformed: string[] = [];
  for (const p of unrecognized ?? []) {
    if (p.type !== ADMIN_STATE_PARAMETER_TYPE || p.nested) continue;
    const read = readAdminState(p.value);
    if (read.ok) notices.push(read.value);
    else malformed.push(read.error);
  }
  return { notices, malformed };
}

/** Whether version (since, setBy) `a` is newer than `b`. */
export function isNewer(a: { readonly since: number; readonly setBy: number }, b: { readonly since: number; readonly setBy: number } | undefined): boolean {
  if (!b) return true;
  return a.since > b.since || (a.since === b.since && a.setBy >>> 0 > b.setBy >>> 0);
}

function truncateUtf8(text: string, maxBytes: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const size = encoder.encode(ch).length;
    if (bytes + size > maxBytes) break;
    out += ch;
    bytes += size;
  }
  return out;
}
