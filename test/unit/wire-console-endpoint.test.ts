/**
 * The Console Endpoint extension parameter (0x8c02) in ASAP_SERVER_ANNOUNCE (docs/protocol.md): its byte
 * layout, the round trip through encoder, decoder and JSON form, what the strict decoder refuses, and that
 * a receiver that does not know it (the action bits 10) skips it and keeps the announce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage } from '../../core/wire/decoder.js';
import { encodeMessage } from '../../core/wire/encoder.js';
import { messageFromJson, messageToJson } from '../../core/wire/json.js';
import { ConsoleScheme, type AsapServerAnnounce, type Message } from '../../core/wire/types.js';
import { concat, ipv4, msg, tcpTransport, text, tlv, u16, u32, u8 } from '../support/wire-bytes.js';

const FINGERPRINT = Uint8Array.from({ length: 32 }, (_, i) => i * 7);

const announce = (consoleEndpoint?: AsapServerAnnounce['consoleEndpoint']): AsapServerAnnounce => ({
  protocol: 'asap',
  type: 'serverAnnounce',
  serverId: 0x01020304,
  transports: [{ kind: 'tcp', port: 3863, transportUse: 0, address: '0.0.0.0' }],
  ...(consoleEndpoint ? { consoleEndpoint } : {}),
});

const announceBytes = (...params: Uint8Array[]): Uint8Array => msg(0x0a, 0, concat(u32(0x01020304), tcpTransport(3863, ipv4(0, 0, 0, 0)), ...params));

function decoded(bytes: Uint8Array): Message {
  const result = decodeMessage('asap', bytes);
  assert.ok(result.ok, result.ok ? '' : result.error.reason);
  return result.value;
}

test('layout: scheme, flags, port, then the fingerprint and the host, as docs/protocol.md draws it', () => {
  const bytes = encodeMessage(announce({ scheme: ConsoleScheme.https, port: 8347, tlsFingerprint: FINGERPRINT, host: 'ops' }));
  const body = concat(u32(0x01020304), tcpTransport(3863, ipv4(0, 0, 0, 0)), tlv(0x8c02, concat(u8(2, 1), u16(8347), FINGERPRINT, text('ops'))));
  // The message length excludes the last parameter's padding (RFC 5354 §2): 43-byte TLV, padded to 44.
  const expected = msg(0x0a, 0, body, 4 + body.length - 1);
  assert.deepEqual([...bytes], [...expected]);
});

test('round trip: every shape of the parameter comes back equal, also through the JSON form', () => {
  const shapes: AsapServerAnnounce['consoleEndpoint'][] = [
    { scheme: ConsoleScheme.http, port: 8347 },
    { scheme: ConsoleScheme.https, port: 443, tlsFingerprint: FINGERPRINT },
    { scheme: ConsoleScheme.http, port: 1, host: '192.0.2.7' },
    { scheme: ConsoleScheme.https, port: 65535, tlsFingerprint: FINGERPRINT, host: 'a'.repeat(255) },
    // A newer registrar's scheme is kept, not refused: the announce must stay readable.
    { scheme: 9, port: 80 },
    undefined,
  ];
  for (const endpoint of shapes) {
    const message = announce(endpoint);
    assert.deepEqual(decoded(encodeMessage(message)), message);
    const json = messageToJson(message);
    const back = messageFromJson(JSON.parse(JSON.stringify(json)));
    assert.ok(back.ok, back.ok ? '' : back.error);
    assert.deepEqual(back.value, message);
  }
  const json = messageToJson(announce({ scheme: ConsoleScheme.https, port: 8347, tlsFingerprint: FINGERPRINT })) as { consoleEndpoint: Record<string, unknown> };
  assert.equal(json.consoleEndpoint['schemeName'], 'https');
  assert.deepEqual(json.consoleEndpoint['tlsFingerprint'], { hex: Buffer.from(FINGERPRINT).toString('hex') });
});

test('an announce without the parameter (RSPLIB) decodes without a console endpoint', () => {
  const message = decoded(announceBytes());
  assert.equal(message.type, 'serverAnnounce');
  assert.equal('consoleEndpoint' in message, false);
});

test('the strict decoder refuses a malformed parameter as Invalid Values', () => {
  const cases: [string, Uint8Array][] = [
    ['shorter than scheme, flags and port', tlv(0x8c02, u8(1, 0))],
    ['F set without the 32 fingerprint bytes', tlv(0x8c02, concat(u8(2, 1), u16(8347), FINGERPRINT.subarray(0, 31)))],
    ['a host with a space', tlv(0x8c02, concat(u8(1, 0), u16(8347), text('a b')))],
    ['a host with a control character', tlv(0x8c02, concat(u8(1, 0), u16(8347), u8(0x68, 0x0a)))],
    ['a host beyond 255 bytes', tlv(0x8c02, concat(u8(1, 0), u16(8347), text('h'.repeat(256))))],
    ['two of them', concat(tlv(0x8c02, concat(u8(1, 0), u16(1))), tlv(0x8c02, concat(u8(1, 0), u16(2))))],
  ];
  for (const [name, param] of cases) {
    const result = decodeMessage('asap', announceBytes(param));
    assert.equal(result.ok, false, name);
    if (!result.ok) {
      assert.equal(result.error.action, 'reply', name);
      assert.equal(result.error.cause?.code, 0x3, name);
    }
  }
});

test('outside ASAP_SERVER_ANNOUNCE it does not belong (Invalid Values), like PE Status outside its message', () => {
  const keepAliveAck = msg(0x08, 0, concat(tlv(0x9, text('p')), tlv(0xe, u32(1)), tlv(0x8c02, concat(u8(1, 0), u16(1)))));
  const result = decodeMessage('asap', keepAliveAck);
  assert.equal(result.ok, false);
});

test('action bits 10: a receiver that does not know 0x8c02 skips it and keeps the rest of the announce', () => {
  // The same bytes under a type code we do not know, with the same action bits, stand for an RSPLIB
  // receiver: the announce decodes, the parameter is skipped.
  const message = decoded(announceBytes(tlv(0x8c0e, concat(u8(1, 0), u16(8347)))));
  assert.equal(message.type, 'serverAnnounce');
  assert.equal(message.unrecognized?.[0]?.type, 0x8c0e);
});

test('the encoder refuses what the decoder would refuse (caller bugs)', () => {
  assert.throws(() => encodeMessage(announce({ scheme: 1, port: 70000 })), RangeError);
  assert.throws(() => encodeMessage(announce({ scheme: 1, port: 1, tlsFingerprint: new Uint8Array(20) })), RangeError);
  assert.throws(() => encodeMessage(announce({ scheme: 1, port: 1, host: 'two words' })), RangeError);
  assert.throws(() => encodeMessage(announce({ scheme: 1, port: 1, host: 'h'.repeat(256) })), RangeError);
});
