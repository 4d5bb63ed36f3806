/**
 * RSPLIB's Component Status Protocol (CSP) report, byte for byte as RSPLIB's componentstatuspackets.h lays
 * it out and as its `cspmonitor` and Wireshark's CSP dissector read it: one UDP datagram per report, a
 * 288-byte big-endian base plus 24 bytes per association (RSERPOOL.md, "RSPLIB Component Status Protocol").
 * This module owns that layout, the component id scheme (role group << 56 | 56-bit object id), the
 * workload scaling, and the strict decoder: anything but a well-formed version 0x0200 report is an error
 * value naming the reason. Nothing here throws on input bytes.
 *
 *   off size field
 *     0    1 Type = 0x01 (report)
 *     1    1 Flags: bit 0 = F (final report: the component is shutting down)
 *     2    2 Length = total bytes
 *     4    4 Version = 0x00000200
 *     8    8 SenderID = group << 56 | object
 *    16    8 SenderTimeStamp: microseconds since the component started (its uptime)
 *    24    4 ReportInterval (microseconds)
 *    28  128 Location (NUL-terminated, NUL-padded text)
 *   156  128 Status (NUL-terminated, NUL-padded text)
 *   284    2 Workload: round(fraction × 0xfffe), 0xffff = unknown
 *   286    2 Associations n
 *   288 24·n {ReceiverID u64, Duration u64 µs (all ones = unknown), Flags u16, ProtocolID u16, PPID u32}
 */
import { err, ok, type Result } from '../result.js';

/** RSPLIB's `cspmonitor` listens on UDP 2960 (not IANA-assigned to CSP). */
export const CSP_PORT = 2960;
export const CSP_TYPE_REPORT = 0x01;
export const CSP_VERSION = 0x0200;
export const CSP_FLAG_FINAL = 0x01;
export const CSP_BASE_SIZE = 288;
export const CSP_ASSOCIATION_SIZE = 24;
/** Location and Status fields: 128 bytes each, so at most 127 bytes of text before the terminating NUL. */
export const CSP_TEXT_FIELD_SIZE = 128;
export const CSP_MAX_TEXT_BYTES = CSP_TEXT_FIELD_SIZE - 1;
export const CSP_WORKLOAD_UNKNOWN = 0xffff;
export const CSP_WORKLOAD_FULL = 0xfffe;
/** An association whose duration is all ones has no known duration (cspmonitor then prints none). */
export const CSP_DURATION_UNKNOWN = 0xffff_ffff_ffff_ffffn;
/** The most associations one report can carry: it must fit one UDP datagram over IPv4 (65,507 bytes). */
export const CSP_MAX_ASSOCIATIONS = Math.floor((65_507 - CSP_BASE_SIZE) / CSP_ASSOCIATION_SIZE);

/** IPPROTO_* numbers and SCTP PPIDs cspmonitor names (others it prints in hex). */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;
export const PPID_ASAP = 11;
export const PPID_ENRP = 12;

const OFFSET = {
  type: 0,
  flags: 1,
  length: 2,
  version: 4,
  senderId: 8,
  senderTimestamp: 16,
  reportInterval: 24,
  location: 28,
  status: 156,
  workload: 284,
  associations: 286,
} as const;

const MAX_U64 = 0xffff_ffff_ffff_ffffn;
const OBJECT_MASK = 0x00ff_ffff_ffff_ffffn;

/** RSPLIB's component groups (rserpool-csp.h): the top byte of a component id. */
export const ComponentGroup = { registrar: 1, poolElement: 2, poolUser: 3 } as const;
export type ComponentRole = keyof typeof ComponentGroup;

/** group << 56 | object (the object is cut to 56 bits, as RSPLIB's CID_COMPOUND does). */
export function componentId(group: number, object: bigint | number): bigint {
  return (BigInt(group & 0xff) << 56n) | (BigInt(object) & OBJECT_MASK);
}

export function componentGroupOf(id: bigint): number {
  return Number((id >> 56n) & 0xffn);
}

export function componentObjectOf(id: bigint): bigint {
  return id & OBJECT_MASK;
}

/** The role of a component id, or undefined for a group RSPLIB does not define. */
export function componentRoleOf(id: bigint): ComponentRole | undefined {
  switch (componentGroupOf(id)) {
    case ComponentGroup.registrar:
      return 'registrar';
    case ComponentGroup.poolElement:
      return 'poolElement';
    case ComponentGroup.poolUser:
      return 'poolUser';
    default:
      return undefined;
  }
}

/** A workload fraction (0 = idle, 1 = full) as RSPLIB puts it on the wire; undefined, NaN or negative = unknown. */
export function workloadToWire(fraction: number | undefined): number {
  if (fraction === undefined || Number.isNaN(fraction) || fraction < 0) return CSP_WORKLOAD_UNKNOWN;
  // RSPLIB does not clamp (a value above 1 wraps in its uint16 cast); we report overload as full.
  return Math.round(Math.min(1, fraction) * CSP_WORKLOAD_FULL);
}

