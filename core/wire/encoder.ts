/**
 * Encodes typed ASAP / ENRP messages (types.ts) into wire bytes per RFC 5352/5353/5354. The encoder trusts
 * its input's shape (the type system guarantees it); out-of-range numbers or unparsable address text are
 * caller bugs and raise RangeError. Untrusted input (JSON from the CLI) goes through json.ts first.
 */
import { ByteWriter } from './byte-writer.js';
import { AsapType, EnrpType, Flag, ParamType } from './constants.js';
import { parseIpAddress } from './ip-address.js';
import { policyDefinition } from './policy.js';
import type {
  AsapHandleResolutionResponse,
  AsapMessage,
  ConsoleEndpoint,
  EnrpMessage,
  ErrorCause,
  Message,
  PeStatus,
  Policy,
  PoolElement,
  ServerInformation,
  UnrecognizedParameter,
  UserTransport,
} from './types.js';

// Imported bindings aliased once (see decoder.ts: getter calls under a transpiling loader).
const ASAP = AsapType;
const ENRP = EnrpType;
const FLAG = Flag;
const PARAM = ParamType;
const policyDefinitionOf = policyDefinition;
const parseAddress = parseIpAddress;

const textEncoder = new TextEncoder();

// Encoding is synchronous and never re-entered, so one scratch writer per use serves every call: only the
// final copy is allocated per message (profiles showed the per-message writer allocation).
const messageScratch = new ByteWriter(4096);
const parameterScratch = new ByteWriter(512);

