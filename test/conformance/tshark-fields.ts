/**
 * What tshark 4.0.17 should show for a message: walks the typed message model (not our encoder's bytes) in
 * RFC 5352/5353/5354 wire order and lists, per tshark field, every value it should print, in the order
 * tshark prints them (`-T fields -E occurrence=a`). Parameter and message lengths are computed here from
 * the model, so the encoder's length fields are checked against an independent calculation.
 *
 * Where tshark's view differs from ours on purpose, it is modelled here with a comment (unknown
 * parameters, policy types tshark does not know, Opaque Transport, cause 0x0).
 */
import { policyDefinition } from '../../core/wire/policy.js';
import type { ConsoleEndpoint, ErrorCause, Message, PeStatus, Policy, PoolElement, ServerInformation, UnrecognizedParameter, UserTransport } from '../../core/wire/types.js';

export type Protocol = Message['protocol'];

/** One value tshark should print: `show` is for messages, `matches` decides. */
export interface Expected {
  readonly show: string;
  readonly matches: (actual: string) => boolean;
}

/** Every per-message field we compare (without the `asap.` / `enrp.` prefix). */
export const COMMON_FIELDS = [
  'message_type',
  'message_flags',
  'message_length',
  'parameter_type',
  'parameter_length',
  'parameter_value',
  'cause_code',
  'cause_length',
  'cause_info',
  'ipv4_address',
  'ipv6_address',
  'dccp_transport_port',
  'dccp_transport_reserved',
  'dccp_transport_service_code',
  'sctp_transport_port',
  'transport_use',
  'tcp_transport_port',
  'udp_transport_port',
  'udp_transport_reserved',
  'udp_lite_transport_port',
  'udp_lite_transport_reserved',
  'pool_member_selection_policy_type',
  'pool_member_selection_policy_weight',
  'pool_member_selection_policy_priority',
  'pool_member_selection_policy_load',
  'pool_member_selection_policy_degradation',
  'pool_member_selection_policy_load_dpf',
  'pool_member_selection_policy_weight_dpf',
  'pool_member_selection_policy_distance',
  'pool_member_selection_policy_value',
  'pool_handle_pool_handle',
  'pool_element_pe_identifier',
  'pool_element_home_enrp_server_identifier',
  'pool_element_registration_life',
  'cookie',
  'pe_identifier',
  'pe_checksum',
  'r_bit',
] as const;
export const ASAP_FIELDS = [...COMMON_FIELDS, 'server_identifier', 'hropt_items', 'h_bit'] as const;
export const ENRP_FIELDS = [
  ...COMMON_FIELDS,
  'server_information_server_identifier',
  'sender_servers_id',
  'receiver_servers_id',
  'target_servers_id',
  'update_action',
  'reserved',
  'message_value',
  'w_bit',
  'm_bit',
  't_bit',
] as const;

export function fieldsOf(protocol: Protocol): readonly string[] {
  return protocol === 'asap' ? ASAP_FIELDS : ENRP_FIELDS;
}

const MAX_U32 = 0xffffffff;
const pad4 = (n: number): number => (n + 3) & ~3;
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const num = (value: number): Expected => ({
  show: value >= 0 ? `${value} (0x${value.toString(16)})` : String(value),
  // tshark prints BASE_HEX fields as 0x..., the others in decimal; Number() reads both.
  matches: (actual) => actual !== '' && Number(actual) === value,
});
const bool = (value: boolean): Expected => ({ show: value ? '1' : '0', matches: (actual) => actual === (value ? '1' : '0') });
const hex = (bytes: Uint8Array): Expected => {
  const want = toHex(bytes);
  return { show: want, matches: (actual) => actual.toLowerCase() === want };
};
/** IPv6 text is compared after WHATWG URL normalisation, which is independent of our own address code. */
const normaliseIp = (text: string): string => (text.includes(':') ? new URL(`http://[${text}]/`).hostname : text);
const ip = (address: string): Expected => {
  const want = normaliseIp(address);
  return {
    show: address,
    matches: (actual) => {
      try {
        return normaliseIp(actual) === want;
      } catch {
        return false;
      }
    },
  };
};
/**
 * tshark shows load and load degradation as a percentage (100 * value / 0xffffffff) and the DPF values as a
 * fraction (value / 0xffffffff), printed as doubles with 15 significant digits: compare with a tolerance.
 */
