/**
 * Round-trip properties of the codec: decode(encode(m)) = m for generated messages of every kind, the JSON
 * form reads back to the same message, and the framing rules of RFC 5354 hold for every encoding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeHandleResolutionResponse, encodeMessage, encodePoolElementParameter } from '../../core/wire/encoder.js';
import { decodeMessage } from '../../core/wire/decoder.js';
import { messageFromJson, messageToJson } from '../../core/wire/json.js';
import { message } from '../support/wire-arbitraries.js';
import { sampleMessages } from '../fixtures/sample-messages.js';
import type { Message } from '../../core/wire/types.js';

const RUNS = 3000;

test('decode(encode(m)) equals m for generated ASAP and ENRP messages', () => {
  fc.assert(
    fc.property(message, (m) => {
      const bytes = encodeMessage(m);
      const decoded = decodeMessage(m.protocol, bytes);
      assert.ok(decoded.ok, decoded.ok ? '' : `${decoded.error.reason} at ${decoded.error.offset}`);
      // structuredClone: fast-check builds records without a prototype; the decoder builds plain objects.
      assert.deepStrictEqual(decoded.value, structuredClone(m));
    }),
    { numRuns: RUNS },
  );
});

test('every encoding is padded to 4 bytes, and its length field excludes only the final padding', () => {
  fc.assert(
    fc.property(message, (m) => {
      const bytes = encodeMessage(m);
      const length = (bytes[2]! << 8) | bytes[3]!;
      assert.equal(bytes.length % 4, 0);
      assert.ok(length <= bytes.length && bytes.length - length < 4, `length ${length} vs ${bytes.length} bytes`);
      for (let i = length; i < bytes.length; i++) assert.equal(bytes[i], 0, 'padding bytes are zero');
      // Without the trailing padding the message still decodes (the length field is what counts).
      const trimmed = decodeMessage(m.protocol, bytes.subarray(0, length));
      assert.ok(trimmed.ok);
    }),
    { numRuns: 1000 },
  );
});

test('the JSON form reads back to the same message and the same bytes', () => {
  fc.assert(
    fc.property(message, (m) => {
      const json = JSON.parse(JSON.stringify(messageToJson(m)));
      const back = messageFromJson(json);
      assert.ok(back.ok, back.ok ? '' : back.error);
      assert.deepStrictEqual(Buffer.from(encodeMessage(back.value)), Buffer.from(encodeMessage(m)));
      assert.deepStrictEqual(messageToJson(back.value), messageToJson(m));
    }),
    { numRuns: 1000 },
  );
});

test('every hand-written sample message (all types, flags, parameters, causes, policies) round-trips', () => {
  for (const { name, message: m } of sampleMessages) {
    const decoded = decodeMessage(m.protocol, encodeMessage(m));
    assert.ok(decoded.ok, decoded.ok ? '' : `${name}: ${decoded.error.reason} at ${decoded.error.offset}`);
    assert.deepStrictEqual(decoded.value, m, name);
  }
});

test('byte fields decoded from a Node Buffer are plain Uint8Array copies, not views into the buffer', () => {
  const m: Message = { protocol: 'asap', type: 'cookie', cookie: Uint8Array.from([1, 2, 3, 4, 5]) };
  const input = Buffer.from(encodeMessage(m));
  const decoded = decodeMessage('asap', input);
  assert.ok(decoded.ok && decoded.value.type === 'cookie');
  input.fill(0);
  assert.equal(Object.getPrototypeOf(decoded.value.cookie), Uint8Array.prototype);
  assert.deepStrictEqual(decoded.value.cookie, Uint8Array.from([1, 2, 3, 4, 5]));
});

test('a handle resolution response assembled from pre-encoded Pool Elements equals the plain encoding', () => {
  fc.assert(
    fc.property(message, (m) => {
      if (m.protocol !== 'asap' || m.type !== 'handleResolutionResponse') return;
      const { poolElements, protocol: _p, type: _t, ...rest } = m;
      const assembled = encodeHandleResolutionResponse(rest, poolElements.map(encodePoolElementParameter));
      assert.deepStrictEqual(Buffer.from(assembled), Buffer.from(encodeMessage(m)));
    }),
    { numRuns: 2000 },
  );
});