/** The fraction a wire workload stands for, or undefined for 0xffff (unknown). */
export function workloadFromWire(raw: number): number | undefined {
  return raw === CSP_WORKLOAD_UNKNOWN ? undefined : raw / CSP_WORKLOAD_FULL;
}

export interface CspAssociation {
  /** The peer's component id (group << 56 | object). */
  readonly receiverId: bigint;
  /** How long the association has been up, in microseconds; CSP_DURATION_UNKNOWN when not known. */
  readonly durationMicros: bigint;
  readonly flags: number;
  /** IPPROTO_* of the transport (6 TCP, 17 UDP, 132 SCTP). */
  readonly protocol: number;
  /** SCTP payload protocol identifier (11 ASAP, 12 ENRP, 0 data). */
  readonly ppid: number;
}

export interface CspReport {
  /** Raw flags byte; bit 0 (CSP_FLAG_FINAL) marks the component's last report. */
  readonly flags: number;
  readonly senderId: bigint;
  /** Microseconds since the sender started: its uptime. */
  readonly senderTimestampMicros: bigint;
  readonly reportIntervalMicros: number;
  readonly location: string;
  readonly status: string;
  /** Raw 16-bit workload: 0..0xfffe scaled, 0xffff unknown (see workloadFromWire). */
  readonly workload: number;
  readonly associations: readonly CspAssociation[];
}

export function isFinalReport(report: CspReport): boolean {
  return (report.flags & CSP_FLAG_FINAL) !== 0;
}

export type CspRejectReason =
  /** Shorter than the 288-byte base, or than the associations it announces. */
  | 'truncated'
  /** Type is not 0x01 (report). */
  | 'type'
  /** Version is not 0x0200. */
  | 'version'
  /** More bytes than 288 + 24 × the association count. */
  | 'associationCount'
  /** The Length field disagrees with the datagram's size. */
  | 'length'
  /** No NUL within the 128-byte Location field. */
  | 'location'
  /** No NUL within the 128-byte Status field. */
  | 'status';

export const CSP_REJECT_REASONS: readonly CspRejectReason[] = ['truncated', 'type', 'version', 'associationCount', 'length', 'location', 'status'];

export interface CspDecodeError {
  readonly reason: CspRejectReason;
  readonly message: string;
}

export type CspEncodeErrorReason = 'senderId' | 'flags' | 'timestamp' | 'reportInterval' | 'workload' | 'associations' | 'association';

