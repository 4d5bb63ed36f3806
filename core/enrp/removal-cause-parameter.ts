/**
 * Our Removal Cause extension parameter (type 0x8c04, docs/protocol.md "Admin state between registrars"):
 * rides in ENRP_HANDLE_UPDATE DEL_PE and says why the home removed the element, as the PE Status values
 * (status and reason) its own pool users were told, so pool users subscribed at every registrar hear the
 * same cause (keep-alive timeout, connection lost, lifetime expired, takeover, ...). Action bits `10`:
 * standard peers skip it. Reading is total.
 */
import { err, ok, type Result } from '../result.js';
import { nameOf } from '../wire/constants.js';
import { PeStatusCode, PeStatusReason, type UnrecognizedParameter } from '../wire/types.js';

export const REMOVAL_CAUSE_PARAMETER_TYPE = 0x8c04;

/** The statuses a removal can be pushed with. */
const REMOVAL_STATUSES: ReadonlySet<string> = new Set(['failed', 'deregistered', 'unreachable']);

export type StatusName = keyof typeof PeStatusCode;
export type ReasonName = keyof typeof PeStatusReason;

export interface RemovalCause {
  readonly peId: number;
  readonly status: StatusName;
  readonly reason: ReasonName;
}

export function removalCauseParameter(cause: RemovalCause): UnrecognizedParameter {
  const value = new Uint8Array(8);
  const view = new DataView(value.buffer);
  view.setUint32(0, cause.peId >>> 0);
  view.setUint8(4, PeStatusCode[cause.status]);
  view.setUint8(5, PeStatusReason[cause.reason]);
  return { type: REMOVAL_CAUSE_PARAMETER_TYPE, value, nested: false };
}

export function readRemovalCause(value: Uint8Array): Result<RemovalCause, string> {
  if (value.length !== 8) return err(`Removal Cause value must be 8 bytes, is ${value.length}`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const status = nameOf(PeStatusCode, view.getUint8(4));
  const reason = nameOf(PeStatusReason, view.getUint8(5));
  if (!status || !reason) return err(`Removal Cause status ${view.getUint8(4)} / reason ${view.getUint8(5)} is unknown`);
  if (!REMOVAL_STATUSES.has(status)) return err(`Removal Cause status ${status} does not remove an element`);
  return ok({ peId: view.getUint32(0), status, reason });
}

/** The readable Removal Cause for `peId` among a message's skipped parameters. */
export function removalCauseOf(unrecognized: readonly UnrecognizedParameter[] | undefined, peId: number): RemovalCause | undefined {
  for (const p of unrecognized ?? []) {
    if (p.type !== REMOVAL_CAUSE_PARAMETER_TYPE || p.nested) continue;
    const read = readRemovalCause(p.value);
    if (read.ok && read.value.peId === peId) return read.value;
  }
  return undefined;
}
