/**
 * The strict, total decoder for ASAP and ENRP messages (RFC 5352/5353/5354). Whatever the bytes, it returns
 * either a typed message or a DecodeError naming the byte offset, the rule broken and what the RFC says to
 * do: send back an Operation Error cause, or drop the message silently. It never throws.
 */
import { err, ok, type Result } from '../result.js';
import {
  AsapType,
  Cause,
  EnrpType,
  Flag,
  ParamType,
  UnknownAction,
  unknownMessageAction,
  unknownParamAction,
} from './constants.js';
import { formatIpv4, formatIpv6 } from './ip-address.js';
import { DEFAULT_WIRE_LIMITS, type WireLimits } from './limits.js';
import { isValidPolicyType, policyDefinition, type PolicyField } from './policy.js';
import type {
  AsapMessage,
  ConsoleEndpoint,
  EnrpMessage,
  ErrorCause,
  Message,
  PeStatus,
  Policy,
  PoolElement,
  PoolEntry,
  Protocol,
  ServerInformation,
  ServerTransport,
  UnrecognizedParameter,
  UserTransport,
} from './types.js';

// Imported bindings are aliased once: under a transpiling loader (tsx) every access to an imported binding
// can be a getter call, which dominated the per-parameter switch in profiles.
const ASAP = AsapType;
const ENRP = EnrpType;
const CAUSE = Cause;
const FLAG = Flag;
const PARAM = ParamType;
const UNKNOWN_ACTION = UnknownAction;
const policyDefinitionOf = policyDefinition;
const isValidPolicy = isValidPolicyType;
const ipv4Text = formatIpv4;
const ipv6Text = formatIpv6;

/** What the receiver should do with a message that failed to decode. */
export type DecodeAction =
  /** Discard silently (RFC 5354: unknown type or parameter with action bits 00, or reserved bits). */
  | 'drop'
  /** Discard and send the `cause` back in an ASAP_ERROR / ENRP_ERROR (or in the response's Operation Error). */
  | 'reply';

export interface DecodeError {
  readonly protocol: Protocol;
  /** Byte offset from the start of the message where the problem was found. */
  readonly offset: number;
  /** Message type byte, when the header could be read. */
  readonly messageType?: number;
  /** What is wrong, for logs and the CLI. */
  readonly reason: string;
  /** The RFC rule (or our documented limit) that decides the outcome. */
  readonly rule: string;
  readonly action: DecodeAction;
  /** The Operation Error cause to send back when action is 'reply'. */
  readonly cause?: ErrorCause;
  /** True only for a decoder bug caught by the safety net; the fuzz tests assert it never happens. */
  readonly internal?: boolean;
}

export type DecodeResult = Result<Message, DecodeError>;

const RULE_TLV = 'RFC 5354 §3 (TLV format)';
const RULE_HEADER = 'RFC 5354 §4 (message header)';
const RULE_UNKNOWN_PARAM = 'RFC 5354 §3 (unrecognized parameter action bits)';
const RULE_UNKNOWN_MESSAGE = 'RFC 5354 §4 (unrecognized message type action bits)';
const RULE_LIMIT = 'local limit (README: Wire limits)';

/** Internal control flow: thrown inside the decoder, caught in decodeMessage, never escapes. */
class DecodeFailure {
  constructor(readonly detail: Omit<DecodeError, 'protocol' | 'messageType'>) {}
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Slot {
  readonly type: number;
  readonly offset: number;
}
type AddressParam = Slot & { readonly kind: 'address'; readonly value: string };
type TransportParam = Slot & { readonly kind: 'transport'; readonly value: UserTransport };
type DecodedParam =
  | AddressParam
  | TransportParam
  | (Slot & { readonly kind: 'policy'; readonly value: Policy })
  | (Slot & { readonly kind: 'poolHandle'; readonly value: Uint8Array })
  | (Slot & { readonly kind: 'poolElement'; readonly value: PoolElement })
  | (Slot & { readonly kind: 'serverInformation'; readonly value: ServerInformation })
  | (Slot & { readonly kind: 'operationError'; readonly value: ErrorCause[] })
  | (Slot & { readonly kind: 'cookie'; readonly value: Uint8Array })
  | (Slot & { readonly kind: 'peIdentifier'; readonly value: number })
  | (Slot & { readonly kind: 'peChecksum'; readonly value: number })
  | (Slot & { readonly kind: 'handleResolutionOption'; readonly value: number })
  | (Slot & { readonly kind: 'peStatus'; readonly value: PeStatus })
  | (Slot & { readonly kind: 'consoleEndpoint'; readonly value: ConsoleEndpoint });
type ParamKind = DecodedParam['kind'];
type ValueOf = { [K in ParamKind]: Extract<DecodedParam, { kind: K }>['value'] };

const PARAM_LABEL: Record<ParamKind, string> = {
  address: 'IP Address',
  transport: 'Transport',
  policy: 'Pool Member Selection Policy',
  poolHandle: 'Pool Handle',
  poolElement: 'Pool Element',
  serverInformation: 'Server Information',
  operationError: 'Operation Error',
  cookie: 'Cookie',
  peIdentifier: 'PE Identifier',
  peChecksum: 'PE Checksum',
  handleResolutionOption: 'Handle Resolution Option',
  peStatus: 'PE Status',
  consoleEndpoint: 'Console Endpoint',
};

class Reader {
  readonly view: DataView;
  readonly unrecognized: UnrecognizedParameter[] = [];
  poolElementCount = 0;