const scaled = (value: number, scale: number): Expected => {
  const want = (scale * value) / MAX_U32;
  return { show: `${want} (raw ${value})`, matches: (actual) => actual !== '' && Math.abs(Number(actual) - want) <= 1e-9 * Math.max(1, Math.abs(want)) };
};
/** PE Status is unknown to tshark: it shows the raw value; we check the length, the leading PE id and the trailing text. */
const peStatusValue = (status: PeStatus, valueLength: number): Expected => {
  const id = status.peId.toString(16).padStart(8, '0');
  const textHex = status.reasonText ? toHex(utf8(status.reasonText)) : '';
  return {
    show: `${valueLength} bytes starting ${id}${textHex ? ` ending ${textHex}` : ''}`,
    matches: (actual) => actual.length === 2 * valueLength && actual.toLowerCase().startsWith(id) && actual.toLowerCase().endsWith(textHex),
  };
};

/** Fixed part of the PE Status value (docs/protocol.md): id, status, reason, flags, sequence, time (64), replacement, load. */
export const PE_STATUS_FIXED_VALUE_LENGTH = 28;
const PE_STATUS_TYPE = 0x8c01;

/** Policy types tshark 4.0.17 dissects field by field; every other type is shown as raw "Policy Value" bytes. */
const TSHARK_POLICY_LAYOUT: ReadonlyMap<number, readonly ('weight' | 'priority' | 'load%' | 'degradation%' | 'loadDpf' | 'weightDpf' | 'distance')[]> = new Map([
  [0x00000001, []],
  [0x00000003, []],
  [0x00000002, ['weight']],
  [0x00000004, ['weight']],
  [0x00000005, ['priority']],
  [0x40000001, ['load%']],
  [0x40000004, ['load%']],
  [0x40000002, ['load%', 'degradation%']],
  [0x40000003, ['load%', 'degradation%']],
  [0xb0002001, ['weight', 'weightDpf', 'distance']],
  [0xb0002002, ['load%', 'loadDpf', 'distance']],
]);

/** Collects the expected values of one frame's fields while walking a message. */
export class FieldExpectations {
  readonly values = new Map<string, Expected[]>();
  /** Length of the top-level message as computed from the model (header + value, no final padding). */
  messageLength = 0;

  constructor(readonly protocol: Protocol) {
    for (const field of fieldsOf(protocol)) this.values.set(field, []);
  }

  add(field: string, expected: Expected): void {
    const list = this.values.get(field);
    if (!list) throw new Error(`field ${this.protocol}.${field} is not in the compared field list`);
    list.push(expected);
  }

  /** Adds a parameter header; the length is filled in once the value is known. */
  private param(type: number, value: () => number): number {
    this.add('parameter_type', num(type));
    const lengths = this.values.get('parameter_length');
    if (!lengths) throw new Error('parameter_length missing');
    const slot = lengths.length;
    lengths.push(num(-1));
    const length = 4 + value();
    lengths[slot] = num(length);
    return length;
  }

  /** Length of several TLVs in a row as an enclosing length counts them: inner padding yes, final padding no. */
  private static sequence(lengths: readonly number[]): number {
    let total = 0;
    lengths.forEach((length, i) => {
      total += i === lengths.length - 1 ? length : pad4(length);
    });
    return total;
  }

  private static after(fixed: number, lengths: readonly number[]): number {
    return lengths.length === 0 ? fixed : fixed + FieldExpectations.sequence(lengths);
  }

  address(address: string): number {
    if (address.includes(':')) {
      return this.param(0x2, () => {
        this.add('ipv6_address', ip(address));
        return 16;
      });
    }
    return this.param(0x1, () => {
      this.add('ipv4_address', ip(address));
      return 4;
    });
  }

