/**
 * The TCP framer: messages split across reads and coalesced in one read come out whole, in order, with
 * their padding; a length below 4 or above the limit ends the stream with an error value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage } from '../../core/wire/encoder.js';
import { decodeMessage } from '../../core/wire/decoder.js';
import { TcpFramer, type FrameEvent } from '../../core/wire/tcp-framer.js';
import type { Message } from '../../core/wire/types.js';
import { concat, msg, u8 } from '../support/wire-bytes.js';

const handle = (s: string): Uint8Array => new TextEncoder().encode(s);
const messages: Message[] = [
  { protocol: 'asap', type: 'handleResolution', subscribe: true, poolHandle: handle('abc') },
  { protocol: 'asap', type: 'endpointKeepAliveAck', poolHandle: handle('pool-1'), peId: 42 },
  { protocol: 'asap', type: 'cookie', cookie: u8(1, 2, 3, 4, 5) },
];
const wire = messages.map(encodeMessage);
const stream = concat(...wire);

function framed(events: FrameEvent[]): Uint8Array[] {
  return events.flatMap((e) => (e.kind === 'message' ? [e.bytes] : []));
}

test('framer: several messages in one read come out one by one', () => {
  const out = framed(new TcpFramer().push(stream));
  assert.deepStrictEqual(out.map((b) => Buffer.from(b)), wire.map((b) => Buffer.from(b)));
  assert.deepStrictEqual(out.map((b) => decodeMessage('asap', b)).map((r) => r.ok && r.value), messages);
});

test('framer: every split point of the stream gives the same messages', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const framer = new TcpFramer();
    const out = [...framed(framer.push(stream.subarray(0, cut))), ...framed(framer.push(stream.subarray(cut)))];
    assert.deepStrictEqual(out.map((b) => Buffer.from(b)), wire.map((b) => Buffer.from(b)), `cut at ${cut}`);
    assert.equal(framer.buffered, 0);
  }
});

test('framer: one byte at a time', () => {
  const framer = new TcpFramer();
  const out: Uint8Array[] = [];
  for (const byte of stream) out.push(...framed(framer.push(u8(byte))));
  assert.equal(out.length, messages.length);
});

test('framer: a message whose length is not a multiple of 4 is handed on with its padding', () => {
  const bytes = msg(0x0b, 0, concat(u8(0, 0x0d, 0, 5), u8(9)), 9);
  assert.equal(bytes.length, 12);
  const out = framed(new TcpFramer().push(bytes));
  assert.equal(out[0]?.length, 12);
});

test('framer: a length below 4 ends the stream with an error and nothing after it is framed', () => {
  const framer = new TcpFramer();
  const events = framer.push(concat(wire[0]!, u8(5, 0, 0, 3), wire[1]!));
  assert.equal(framed(events).length, 1);
  const last = events[events.length - 1];
  assert.equal(last?.kind, 'error');
  assert.equal(last?.kind === 'error' && last.error.streamOffset, wire[0]!.length);
  assert.deepStrictEqual(framer.push(wire[2]!), []);
  assert.ok(framer.error);
});

test('framer: a length above the limit ends the stream', () => {
  const framer = new TcpFramer(1024);
  const events = framer.push(u8(1, 0, 0x10, 0x00));
  assert.equal(events[0]?.kind, 'error');
  assert.match(events[0]?.kind === 'error' ? events[0].error.reason : '', /above the limit of 1024/);
});

test('framer: a kept message is a copy, not a view into the read buffer', () => {
  const chunk = concat(...wire);
  const out = framed(new TcpFramer().push(chunk));
  chunk.fill(0);
  assert.ok(decodeMessage('asap', out[0]!).ok);
});

test('framer: messages framed from a Node Buffer are copies too (Buffer.slice would be a view)', () => {
  const chunk = Buffer.from(concat(...wire));
  const out = framed(new TcpFramer().push(chunk));
  chunk.fill(0);
  assert.equal(Object.getPrototypeOf(out[0]), Uint8Array.prototype);
  assert.ok(decodeMessage('asap', out[0]!).ok);
});