function checkUint(value: number, bits: 8 | 16 | 32, what: string): number {
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what} ${value} is not a ${bits}-bit unsigned integer`);
  return value;
}

function writeAddress(w: ByteWriter, text: string): void {
  const parsed = parseAddress(text);
  if (!parsed) throw new RangeError(`not an IPv4 or IPv6 address: ${JSON.stringify(text)}`);
  const start = w.begin(parsed.family === 4 ? PARAM.ipv4Address : PARAM.ipv6Address);
  w.bytes(parsed.bytes);
  w.end(start);
}

export function writeTransport(w: ByteWriter, transport: UserTransport): void {
  switch (transport.kind) {
    case 'sctp': {
      const start = w.begin(PARAM.sctpTransport);
      w.u16(checkUint(transport.port, 16, 'SCTP port'));
      w.u16(checkUint(transport.transportUse, 16, 'transport use'));
      if (transport.addresses.length === 0) throw new RangeError('an SCTP transport needs at least one address');
      for (const address of transport.addresses) writeAddress(w, address);
      w.end(start);
      return;
    }
    case 'tcp': {
      const start = w.begin(PARAM.tcpTransport);
      w.u16(checkUint(transport.port, 16, 'TCP port'));
      w.u16(checkUint(transport.transportUse, 16, 'transport use'));
      writeAddress(w, transport.address);
      w.end(start);
      return;
    }
    case 'udp':
    case 'udpLite': {
      const start = w.begin(transport.kind === 'udp' ? PARAM.udpTransport : PARAM.udpLiteTransport);
      w.u16(checkUint(transport.port, 16, 'UDP port'));
      w.u16(checkUint(transport.reserved, 16, 'reserved'));
      writeAddress(w, transport.address);
      w.end(start);
      return;
    }
    case 'dccp': {
      const start = w.begin(PARAM.dccpTransport);
      w.u16(checkUint(transport.port, 16, 'DCCP port'));
      w.u16(checkUint(transport.reserved, 16, 'reserved'));
      w.u32(checkUint(transport.serviceCode, 32, 'DCCP service code'));
      writeAddress(w, transport.address);
      w.end(start);
      return;
    }
    case 'opaque': {
      const start = w.begin(PARAM.opaqueTransport);
      w.bytes(transport.data);
      w.end(start);
      return;
    }
  }
}

export function writePolicy(w: ByteWriter, policy: Policy): void {
  const start = w.begin(PARAM.policy);
  w.u32(checkUint(policy.type, 32, 'policy type'));
  const definition = policyDefinitionOf(policy.type);
  if (definition) {
    for (const field of definition.fields) w.u32(checkUint(policy[field] ?? 0, 32, field));
  } else if (policy.value) {
    w.bytes(policy.value);
  }
  w.end(start);
}

function writePoolHandle(w: ByteWriter, handle: Uint8Array): void {
  const start = w.begin(PARAM.poolHandle);
  w.bytes(handle);
  w.end(start);
}

function writePeIdentifier(w: ByteWriter, id: number): void {
  const start = w.begin(PARAM.peIdentifier);
  w.u32(checkUint(id, 32, 'PE identifier'));
  w.end(start);
}

export function writePoolElement(w: ByteWriter, pe: PoolElement): void {
  const start = w.begin(PARAM.poolElement);
  w.u32(checkUint(pe.id, 32, 'PE identifier'));
  w.u32(checkUint(pe.homeServerId, 32, 'home server identifier'));
  if (!Number.isInteger(pe.registrationLife) || pe.registrationLife < -1 || pe.registrationLife > 0x7fffffff) {
    throw new RangeError(`registration life ${pe.registrationLife} is not -1 or a non-negative 31-bit integer`);
  }
  w.i32(pe.registrationLife);
  writeTransport(w, pe.userTransport);
  writePolicy(w, pe.policy);
  if (pe.asapTransport) writeTransport(w, pe.asapTransport);
  w.end(start);
}

function writeServerInformation(w: ByteWriter, info: ServerInformation): void {
  const start = w.begin(PARAM.serverInformation);
  w.u32(checkUint(info.serverId, 32, 'server identifier'));
  writeTransport(w, info.transport);
  w.end(start);
}

function writeOperationError(w: ByteWriter, causes: readonly ErrorCause[]): void {
  const start = w.begin(PARAM.operationError);
  for (const cause of causes) {
    const causeStart = w.begin(checkUint(cause.code, 16, 'cause code'));
    if (cause.policy) writePolicy(w, cause.policy);
    else if (cause.transport) writeTransport(w, cause.transport);
    else if (cause.data) w.bytes(cause.data);
    w.end(causeStart);
  }
  w.end(start);
}

function writeCookie(w: ByteWriter, cookie: Uint8Array): void {
  const start = w.begin(PARAM.cookie);
  w.bytes(cookie);
  w.end(start);
}

export function writePeStatus(w: ByteWriter, status: PeStatus): void {
  const start = w.begin(PARAM.peStatus);
  w.u32(checkUint(status.peId, 32, 'PE identifier'));
  w.u8(checkUint(status.status, 8, 'status'));
  w.u8(checkUint(status.reason, 8, 'reason'));
  const flags = (status.replacementPeId !== undefined ? 0x1 : 0) | (status.load !== undefined ? 0x2 : 0);
  w.u16(flags);
  w.u32(checkUint(status.sequence, 32, 'sequence'));
  if (!Number.isSafeInteger(status.eventTimeMs) || status.eventTimeMs < 0) throw new RangeError(`event time ${status.eventTimeMs} is not a non-negative safe integer`);
  w.u32(Math.floor(status.eventTimeMs / 0x100000000));
  w.u32(status.eventTimeMs % 0x100000000);
  w.u32(checkUint(status.replacementPeId ?? 0, 32, 'replacement PE identifier'));
  w.u32(checkUint(status.load ?? 0, 32, 'load'));
  if (status.reasonText) w.bytes(textEncoder.encode(status.reasonText));
  w.end(start);
}

/** Longest host text in a Console Endpoint (a DNS name's limit); longer is a caller bug. */
export const MAX_CONSOLE_HOST_LENGTH = 255;
/** SHA-256 digest length. */
export const CONSOLE_FINGERPRINT_LENGTH = 32;

export function writeConsoleEndpoint(w: ByteWriter, endpoint: ConsoleEndpoint): void {
  const start = w.begin(PARAM.consoleEndpoint);
  w.u8(checkUint(endpoint.scheme, 8, 'scheme'));
  w.u8(endpoint.tlsFingerprint !== undefined ? 0x1 : 0);
  w.u16(checkUint(endpoint.port, 16, 'console port'));
  if (endpoint.tlsFingerprint !== undefined) {
    if (endpoint.tlsFingerprint.length !== CONSOLE_FINGERPRINT_LENGTH) throw new RangeError(`a TLS fingerprint is ${CONSOLE_FINGERPRINT_LENGTH} bytes (SHA-256), not ${endpoint.tlsFingerprint.length}`);
    w.bytes(endpoint.tlsFingerprint);
  }
  if (endpoint.host !== undefined && endpoint.host !== '') {
    if (endpoint.host.length > MAX_CONSOLE_HOST_LENGTH || !/^[\x21-\x7e]+$/.test(endpoint.host)) {
      throw new RangeError(`console host ${JSON.stringify(endpoint.host.slice(0, 80))} is not 1-${MAX_CONSOLE_HOST_LENGTH} printable ASCII characters`);
    }
    w.bytes(textEncoder.encode(endpoint.host));
  }
  w.end(start);
}

function writeUnrecognized(w: ByteWriter, params: readonly UnrecognizedParameter[] | undefined): void {
  if (!params) return;
  for (const param of params) {
    if (param.nested) continue;
    const start = w.begin(checkUint(param.type, 16, 'parameter type'));
    w.bytes(param.value);
    w.end(start);
  }
}

function writeAsap(w: ByteWriter, m: AsapMessage): void {
  switch (m.type) {
    case 'registration':
      w.u8(ASAP.registration);
      w.u8(0);
      w.u16(0);
      writePoolHandle(w, m.poolHandle);
      writePoolElement(w, m.poolElement);
      break;
    case 'deregistration':
      w.u8(ASAP.deregistration);
      w.u8(0);
      w.u16(0);
      writePoolHandle(w, m.poolHandle);
      writePeIdentifier(w, m.peId);
      break;
    case 'registrationResponse':
    case 'deregistrationResponse':
      w.u8(m.type === 'registrationResponse' ? ASAP.registrationResponse : ASAP.deregistrationResponse);
      w.u8(m.type === 'registrationResponse' && m.reject ? FLAG.reject : 0);
      w.u16(0);
      writePoolHandle(w, m.poolHandle);
      writePeIdentifier(w, m.peId);
      if (m.error) writeOperationError(w, m.error);
      break;
    case 'handleResolution':
      w.u8(ASAP.handleResolution);
      w.u8(m.subscribe ? FLAG.subscribe : 0);
      w.u16(0);
      writePoolHandle(w, m.poolHandle);
      if (m.items !== undefined) {
        const start = w.begin(PARAM.handleResolutionOption);
        w.u32(checkUint(m.items, 32, 'items'));
        w.end(start);
      }
      break;
    case 'handleResolutionResponse':
      w.u8(ASAP.handleResolutionResponse);
      w.u8(m.accepted ? FLAG.accepted : 0);
      w.u16(0);
      writePoolHandle(w, m.poolHandle);
      if (m.overallPolicy) writePolicy(w, m.overallPolicy);
      for (const pe of m.poolElements) writePoolElement(w, pe);
      if (m.error) writeOperationError(w, m.error);
      for (const status of m.peStatus) writePeStatus(w, status);
      break;
    case 'endpointKeepAlive':
      w.u8(ASAP.endpointKeepAlive);
      w.u8(m.home ? FLAG.home : 0);
      w.u16(0);
      w.u32(checkUint(m.serverId, 32, 'server identifier'));
      writePoolHandle(w, m.poolHandle);
      if (m.peId !== undefined) writePeIdentifier(w, m.peId);
      break;
    case 'endpointKeepAliveAck':
    case 'endpointUnreachable':
      w.u8(m.type === 'endpointKeepAliveAck' ? ASAP.endpointKeepAliveAck : ASAP.endpointUnreachable);
      w.u8(0);
      w.u16(0);
      writePoolHandle(w, m.poolHandle);
      writePeIdentifier(w, m.peId);
      break;
    case 'serverAnnounce':
      w.u8(ASAP.serverAnnounce);
      w.u8(0);
      w.u16(0);
      w.u32(checkUint(m.serverId, 32, 'server identifier'));
      for (const transport of m.transports) writeTransport(w, transport);
      if (m.consoleEndpoint) writeConsoleEndpoint(w, m.consoleEndpoint);
      break;
    case 'cookie':
    case 'cookieEcho':
      w.u8(m.type === 'cookie' ? ASAP.cookie : ASAP.cookieEcho);
      w.u8(0);
      w.u16(0);
      writeCookie(w, m.cookie);
      break;
    case 'businessCard':
      w.u8(ASAP.businessCard);
      w.u8(0);
      w.u16(0);
      writePoolHandle(w, m.poolHandle);
      for (const pe of m.poolElements) writePoolElement(w, pe);
      break;
    case 'error':
      w.u8(ASAP.error);
      w.u8(0);
      w.u16(0);
      writeOperationError(w, m.error);
      break;
  }
}

function enrpHeader(w: ByteWriter, type: number, flags: number, m: EnrpMessage): void {
  w.u8(type);
  w.u8(flags);
  w.u16(0);
  w.u32(checkUint(m.senderServerId, 32, 'sending server identifier'));
  w.u32(checkUint(m.receiverServerId, 32, 'receiving server identifier'));
}

function writeEnrp(w: ByteWriter, m: EnrpMessage): void {
  switch (m.type) {
    case 'presence':
      enrpHeader(w, ENRP.presence, m.replyRequired ? FLAG.replyRequired : 0, m);
      if (m.peChecksum !== undefined) {
        const start = w.begin(PARAM.peChecksum);
        w.u16(checkUint(m.peChecksum, 16, 'PE checksum'));
        w.end(start);
      }
      if (m.serverInformation) writeServerInformation(w, m.serverInformation);
      break;
    case 'handleTableRequest':
      enrpHeader(w, ENRP.handleTableRequest, m.ownChildrenOnly ? FLAG.ownChildrenOnly : 0, m);
      break;
    case 'handleTableResponse':
      enrpHeader(w, ENRP.handleTableResponse, (m.reject ? FLAG.reject : 0) | (m.moreToSend ? FLAG.moreToSend : 0), m);
      for (const pool of m.pools) {
        writePoolHandle(w, pool.poolHandle);
        for (const pe of pool.poolElements) writePoolElement(w, pe);
      }
      break;
    case 'handleUpdate':
      enrpHeader(w, ENRP.handleUpdate, m.takeoverSuggested ? FLAG.takeoverSuggested : 0, m);
      w.u16(checkUint(m.updateAction, 16, 'update action'));
      w.u16(0);
      writePoolHandle(w, m.poolHandle);
      writePoolElement(w, m.poolElement);
      break;
    case 'listRequest':
      enrpHeader(w, ENRP.listRequest, 0, m);
      break;
    case 'listResponse':
      enrpHeader(w, ENRP.listResponse, m.reject ? FLAG.reject : 0, m);
      for (const server of m.servers) writeServerInformation(w, server);
      break;
    case 'initTakeover':
    case 'initTakeoverAck':
    case 'takeoverServer':
      enrpHeader(w, ENRP[m.type], 0, m);
      w.u32(checkUint(m.targetServerId, 32, 'target server identifier'));
      break;
    case 'error':
      enrpHeader(w, ENRP.error, 0, m);
      writeOperationError(w, m.error);
      break;
  }
}

/** The Pool Element parameter alone (padded TLV bytes), for callers that cache it per element. */
export function encodePoolElementParameter(pe: PoolElement): Uint8Array {
  const w = parameterScratch.reset();
  writePoolElement(w, pe);
  return w.finished();
}

/**
 * An ASAP_HANDLE_RESOLUTION_RESPONSE whose Pool Element parameters are already encoded (from
 * encodePoolElementParameter): the registrar's hot path, which caches each element's bytes.
 */
export function encodeHandleResolutionResponse(m: Omit<AsapHandleResolutionResponse, 'poolElements' | 'protocol' | 'type'>, encodedPoolElements: readonly Uint8Array[]): Uint8Array {
  const w = messageScratch.reset();
  w.u8(ASAP.handleResolutionResponse);
  w.u8(m.accepted ? FLAG.accepted : 0);
  w.u16(0);
  writePoolHandle(w, m.poolHandle);
  if (m.overallPolicy) writePolicy(w, m.overallPolicy);
  // A Pool Element TLV's length is always a multiple of 4 (its last part is a policy or an ASAP transport),
  // so its padded bytes are exactly what writePoolElement would have written.
  for (const pe of encodedPoolElements) w.bytes(pe);
  if (m.error) writeOperationError(w, m.error);
  for (const status of m.peStatus) writePeStatus(w, status);
  writeUnrecognized(w, m.unrecognized);
  return w.finishMessage();
}

/** Encodes one message: the header's length excludes the final padding; the bytes returned include it. */
export function encodeMessage(message: Message): Uint8Array {
  const w = messageScratch.reset();
  if (message.protocol === 'asap') writeAsap(w, message);
  else writeEnrp(w, message);
  writeUnrecognized(w, message.unrecognized);
  return w.finishMessage();
}
