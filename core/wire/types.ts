/**
 * The typed model of every ASAP and ENRP message and parameter. Numbers are unsigned 32-bit unless noted;
 * byte strings are Uint8Array copies (never views into a receive buffer, so a stored pool handle does not
 * keep a 64 KiB socket chunk alive). Addresses are text: dotted quad for IPv4, RFC 5952 form for IPv6.
 */

/** An IPv4 (dotted quad) or IPv6 (RFC 5952) address; the family follows from the text. */
export type IpAddress = string;

export interface SctpTransport {
  readonly kind: 'sctp';
  readonly port: number;
  /** 0 = data only, 1 = data plus control (RFC 5354 §3.4). */
  readonly transportUse: number;
  /** One or more addresses, IPv4 and IPv6 mixed as the RFC allows. */
  readonly addresses: readonly IpAddress[];
}

export interface TcpTransport {
  readonly kind: 'tcp';
  readonly port: number;
  /** RFC 5354 §3.5 calls this field reserved; RSPLIB and Wireshark read it as Transport Use. */
  readonly transportUse: number;
  readonly address: IpAddress;
}

export interface UdpTransport {
  readonly kind: 'udp';
  readonly port: number;
  readonly reserved: number;
  readonly address: IpAddress;
}

export interface UdpLiteTransport {
  readonly kind: 'udpLite';
  readonly port: number;
  readonly reserved: number;
  readonly address: IpAddress;
}

export interface DccpTransport {
  readonly kind: 'dccp';
  readonly port: number;
  readonly reserved: number;
  readonly serviceCode: number;
  readonly address: IpAddress;
}

export interface OpaqueTransport {
  readonly kind: 'opaque';
  readonly data: Uint8Array;
}

export type UserTransport = SctpTransport | TcpTransport | UdpTransport | UdpLiteTransport | DccpTransport | OpaqueTransport;
/** The transport a registrar reaches an element or a peer on: SCTP per the RFC, TCP in our deployment. */
export type ServerTransport = SctpTransport | TcpTransport;

/**
 * A member selection policy parameter (RFC 5356). Which value fields are present is fixed by the policy
 * type (see policy.ts); a policy type we do not know keeps its value bytes in `value`.
 */
export interface Policy {
  readonly type: number;
  readonly weight?: number;
  readonly priority?: number;
  readonly load?: number;
  readonly loadDegradation?: number;
  readonly loadDpf?: number;
  readonly weightDpf?: number;
  readonly distance?: number;
  /** Raw policy-specific bytes of an unknown policy type. */
  readonly value?: Uint8Array;
}

export interface PoolElement {
  readonly id: number;
  /** 0 = not yet determined. */
  readonly homeServerId: number;
  /** Signed 32-bit; milliseconds (as RSPLIB and Wireshark read it); -1 = infinite. */
  readonly registrationLife: number;
  readonly userTransport: UserTransport;
  readonly policy: Policy;
  /** Filled in by the registrar; absent in a registration from an element. */
  readonly asapTransport?: ServerTransport;
}

export interface ServerInformation {
  readonly serverId: number;
  readonly transport: ServerTransport;
}

/**
 * One Operation Error cause (RFC 5354 §3.12). Cause-specific information by code:
 * 0x1 Unrecognized Parameter and 0x3 Invalid Values carry the offending TLV in `data`, 0x2 Unrecognized
 * Message the message in `data`, 0x5 the pool's policy in `policy`, 0x7 the pool's transport in
 * `transport`; the others carry none (any bytes that are there stay in `data`).
 */
export interface ErrorCause {
  readonly code: number;
  readonly data?: Uint8Array;
  readonly policy?: Policy;
  readonly transport?: UserTransport;
}

/** Status values of the PE Status extension parameter (docs/protocol.md). */
export const PeStatusCode = {
  up: 1,
  draining: 2,
  maintenance: 3,
  unreachable: 4,
  failed: 5,
  deregistered: 6,
  loadChanged: 7,
} as const;

