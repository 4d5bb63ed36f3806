/**
 * The pcap writer's framing arithmetic: file and record headers, IPv4 header checksum, UDP / TCP checksums
 * over the pseudo-header, and TCP sequence numbers across a handshake, data and close. (The conformance
 * suite additionally has tshark verify every checksum in its captures.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { internetChecksum, PcapWriter } from '../../core/wire/pcap-writer.js';

const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
const ETHERNET = 14;

/** Splits a capture into its frames (little-endian record headers, as the writer produces). */
function frames(capture: Uint8Array): Uint8Array[] {
  const view = new DataView(capture.buffer, capture.byteOffset, capture.byteLength);
  const out: Uint8Array[] = [];
  for (let at = GLOBAL_HEADER; at < capture.length; ) {
    const included = view.getUint32(at + 8, true);
    assert.equal(view.getUint32(at + 12, true), included, 'original length equals included length');
    out.push(capture.subarray(at + RECORD_HEADER, at + RECORD_HEADER + included));
    at += RECORD_HEADER + included;
  }
  return out;
}

const u16 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);

test('internetChecksum matches the RFC 1071 example and handles odd lengths', () => {
  // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2, checksum 0x220d.
  assert.equal(internetChecksum([Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7)]), 0x220d);
  // Splitting the same bytes across blocks, even at an odd offset, changes nothing.
  assert.equal(internetChecksum([Uint8Array.of(0x00, 0x01, 0xf2), Uint8Array.of(0x03, 0xf4, 0xf5, 0xf6, 0xf7)]), 0x220d);
  // An odd total length is padded with a zero byte.
  assert.equal(internetChecksum([Uint8Array.of(0x01)]), ~0x0100 & 0xffff);
});

test('global header: classic pcap, microseconds, Ethernet', () => {
  const capture = new PcapWriter().toBytes();
  const view = new DataView(capture.buffer);
  assert.equal(capture.length, GLOBAL_HEADER);
  assert.equal(view.getUint32(0, true), 0xa1b2c3d4);
  assert.equal(view.getUint16(4, true), 2);
  assert.equal(view.getUint16(6, true), 4);
  assert.equal(view.getUint32(20, true), 1);
});

test('UDP over IPv4: valid IPv4 header checksum, valid UDP checksum, payload intact', () => {
  const writer = new PcapWriter({ startTimeMs: 1000, stepMicros: 250 });
  const payload = Uint8Array.of(1, 2, 3, 4, 5);
  writer.addUdp({ address: '192.0.2.1', port: 40000 }, { address: '192.0.2.2', port: 3863 }, payload);
  const capture = writer.toBytes();
  const view = new DataView(capture.buffer);
  assert.equal(view.getUint32(GLOBAL_HEADER, true), 1, 'timestamp seconds');
  assert.equal(view.getUint32(GLOBAL_HEADER + 4, true), 0, 'timestamp microseconds');
  const [frame] = frames(capture);
  assert.ok(frame);
  assert.equal(u16(frame, 12), 0x0800);
  const ip = frame.subarray(ETHERNET, ETHERNET + 20);
  assert.equal(ip[0], 0x45);
  assert.equal(u16(ip, 2), 20 + 8 + payload.length);
  assert.equal(ip[9], 17);
  assert.equal(internetChecksum([ip]), 0, 'a header with a correct checksum sums to zero');
  const udp = frame.subarray(ETHERNET + 20);
  assert.equal(u16(udp, 0), 40000);
  assert.equal(u16(udp, 2), 3863);
  assert.equal(u16(udp, 4), 8 + payload.length);
  const pseudo = Uint8Array.of(192, 0, 2, 1, 192, 0, 2, 2, 0, 17, 0, udp.length);
  assert.equal(internetChecksum([pseudo, udp]), 0);
  assert.deepEqual(udp.subarray(8), payload);
});

test('UDP over IPv6: IPv6 header and a mandatory checksum', () => {
  const writer = new PcapWriter();
  writer.addUdp({ address: '2001:db8::1', port: 9901 }, { address: '2001:db8::2', port: 9901 }, Uint8Array.of(0xaa));
  const [frame] = frames(writer.toBytes());
  assert.ok(frame);
  assert.equal(u16(frame, 12), 0x86dd);
  const ip = frame.subarray(ETHERNET, ETHERNET + 40);
  assert.equal(ip[0], 0x60);
  assert.equal(u16(ip, 4), 9);
  assert.equal(ip[6], 17);
  const udp = frame.subarray(ETHERNET + 40);
  assert.notEqual(u16(udp, 6), 0);
  const pseudo = new Uint8Array(40);
  pseudo.set(ip.subarray(8, 40), 0);
  pseudo[35] = udp.length;
  pseudo[39] = 17;
  assert.equal(internetChecksum([pseudo, udp]), 0);
});

test('TCP stream: handshake, sequence numbers follow the bytes sent, close', () => {
  const writer = new PcapWriter();
  const stream = writer.tcpStream({ address: '10.0.0.1', port: 40001 }, { address: '10.0.0.2', port: 3863 }, { clientIsn: 100, serverIsn: 5000 });
  stream.send(true, new Uint8Array(10));
  stream.send(false, new Uint8Array(7));
  stream.send(true, new Uint8Array(3));
  stream.close();
  const tcp = frames(writer.toBytes()).map((f) => {
    const ip = f.subarray(ETHERNET);
    assert.equal(internetChecksum([ip.subarray(0, 20)]), 0);
    const segment = ip.subarray(20);
    const pseudo = new Uint8Array(12);
    pseudo.set(ip.subarray(12, 20), 0);
    pseudo[9] = 6;
    new DataView(pseudo.buffer).setUint16(10, segment.length);
    assert.equal(internetChecksum([pseudo, segment]), 0, 'TCP checksum');
    return { src: u16(segment, 0), seq: u32(segment, 4), ack: u32(segment, 8), flags: segment[13], length: segment.length - 20 };
  });
  const SYN = 0x02;
  const ACK = 0x10;
  const PSH = 0x08;
  const FIN = 0x01;
  assert.deepEqual(tcp, [
    { src: 40001, seq: 100, ack: 0, flags: SYN, length: 0 },
    { src: 3863, seq: 5000, ack: 101, flags: SYN | ACK, length: 0 },
    { src: 40001, seq: 101, ack: 5001, flags: ACK, length: 0 },
    { src: 40001, seq: 101, ack: 5001, flags: PSH | ACK, length: 10 },
    { src: 3863, seq: 5001, ack: 111, flags: PSH | ACK, length: 7 },
    { src: 40001, seq: 111, ack: 5008, flags: PSH | ACK, length: 3 },
    { src: 40001, seq: 114, ack: 5008, flags: FIN | ACK, length: 0 },
    { src: 3863, seq: 5008, ack: 115, flags: FIN | ACK, length: 0 },
    { src: 40001, seq: 115, ack: 5009, flags: ACK, length: 0 },
  ]);
  assert.throws(() => stream.send(true, Uint8Array.of(1)), /closed/);
});

test('rejects mixed address families and bad ports', () => {
  const writer = new PcapWriter();
  assert.throws(() => writer.addUdp({ address: '192.0.2.1', port: 1 }, { address: '2001:db8::1', port: 2 }, new Uint8Array(1)), RangeError);
  assert.throws(() => writer.addUdp({ address: '192.0.2.1', port: 70000 }, { address: '192.0.2.2', port: 2 }, new Uint8Array(1)), RangeError);
  assert.throws(() => writer.addUdp({ address: 'not-an-address', port: 1 }, { address: '192.0.2.2', port: 2 }, new Uint8Array(1)), RangeError);
});
