/**
 * Protocol numbers of ASAP (RFC 5352), ENRP (RFC 5353), their common parameters (RFC 5354), the member
 * selection policies (RFC 5356, plus RSPLIB's private ones) and our own extension parameters
 * (docs/protocol.md). Numbers only: no logic lives here.
 */

/** SCTP payload protocol identifiers, kept for pcap writing and a future SCTP transport. */
export const PPID_ASAP = 11;
export const PPID_ENRP = 12;

/** Well-known ports (RFC 5352 §8.2, RFC 5353 §5.3). */
export const ASAP_PORT = 3863;
export const ENRP_PORT = 9901;

export const AsapType = {
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
} as const;
export type AsapTypeName = keyof typeof AsapType;

export const EnrpType = {
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
} as const;
export type EnrpTypeName = keyof typeof EnrpType;

/** Message flag bits (RFC 5352 §2.2, RFC 5353 §2; draft-dreibholz-rserpool-enrp-takeover for T). */
export const Flag = {
  /** ASAP_REGISTRATION_RESPONSE: rejected. ENRP_HANDLE_TABLE_RESPONSE / ENRP_LIST_RESPONSE: rejected. */
  reject: 0x01,
  /** ASAP_HANDLE_RESOLUTION: subscribe to updates. */
  subscribe: 0x01,
  /** ASAP_HANDLE_RESOLUTION_RESPONSE: updates accepted. */
  accepted: 0x01,
  /** ASAP_ENDPOINT_KEEP_ALIVE: the sender wants to be the element's home registrar. */
  home: 0x01,
  /** ENRP_PRESENCE: reply required. */
  replyRequired: 0x01,
  /** ENRP_HANDLE_TABLE_REQUEST: own children only. */
  ownChildrenOnly: 0x01,
  /** ENRP_HANDLE_TABLE_RESPONSE: more to send. */
  moreToSend: 0x02,
  /** ENRP_HANDLE_UPDATE: takeover suggested. */
  takeoverSuggested: 0x01,
} as const;

export const ParamType = {
  ipv4Address: 0x0001,
  ipv6Address: 0x0002,
  dccpTransport: 0x0003,
  sctpTransport: 0x0004,
  tcpTransport: 0x0005,
  udpTransport: 0x0006,
  udpLiteTransport: 0x0007,
  policy: 0x0008,
  poolHandle: 0x0009,
  poolElement: 0x000a,
  serverInformation: 0x000b,
  operationError: 0x000c,
  cookie: 0x000d,
  peIdentifier: 0x000e,
  peChecksum: 0x000f,
  opaqueTransport: 0x0010,
  /** RSPLIB's Handle Resolution Option (draft-dreibholz-rserpool-asap-hropt), action bits 10. */
  handleResolutionOption: 0x803f,
  /** Ours: PE Status (docs/protocol.md), action bits 10 so standard peers skip it. */
  peStatus: 0x8c01,
  /** Ours: Console Endpoint in ASAP_SERVER_ANNOUNCE (docs/protocol.md), action bits 10 like PE Status. */
  consoleEndpoint: 0x8c02,
} as const;
export type ParamTypeName = keyof typeof ParamType;

/**
 * Our extension parameter codes the codec leaves to other modules (docs/protocol.md): core/enrp builds and
 * reads them; the decoder keeps them as unrecognized parameters.
 */
export const ReservedExtensionParam = {
  adminState: 0x8c03,
} as const;

export const Cause = {
  unspecifiedError: 0x0,
  unrecognizedParameter: 0x1,
  unrecognizedMessage: 0x2,
  invalidValues: 0x3,
  nonUniquePeIdentifier: 0x4,
  inconsistentPoolingPolicy: 0x5,
  lackOfResources: 0x6,
  inconsistentTransportType: 0x7,
  inconsistentDataControlConfiguration: 0x8,
  unknownPoolHandle: 0x9,
  rejectedDueToSecurity: 0xa,
} as const;
export type CauseName = keyof typeof Cause;

export const TransportUse = { dataOnly: 0, dataPlusControl: 1 } as const;

export const UpdateAction = { addPe: 0, delPe: 1 } as const;

/** Registration life value meaning "infinite" (RFC 5354 §3.10). */
export const INFINITE_REGISTRATION_LIFE = -1;

/** Handle Resolution Option item count meaning "as many as allowed" (RSPLIB). */
export const HROPT_ALL_ITEMS = 0xffffffff;

/**
 * Top two bits of an unknown message type (RFC 5354 §4) or parameter type (RFC 5354 §3).
 */
export const UnknownAction = {
  /** 00: stop processing, discard silently. */
  stop: 0,
  /** 01: stop processing, discard, report. */
  stopAndReport: 1,
  /** 10: skip this parameter, continue. */
  skip: 2,
  /** 11: skip this parameter, continue, report. */
  skipAndReport: 3,
} as const;

export function unknownParamAction(type: number): number {
  return (type >>> 14) & 0x3;
}

export function unknownMessageAction(type: number): number {
  return (type >>> 6) & 0x3;
}

export function nameOf<T extends Record<string, number>>(table: T, value: number): keyof T | undefined {
  for (const key of Object.keys(table)) {
    if (table[key] === value) return key as keyof T;
  }
  return undefined;
}