  transport(t: UserTransport): number {
    switch (t.kind) {
      case 'sctp':
        return this.param(0x4, () => {
          this.add('sctp_transport_port', num(t.port));
          this.add('transport_use', num(t.transportUse));
          return FieldExpectations.after(4, t.addresses.map((a) => this.address(a)));
        });
      case 'tcp':
        return this.param(0x5, () => {
          this.add('tcp_transport_port', num(t.port));
          // RFC 5354 calls this field reserved; tshark (like RSPLIB) reads it as Transport Use.
          this.add('transport_use', num(t.transportUse));
          return 4 + this.address(t.address);
        });
      case 'udp':
        return this.param(0x6, () => {
          this.add('udp_transport_port', num(t.port));
          this.add('udp_transport_reserved', num(t.reserved));
          return 4 + this.address(t.address);
        });
      case 'udpLite':
        return this.param(0x7, () => {
          this.add('udp_lite_transport_port', num(t.port));
          this.add('udp_lite_transport_reserved', num(t.reserved));
          return 4 + this.address(t.address);
        });
      case 'dccp':
        return this.param(0x3, () => {
          this.add('dccp_transport_port', num(t.port));
          this.add('dccp_transport_reserved', num(t.reserved));
          this.add('dccp_transport_service_code', num(t.serviceCode));
          return 8 + this.address(t.address);
        });
      case 'opaque':
        // tshark does not know Opaque Transport (0x10): an unknown parameter with its raw value.
        return this.param(0x10, () => {
          if (t.data.length > 0) this.add('parameter_value', hex(t.data));
          return t.data.length;
        });
    }
  }

  policy(p: Policy): number {
    return this.param(0x8, () => {
      this.add('pool_member_selection_policy_type', num(p.type));
      const definition = policyDefinition(p.type);
      const ours = definition ? definition.fields.map((f) => p[f] ?? 0) : undefined;
      const tsharkLayout = TSHARK_POLICY_LAYOUT.get(p.type);
      if (definition && ours && tsharkLayout) {
        if (tsharkLayout.length !== definition.fields.length) throw new Error(`policy 0x${p.type.toString(16)}: tshark and policy.ts disagree on the field count`);
        tsharkLayout.forEach((kind, i) => {
          const value = ours[i] ?? 0;
          if (kind === 'weight') this.add('pool_member_selection_policy_weight', num(value));
          else if (kind === 'priority') this.add('pool_member_selection_policy_priority', num(value));
          else if (kind === 'load%') this.add('pool_member_selection_policy_load', scaled(value, 100));
          else if (kind === 'degradation%') this.add('pool_member_selection_policy_degradation', scaled(value, 100));
          else if (kind === 'loadDpf') this.add('pool_member_selection_policy_load_dpf', scaled(value, 1));
          else if (kind === 'weightDpf') this.add('pool_member_selection_policy_weight_dpf', scaled(value, 1));
          else this.add('pool_member_selection_policy_distance', num(value));
        });
        return 4 + 4 * ours.length;
      }
      // A type tshark does not dissect (RSPLIB's private ones, unknown ones): the value as raw bytes,
      // including any padding after it, since tshark reads to the end of the padded parameter.
      const raw = ours ? u32s(ours) : (p.value ?? new Uint8Array(0));
      if (raw.length > 0) this.add('pool_member_selection_policy_value', hex(padded(raw)));
      return 4 + raw.length;
    });
  }

  poolHandle(handle: Uint8Array): number {
    return this.param(0x9, () => {
      this.add('pool_handle_pool_handle', hex(handle));
      return handle.length;
    });
  }

  poolElement(pe: PoolElement): number {
    return this.param(0xa, () => {
      this.add('pool_element_pe_identifier', num(pe.id));
      this.add('pool_element_home_enrp_server_identifier', num(pe.homeServerId));
      this.add('pool_element_registration_life', num(pe.registrationLife));
      const inner = [this.transport(pe.userTransport), this.policy(pe.policy)];
      if (pe.asapTransport) inner.push(this.transport(pe.asapTransport));
      return FieldExpectations.after(12, inner);
    });
  }

  serverInformation(info: ServerInformation): number {
    return this.param(0xb, () => {
      this.add(this.protocol === 'asap' ? 'server_identifier' : 'server_information_server_identifier', num(info.serverId));
      return 4 + this.transport(info.transport);
    });
  }

  operationError(causes: readonly ErrorCause[]): number {
    return this.param(0xc, () => FieldExpectations.after(0, causes.map((c) => this.cause(c))));
  }

