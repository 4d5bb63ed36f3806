/**
 * A minimal classic-pcap writer (libpcap format, microsecond timestamps, LINKTYPE_ETHERNET) for tests and
 * wire dumps: it owns the Ethernet / IPv4 / IPv6 / UDP / TCP framing around payloads we encode ourselves,
 * with correct IPv4 header, UDP and TCP checksums, so tshark can decode the capture without complaint.
 * A `TcpStream` keeps per-side sequence numbers and starts with a SYN / SYN-ACK / ACK handshake, so
 * tshark's TCP analysis and reassembly see a well-formed connection. Nothing here touches the network.
 */
import { parseIpAddress, type AddressBytes } from './ip-address.js';

const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
const LINKTYPE_ETHERNET = 1;
const DEFAULT_SNAPLEN = 262144;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** TCP header flag bits, for callers of `addTcpSegment`. */
export const TcpFlag = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;
const TCP_FIN = TcpFlag.fin;
const TCP_SYN = TcpFlag.syn;
const TCP_PSH = TcpFlag.psh;
const TCP_ACK = TcpFlag.ack;

/** A locally administered MAC derived from the IP address, so each host keeps one station address. */
function macFor(address: AddressBytes): Uint8Array {
  const mac = Uint8Array.of(0x02, address.family, 0, 0, 0, 0);
  mac.set(address.bytes.subarray(address.bytes.length - 4), 2);
  return mac;
}

export interface Endpoint {
  /** IPv4 dotted quad or IPv6 text; both ends of a datagram or stream must be the same family. */
  readonly address: string;
  readonly port: number;
}

export interface PcapWriterOptions {
  /** Timestamp of the first packet, milliseconds since the Unix epoch (default: a fixed date, so output is reproducible). */
  readonly startTimeMs?: number;
  /** Gap between consecutive packets in microseconds (default 1000). */
  readonly stepMicros?: number;
}

function parseAddress(text: string): AddressBytes {
  const parsed = parseIpAddress(text);
  if (!parsed) throw new RangeError(`not an IPv4 or IPv6 address: ${JSON.stringify(text)}`);
  return parsed;
}

function parseEnds(from: Endpoint, to: Endpoint): [AddressBytes, AddressBytes] {
  const src = parseAddress(from.address);
  const dst = parseAddress(to.address);
  if (src.family !== dst.family) throw new RangeError(`cannot send from ${from.address} to ${to.address}: address families differ`);
  return [src, dst];
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`port ${port} is not a 16-bit unsigned integer`);
  return port;
}