/** Reason values of the PE Status extension parameter (docs/protocol.md). */
export const PeStatusReason = {
  unspecified: 0,
  registered: 1,
  reregistered: 2,
  operatorDrain: 3,
  operatorReady: 4,
  operatorMaintenance: 5,
  operatorFailover: 6,
  operatorDeregister: 7,
  keepAliveTimeout: 8,
  connectionLost: 9,
  unreachableReports: 10,
  deregisteredByElement: 11,
  lifetimeExpired: 12,
  loadChanged: 13,
  takeover: 14,
} as const;

export interface PeStatus {
  readonly peId: number;
  /** A PeStatusCode value; unknown values are kept so newer registrars stay readable. */
  readonly status: number;
  /** A PeStatusReason value; unknown values are kept. */
  readonly reason: number;
  /** Per-pool sequence number, 32-bit, compared with RFC 1982 serial arithmetic. */
  readonly sequence: number;
  /** Milliseconds since the Unix epoch. */
  readonly eventTimeMs: number;
  /** The element the pool's policy would pick instead, when this one is taken away. */
  readonly replacementPeId?: number;
  /** The element's load (0 .. 0xffffffff) where the status is about load. */
  readonly load?: number;
  /** The operator's reason or other detail, UTF-8. */
  readonly reasonText?: string;
}

/** Scheme values of the Console Endpoint extension parameter (docs/protocol.md). */
export const ConsoleScheme = {
  http: 1,
  https: 2,
} as const;

/**
 * Our Console Endpoint extension in ASAP_SERVER_ANNOUNCE: where the announcing registrar's console (HTTP
 * API and web interface) listens, so a discovered registrar can be attached without typing its address.
 */
export interface ConsoleEndpoint {
  /** A ConsoleScheme value; unknown values are kept so a newer registrar's announce stays readable. */
  readonly scheme: number;
  readonly port: number;
  /** SHA-256 of the console's TLS certificate (DER), 32 bytes; absent without TLS. */
  readonly tlsFingerprint?: Uint8Array;
  /** Host name or address to use; absent: the announce's source address. ASCII, at most 255 bytes. */
  readonly host?: string;
}

/** An unknown parameter that the action bits told us to skip (10) or skip and report (11). */
export interface UnrecognizedParameter {
  readonly type: number;
  readonly value: Uint8Array;
  /** True when it was found inside another parameter; only top-level ones are written back by the encoder. */
  readonly nested: boolean;
}

interface MessageBase {
  /** Unknown parameters that were skipped by their action bits, in the order met. */
  readonly unrecognized?: readonly UnrecognizedParameter[];
}

export interface AsapRegistration extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'registration';
  readonly poolHandle: Uint8Array;
  readonly poolElement: PoolElement;
}
export interface AsapDeregistration extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'deregistration';
  readonly poolHandle: Uint8Array;
  readonly peId: number;
}
export interface AsapRegistrationResponse extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'registrationResponse';
  readonly reject: boolean;
  readonly poolHandle: Uint8Array;
  readonly peId: number;
  readonly error?: readonly ErrorCause[];
}
export interface AsapDeregistrationResponse extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'deregistrationResponse';
  readonly poolHandle: Uint8Array;
  readonly peId: number;
  readonly error?: readonly ErrorCause[];
}
export interface AsapHandleResolution extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'handleResolution';
  readonly subscribe: boolean;
  readonly poolHandle: Uint8Array;
  /** Handle Resolution Option items; 0xffffffff = as many as allowed. */
  readonly items?: number;
}
export interface AsapHandleResolutionResponse extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'handleResolutionResponse';
  readonly accepted: boolean;
  readonly poolHandle: Uint8Array;
  readonly overallPolicy?: Policy;
  readonly poolElements: readonly PoolElement[];
  readonly error?: readonly ErrorCause[];
  /** Our PE Status extension: one per changed element in a pushed update. */
  readonly peStatus: readonly PeStatus[];
}
export interface AsapEndpointKeepAlive extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'endpointKeepAlive';
  readonly home: boolean;
  readonly serverId: number;
  readonly poolHandle: Uint8Array;
  /** RSPLIB names the element being probed; RFC 5352 does not. Optional. */
  readonly peId?: number;
}
export interface AsapEndpointKeepAliveAck extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'endpointKeepAliveAck';
  readonly poolHandle: Uint8Array;
  readonly peId: number;
}
export interface AsapEndpointUnreachable extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'endpointUnreachable';
  readonly poolHandle: Uint8Array;
  readonly peId: number;
}
export interface AsapServerAnnounce extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'serverAnnounce';
  readonly serverId: number;
  readonly transports: readonly ServerTransport[];
  /** Our Console Endpoint extension; RSPLIB registrars (and ours with the console off) send none. */
  readonly consoleEndpoint?: ConsoleEndpoint;
}
export interface AsapCookie extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'cookie';
  readonly cookie: Uint8Array;
}
export interface AsapCookieEcho extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'cookieEcho';
  readonly cookie: Uint8Array;
}
export interface AsapBusinessCard extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'businessCard';
  readonly poolHandle: Uint8Array;
  readonly poolElements: readonly PoolElement[];
}
export interface AsapError extends MessageBase {
  readonly protocol: 'asap';
  readonly type: 'error';
  readonly error: readonly ErrorCause[];
}