export interface CspEncodeError {
  readonly reason: CspEncodeErrorReason;
  readonly message: string;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * The bytes of a text field: UTF-8, cut at a NUL character (the receiver would stop there anyway) and to at
 * most 127 bytes on a character boundary, so the field always ends with a NUL (RSPLIB's texts are ASCII
 * and snprintf'd into 128 bytes, so it never sends more either).
 */
export function cspTextBytes(text: string): Uint8Array {
  let bytes = utf8Encoder.encode(text);
  const nul = bytes.indexOf(0);
  if (nul >= 0) bytes = bytes.subarray(0, nul);
  if (bytes.length <= CSP_MAX_TEXT_BYTES) return bytes;
  let end = CSP_MAX_TEXT_BYTES;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is cut in half.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

const isU = (value: number, bits: 8 | 16 | 32): boolean => Number.isInteger(value) && value >= 0 && value < 2 ** bits;
const isU64 = (value: bigint): boolean => value >= 0n && value <= MAX_U64;

/** Encodes one report. Texts longer than 127 bytes are cut (see cspTextBytes); out-of-range numbers are errors. */
export function encodeCspReport(report: CspReport): Result<Uint8Array, CspEncodeError> {
  if (!isU64(report.senderId)) return err({ reason: 'senderId', message: `sender id ${report.senderId} is not a 64-bit unsigned value` });
  if (!isU(report.flags, 8)) return err({ reason: 'flags', message: `flags ${report.flags} is not an 8-bit unsigned value` });
  if (!isU64(report.senderTimestampMicros)) return err({ reason: 'timestamp', message: `sender timestamp ${report.senderTimestampMicros} is not a 64-bit unsigned value` });
  if (!isU(report.reportIntervalMicros, 32)) return err({ reason: 'reportInterval', message: `report interval ${report.reportIntervalMicros} µs is not a 32-bit unsigned value` });
  if (!isU(report.workload, 16)) return err({ reason: 'workload', message: `workload ${report.workload} is not a 16-bit unsigned value` });
  const count = report.associations.length;
  if (count > CSP_MAX_ASSOCIATIONS) return err({ reason: 'associations', message: `${count} associations do not fit one datagram (at most ${CSP_MAX_ASSOCIATIONS})` });
  for (const [i, a] of report.associations.entries()) {
    if (!isU64(a.receiverId) || !isU64(a.durationMicros) || !isU(a.flags, 16) || !isU(a.protocol, 16) || !isU(a.ppid, 32)) {
      return err({ reason: 'association', message: `association ${i}: receiver id and duration must be 64-bit, flags and protocol 16-bit, PPID 32-bit unsigned values` });
    }
  }
  const size = CSP_BASE_SIZE + count * CSP_ASSOCIATION_SIZE;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint8(OFFSET.type, CSP_TYPE_REPORT);
  view.setUint8(OFFSET.flags, report.flags);
  view.setUint16(OFFSET.length, size);
  view.setUint32(OFFSET.version, CSP_VERSION);
  view.setBigUint64(OFFSET.senderId, report.senderId);
  view.setBigUint64(OFFSET.senderTimestamp, report.senderTimestampMicros);
  view.setUint32(OFFSET.reportInterval, report.reportIntervalMicros);
  bytes.set(cspTextBytes(report.location), OFFSET.location);
  bytes.set(cspTextBytes(report.status), OFFSET.status);
  view.setUint16(OFFSET.workload, report.workload);
  view.setUint16(OFFSET.associations, count);
  let at = CSP_BASE_SIZE;
  for (const a of report.associations) {
    view.setBigUint64(at, a.receiverId);
    view.setBigUint64(at + 8, a.durationMicros);
    view.setUint16(at + 16, a.flags);
    view.setUint16(at + 18, a.protocol);
    view.setUint32(at + 20, a.ppid);
    at += CSP_ASSOCIATION_SIZE;
  }
  return ok(bytes);
}

function reject(reason: CspRejectReason, message: string): Result<never, CspDecodeError> {
  return err({ reason, message });
}

/** The text before the first NUL of a 128-byte field, or undefined when the field has none. */
function readText(bytes: Uint8Array, offset: number): string | undefined {
  const field = bytes.subarray(offset, offset + CSP_TEXT_FIELD_SIZE);
  const nul = field.indexOf(0);
  return nul < 0 ? undefined : utf8Decoder.decode(field.subarray(0, nul));
}

/**
 * Decodes one datagram as a CSP report, as strictly as cspmonitor accepts it (type 1, version 0x0200,
 * exactly 288 + 24·n bytes) and stricter: the Length field must match the size and both texts must be
 * NUL-terminated. One exception for compatibility: a Length of 0 is accepted, because RSPLIB before 2021
 * stored htonl(length) in the 16-bit field, which leaves 0 on little-endian hosts.
 */
export function decodeCspReport(bytes: Uint8Array): Result<CspReport, CspDecodeError> {
  const size = bytes.length;
  if (size < CSP_BASE_SIZE) return reject('truncated', `${size} bytes is shorter than the ${CSP_BASE_SIZE}-byte report`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint8(OFFSET.type);
  if (type !== CSP_TYPE_REPORT) return reject('type', `type 0x${type.toString(16).padStart(2, '0')} is not a report (0x01)`);
  const version = view.getUint32(OFFSET.version);
  if (version !== CSP_VERSION) return reject('version', `version 0x${version.toString(16).padStart(4, '0')} is not 0x0200`);
  const count = view.getUint16(OFFSET.associations);
  const expected = CSP_BASE_SIZE + count * CSP_ASSOCIATION_SIZE;
  if (size < expected) return reject('truncated', `${count} associations need ${expected} bytes, the datagram has ${size}`);
  if (size > expected) return reject('associationCount', `${count} associations make ${expected} bytes, the datagram has ${size}`);
  const length = view.getUint16(OFFSET.length);
  if (length !== size && length !== 0) return reject('length', `Length field says ${length} bytes, the datagram has ${size}`);
  const location = readText(bytes, OFFSET.location);
  if (location === undefined) return reject('location', 'the Location field has no terminating NUL');
  const status = readText(bytes, OFFSET.status);
  if (status === undefined) return reject('status', 'the Status field has no terminating NUL');
  const associations: CspAssociation[] = [];
  for (let at = CSP_BASE_SIZE; at < expected; at += CSP_ASSOCIATION_SIZE) {
    associations.push({
      receiverId: view.getBigUint64(at),
      durationMicros: view.getBigUint64(at + 8),
      flags: view.getUint16(at + 16),
      protocol: view.getUint16(at + 18),
      ppid: view.getUint32(at + 20),
    });
  }
  return ok({
    flags: view.getUint8(OFFSET.flags),
    senderId: view.getBigUint64(OFFSET.senderId),
    senderTimestampMicros: view.getBigUint64(OFFSET.senderTimestamp),
    reportIntervalMicros: view.getUint32(OFFSET.reportInterval),
    location,
    status,
    workload: view.getUint16(OFFSET.workload),
    associations,
  });
}