  private cause(c: ErrorCause): number {
    this.add('cause_code', num(c.code));
    const lengths = this.values.get('cause_length');
    if (!lengths) throw new Error('cause_length missing');
    const slot = lengths.length;
    lengths.push(num(-1));
    let info = 0;
    if (c.policy) info = this.policy(c.policy);
    else if (c.transport) info = this.transport(c.transport);
    else if (c.data) info = this.causeData(c.code, c.data);
    lengths[slot] = num(4 + info);
    return 4 + info;
  }

  private causeData(code: number, data: Uint8Array): number {
    switch (code) {
      case 0x1:
      case 0x3:
      case 0x5:
      case 0x7:
        this.rawParameters(data);
        break;
      case 0x2:
        this.rawMessage(data);
        break;
      case 0x4:
      case 0x6:
      case 0x8:
      case 0x9:
      case 0xa:
        // tshark shows nothing of cause-specific bytes for these codes.
        break;
      default:
        // 0x0 and unassigned codes: tshark knows no name for 0x0 and shows the bytes as Cause Info.
        if (data.length > 0) this.add('cause_info', hex(data));
    }
    return data.length;
  }

  /** TLVs received as bytes (cause data): only the parameter types the sample fixtures use there. */
  private rawParameters(data: Uint8Array): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let at = 0; at + 4 <= data.length; ) {
      const type = view.getUint16(at);
      const length = view.getUint16(at + 2);
      const value = data.subarray(at + 4, at + length);
      this.add('parameter_type', num(type));
      this.add('parameter_length', num(length));
      if (type === 0x8) {
        this.add('pool_member_selection_policy_type', num(view.getUint32(at + 4)));
        if (value.length > 4) this.add('pool_member_selection_policy_value', hex(padded(value.subarray(4))));
      } else if (type === 0x9) {
        this.add('pool_handle_pool_handle', hex(value));
      } else if (type === 0xe) {
        this.add('pe_identifier', num(view.getUint32(at + 4)));
      } else if (type >= 0x10 && type !== 0x803f) {
        if (value.length > 0) this.add('parameter_value', hex(value));
      } else {
        throw new Error(`raw parameter type 0x${type.toString(16)} in cause data is not modelled by the conformance walker`);
      }
      at += pad4(length);
    }
  }

  /** A whole message received as bytes (cause 0x2): tshark dissects it as a nested message. */
  private rawMessage(data: Uint8Array): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.add('message_type', num(data[0] ?? 0));
    this.add('message_flags', num(data[1] ?? 0));
    this.add('message_length', num(view.getUint16(2)));
    if (this.protocol === 'asap') {
      // ASAP dissects parameters after the header whatever the type.
      this.rawParameters(data.subarray(4));
    } else {
      // ENRP shows an unknown type's value (everything after the header, padding included) as raw bytes.
      if (data.length > 4) this.add('message_value', hex(padded(data.subarray(4))));
    }
  }

  cookie(cookie: Uint8Array): number {
    return this.param(0xd, () => {
      if (cookie.length > 0) this.add('cookie', hex(cookie));
      return cookie.length;
    });
  }

  peIdentifier(id: number): number {
    return this.param(0xe, () => {
      this.add('pe_identifier', num(id));
      return 4;
    });
  }

  peChecksum(checksum: number): number {
    return this.param(0xf, () => {
      this.add('pe_checksum', num(checksum));
      return 2;
    });
  }

  handleResolutionOption(items: number): number {
    return this.param(0x803f, () => {
      if (this.protocol === 'asap') this.add('hropt_items', num(items));
      else this.add('parameter_value', hex(u32s([items])));
      return 4;
    });
  }

  peStatus(status: PeStatus): number {
    const valueLength = PE_STATUS_FIXED_VALUE_LENGTH + (status.reasonText ? utf8(status.reasonText).length : 0);
    return this.param(PE_STATUS_TYPE, () => {
      this.add('parameter_value', peStatusValue(status, valueLength));
      return valueLength;
    });
  }

  /** Console Endpoint (0x8c02) is unknown to tshark too: the whole value as raw bytes, rebuilt from the model. */
  consoleEndpoint(endpoint: ConsoleEndpoint): number {
    const fingerprint = endpoint.tlsFingerprint ?? new Uint8Array(0);
    const host = utf8(endpoint.host ?? '');
    const value = new Uint8Array(4 + fingerprint.length + host.length);
    value[0] = endpoint.scheme;
    value[1] = endpoint.tlsFingerprint ? 0x1 : 0;
    new DataView(value.buffer).setUint16(2, endpoint.port);
    value.set(fingerprint, 4);
    value.set(host, 4 + fingerprint.length);
    return this.param(0x8c02, () => {
      this.add('parameter_value', hex(value));
      return value.length;
    });
  }

  unrecognized(u: UnrecognizedParameter): number {
    return this.param(u.type, () => {
      if (u.value.length > 0) this.add('parameter_value', hex(u.value));
      return u.value.length;
    });
  }
}

