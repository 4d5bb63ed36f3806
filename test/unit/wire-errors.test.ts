/**
 * One case per decoder error and per action-bit rule, each naming the RFC rule (or our documented limit)
 * that decides what the receiver does: which Operation Error cause goes back, or a silent drop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, reportsFor, type DecodeError } from '../../core/wire/decoder.js';
import { withLimits, type WireLimits } from '../../core/wire/limits.js';
import type { Protocol } from '../../core/wire/types.js';
import {
  concat,
  ipv4,
  msg,
  peIdentifier,
  poolElement,
  poolHandle,
  policyRr,
  tcpTransport,
  text,
  tlv,
  u16,
  u32,
  u8,
} from '../support/wire-bytes.js';

interface Case {
  readonly name: string;
  readonly rule: RegExp;
  readonly protocol?: Protocol;
  readonly bytes: Uint8Array;
  readonly limits?: Partial<WireLimits>;
  readonly action: DecodeError['action'];
  readonly cause?: number;
  readonly offset?: number;
  /** The cause data must equal these bytes (the offending TLV or message). */
  readonly causeData?: Uint8Array;
}

const registration = (...params: Uint8Array[]): Uint8Array => msg(0x01, 0, concat(...params));
const enrpIds = concat(u32(1), u32(2));

const cases: Case[] = [
  { name: 'fewer than 4 bytes', rule: /RFC 5354 §4/, bytes: u8(1, 0, 0), action: 'drop', offset: 0 },
  { name: 'message length below 4', rule: /RFC 5354 §4/, bytes: msg(0x01, 0, new Uint8Array(0), 2), action: 'reply', cause: 0x3, offset: 2 },
  { name: 'message length beyond the bytes received', rule: /RFC 5354 §4/, bytes: msg(0x01, 0, poolHandle('abc'), 40), action: 'reply', cause: 0x3, offset: 2 },
  { name: 'bytes after the message beyond its padding', rule: /RFC 5354 §4/, bytes: concat(registration(poolHandle('pool'), poolElement(1)), u32(0)), action: 'reply', cause: 0x3 },
  {
    name: 'message above the size limit',
    rule: /local limit/,
    bytes: registration(poolHandle('pool'), poolElement(1)),
    limits: { maxMessageSize: 32 },
    action: 'reply',
    cause: 0x3,
  },
  { name: 'unknown ASAP message type, action bits 00', rule: /RFC 5354 §4 \(unrecognized message/, bytes: msg(0x0f, 0, new Uint8Array(0)), action: 'drop' },
  {
    name: 'unknown ASAP message type, action bits 01',
    rule: /RFC 5354 §4 \(unrecognized message/,
    bytes: msg(0x4f, 0, u32(7)),
    action: 'reply',
    cause: 0x2,
    causeData: msg(0x4f, 0, u32(7)),
  },
  { name: 'unknown ASAP message type, action bits 10 (reserved)', rule: /unrecognized message/, bytes: msg(0x8f, 0, new Uint8Array(0)), action: 'drop' },
  { name: 'unknown ASAP message type, action bits 11 (reserved)', rule: /unrecognized message/, bytes: msg(0xcf, 0, new Uint8Array(0)), action: 'drop' },
  { name: 'reserved ASAP message type 0x00', rule: /unrecognized message/, bytes: msg(0x00, 0, new Uint8Array(0)), action: 'drop' },
  { name: 'unknown ENRP message type 0x0b, action bits 00', rule: /unrecognized message/, protocol: 'enrp', bytes: msg(0x0b, 0, enrpIds), action: 'drop' },
  { name: 'unknown ENRP message type 0x41, action bits 01', rule: /unrecognized message/, protocol: 'enrp', bytes: msg(0x41, 0, enrpIds), action: 'reply', cause: 0x2, causeData: msg(0x41, 0, enrpIds) },
  { name: 'unknown parameter, action bits 00', rule: /RFC 5354 §3 \(unrecognized parameter/, bytes: registration(poolHandle('pool'), tlv(0x0031, u32(1)), poolElement(1)), action: 'drop', offset: 12 },
  {
    name: 'unknown parameter, action bits 01',
    rule: /RFC 5354 §3 \(unrecognized parameter/,
    bytes: registration(poolHandle('pool'), tlv(0x4031, u32(9)), poolElement(1)),
    action: 'reply',
    cause: 0x1,
    offset: 12,
    causeData: tlv(0x4031, u32(9)),
  },
  {
    name: 'unknown parameter with action bits 01 inside a Pool Element',
    rule: /RFC 5354 §3 \(unrecognized parameter/,
    bytes: registration(poolHandle('pool'), poolElement(1, 30000, concat(tcpTransport(7, ipv4(127, 0, 0, 1)), tlv(0x4077, u8(1, 2, 3)), policyRr()))),
    action: 'reply',
    cause: 0x1,
    causeData: concat(u16(0x4077), u16(7), u8(1, 2, 3)),
  },
  { name: 'parameter length below 4', rule: /RFC 5354 §3 \(TLV/, bytes: registration(tlv(0x9, new Uint8Array(0), 2)), action: 'reply', cause: 0x3, offset: 4 },
  { name: 'parameter length past the end of the message', rule: /RFC 5354 §3 \(TLV/, bytes: registration(tlv(0x9, text('pool'), 200)), action: 'reply', cause: 0x3, offset: 4 },
  { name: 'stray bytes shorter than a parameter header', rule: /RFC 5354 §3/, bytes: msg(0x01, 0, concat(poolHandle('pool'), u8(0, 9)), 14), action: 'reply', cause: 0x3, offset: 12 },
  {
    name: 'IPv4 address parameter with the wrong length',
    rule: /RFC 5354 §3/,
    bytes: registration(poolHandle('pool'), poolElement(1, 30000, concat(tlv(0x5, concat(u16(7), u16(0), tlv(0x1, u8(1, 2, 3)))), policyRr()))),
    action: 'reply',
    cause: 0x3,
  },
  { name: 'empty pool handle', rule: /RFC 5354 §3/, bytes: registration(tlv(0x9, new Uint8Array(0)), poolElement(1)), action: 'reply', cause: 0x3, offset: 4 },
  { name: 'pool handle longer than the limit', rule: /local limit/, bytes: registration(poolHandle('x'.repeat(33)), poolElement(1)), action: 'reply', cause: 0x3, offset: 4 },
  { name: 'policy type 0x00000000 is invalid (RFC 5356 §3)', rule: /RFC 5354 §3/, bytes: registration(poolHandle('p'), poolElement(1, 30000, concat(tcpTransport(7, ipv4(127, 0, 0, 1)), tlv(0x8, u32(0))))), action: 'reply', cause: 0x3 },
  { name: 'known policy with the wrong length', rule: /RFC 5354 §3/, bytes: registration(poolHandle('p'), poolElement(1, 30000, concat(tcpTransport(7, ipv4(127, 0, 0, 1)), tlv(0x8, u32(2))))), action: 'reply', cause: 0x3 },
  { name: 'registration life below -1', rule: /RFC 5354 §3/, bytes: registration(poolHandle('p'), poolElement(1, -2)), action: 'reply', cause: 0x3 },
  { name: 'Pool Element without a policy', rule: /RFC 5354 §3/, bytes: registration(poolHandle('p'), poolElement(1, 1000, tcpTransport(7, ipv4(127, 0, 0, 1)))), action: 'reply', cause: 0x3 },
  { name: 'transport use neither 0 nor 1', rule: /RFC 5354 §3/, bytes: registration(poolHandle('p'), poolElement(1, 1000, concat(tlv(0x5, concat(u16(7), u16(2), ipv4(1, 2, 3, 4))), policyRr()))), action: 'reply', cause: 0x3 },
  { name: 'TCP transport with two addresses', rule: /RFC 5354 §3/, bytes: registration(poolHandle('p'), poolElement(1, 1000, concat(tcpTransport(7, ipv4(1, 2, 3, 4), ipv4(5, 6, 7, 8)), policyRr()))), action: 'reply', cause: 0x3 },
  { name: 'mandatory Pool Element missing', rule: /RFC 5352 §2.2/, bytes: registration(poolHandle('pool')), action: 'reply', cause: 0x3 },
  { name: 'Pool Handle repeated', rule: /RFC 5352 §2.2/, bytes: registration(poolHandle('a'), poolHandle('b'), poolElement(1)), action: 'reply', cause: 0x3, offset: 12 },
  { name: 'parameter that does not belong in the message', rule: /RFC 5352 §2.2/, bytes: msg(0x02, 0, concat(poolHandle('pool'), peIdentifier(1), tlv(0xd, u8(1)))), action: 'reply', cause: 0x3, offset: 20 },
  {
    name: 'more Pool Elements than the limit',
    rule: /local limit/,
    bytes: msg(0x06, 0, concat(poolHandle('p'), poolElement(1), poolElement(2), poolElement(3))),
    limits: { maxPoolElementsPerMessage: 2 },
    action: 'reply',
    cause: 0x6,
  },
  { name: 'nesting deeper than the limit', rule: /local limit/, bytes: registration(poolHandle('p'), poolElement(1)), limits: { maxNestingDepth: 2 }, action: 'reply', cause: 0x3 },
  { name: 'Operation Error without a cause', rule: /RFC 5354 §3/, bytes: msg(0x0e, 0, tlv(0xc, new Uint8Array(0))), action: 'reply', cause: 0x3, offset: 4 },
  { name: 'error cause with an impossible length', rule: /RFC 5354 §3/, bytes: msg(0x0e, 0, tlv(0xc, concat(u16(0x6), u16(40)))), action: 'reply', cause: 0x3, offset: 4 },
  { name: 'cause 0x5 without a policy parameter', rule: /RFC 5354 §3/, bytes: msg(0x0e, 0, tlv(0xc, concat(u16(0x5), u16(8), u32(1)))), action: 'reply', cause: 0x3 },
  {
    name: 'server announce with a UDP transport',
    rule: /RFC 5354 §3/,
    bytes: msg(0x0a, 0, concat(u32(5), tlv(0x6, concat(u16(3863), u16(0), ipv4(127, 0, 0, 1))))),
    action: 'reply',
    cause: 0x3,
  },
  { name: 'keep-alive without its server identifier', rule: /RFC 5354 §4/, bytes: msg(0x07, 0, u16(1)), action: 'reply', cause: 0x3 },
  { name: 'ENRP message without its server identifiers', rule: /RFC 5354 §4/, protocol: 'enrp', bytes: msg(0x05, 0, u32(1)), action: 'reply', cause: 0x3 },
  { name: 'ENRP handle update with update action 2', rule: /RFC 5353 §2.3.4/, protocol: 'enrp', bytes: msg(0x04, 0, concat(enrpIds, u16(2), u16(0), poolHandle('p'), poolElement(1))), action: 'reply', cause: 0x3, offset: 12 },
  { name: 'ENRP handle table response with a Pool Element before any Pool Handle', rule: /RFC 5353 §2.3.3/, protocol: 'enrp', bytes: msg(0x03, 0, concat(enrpIds, poolElement(1))), action: 'reply', cause: 0x3, offset: 12 },
  { name: 'ENRP handle table response with a pool but no element', rule: /RFC 5353 §2.3.3/, protocol: 'enrp', bytes: msg(0x03, 0, concat(enrpIds, poolHandle('p'))), action: 'reply', cause: 0x3 },
  {
    name: 'PE Status with reason text that is not UTF-8',
    rule: /RFC 5354 §3/,
    bytes: msg(0x06, 0x01, concat(poolHandle('p'), tlv(0x8c01, concat(u32(1), u8(1, 0), u16(0), u32(1), u32(0), u32(5), u32(0), u32(0), u8(0xff, 0xfe))))),
    action: 'reply',
    cause: 0x3,
  },
  { name: 'PE Status shorter than 32 bytes', rule: /RFC 5354 §3/, bytes: msg(0x06, 0x01, concat(poolHandle('p'), tlv(0x8c01, u32(1)))), action: 'reply', cause: 0x3 },
];

for (const c of cases) {
  test(`decoder: ${c.name}`, () => {
    const result = decodeMessage(c.protocol ?? 'asap', c.bytes, c.limits ? withLimits(c.limits) : undefined);
    assert.equal(result.ok, false, 'must not decode');
    if (result.ok) return;
    const e = result.error;
    assert.notEqual(e.internal, true, e.reason);
    assert.match(e.rule, c.rule, e.reason);
    assert.equal(e.action, c.action, e.reason);
    assert.equal(e.cause?.code, c.cause, e.reason);
    if (c.offset !== undefined) assert.equal(e.offset, c.offset, e.reason);
    if (c.causeData) assert.deepStrictEqual(Buffer.from(e.cause?.data ?? []), Buffer.from(c.causeData));
    assert.ok(e.offset >= 0 && e.offset <= c.bytes.length);
    assert.ok(e.reason.length > 0);
  });
}

test('decoder: unknown parameter with action bits 10 is skipped and not reported', () => {
  const result = decodeMessage('asap', registration(poolHandle('pool'), tlv(0x8031, u32(1)), poolElement(1)));
  assert.ok(result.ok);
  assert.deepStrictEqual(result.value.unrecognized, [{ type: 0x8031, value: u32(1), nested: false }]);
  assert.deepStrictEqual(reportsFor(result.value), []);
});

test('decoder: unknown parameter with action bits 11 is skipped and reported as Unrecognized Parameter', () => {
  const result = decodeMessage('asap', registration(poolHandle('pool'), poolElement(1), tlv(0xc031, u8(9, 9, 9))));
  assert.ok(result.ok);
  assert.deepStrictEqual(reportsFor(result.value), [{ code: 0x1, data: concat(u16(0xc031), u16(7), u8(9, 9, 9)) }]);
});

test('decoder: skippable unknown parameter nested in a Pool Element is skipped and marked nested', () => {
  const inner = concat(tcpTransport(7, ipv4(127, 0, 0, 1)), tlv(0xc077, u8(1)), policyRr());
  const result = decodeMessage('asap', registration(poolHandle('pool'), poolElement(1, 1000, inner)));
  assert.ok(result.ok);
  assert.equal(result.value.unrecognized?.[0]?.nested, true);
  assert.equal(reportsFor(result.value).length, 1);
});

test('decoder: undefined flag bits are ignored on receipt (RFC 5354 §4)', () => {
  const result = decodeMessage('asap', msg(0x01, 0xfe, concat(poolHandle('pool'), poolElement(1))));
  assert.ok(result.ok);
  assert.equal(result.value.type, 'registration');
});

test('decoder: a message with its final padding missing still decodes (length excludes padding)', () => {
  // Pool Handle 'abc' is 7 bytes: the message is 11 bytes long and one padding byte follows.
  const full = msg(0x05, 0, poolHandle('abc'), 11);
  assert.equal(full.length, 12);
  const result = decodeMessage('asap', full.subarray(0, 11));
  assert.ok(result.ok);
  assert.ok(decodeMessage('asap', full).ok);
});

test('decoder: parameters in a different order than drawn in the RFC are accepted', () => {
  const result = decodeMessage('asap', msg(0x02, 0, concat(peIdentifier(9), poolHandle('pool'))));
  assert.ok(result.ok && result.value.type === 'deregistration' && result.value.peId === 9);
});
