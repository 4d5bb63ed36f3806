/**
 * fast-check generators for every ASAP / ENRP message the codec knows, with values across their full
 * ranges: the input of the round-trip property tests and the seed corpus of the fuzz test.
 */
import fc from 'fast-check';
import { POLICY_DEFINITIONS } from '../../core/wire/policy.js';
import { formatIpv6 } from '../../core/wire/ip-address.js';
import type {
  ErrorCause,
  Message,
  PeStatus,
  Policy,
  PoolElement,
  ServerInformation,
  ServerTransport,
  UnrecognizedParameter,
  UserTransport,
} from '../../core/wire/types.js';

const u32 = fc.nat({ max: 0xffffffff });
const u16 = fc.nat({ max: 0xffff });
const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });

export const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
export const ipv6 = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  // Sparse addresses so the zero-run compression of RFC 5952 is exercised.
  fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.nat(0xffff)), { minLength: 8, maxLength: 8 }).map((groups) => {
    const b = new Uint8Array(16);
    groups.forEach((g, i) => {
      b[2 * i] = g >> 8;
      b[2 * i + 1] = g & 0xff;
    });
    return b;
  }),
).map((b) => formatIpv6(b, 0));
export const ipAddress = fc.oneof(ipv4, ipv6);

export const poolHandle = bytes(1, 32);

const sctp = fc.record({ kind: fc.constant('sctp' as const), port: u16, transportUse: fc.nat(1), addresses: fc.array(ipAddress, { minLength: 1, maxLength: 4 }) });
const tcp = fc.record({ kind: fc.constant('tcp' as const), port: u16, transportUse: fc.nat(1), address: ipAddress });
export const serverTransport: fc.Arbitrary<ServerTransport> = fc.oneof(sctp, tcp);
export const userTransport: fc.Arbitrary<UserTransport> = fc.oneof(
  sctp,
  tcp,
  fc.record({ kind: fc.constant('udp' as const), port: u16, reserved: u16, address: ipAddress }),
  fc.record({ kind: fc.constant('udpLite' as const), port: u16, reserved: u16, address: ipAddress }),
  fc.record({ kind: fc.constant('dccp' as const), port: u16, reserved: u16, serviceCode: u32, address: ipAddress }),
  fc.record({ kind: fc.constant('opaque' as const), data: bytes(0, 24) }),
);

const knownPolicy: fc.Arbitrary<Policy> = fc.constantFrom(...POLICY_DEFINITIONS).chain((def) =>
  fc.array(u32, { minLength: def.fields.length, maxLength: def.fields.length }).map((values) => {
    const policy: Record<string, number> = { type: def.type };
    def.fields.forEach((field, i) => {
      policy[field] = values[i] ?? 0;
    });
    return policy as unknown as Policy;
  }),
);
// Private-use policy types we do not know keep their value bytes (whole 32-bit words, as policy values are).
const unknownPolicy: fc.Arbitrary<Policy> = fc
  .tuple(fc.integer({ min: 0x80000000, max: 0xafffffff }), fc.array(u32, { maxLength: 3 }))
  .map(([type, words]) => {
    if (words.length === 0) return { type };
    const value = new Uint8Array(words.length * 4);
    const view = new DataView(value.buffer);
    words.forEach((w, i) => view.setUint32(4 * i, w));
    return { type, value };
  });
export const policy: fc.Arbitrary<Policy> = fc.oneof({ weight: 4, arbitrary: knownPolicy }, { weight: 1, arbitrary: unknownPolicy });

export const poolElement: fc.Arbitrary<PoolElement> = fc
  .tuple(u32, u32, fc.oneof(fc.constant(-1), fc.nat({ max: 0x7fffffff })), userTransport, policy, fc.option(serverTransport, { nil: undefined }))
  .map(([id, homeServerId, registrationLife, ut, pol, asap]) => ({
    id,
    homeServerId,
    registrationLife,
    userTransport: ut,
    policy: pol,
    ...(asap ? { asapTransport: asap } : {}),
  }));

export const serverInformation: fc.Arbitrary<ServerInformation> = fc.record({ serverId: u32, transport: serverTransport });

/** A whole TLV as bytes (for causes 0x1 / 0x3): a random type and value with a consistent length. */
const tlvBytes = fc.tuple(u16, bytes(0, 12)).map(([type, value]) => {
  const out = new Uint8Array(4 + value.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, type);
  view.setUint16(2, out.length);
  out.set(value, 4);
  return out;
});

export const errorCause: fc.Arbitrary<ErrorCause> = fc.oneof(
  fc.constantFrom(0x0, 0x4, 0x6, 0x8, 0x9, 0xa).map((code) => ({ code })),
  fc.tuple(fc.constantFrom(0x1, 0x3), tlvBytes).map(([code, data]) => ({ code, data })),
  bytes(4, 40).map((data) => ({ code: 0x2, data })),
  policy.map((p) => ({ code: 0x5, policy: p })),
  userTransport.map((t) => ({ code: 0x7, transport: t })),
  fc.tuple(fc.integer({ min: 0xb, max: 0xffff }), bytes(1, 9)).map(([code, data]) => ({ code, data })),
);
const operationError = fc.array(errorCause, { minLength: 1, maxLength: 3 });