  readonly buf: Uint8Array;

  constructor(
    input: Uint8Array,
    readonly limits: WireLimits,
  ) {
    // A plain Uint8Array view: on a Node Buffer, slice() would return a view into the receive buffer, and
    // every byte field we hand out must be a copy.
    this.buf = Object.getPrototypeOf(input) === Uint8Array.prototype ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  u16(at: number): number {
    return this.view.getUint16(at);
  }
  u32(at: number): number {
    return this.view.getUint32(at);
  }

  /** The bytes of a TLV starting at `at`, clamped to what is there (for Invalid Values / Unrecognized Parameter). */
  tlvBytes(at: number, length: number, end: number): Uint8Array {
    return this.buf.slice(at, Math.min(at + Math.max(length, 4), end));
  }

  invalid(at: number, length: number, end: number, reason: string, rule = RULE_TLV): never {
    throw new DecodeFailure({
      offset: at,
      reason,
      rule,
      action: 'reply',
      cause: { code: CAUSE.invalidValues, data: this.tlvBytes(at, length, end) },
    });
  }

  exact(type: number, at: number, length: number, expected: number): void {
    if (length !== expected) this.invalid(at, length, at + length, `parameter 0x${type.toString(16)} must have length ${expected}, has ${length}`);
  }

  /** Parses the TLVs in [start, end) at nesting `depth` (1 = directly inside the message). */
  params(start: number, end: number, depth: number): DecodedParam[] {
    if (depth > this.limits.maxNestingDepth) {
      throw new DecodeFailure({
        offset: start,
        reason: `parameters nested deeper than ${this.limits.maxNestingDepth} levels`,
        rule: RULE_LIMIT,
        action: 'reply',
        cause: { code: CAUSE.invalidValues, data: this.buf.slice(start, end) },
      });
    }
    const out: DecodedParam[] = [];
    let pos = start;
    while (pos < end) {
      if (end - pos < 4) this.invalid(pos, end - pos, end, `${end - pos} stray bytes where a parameter header (4 bytes) should start`);
      const type = this.u16(pos);
      const length = this.u16(pos + 2);
      if (length < 4) this.invalid(pos, length, end, `parameter 0x${type.toString(16)} has length ${length}, below the 4-byte minimum`);
      if (pos + length > end) {
        this.invalid(pos, length, end, `parameter 0x${type.toString(16)} of length ${length} runs ${pos + length - end} bytes past its container`);
      }
      const param = this.param(type, pos, length, depth);
      if (param) out.push(param);
      const padded = pos + ((length + 3) & ~3);
      // The container's length excludes its last parameter's padding (RFC 5354 §2), so the last one may end flush.
      pos = padded <= end ? padded : end;
    }
    return out;
  }

  private param(type: number, at: number, length: number, depth: number): DecodedParam | undefined {
    const v = at + 4;
    const end = at + length;
    switch (type) {
      case PARAM.ipv4Address:
        this.exact(type, at, length, 8);
        return { kind: 'address', type, offset: at, value: ipv4Text(this.buf, v) };
      case PARAM.ipv6Address:
        this.exact(type, at, length, 20);
        return { kind: 'address', type, offset: at, value: ipv6Text(this.buf, v) };
      case PARAM.sctpTransport:
      case PARAM.tcpTransport:
      case PARAM.udpTransport:
      case PARAM.udpLiteTransport:
      case PARAM.dccpTransport:
      case PARAM.opaqueTransport:
        return { kind: 'transport', type, offset: at, value: this.transport(type, at, length, depth) };
      case PARAM.policy:
        return { kind: 'policy', type, offset: at, value: this.policy(at, length) };
      case PARAM.poolHandle: {
        const size = length - 4;
        if (size === 0) this.invalid(at, length, end, 'empty pool handle');
        if (size > this.limits.maxPoolHandleLength) {
          this.invalid(at, length, end, `pool handle of ${size} bytes is longer than the limit of ${this.limits.maxPoolHandleLength}`, RULE_LIMIT);
        }
        return { kind: 'poolHandle', type, offset: at, value: this.buf.slice(v, end) };
      }
      case PARAM.poolElement:
        return { kind: 'poolElement', type, offset: at, value: this.poolElement(at, length, depth) };
      case PARAM.serverInformation: {
        if (length < 8) this.invalid(at, length, end, 'Server Information shorter than its 4-byte server identifier');
        const transports = this.params(v + 4, end, depth + 1);
        const transport = transports[0];
        if (transports.length !== 1 || transport?.kind !== 'transport' || !isServerTransport(transport.value)) {
          this.invalid(at, length, end, 'Server Information must hold exactly one SCTP or TCP transport parameter');
        }
        return { kind: 'serverInformation', type, offset: at, value: { serverId: this.u32(v), transport: transport.value } };
      }
      case PARAM.operationError:
        return { kind: 'operationError', type, offset: at, value: this.operationError(at, length, depth) };
      case PARAM.cookie:
        return { kind: 'cookie', type, offset: at, value: this.buf.slice(v, end) };
      case PARAM.peIdentifier:
        this.exact(type, at, length, 8);
        return { kind: 'peIdentifier', type, offset: at, value: this.u32(v) };
      case PARAM.peChecksum:
        // RFC 5354 §3.14: length 6 (+2 padding). A length of 8 (checksum + 2 reserved bytes) is read the same way.
        if (length !== 6 && length !== 8) this.invalid(at, length, end, `PE Checksum must have length 6, has ${length}`);
        return { kind: 'peChecksum', type, offset: at, value: this.u16(v) };
      case PARAM.handleResolutionOption:
        this.exact(type, at, length, 8);
        return { kind: 'handleResolutionOption', type, offset: at, value: this.u32(v) };
      case PARAM.peStatus:
        return { kind: 'peStatus', type, offset: at, value: this.peStatus(at, length) };
      case PARAM.consoleEndpoint:
        return { kind: 'consoleEndpoint', type, offset: at, value: this.consoleEndpoint(at, length) };
      default:
        return this.unknown(type, at, length, depth);
    }
  }

  private unknown(type: number, at: number, length: number, depth: number): undefined {
    const action = unknownParamAction(type);
    const tlv = this.buf.slice(at, at + length);
    const what = `unrecognized parameter type 0x${type.toString(16).padStart(4, '0')}`;
    if (action === UNKNOWN_ACTION.stop) {
      throw new DecodeFailure({ offset: at, reason: `${what} (action bits 00: stop, discard silently)`, rule: RULE_UNKNOWN_PARAM, action: 'drop' });
    }
    if (action === UNKNOWN_ACTION.stopAndReport) {
      throw new DecodeFailure({
        offset: at,
        reason: `${what} (action bits 01: stop, discard, report)`,
        rule: RULE_UNKNOWN_PARAM,
        action: 'reply',
        cause: { code: CAUSE.unrecognizedParameter, data: tlv },
      });
    }
    this.unrecognized.push({ type, value: tlv.slice(4), nested: depth > 1 });
    return undefined;
  }

  private transport(type: number, at: number, length: number, depth: number): UserTransport {
    const v = at + 4;
    const end = at + length;
    if (type === PARAM.opaqueTransport) return { kind: 'opaque', data: this.buf.slice(v, end) };
    const fixed = type === PARAM.dccpTransport ? 8 : 4;
    if (length < 4 + fixed) this.invalid(at, length, end, `transport parameter 0x${type.toString(16)} shorter than its ${fixed} fixed bytes`);
    const port = this.u16(v);
    const second = this.u16(v + 2);
    const nested = this.params(v + fixed, end, depth + 1);
    const addresses: string[] = [];
    for (const p of nested) {
      if (p.kind !== 'address') this.invalid(p.offset, this.u16(p.offset + 2), end, `${PARAM_LABEL[p.kind]} parameter inside a transport parameter`);
      addresses.push(p.value);
    }
    if (addresses.length === 0) this.invalid(at, length, end, 'transport parameter without an address');
    if (type === PARAM.sctpTransport) {
      if (addresses.length > this.limits.maxAddressesPerTransport) {
        this.invalid(at, length, end, `SCTP transport with ${addresses.length} addresses, above the limit of ${this.limits.maxAddressesPerTransport}`, RULE_LIMIT);
      }
      if (second > 1) this.invalid(at, length, end, `transport use ${second} is neither 0 (data only) nor 1 (data plus control)`);
      return { kind: 'sctp', port, transportUse: second, addresses };
    }
    if (addresses.length !== 1) this.invalid(at, length, end, `transport parameter 0x${type.toString(16)} must carry exactly one address, has ${addresses.length}`);
    const address = addresses[0] ?? '';
    switch (type) {
      case PARAM.tcpTransport:
        if (second > 1) this.invalid(at, length, end, `transport use ${second} is neither 0 (data only) nor 1 (data plus control)`);
        return { kind: 'tcp', port, transportUse: second, address };
      case PARAM.udpTransport:
        return { kind: 'udp', port, reserved: second, address };
      case PARAM.udpLiteTransport:
        return { kind: 'udpLite', port, reserved: second, address };
      default:
        return { kind: 'dccp', port, reserved: second, serviceCode: this.u32(v + 4), address };
    }
  }

  private policy(at: number, length: number): Policy {
    const v = at + 4;
    const end = at + length;
    if (length < 8) this.invalid(at, length, end, 'policy parameter shorter than its 4-byte policy type');
    const type = this.u32(v);
    if (!isValidPolicy(type)) this.invalid(at, length, end, `policy type 0x${type.toString(16).padStart(8, '0')} is reserved as invalid (RFC 5356 §3)`);
    const definition = policyDefinitionOf(type);
    if (!definition) {
      return length > 8 ? { type, value: this.buf.slice(v + 4, end) } : { type };
    }
    const expected = 8 + 4 * definition.fields.length;
    if (length !== expected) this.invalid(at, length, end, `${definition.name} policy must have length ${expected}, has ${length}`);
    const policy: { -readonly [K in keyof Policy]: Policy[K] } = { type };
    const fields = definition.fields;
    for (let i = 0; i < fields.length; i++) policy[fields[i] as PolicyField] = this.u32(v + 4 + 4 * i);
    return policy;
  }

  private poolElement(at: number, length: number, depth: number): PoolElement {
    const v = at + 4;
    const end = at + length;
    if (length < 16) this.invalid(at, length, end, 'Pool Element shorter than its 12 fixed bytes');
    if (++this.poolElementCount > this.limits.maxPoolElementsPerMessage) {
      throw new DecodeFailure({
        offset: at,
        reason: `more than ${this.limits.maxPoolElementsPerMessage} Pool Element parameters in one message`,
        rule: RULE_LIMIT,
        action: 'reply',
        cause: { code: CAUSE.lackOfResources },
      });
    }
    const registrationLife = this.view.getInt32(v + 8);
    if (registrationLife < -1) this.invalid(at, length, end, `registration life ${registrationLife} is negative but not -1 (infinite)`);
    const nested = this.params(v + 12, end, depth + 1);
    const user = nested[0];
    const policy = nested[1];
    const asap = nested[2];
    const extra = nested[3];
    if (user?.kind !== 'transport') this.invalid(at, length, end, 'Pool Element must start with a user transport parameter');
    if (policy?.kind !== 'policy') this.invalid(at, length, end, 'Pool Element must hold a policy parameter after its user transport');
    if (extra !== undefined || (asap !== undefined && (asap.kind !== 'transport' || !isServerTransport(asap.value)))) {
      this.invalid(at, length, end, 'Pool Element may end with one SCTP or TCP ASAP transport parameter, nothing else');
    }
    const id = this.u32(v);
    const homeServerId = this.u32(v + 4);
    // Two literal shapes rather than a spread: object spread was the hottest line of the whole decoder.
    if (asap?.kind === 'transport' && isServerTransport(asap.value)) {
      return { id, homeServerId, registrationLife, userTransport: user.value, policy: policy.value, asapTransport: asap.value };
    }
    return { id, homeServerId, registrationLife, userTransport: user.value, policy: policy.value };
  }

  private operationError(at: number, length: number, depth: number): ErrorCause[] {
    const end = at + length;
    if (depth + 1 > this.limits.maxNestingDepth) this.invalid(at, length, end, `parameters nested deeper than ${this.limits.maxNestingDepth} levels`, RULE_LIMIT);
    const causes: ErrorCause[] = [];
    let pos = at + 4;
    while (pos < end) {
      if (end - pos < 4) this.invalid(at, length, end, 'stray bytes where an error cause header should start');
      const code = this.u16(pos);
      const causeLength = this.u16(pos + 2);
      if (causeLength < 4 || pos + causeLength > end) this.invalid(at, length, end, `error cause 0x${code.toString(16)} has impossible length ${causeLength}`);
      const infoStart = pos + 4;
      const infoEnd = pos + causeLength;
      if (code === CAUSE.inconsistentPoolingPolicy || code === CAUSE.inconsistentTransportType) {
        const inner = this.params(infoStart, infoEnd, depth + 2);
        const only = inner[0];
        if (code === CAUSE.inconsistentPoolingPolicy) {
          if (inner.length !== 1 || only?.kind !== 'policy') this.invalid(at, length, end, 'cause 0x5 (Inconsistent Pooling Policy) must carry exactly one policy parameter');
          causes.push({ code, policy: only.value });
        } else {
          if (inner.length !== 1 || only?.kind !== 'transport') this.invalid(at, length, end, 'cause 0x7 (Inconsistent Transport Type) must carry exactly one transport parameter');
          causes.push({ code, transport: only.value });
        }
      } else {
        causes.push(causeLength > 4 ? { code, data: this.buf.slice(infoStart, infoEnd) } : { code });
      }
      const padded = pos + ((causeLength + 3) & ~3);
      pos = padded <= end ? padded : end;
    }
    if (causes.length === 0) this.invalid(at, length, end, 'Operation Error without any cause');
    return causes;
  }

  private peStatus(at: number, length: number): PeStatus {
    const v = at + 4;
    const end = at + length;
    if (length < 32) this.invalid(at, length, end, `PE Status must be at least 32 bytes, has ${length}`);
    const flags = this.u16(v + 6);
    const eventTimeMs = this.u32(v + 12) * 0x100000000 + this.u32(v + 16);
    if (!Number.isSafeInteger(eventTimeMs)) this.invalid(at, length, end, 'PE Status event time beyond 2^53 ms');
    let reasonText: string | undefined;
    if (length > 32) {
      try {
        reasonText = utf8.decode(this.buf.subarray(at + 32, end));
      } catch {
        this.invalid(at, length, end, 'PE Status reason text is not valid UTF-8');
      }
    }
    const status: { -readonly [K in keyof PeStatus]: PeStatus[K] } = {
      peId: this.u32(v),
      status: this.buf[v + 4] ?? 0,
      reason: this.buf[v + 5] ?? 0,
      sequence: this.u32(v + 8),
      eventTimeMs,
    };
    if (flags & 0x1) status.replacementPeId = this.u32(v + 20);
    if (flags & 0x2) status.load = this.u32(v + 24);
    if (reasonText !== undefined) status.reasonText = reasonText;
    return status;
  }

  /** Scheme, flags (F = 0x1: a 32-byte SHA-256 fingerprint follows), port, then optional host text. */
  private consoleEndpoint(at: number, length: number): ConsoleEndpoint {
    const v = at + 4;
    const end = at + length;
    if (length < 8) this.invalid(at, length, end, `Console Endpoint must be at least 8 bytes, has ${length}`);
    const flags = this.buf[v + 1] ?? 0;
    const endpoint: { -readonly [K in keyof ConsoleEndpoint]: ConsoleEndpoint[K] } = { scheme: this.buf[v] ?? 0, port: this.u16(v + 2) };
    let hostAt = v + 4;
    if (flags & 0x1) {
      if (length < 8 + 32) this.invalid(at, length, end, `Console Endpoint with a TLS fingerprint must be at least 40 bytes, has ${length}`);
      endpoint.tlsFingerprint = this.buf.slice(hostAt, hostAt + 32);
      hostAt += 32;
    }
    if (hostAt < end) {
      const host = this.buf.subarray(hostAt, end);
      // Printable ASCII only: the host ends up in a URL an operator clicks, so nothing may hide in it.
      if (host.length > 255 || host.some((b) => b < 0x21 || b > 0x7e)) this.invalid(at, length, end, 'Console Endpoint host is not 1-255 printable ASCII characters');
      endpoint.host = String.fromCharCode(...host);
    }
    return endpoint;
  }
}

function isServerTransport(t: UserTransport): t is ServerTransport {
  return t.kind === 'sctp' || t.kind === 'tcp';
}

/**
 * Takes parameters by kind, in any order, and fails on what is missing, repeated or out of place.
 * RFC 5352 draws an order, but RSPLIB and Wireshark do not depend on it, so neither do we.
 */
class ParamSet {
  private readonly used: boolean[];