function u32s(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint32(4 * i, v >>> 0));
  return out;
}

function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(pad4(bytes.length));
  out.set(bytes);
  return out;
}

/** The flags octet as the RFCs (and the drafts for T) define it, computed from the model. */
function flagsOf(m: Message): number {
  if (m.protocol === 'asap') {
    switch (m.type) {
      case 'registrationResponse':
        return m.reject ? 0x01 : 0;
      case 'handleResolution':
        return m.subscribe ? 0x01 : 0;
      case 'handleResolutionResponse':
        return m.accepted ? 0x01 : 0;
      case 'endpointKeepAlive':
        return m.home ? 0x01 : 0;
      default:
        return 0;
    }
  }
  switch (m.type) {
    case 'presence':
      return m.replyRequired ? 0x01 : 0;
    case 'handleTableRequest':
      return m.ownChildrenOnly ? 0x01 : 0;
    case 'handleTableResponse':
      return (m.moreToSend ? 0x02 : 0) | (m.reject ? 0x01 : 0);
    case 'handleUpdate':
      return m.takeoverSuggested ? 0x01 : 0;
    case 'listResponse':
      return m.reject ? 0x01 : 0;
    default:
      return 0;
  }
}

// Message codes written out from RFC 5352 / 5353 on purpose, not imported from core/wire/constants.ts:
// the oracle must not share the constants of the code it checks.
const ASAP_CODES: Record<string, number> = {
  registration: 0x01,
  deregistration: 0x02,
  registrationResponse: 0x03,
  deregistrationResponse: 0x04,
  handleResolution: 0x05,
  handleResolutionResponse: 0x06,
  endpointKeepAlive: 0x07,
  endpointKeepAliveAck: 0x08,
  endpointUnreachable: 0x09,
  serverAnnounce: 0x0a,
  cookie: 0x0b,
  cookieEcho: 0x0c,
  businessCard: 0x0d,
  error: 0x0e,
};
const ENRP_CODES: Record<string, number> = {
  presence: 0x01,
  handleTableRequest: 0x02,
  handleTableResponse: 0x03,
  handleUpdate: 0x04,
  listRequest: 0x05,
  listResponse: 0x06,
  initTakeover: 0x07,
  initTakeoverAck: 0x08,
  takeoverServer: 0x09,
  error: 0x0a,
};

/** Message type code from RFC 5352 §2.2 / RFC 5353 §2 (typed out here, not taken from constants.ts). */
export function messageTypeCode(m: Message): number {
  const code = (m.protocol === 'asap' ? ASAP_CODES : ENRP_CODES)[m.type];
  if (code === undefined) throw new Error(`no code for ${m.protocol} ${m.type}`);
  return code;
}