export const peStatus: fc.Arbitrary<PeStatus> = fc
  .tuple(u32, fc.nat(255), fc.nat(255), u32, fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.option(u32, { nil: undefined }), fc.option(u32, { nil: undefined }), fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined }))
  .map(([peId, status, reason, sequence, eventTimeMs, replacementPeId, load, reasonText]) => ({
    peId,
    status,
    reason,
    sequence,
    eventTimeMs,
    ...(replacementPeId !== undefined ? { replacementPeId } : {}),
    ...(load !== undefined ? { load } : {}),
    ...(reasonText !== undefined ? { reasonText } : {}),
  }));

/** Unknown top-level parameters with skip action bits (10 / 11), which the decoder keeps and the encoder writes back. */
const unrecognized: fc.Arbitrary<UnrecognizedParameter[] | undefined> = fc.option(
  fc.array(
    fc.tuple(fc.integer({ min: 0x8000, max: 0xffff }).filter((t) => t !== 0x803f && t !== 0x8c01), bytes(0, 10)).map(([type, value]) => ({ type, value, nested: false })),
    { minLength: 1, maxLength: 2 },
  ),
  { nil: undefined },
);

const pes = (min: number, max: number): fc.Arbitrary<PoolElement[]> => fc.array(poolElement, { minLength: min, maxLength: max });
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

const asapMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ protocol: fc.constant('asap' as const), type: fc.constant('registration' as const), poolHandle, poolElement }),
  fc.record({ protocol: fc.constant('asap' as const), type: fc.constantFrom('deregistration' as const, 'endpointKeepAliveAck' as const, 'endpointUnreachable' as const), poolHandle, peId: u32 }),
  fc.tuple(fc.boolean(), poolHandle, u32, maybe(operationError)).map(([reject, ph, peId, error]) => ({ protocol: 'asap' as const, type: 'registrationResponse' as const, reject, poolHandle: ph, peId, ...optional('error', error) })),
  fc.tuple(poolHandle, u32, maybe(operationError)).map(([ph, peId, error]) => ({ protocol: 'asap' as const, type: 'deregistrationResponse' as const, poolHandle: ph, peId, ...optional('error', error) })),
  fc.tuple(fc.boolean(), poolHandle, maybe(u32)).map(([subscribe, ph, items]) => ({ protocol: 'asap' as const, type: 'handleResolution' as const, subscribe, poolHandle: ph, ...optional('items', items) })),
  fc.tuple(fc.boolean(), poolHandle, maybe(policy), pes(0, 4), maybe(operationError), fc.array(peStatus, { maxLength: 3 })).map(([accepted, ph, overallPolicy, poolElements, error, statuses]) => ({
    protocol: 'asap' as const,
    type: 'handleResolutionResponse' as const,
    accepted,
    poolHandle: ph,
    ...optional('overallPolicy', overallPolicy),
    poolElements,
    ...optional('error', error),
    peStatus: statuses,
  })),
  fc.tuple(fc.boolean(), u32, poolHandle, maybe(u32)).map(([home, serverId, ph, peId]) => ({ protocol: 'asap' as const, type: 'endpointKeepAlive' as const, home, serverId, poolHandle: ph, ...optional('peId', peId) })),
  fc.record({ protocol: fc.constant('asap' as const), type: fc.constant('serverAnnounce' as const), serverId: u32, transports: fc.array(serverTransport, { maxLength: 3 }) }),
  fc.record({ protocol: fc.constant('asap' as const), type: fc.constantFrom('cookie' as const, 'cookieEcho' as const), cookie: bytes(0, 40) }),
  fc.record({ protocol: fc.constant('asap' as const), type: fc.constant('businessCard' as const), poolHandle, poolElements: pes(0, 3) }),
  fc.record({ protocol: fc.constant('asap' as const), type: fc.constant('error' as const), error: operationError }),
);

const ids = { protocol: fc.constant('enrp' as const), senderServerId: u32, receiverServerId: u32 };
const enrpMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.tuple(fc.record(ids), fc.boolean(), maybe(u16), maybe(serverInformation)).map(([base, replyRequired, peChecksum, serverInformation]) => ({
    ...base,
    type: 'presence' as const,
    replyRequired,
    ...optional('peChecksum', peChecksum),
    ...optional('serverInformation', serverInformation),
  })),
  fc.record({ ...ids, type: fc.constant('handleTableRequest' as const), ownChildrenOnly: fc.boolean() }),
  fc.record({
    ...ids,
    type: fc.constant('handleTableResponse' as const),
    moreToSend: fc.boolean(),
    reject: fc.boolean(),
    pools: fc.array(fc.record({ poolHandle, poolElements: pes(1, 3) }), { maxLength: 3 }),
  }),
  fc.record({ ...ids, type: fc.constant('handleUpdate' as const), takeoverSuggested: fc.boolean(), updateAction: fc.nat(1), poolHandle, poolElement }),
  fc.record({ ...ids, type: fc.constant('listRequest' as const) }),
  fc.record({ ...ids, type: fc.constant('listResponse' as const), reject: fc.boolean(), servers: fc.array(serverInformation, { maxLength: 3 }) }),
  fc.record({ ...ids, type: fc.constantFrom('initTakeover' as const, 'initTakeoverAck' as const, 'takeoverServer' as const), targetServerId: u32 }),
  fc.record({ ...ids, type: fc.constant('error' as const), error: operationError }),
);

/** Any message, sometimes carrying skipped unknown parameters. */
export const message: fc.Arbitrary<Message> = fc.tuple(fc.oneof(asapMessage, enrpMessage), unrecognized).map(([m, extra]) => (extra ? { ...m, unrecognized: extra } : m));