  constructor(
    private readonly reader: Reader,
    private readonly list: readonly DecodedParam[],
    private readonly messageEnd: number,
  ) {
    this.used = new Array<boolean>(list.length).fill(false);
  }

  optional<K extends ParamKind>(kind: K): ValueOf[K] | undefined {
    for (let i = 0; i < this.list.length; i++) {
      const p = this.list[i];
      if (p && !this.used[i] && p.kind === kind) {
        this.used[i] = true;
        // p.kind === kind was checked just above; TypeScript cannot narrow a union by a generic key.
        return p.value as unknown as ValueOf[K];
      }
    }
    return undefined;
  }

  required<K extends ParamKind>(kind: K): ValueOf[K] {
    const value = this.optional(kind);
    if (value === undefined) {
      throw new DecodeFailure({
        offset: 4,
        reason: `mandatory ${PARAM_LABEL[kind]} parameter is missing`,
        rule: 'RFC 5352 §2.2 / RFC 5353 §2 (message contents)',
        action: 'reply',
        cause: { code: CAUSE.invalidValues },
      });
    }
    return value;
  }

  all<K extends ParamKind>(kind: K): ValueOf[K][] {
    const out: ValueOf[K][] = [];
    for (let i = 0; i < this.list.length; i++) {
      const p = this.list[i];
      if (p && !this.used[i] && p.kind === kind) {
        this.used[i] = true;
        out.push(p.value as unknown as ValueOf[K]);
      }
    }
    return out;
  }