/** Everything tshark should show for one message, and the unpadded length the model implies. */
export function expectationsFor(m: Message): FieldExpectations {
  const e = new FieldExpectations(m.protocol);
  e.add('message_type', num(messageTypeCode(m)));
  e.add('message_flags', num(flagsOf(m)));
  const lengths = e.values.get('message_length');
  if (!lengths) throw new Error('message_length missing');
  lengths.push(num(-1));

  let fixed = 0;
  const params: number[] = [];
  if (m.protocol === 'asap') {
    switch (m.type) {
      case 'registration':
        params.push(e.poolHandle(m.poolHandle), e.poolElement(m.poolElement));
        break;
      case 'deregistration':
      case 'endpointKeepAliveAck':
      case 'endpointUnreachable':
        params.push(e.poolHandle(m.poolHandle), e.peIdentifier(m.peId));
        break;
      case 'registrationResponse':
      case 'deregistrationResponse':
        if (m.type === 'registrationResponse') e.add('r_bit', bool(m.reject));
        params.push(e.poolHandle(m.poolHandle), e.peIdentifier(m.peId));
        if (m.error) params.push(e.operationError(m.error));
        break;
      case 'handleResolution':
        params.push(e.poolHandle(m.poolHandle));
        if (m.items !== undefined) params.push(e.handleResolutionOption(m.items));
        break;
      case 'handleResolutionResponse':
        params.push(e.poolHandle(m.poolHandle));
        if (m.overallPolicy) params.push(e.policy(m.overallPolicy));
        for (const pe of m.poolElements) params.push(e.poolElement(pe));
        if (m.error) params.push(e.operationError(m.error));
        for (const status of m.peStatus) params.push(e.peStatus(status));
        break;
      case 'endpointKeepAlive':
        e.add('h_bit', bool(m.home));
        fixed = 4;
        e.add('server_identifier', num(m.serverId));
        params.push(e.poolHandle(m.poolHandle));
        if (m.peId !== undefined) params.push(e.peIdentifier(m.peId));
        break;
      case 'serverAnnounce':
        fixed = 4;
        e.add('server_identifier', num(m.serverId));
        for (const t of m.transports) params.push(e.transport(t));
        if (m.consoleEndpoint) params.push(e.consoleEndpoint(m.consoleEndpoint));
        break;
      case 'cookie':
      case 'cookieEcho':
        params.push(e.cookie(m.cookie));
        break;
      case 'businessCard':
        params.push(e.poolHandle(m.poolHandle));
        for (const pe of m.poolElements) params.push(e.poolElement(pe));
        break;
      case 'error':
        params.push(e.operationError(m.error));
        break;
    }
  } else {
    fixed = 8;
    switch (m.type) {
      case 'presence':
        e.add('r_bit', bool(m.replyRequired));
        break;
      case 'handleTableRequest':
        e.add('w_bit', bool(m.ownChildrenOnly));
        break;
      case 'handleTableResponse':
        e.add('m_bit', bool(m.moreToSend));
        e.add('r_bit', bool(m.reject));
        break;
      case 'handleUpdate':
        e.add('t_bit', bool(m.takeoverSuggested));
        break;
      case 'listResponse':
        e.add('r_bit', bool(m.reject));
        break;
      default:
        break;
    }
    e.add('sender_servers_id', num(m.senderServerId));
    e.add('receiver_servers_id', num(m.receiverServerId));
    switch (m.type) {
      case 'presence':
        if (m.peChecksum !== undefined) params.push(e.peChecksum(m.peChecksum));
        if (m.serverInformation) params.push(e.serverInformation(m.serverInformation));
        break;
      case 'handleTableRequest':
      case 'listRequest':
        break;
      case 'handleTableResponse':
        for (const pool of m.pools) {
          params.push(e.poolHandle(pool.poolHandle));
          for (const pe of pool.poolElements) params.push(e.poolElement(pe));
        }
        break;
      case 'handleUpdate':
        fixed += 4;
        e.add('update_action', num(m.updateAction));
        e.add('reserved', num(0));
        params.push(e.poolHandle(m.poolHandle), e.poolElement(m.poolElement));
        break;
      case 'listResponse':
        for (const server of m.servers) params.push(e.serverInformation(server));
        break;
      case 'initTakeover':
      case 'initTakeoverAck':
      case 'takeoverServer':
        fixed += 4;
        e.add('target_servers_id', num(m.targetServerId));
        break;
      case 'error':
        params.push(e.operationError(m.error));
        break;
    }
  }
  for (const u of m.unrecognized ?? []) if (!u.nested) params.push(e.unrecognized(u));

  let length = 4 + fixed;
  params.forEach((p, i) => {
    length += i === params.length - 1 ? p : pad4(p);
  });
  e.messageLength = length;
  lengths[0] = num(length);
  return e;
}