export type AsapMessage =
  | AsapRegistration
  | AsapDeregistration
  | AsapRegistrationResponse
  | AsapDeregistrationResponse
  | AsapHandleResolution
  | AsapHandleResolutionResponse
  | AsapEndpointKeepAlive
  | AsapEndpointKeepAliveAck
  | AsapEndpointUnreachable
  | AsapServerAnnounce
  | AsapCookie
  | AsapCookieEcho
  | AsapBusinessCard
  | AsapError;

interface EnrpBase extends MessageBase {
  readonly protocol: 'enrp';
  readonly senderServerId: number;
  /** 0 for group-cast. */
  readonly receiverServerId: number;
}
export interface EnrpPresence extends EnrpBase {
  readonly type: 'presence';
  readonly replyRequired: boolean;
  readonly peChecksum?: number;
  readonly serverInformation?: ServerInformation;
}
export interface EnrpHandleTableRequest extends EnrpBase {
  readonly type: 'handleTableRequest';
  readonly ownChildrenOnly: boolean;
}
export interface PoolEntry {
  readonly poolHandle: Uint8Array;
  readonly poolElements: readonly PoolElement[];
}
export interface EnrpHandleTableResponse extends EnrpBase {
  readonly type: 'handleTableResponse';
  readonly moreToSend: boolean;
  readonly reject: boolean;
  readonly pools: readonly PoolEntry[];
}
export interface EnrpHandleUpdate extends EnrpBase {
  readonly type: 'handleUpdate';
  readonly takeoverSuggested: boolean;
  /** 0 = ADD_PE, 1 = DEL_PE. */
  readonly updateAction: number;
  readonly poolHandle: Uint8Array;
  readonly poolElement: PoolElement;
}
export interface EnrpListRequest extends EnrpBase {
  readonly type: 'listRequest';
}
export interface EnrpListResponse extends EnrpBase {
  readonly type: 'listResponse';
  readonly reject: boolean;
  readonly servers: readonly ServerInformation[];
}
export interface EnrpInitTakeover extends EnrpBase {
  readonly type: 'initTakeover';
  readonly targetServerId: number;
}
export interface EnrpInitTakeoverAck extends EnrpBase {
  readonly type: 'initTakeoverAck';
  readonly targetServerId: number;
}
export interface EnrpTakeoverServer extends EnrpBase {
  readonly type: 'takeoverServer';
  readonly targetServerId: number;
}
export interface EnrpError extends EnrpBase {
  readonly type: 'error';
  readonly error: readonly ErrorCause[];
}

export type EnrpMessage =
  | EnrpPresence
  | EnrpHandleTableRequest
  | EnrpHandleTableResponse
  | EnrpHandleUpdate
  | EnrpListRequest
  | EnrpListResponse
  | EnrpInitTakeover
  | EnrpInitTakeoverAck
  | EnrpTakeoverServer
  | EnrpError;

export type Message = AsapMessage | EnrpMessage;
export type Protocol = Message['protocol'];