  /** Everything must have been taken: a leftover is a duplicate or a parameter that does not belong here. */
  done(): void {
    for (let i = 0; i < this.list.length; i++) {
      const p = this.list[i];
      if (p && !this.used[i]) {
        this.reader.invalid(p.offset, this.reader.u16(p.offset + 2), this.messageEnd, `${PARAM_LABEL[p.kind]} parameter is repeated or does not belong in this message`, 'RFC 5352 §2.2 / RFC 5353 §2 (message contents)');
      }
    }
  }
}

function paramSet(reader: Reader, start: number, end: number): ParamSet {
  return new ParamSet(reader, reader.params(start, end, 1), end);
}

function withUnrecognized<T extends Message>(message: T, reader: Reader): T {
  return reader.unrecognized.length > 0 ? { ...message, unrecognized: reader.unrecognized } : message;
}

function decodeAsap(reader: Reader, type: number, flags: number, end: number): AsapMessage | undefined {
  let m: AsapMessage;
  switch (type) {
    case ASAP.registration: {
      const p = paramSet(reader, 4, end);
      m = { protocol: 'asap', type: 'registration', poolHandle: p.required('poolHandle'), poolElement: p.required('poolElement') };
      p.done();
      break;
    }
    case ASAP.deregistration:
    case ASAP.endpointKeepAliveAck:
    case ASAP.endpointUnreachable: {
      const p = paramSet(reader, 4, end);
      const poolHandle = p.required('poolHandle');
      const peId = p.required('peIdentifier');
      p.done();
      const name = type === ASAP.deregistration ? 'deregistration' : type === ASAP.endpointKeepAliveAck ? 'endpointKeepAliveAck' : 'endpointUnreachable';
      m = { protocol: 'asap', type: name, poolHandle, peId };
      break;
    }
    case ASAP.registrationResponse:
    case ASAP.deregistrationResponse: {
      const p = paramSet(reader, 4, end);
      const poolHandle = p.required('poolHandle');
      const peId = p.required('peIdentifier');
      const error = p.optional('operationError');
      p.done();
      if (type === ASAP.registrationResponse) {
        m = { protocol: 'asap', type: 'registrationResponse', reject: (flags & FLAG.reject) !== 0, poolHandle, peId, ...(error ? { error } : {}) };
      } else {
        m = { protocol: 'asap', type: 'deregistrationResponse', poolHandle, peId, ...(error ? { error } : {}) };
      }
      break;
    }
    case ASAP.handleResolution: {
      const p = paramSet(reader, 4, end);
      const poolHandle = p.required('poolHandle');
      const items = p.optional('handleResolutionOption');
      p.done();
      m = { protocol: 'asap', type: 'handleResolution', subscribe: (flags & FLAG.subscribe) !== 0, poolHandle, ...(items !== undefined ? { items } : {}) };
      break;
    }
    case ASAP.handleResolutionResponse: {
      const p = paramSet(reader, 4, end);
      const poolHandle = p.required('poolHandle');
      const overallPolicy = p.optional('policy');
      const poolElements = p.all('poolElement');
      const error = p.optional('operationError');
      const peStatus = p.all('peStatus');
      p.done();
      m = {
        protocol: 'asap',
        type: 'handleResolutionResponse',
        accepted: (flags & FLAG.accepted) !== 0,
        poolHandle,
        ...(overallPolicy ? { overallPolicy } : {}),
        poolElements,
        ...(error ? { error } : {}),
        peStatus,
      };
      break;
    }
    case ASAP.endpointKeepAlive: {
      if (end < 8) reader.invalid(0, end, end, 'ASAP_ENDPOINT_KEEP_ALIVE shorter than its server identifier', RULE_HEADER);
      const p = paramSet(reader, 8, end);
      const poolHandle = p.required('poolHandle');
      const peId = p.optional('peIdentifier');
      p.done();
      m = { protocol: 'asap', type: 'endpointKeepAlive', home: (flags & FLAG.home) !== 0, serverId: reader.u32(4), poolHandle, ...(peId !== undefined ? { peId } : {}) };
      break;
    }
    case ASAP.serverAnnounce: {
      if (end < 8) reader.invalid(0, end, end, 'ASAP_SERVER_ANNOUNCE shorter than its server identifier', RULE_HEADER);
      const p = paramSet(reader, 8, end);
      const transports = p.all('transport');
      const consoleEndpoint = p.optional('consoleEndpoint');
      p.done();
      for (const t of transports) {
        if (!isServerTransport(t)) reader.invalid(8, end - 8, end, 'ASAP_SERVER_ANNOUNCE may carry only SCTP and TCP transport parameters (RFC 5352 §2.2.10)');
      }
      m = { protocol: 'asap', type: 'serverAnnounce', serverId: reader.u32(4), transports: transports.filter(isServerTransport), ...(consoleEndpoint ? { consoleEndpoint } : {}) };
      break;
    }
    case ASAP.cookie:
    case ASAP.cookieEcho: {
      const p = paramSet(reader, 4, end);
      const cookie = p.required('cookie');
      p.done();
      m = { protocol: 'asap', type: type === ASAP.cookie ? 'cookie' : 'cookieEcho', cookie };
      break;
    }
    case ASAP.businessCard: {
      const p = paramSet(reader, 4, end);
      const poolHandle = p.required('poolHandle');
      const poolElements = p.all('poolElement');
      p.done();
      m = { protocol: 'asap', type: 'businessCard', poolHandle, poolElements };
      break;
    }
    case ASAP.error: {
      const p = paramSet(reader, 4, end);
      const error = p.required('operationError');
      p.done();
      m = { protocol: 'asap', type: 'error', error };
      break;
    }
    default:
      return undefined;
  }
  return withUnrecognized(m, reader);
}

function decodeEnrp(reader: Reader, type: number, flags: number, end: number): EnrpMessage | undefined {
  if (type < ENRP.presence || type > ENRP.error) return undefined;
  if (end < 12) reader.invalid(0, end, end, 'ENRP message shorter than its sending and receiving server identifiers (12 bytes)', RULE_HEADER);
  const ids = { protocol: 'enrp' as const, senderServerId: reader.u32(4), receiverServerId: reader.u32(8) };
  let m: EnrpMessage;
  switch (type) {
    case ENRP.presence: {
      const p = paramSet(reader, 12, end);
      const peChecksum = p.optional('peChecksum');
      const serverInformation = p.optional('serverInformation');
      p.done();
      m = {
        ...ids,
        type: 'presence',
        replyRequired: (flags & FLAG.replyRequired) !== 0,
        ...(peChecksum !== undefined ? { peChecksum } : {}),
        ...(serverInformation ? { serverInformation } : {}),
      };
      break;
    }
    case ENRP.handleTableRequest:
      paramSet(reader, 12, end).done();
      m = { ...ids, type: 'handleTableRequest', ownChildrenOnly: (flags & FLAG.ownChildrenOnly) !== 0 };
      break;
    case ENRP.handleTableResponse: {
      // Order matters here: each Pool Handle is followed by the Pool Elements of that pool.
      const pools: { poolHandle: Uint8Array; poolElements: PoolElement[] }[] = [];
      for (const param of reader.params(12, end, 1)) {
        if (param.kind === 'poolHandle') pools.push({ poolHandle: param.value, poolElements: [] });
        else if (param.kind === 'poolElement' && pools.length > 0) pools[pools.length - 1]?.poolElements.push(param.value);
        else reader.invalid(param.offset, reader.u16(param.offset + 2), end, `${PARAM_LABEL[param.kind]} parameter does not belong in ENRP_HANDLE_TABLE_RESPONSE here`, 'RFC 5353 §2.3.3');
      }
      for (const pool of pools) {
        if (pool.poolElements.length === 0) reader.invalid(12, end - 12, end, 'a pool entry without any Pool Element', 'RFC 5353 §2.3.3');
      }
      m = { ...ids, type: 'handleTableResponse', moreToSend: (flags & FLAG.moreToSend) !== 0, reject: (flags & FLAG.reject) !== 0, pools: pools as PoolEntry[] };
      break;
    }
    case ENRP.handleUpdate: {
      if (end < 16) reader.invalid(0, end, end, 'ENRP_HANDLE_UPDATE shorter than its update action', RULE_HEADER);
      const updateAction = reader.u16(12);
      if (updateAction > 1) reader.invalid(12, 4, end, `update action ${updateAction} is neither ADD_PE (0) nor DEL_PE (1)`, 'RFC 5353 §2.3.4');
      const p = paramSet(reader, 16, end);
      const poolHandle = p.required('poolHandle');
      const poolElement = p.required('poolElement');
      p.done();
      m = { ...ids, type: 'handleUpdate', takeoverSuggested: (flags & FLAG.takeoverSuggested) !== 0, updateAction, poolHandle, poolElement };
      break;
    }
    case ENRP.listRequest:
      paramSet(reader, 12, end).done();
      m = { ...ids, type: 'listRequest' };
      break;
    case ENRP.listResponse: {
      const p = paramSet(reader, 12, end);
      const servers = p.all('serverInformation');
      p.done();
      m = { ...ids, type: 'listResponse', reject: (flags & FLAG.reject) !== 0, servers };
      break;
    }
    case ENRP.initTakeover:
    case ENRP.initTakeoverAck:
    case ENRP.takeoverServer: {
      if (end < 16) reader.invalid(0, end, end, 'takeover message shorter than its target server identifier', RULE_HEADER);
      paramSet(reader, 16, end).done();
      const name = type === ENRP.initTakeover ? 'initTakeover' : type === ENRP.initTakeoverAck ? 'initTakeoverAck' : 'takeoverServer';
      m = { ...ids, type: name, targetServerId: reader.u32(12) };
      break;
    }
    default: {
      const p = paramSet(reader, 12, end);
      const error = p.required('operationError');
      p.done();
      m = { ...ids, type: 'error', error };
      break;
    }
  }
  return withUnrecognized(m, reader);
}

function headerError(protocol: Protocol, messageType: number, offset: number, reason: string, rule = RULE_HEADER): DecodeResult {
  return err({ protocol, offset, messageType, reason, rule, action: 'reply', cause: { code: CAUSE.invalidValues } });
}

/**
 * Decodes one message. `bytes` holds exactly one message, optionally followed by up to 3 padding bytes (as
 * the TCP framer and one UDP datagram deliver it).
 */
export function decodeMessage(protocol: Protocol, bytes: Uint8Array, limits: WireLimits = DEFAULT_WIRE_LIMITS): DecodeResult {
  let messageType: number | undefined;
  try {
    if (bytes.length < 4) {
      return err({ protocol, offset: 0, reason: `${bytes.length} bytes are fewer than the 4-byte message header`, rule: RULE_HEADER, action: 'drop' });
    }
    const reader = new Reader(bytes, limits);
    const type = bytes[0] ?? 0;
    messageType = type;
    const flags = bytes[1] ?? 0;
    const length = reader.u16(2);
    if (bytes.length > limits.maxMessageSize) return headerError(protocol, type, 0, `message of ${bytes.length} bytes is above the limit of ${limits.maxMessageSize}`, RULE_LIMIT);
    if (length < 4) return headerError(protocol, type, 2, `message length ${length} is below the 4-byte header`);
    if (length > bytes.length) return headerError(protocol, type, 2, `message length ${length} but only ${bytes.length} bytes present`);
    if (bytes.length > ((length + 3) & ~3)) return headerError(protocol, type, length, `${bytes.length - length} bytes after a message of length ${length}, more than its padding`);
    const message = protocol === 'asap' ? decodeAsap(reader, type, flags, length) : decodeEnrp(reader, type, flags, length);
    if (message) return ok(message);
    const action = unknownMessageAction(type);
    const what = `unrecognized ${protocol.toUpperCase()} message type 0x${type.toString(16).padStart(2, '0')}`;
    if (action === UNKNOWN_ACTION.stopAndReport) {
      return err({
        protocol,
        offset: 0,
        messageType: type,
        reason: `${what} (action bits 01: discard, report)`,
        rule: RULE_UNKNOWN_MESSAGE,
        action: 'reply',
        cause: { code: CAUSE.unrecognizedMessage, data: reader.buf.slice(0, length) },
      });
    }
    return err({ protocol, offset: 0, messageType: type, reason: `${what} (action bits ${action.toString(2).padStart(2, '0')}: discard silently)`, rule: RULE_UNKNOWN_MESSAGE, action: 'drop' });
  } catch (failure) {
    if (failure instanceof DecodeFailure) return err({ protocol, ...(messageType !== undefined ? { messageType } : {}), ...failure.detail });
    return err({
      protocol,
      offset: 0,
      ...(messageType !== undefined ? { messageType } : {}),
      reason: `decoder bug: ${failure instanceof Error ? failure.message : String(failure)}`,
      rule: 'none (internal error)',
      action: 'drop',
      internal: true,
    });
  }
}

/**
 * The Operation Error causes a receiver should report for a decoded message: one Unrecognized Parameter
 * cause per skipped parameter whose action bits are 11 (RFC 5354 §3).
 */
export function reportsFor(message: Message): ErrorCause[] {
  const causes: ErrorCause[] = [];
  for (const p of message.unrecognized ?? []) {
    if (unknownParamAction(p.type) !== UNKNOWN_ACTION.skipAndReport) continue;
    const tlv = new Uint8Array(4 + p.value.length);
    const view = new DataView(tlv.buffer);
    view.setUint16(0, p.type);
    view.setUint16(2, 4 + p.value.length);
    tlv.set(p.value, 4);
    causes.push({ code: CAUSE.unrecognizedParameter, data: tlv });
  }
  return causes;
}