/** RFC 1071 one's-complement sum over several byte blocks, folded to 16 bits (not yet inverted). */
function onesComplementSum(blocks: readonly Uint8Array[]): number {
  let sum = 0;
  // Blocks are concatenated logically; an odd-length block shifts the byte pairing of the next one.
  let pendingHigh: number | undefined;
  for (const block of blocks) {
    for (const byte of block) {
      if (pendingHigh === undefined) {
        pendingHigh = byte;
      } else {
        sum += (pendingHigh << 8) | byte;
        pendingHigh = undefined;
      }
    }
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (pendingHigh !== undefined) sum += pendingHigh << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function internetChecksum(blocks: readonly Uint8Array[]): number {
  return ~onesComplementSum(blocks) & 0xffff;
}

function pseudoHeader(src: AddressBytes, dst: AddressBytes, protocol: number, length: number): Uint8Array {
  if (src.family === 4) {
    const header = new Uint8Array(12);
    header.set(src.bytes, 0);
    header.set(dst.bytes, 4);
    header[9] = protocol;
    new DataView(header.buffer).setUint16(10, length);
    return header;
  }
  const header = new Uint8Array(40);
  header.set(src.bytes, 0);
  header.set(dst.bytes, 16);
  const view = new DataView(header.buffer);
  view.setUint32(32, length);
  header[39] = protocol;
  return header;
}

export class PcapWriter {
  private readonly records: Uint8Array[] = [];
  private timestampMicros: bigint;
  private readonly stepMicros: bigint;
  private ipv4Identification = 1;

  constructor(options: PcapWriterOptions = {}) {
    // 2024-01-01T00:00:00Z unless told otherwise.
    this.timestampMicros = BigInt(options.startTimeMs ?? 1_704_067_200_000) * 1000n;
    this.stepMicros = BigInt(options.stepMicros ?? 1000);
  }

  /** Number of packets written so far. */
  get packetCount(): number {
    return this.records.length;
  }

  /** Appends one UDP datagram (IPv4 or IPv6, chosen by the address text). */
  addUdp(from: Endpoint, to: Endpoint, payload: Uint8Array): void {
    const [src, dst] = parseEnds(from, to);
    const udp = new Uint8Array(8 + payload.length);
    const view = new DataView(udp.buffer);
    view.setUint16(0, checkPort(from.port));
    view.setUint16(2, checkPort(to.port));
    view.setUint16(4, udp.length);
    udp.set(payload, 8);
    let checksum = internetChecksum([pseudoHeader(src, dst, IPPROTO_UDP, udp.length), udp]);
    // RFC 768: a computed 0 is sent as all ones (0 means "no checksum", which IPv6 forbids).
    if (checksum === 0) checksum = 0xffff;
    view.setUint16(6, checksum);
    this.addIpPacket(src, dst, IPPROTO_UDP, udp);
  }

  /** Opens a TCP connection from `client` to `server`; the handshake is written immediately. */
  tcpStream(client: Endpoint, server: Endpoint, options: { clientIsn?: number; serverIsn?: number } = {}): TcpStream {
    return new TcpStream(this, client, server, options.clientIsn ?? 0x1000, options.serverIsn ?? 0x8000);
  }

  /** Appends one TCP segment with explicit sequence numbers; `TcpStream` is the usual way in. */
  addTcpSegment(
    from: Endpoint,
    to: Endpoint,
    segment: { readonly seq: number; readonly ack: number; readonly flags: number; readonly window?: number; readonly payload?: Uint8Array },
  ): void {
    const [src, dst] = parseEnds(from, to);
    const payload = segment.payload ?? new Uint8Array(0);
    const tcp = new Uint8Array(20 + payload.length);
    const view = new DataView(tcp.buffer);
    view.setUint16(0, checkPort(from.port));
    view.setUint16(2, checkPort(to.port));
    view.setUint32(4, segment.seq >>> 0);
    view.setUint32(8, segment.flags & TCP_ACK ? segment.ack >>> 0 : 0);
    tcp[12] = 5 << 4; // data offset: 5 words, no options
    tcp[13] = segment.flags;
    view.setUint16(14, segment.window ?? 0xffff);
    // checksum at 16 stays 0 while summing; urgent pointer at 18 stays 0
    tcp.set(payload, 20);
    view.setUint16(16, internetChecksum([pseudoHeader(src, dst, IPPROTO_TCP, tcp.length), tcp]));
    this.addIpPacket(src, dst, IPPROTO_TCP, tcp);
  }

  private addIpPacket(src: AddressBytes, dst: AddressBytes, protocol: number, transport: Uint8Array): void {
    const ip = src.family === 4 ? this.ipv4Header(src, dst, protocol, transport.length) : ipv6Header(src, dst, protocol, transport.length);
    const frame = new Uint8Array(14 + ip.length + transport.length);
    frame.set(macFor(dst), 0);
    frame.set(macFor(src), 6);
    new DataView(frame.buffer).setUint16(12, src.family === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
    frame.set(ip, 14);
    frame.set(transport, 14 + ip.length);
    this.addFrame(frame);
  }

  private ipv4Header(src: AddressBytes, dst: AddressBytes, protocol: number, payloadLength: number): Uint8Array {
    const header = new Uint8Array(20);
    const view = new DataView(header.buffer);
    const totalLength = 20 + payloadLength;
    if (totalLength > 0xffff) throw new RangeError(`IPv4 packet of ${totalLength} bytes is too large`);
    header[0] = 0x45; // version 4, 5-word header
    view.setUint16(2, totalLength);
    view.setUint16(4, this.ipv4Identification);
    this.ipv4Identification = (this.ipv4Identification + 1) & 0xffff;
    view.setUint16(6, 0x4000); // don't fragment
    header[8] = 64; // TTL
    header[9] = protocol;
    header.set(src.bytes, 12);
    header.set(dst.bytes, 16);
    view.setUint16(10, internetChecksum([header]));
    return header;
  }

  /** Appends a raw Ethernet frame with the next timestamp. */
  addFrame(frame: Uint8Array): void {
    const record = new Uint8Array(16 + frame.length);
    const view = new DataView(record.buffer);
    const seconds = this.timestampMicros / 1_000_000n;
    const micros = this.timestampMicros % 1_000_000n;
    view.setUint32(0, Number(seconds), true);
    view.setUint32(4, Number(micros), true);
    view.setUint32(8, frame.length, true);
    view.setUint32(12, frame.length, true);
    record.set(frame, 16);
    this.records.push(record);
    this.timestampMicros += this.stepMicros;
  }

  /** The whole capture file: global header plus every record so far. */
  toBytes(): Uint8Array {
    const header = new Uint8Array(24);
    const view = new DataView(header.buffer);
    view.setUint32(0, PCAP_MAGIC_MICROSECONDS, true);
    view.setUint16(4, 2, true); // version 2.4
    view.setUint16(6, 4, true);
    // thiszone and sigfigs stay 0
    view.setUint32(16, DEFAULT_SNAPLEN, true);
    view.setUint32(20, LINKTYPE_ETHERNET, true);
    const total = this.records.reduce((sum, record) => sum + record.length, header.length);
    const out = new Uint8Array(total);
    out.set(header, 0);
    let at = header.length;
    for (const record of this.records) {
      out.set(record, at);
      at += record.length;
    }
    return out;
  }
}

function ipv6Header(src: AddressBytes, dst: AddressBytes, nextHeader: number, payloadLength: number): Uint8Array {
  if (payloadLength > 0xffff) throw new RangeError(`IPv6 payload of ${payloadLength} bytes needs a jumbogram`);
  const header = new Uint8Array(40);
  const view = new DataView(header.buffer);
  view.setUint32(0, 0x60000000); // version 6, traffic class 0, flow label 0
  view.setUint16(4, payloadLength);
  header[6] = nextHeader;
  header[7] = 64; // hop limit
  header.set(src.bytes, 8);
  header.set(dst.bytes, 24);
  return header;
}

/**
 * One TCP connection inside a capture. Each `send` is one segment carrying exactly the given bytes (so a
 * test decides where message boundaries fall relative to segments); the peer's ACK is implied by the next
 * segment it sends, and `ack` writes an explicit pure ACK when a test wants one.
 */
export class TcpStream {
  private clientSeq: number;
  private serverSeq: number;
  private closed = false;

  constructor(
    private readonly writer: PcapWriter,
    private readonly client: Endpoint,
    private readonly server: Endpoint,
    clientIsn: number,
    serverIsn: number,
  ) {
    this.clientSeq = clientIsn >>> 0;
    this.serverSeq = serverIsn >>> 0;
    writer.addTcpSegment(client, server, { seq: this.clientSeq, ack: 0, flags: TCP_SYN });
    this.clientSeq = (this.clientSeq + 1) >>> 0;
    writer.addTcpSegment(server, client, { seq: this.serverSeq, ack: this.clientSeq, flags: TCP_SYN | TCP_ACK });
    this.serverSeq = (this.serverSeq + 1) >>> 0;
    writer.addTcpSegment(client, server, { seq: this.clientSeq, ack: this.serverSeq, flags: TCP_ACK });
  }

  /** Writes one data segment (PSH|ACK) from the client or the server side. */
  send(fromClient: boolean, payload: Uint8Array): void {
    if (this.closed) throw new Error('TCP stream already closed');
    if (payload.length === 0) throw new RangeError('a data segment needs at least one byte');
    if (fromClient) {
      this.writer.addTcpSegment(this.client, this.server, { seq: this.clientSeq, ack: this.serverSeq, flags: TCP_PSH | TCP_ACK, payload });
      this.clientSeq = (this.clientSeq + payload.length) >>> 0;
    } else {
      this.writer.addTcpSegment(this.server, this.client, { seq: this.serverSeq, ack: this.clientSeq, flags: TCP_PSH | TCP_ACK, payload });
      this.serverSeq = (this.serverSeq + payload.length) >>> 0;
    }
  }

  /** Writes a pure ACK from one side acknowledging everything the other side has sent. */
  ack(fromClient: boolean): void {
    if (fromClient) this.writer.addTcpSegment(this.client, this.server, { seq: this.clientSeq, ack: this.serverSeq, flags: TCP_ACK });
    else this.writer.addTcpSegment(this.server, this.client, { seq: this.serverSeq, ack: this.clientSeq, flags: TCP_ACK });
  }

  /** Orderly close: FIN from the client, FIN-ACK from the server, final ACK. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.writer.addTcpSegment(this.client, this.server, { seq: this.clientSeq, ack: this.serverSeq, flags: TCP_FIN | TCP_ACK });
    this.clientSeq = (this.clientSeq + 1) >>> 0;
    this.writer.addTcpSegment(this.server, this.client, { seq: this.serverSeq, ack: this.clientSeq, flags: TCP_FIN | TCP_ACK });
    this.serverSeq = (this.serverSeq + 1) >>> 0;
    this.writer.addTcpSegment(this.client, this.server, { seq: this.clientSeq, ack: this.serverSeq, flags: TCP_ACK });
  }
}
