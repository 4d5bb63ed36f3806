/**
 * tshark as an independent wire-format oracle: every sample message (test/fixtures/sample-messages.ts) is
 * encoded, written into pcaps (ASAP over UDP 3863 and TCP 3863, ENRP over UDP 9901 and TCP 9901, one
 * message per datagram / segment) and decoded by tshark, once per pcap. Per frame we require no malformed
 * packet, no expert error, a Message Length equal to the length computed from the model, a payload of the
 * padded length, and every decoded field value equal to what was encoded (see tshark-fields.ts). A last
 * pcap checks stream framing through the Lua dissector: two messages in one segment and messages split
 * across segments.
 *
 * TCP needs test/conformance/asap-enrp-tcp.lua: tshark 4.0.17 has no framing for ASAP on TCP and no ENRP
 * on TCP at all (RSERPOOL.md, "tshark as a wire-format oracle").
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { encodeMessage } from '../../core/wire/encoder.js';
import { PcapWriter } from '../../core/wire/pcap-writer.js';
import type { Message } from '../../core/wire/types.js';
import { sampleMessages } from '../fixtures/sample-messages.js';
import { expectationsFor, fieldsOf, messageTypeCode, type Protocol } from './tshark-fields.js';

const run = promisify(execFile);
const TSHARK = process.env.TSHARK ?? 'tshark';
const LUA_SCRIPT = fileURLToPath(new URL('./asap-enrp-tcp.lua', import.meta.url));
const AGGREGATOR = '\u001f';
/**
 * Expert severities (epan/proto.h): chat 0x00200000, note 0x00400000, warn 0x00600000, error 0x00800000.
 * Warnings fail too: a clean capture has none, and TCP sequence trouble in our pcap writer would show as one.
 */
const EXPERT_WARN = 0x00600000;
const PORTS: Record<Protocol, number> = { asap: 3863, enrp: 9901 };

/** Fields read for every frame besides the protocol's own. */
const FRAME_FIELDS = ['frame.number', 'frame.protocols', 'udp.length', 'tcp.len', '_ws.malformed', '_ws.expert.severity', '_ws.expert.message'] as const;

function tsharkVersion(): string | undefined {
  const result = spawnSync(TSHARK, ['--version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout.split('\n')[0];
}

type Row = ReadonlyMap<string, readonly string[]>;

/** Runs tshark once over a pcap and returns one row per frame: field name -> every occurrence. */
async function dissect(pcap: string, fields: readonly string[]): Promise<Row[]> {
  const args = [
    '-n',
    '-X',
    `lua_script:${LUA_SCRIPT}`,
    // Our pcap writer computes every checksum; let tshark verify them too.
    '-o',
    'ip.check_checksum:TRUE',
    '-o',
    'udp.check_checksum:TRUE',
    '-o',
    'tcp.check_checksum:TRUE',
    '-r',
    pcap,
    '-T',
    'fields',
    '-E',
    'header=n',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=a',
    '-E',
    `aggregator=${AGGREGATOR}`,
    ...fields.flatMap((f) => ['-e', f]),
  ];
  const { stdout } = await run(TSHARK, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const columns = line.split('\t');
      return new Map(fields.map((f, i) => [f, columns[i] ? (columns[i] ?? '').split(AGGREGATOR) : []]));
    });
}

function column(row: Row | undefined, field: string): readonly string[] {
  return row?.get(field) ?? [];
}

interface Capture {
  readonly protocol: Protocol;
  readonly transport: 'udp' | 'tcp';
  readonly file: string;
  /** Frame number (1-based) of each sample of this protocol, in sample order. */
  readonly frames: readonly number[];
  readonly samples: readonly { readonly name: string; readonly message: Message; readonly bytes: Uint8Array }[];
  rows: Row[];
}

const version = tsharkVersion();
const missingReason = `tshark not found (tried ${JSON.stringify(TSHARK)}); install it (Debian: apt-get install tshark) to run the wire-format conformance suite`;

if (!version) {
  if (process.env.CI === 'true') {
    test('tshark is installed (required under CI=true)', () => {
      assert.fail(missingReason);
    });
  } else {
    console.error(`\n!!! SKIPPING tshark conformance: ${missingReason}\n`);
    test('tshark wire-format conformance', { skip: missingReason }, () => {});
  }
} else {
  defineSuite();
}

function defineSuite(): void {
  const dir = mkdtempSync(join(tmpdir(), 'handlespace-tshark-'));
  const encoded = sampleMessages.map((s) => ({ ...s, bytes: encodeMessage(s.message) }));
  let comparisons = 0;
  let framesChecked = 0;

  function buildCapture(protocol: Protocol, transport: 'udp' | 'tcp'): Capture {
    const samples = encoded.filter((s) => s.message.protocol === protocol);
    const writer = new PcapWriter();
    const port = PORTS[protocol];
    const frames: number[] = [];
    // ASAP over IPv4 and ENRP over IPv6: each IP version is exercised with both UDP and TCP.
    const [client, server] = protocol === 'asap' ? ['192.0.2.1', '192.0.2.2'] : ['2001:db8::1', '2001:db8::2'];
    const clientEnd = { address: client, port: 40000 + (transport === 'tcp' ? 1 : 0) };
    const serverEnd = { address: server, port };
    const stream = transport === 'tcp' ? writer.tcpStream(clientEnd, serverEnd) : undefined;
    samples.forEach((s, i) => {
      // Alternate directions so both sides of the stream (and both port positions) are exercised.
      const fromClient = i % 2 === 0;
      frames.push(writer.packetCount + 1);
      if (stream) stream.send(fromClient, s.bytes);
      else if (fromClient) writer.addUdp(clientEnd, serverEnd, s.bytes);
      else writer.addUdp(serverEnd, clientEnd, s.bytes);
    });
    stream?.close();
    const file = join(dir, `${protocol}-${transport}.pcap`);
    writeFileSync(file, writer.toBytes());
    return { protocol, transport, file, frames, samples, rows: [] };
  }

  const captures: Capture[] = [buildCapture('asap', 'udp'), buildCapture('asap', 'tcp'), buildCapture('enrp', 'udp'), buildCapture('enrp', 'tcp')];

  // Framing: ASAP and ENRP streams with two messages in one segment and messages split across segments.
  const framingFile = join(dir, 'framing.pcap');
  const framing = {
    asapPair: [encoded.find((s) => s.message.protocol === 'asap' && s.message.type === 'registration'), encoded.find((s) => s.message.protocol === 'asap' && s.message.type === 'handleResolution')],
    asapSplitHeader: encoded.find((s) => s.message.protocol === 'asap' && s.message.type === 'endpointKeepAlive'),
    asapSplitBody: encoded.find((s) => s.message.protocol === 'asap' && s.message.type === 'businessCard'),
    enrpPair: [encoded.find((s) => s.message.protocol === 'enrp' && s.message.type === 'presence'), encoded.find((s) => s.message.protocol === 'enrp' && s.message.type === 'handleUpdate')],
    enrpSplit: encoded.find((s) => s.message.protocol === 'enrp' && s.message.type === 'handleTableResponse'),
  };
  const framingFrames: Record<string, number> = {};
  {
    const pick = <T>(value: T | undefined, what: string): T => {
      if (value === undefined) throw new Error(`no sample for ${what}`);
      return value;
    };
    const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
      const out = new Uint8Array(a.length + b.length);
      out.set(a);
      out.set(b, a.length);
      return out;
    };
    const writer = new PcapWriter();
    const asap = writer.tcpStream({ address: '198.51.100.1', port: 41000 }, { address: '198.51.100.2', port: 3863 });
    const [reg, hres] = [pick(framing.asapPair[0], 'asap registration'), pick(framing.asapPair[1], 'asap handle resolution')];
    framingFrames.asapPair = writer.packetCount + 1;
    asap.send(true, concat(reg.bytes, hres.bytes));
    const keepAlive = pick(framing.asapSplitHeader, 'asap keep-alive').bytes;
    framingFrames.asapSplitHeaderFirst = writer.packetCount + 1;
    asap.send(false, keepAlive.subarray(0, 2)); // split inside the 4-byte common header
    framingFrames.asapSplitHeaderLast = writer.packetCount + 1;
    asap.send(false, keepAlive.subarray(2));
    const card = pick(framing.asapSplitBody, 'asap business card').bytes;
    const cut = Math.floor(card.length / 2) + 1; // odd offset, inside a parameter
    framingFrames.asapSplitBodyFirst = writer.packetCount + 1;
    asap.send(true, card.subarray(0, cut));
    framingFrames.asapSplitBodyLast = writer.packetCount + 1;
    // The rest of the split message and a whole one in the same segment.
    asap.send(true, concat(card.subarray(cut), hres.bytes));
    asap.close();

    const enrp = writer.tcpStream({ address: '2001:db8:1::1', port: 41001 }, { address: '2001:db8:1::2', port: 9901 });
    const [presence, update] = [pick(framing.enrpPair[0], 'enrp presence'), pick(framing.enrpPair[1], 'enrp handle update')];
    framingFrames.enrpPair = writer.packetCount + 1;
    enrp.send(true, concat(presence.bytes, update.bytes));
    const table = pick(framing.enrpSplit, 'enrp handle table response').bytes;
    const thirds = [Math.floor(table.length / 3), Math.floor((2 * table.length) / 3)] as const;
    framingFrames.enrpSplitFirst = writer.packetCount + 1;
    enrp.send(false, table.subarray(0, thirds[0]));
    framingFrames.enrpSplitMiddle = writer.packetCount + 1;
    enrp.send(false, table.subarray(thirds[0], thirds[1]));
    framingFrames.enrpSplitLast = writer.packetCount + 1;
    enrp.send(false, table.subarray(thirds[1]));
    enrp.close();
    writeFileSync(framingFile, writer.toBytes());
  }
  // Negative control for the Lua framing: a Message Length of 0 and of 2 (below the 4-byte header).
  const badLengthFile = join(dir, 'bad-length.pcap');
  const badLengthFrames: number[] = [];
  {
    const writer = new PcapWriter();
    [0, 2].forEach((length, i) => {
      const stream = writer.tcpStream({ address: '203.0.113.1', port: 42000 + i }, { address: '203.0.113.2', port: i === 0 ? 3863 : 9901 });
      badLengthFrames.push(writer.packetCount + 1);
      stream.send(true, Uint8Array.of(0x01, 0x00, 0x00, length, 0x00, 0x09, 0x00, 0x05, 0x41, 0x00, 0x00, 0x00));
    });
    writeFileSync(badLengthFile, writer.toBytes());
  }
  let badLengthRows: Row[] = [];
  let framingRows: Row[] = [];
  const framingFields = [...FRAME_FIELDS, 'asap.message_type', 'asap.message_length', 'enrp.message_type', 'enrp.message_length', 'tcp.reassembled.length'];

  describe(`tshark wire-format conformance (${version ?? ''})`, () => {
    before(async () => {
      // One tshark run per pcap, all in parallel.
      const runs = captures.map(async (c) => {
        c.rows = await dissect(c.file, [...FRAME_FIELDS, ...fieldsOf(c.protocol).map((f) => `${c.protocol}.${f}`)]);
      });
      runs.push(
        dissect(framingFile, framingFields).then((rows) => {
          framingRows = rows;
        }),
        dissect(badLengthFile, FRAME_FIELDS).then((rows) => {
          badLengthRows = rows;
        }),
      );
      await Promise.all(runs);
    });

    after(() => {
      rmSync(dir, { recursive: true, force: true });
      console.log(`tshark conformance: ${framesChecked} frames, ${comparisons} field values compared`);
    });

    test('the fixtures cover every message type of both protocols', () => {
      const seen = new Set(sampleMessages.map((s) => `${s.message.protocol}:${messageTypeCode(s.message)}`));
      for (let code = 0x01; code <= 0x0e; code++) assert.ok(seen.has(`asap:${code}`), `no ASAP sample of type 0x${code.toString(16)}`);
      for (let code = 0x01; code <= 0x0a; code++) assert.ok(seen.has(`enrp:${code}`), `no ENRP sample of type 0x${code.toString(16)}`);
    });

    for (const capture of captures) {
      describe(`${capture.protocol.toUpperCase()} over ${capture.transport.toUpperCase()} ${PORTS[capture.protocol]}`, () => {
        test('no malformed packet and no expert error or warning in the whole capture', () => {
          assert.ok(capture.rows.length > 0, 'tshark printed no frames');
          const problems: string[] = [];
          for (const row of capture.rows) {
            const frame = column(row, 'frame.number')[0] ?? '?';
            if (column(row, '_ws.malformed').length > 0) problems.push(`frame ${frame}: malformed (${column(row, '_ws.expert.message').join('; ')})`);
            const severities = column(row, '_ws.expert.severity').map(Number);
            const messages = column(row, '_ws.expert.message');
            severities.forEach((severity, i) => {
              if (severity >= EXPERT_WARN) problems.push(`frame ${frame}: expert ${severity >= 0x00800000 ? 'error' : 'warning'}: ${messages[i] ?? '?'}`);
            });
          }
          assert.deepEqual(problems, []);
        });

        capture.samples.forEach((sample, i) => {
          test(sample.name, () => {
            const frameNumber = capture.frames[i] ?? -1;
            const row = capture.rows[frameNumber - 1];
            assert.equal(column(row, 'frame.number')[0], String(frameNumber), 'tshark rows out of step with the pcap');
            framesChecked++;
            const mismatches: string[] = [];
            const protocols = column(row, 'frame.protocols')[0] ?? '';
            if (!protocols.split(':').includes(capture.protocol)) mismatches.push(`frame ${frameNumber} not dissected as ${capture.protocol}: ${protocols}`);
            if (capture.transport === 'tcp' && !protocols.includes('rserpool_tcp')) mismatches.push(`frame ${frameNumber} did not go through the Lua framing dissector: ${protocols}`);
            if (column(row, '_ws.malformed').length > 0) mismatches.push(`malformed: ${column(row, '_ws.expert.message').join('; ')}`);

            const expectations = expectationsFor(sample.message);
            // The model-computed length, the length the encoder wrote, and the padded size on the wire.
            const writtenLength = ((sample.bytes[2] ?? 0) << 8) | (sample.bytes[3] ?? 0);
            comparisons += 3;
            if (writtenLength !== expectations.messageLength) mismatches.push(`encoder wrote Message Length ${writtenLength}, the model implies ${expectations.messageLength}`);
            if (sample.bytes.length !== ((expectations.messageLength + 3) & ~3)) mismatches.push(`encoded ${sample.bytes.length} bytes, expected ${expectations.messageLength} padded to a multiple of 4`);
            const payload = capture.transport === 'udp' ? Number(column(row, 'udp.length')[0]) - 8 : Number(column(row, 'tcp.len')[0]);
            if (payload !== sample.bytes.length) mismatches.push(`frame payload is ${payload} bytes, encoded message is ${sample.bytes.length}`);

            for (const [field, expected] of expectations.values) {
              const name = `${capture.protocol}.${field}`;
              const actual = column(row, name);
              comparisons += Math.max(expected.length, actual.length);
              if (actual.length !== expected.length) {
                mismatches.push(`${name}: expected ${expected.length} value(s) [${expected.map((e) => e.show).join(', ')}], tshark shows ${actual.length} [${actual.join(', ')}]`);
                continue;
              }
              expected.forEach((e, k) => {
                const got = actual[k] ?? '';
                if (!e.matches(got)) mismatches.push(`${name}[${k}]: expected ${e.show}, tshark shows ${got}`);
              });
            }
            assert.deepEqual(mismatches, [], `${capture.protocol}/${capture.transport} "${sample.name}"`);
          });
        });
      });
    }

    describe('TCP stream framing through the Lua dissector', () => {
      const at = (name: string): Row | undefined => framingRows[(framingFrames[name] ?? 0) - 1];
      const values = (name: string, field: string): readonly string[] => column(at(name), field);
      const lengthOf = (s: { readonly bytes: Uint8Array } | undefined): string => String(((s?.bytes[2] ?? 0) << 8) | (s?.bytes[3] ?? 0));
      const typeOf = (s: { readonly bytes: Uint8Array } | undefined): string => String(s?.bytes[0] ?? -1);

      test('no malformed packet and no expert error or warning', () => {
        assert.ok(framingRows.length > 0, 'tshark printed no frames');
        for (const row of framingRows) {
          assert.deepEqual(column(row, '_ws.malformed'), [], `frame ${column(row, 'frame.number')[0] ?? '?'}`);
          assert.ok(
            column(row, '_ws.expert.severity').every((s) => Number(s) < EXPERT_WARN),
            `frame ${column(row, 'frame.number')[0] ?? '?'}: ${column(row, '_ws.expert.message').join('; ')}`,
          );
        }
      });

      test('two ASAP messages in one segment are both decoded', () => {
        assert.deepEqual(values('asapPair', 'asap.message_type'), [typeOf(framing.asapPair[0]), typeOf(framing.asapPair[1])]);
        assert.deepEqual(values('asapPair', 'asap.message_length'), [lengthOf(framing.asapPair[0]), lengthOf(framing.asapPair[1])]);
      });

      test('an ASAP message split inside its header is reassembled', () => {
        assert.deepEqual(values('asapSplitHeaderFirst', 'asap.message_type'), []);
        assert.deepEqual(values('asapSplitHeaderLast', 'asap.message_type'), [typeOf(framing.asapSplitHeader)]);
        assert.deepEqual(values('asapSplitHeaderLast', 'asap.message_length'), [lengthOf(framing.asapSplitHeader)]);
      });

      test('an ASAP message split inside a parameter is reassembled, and the message after it in the same segment decoded', () => {
        assert.deepEqual(values('asapSplitBodyFirst', 'asap.message_type'), []);
        assert.deepEqual(values('asapSplitBodyLast', 'asap.message_type'), [typeOf(framing.asapSplitBody), typeOf(framing.asapPair[1])]);
        assert.deepEqual(values('asapSplitBodyLast', 'asap.message_length'), [lengthOf(framing.asapSplitBody), lengthOf(framing.asapPair[1])]);
        assert.deepEqual(values('asapSplitBodyLast', 'tcp.reassembled.length'), [String(framing.asapSplitBody?.bytes.length ?? -1)]);
      });

      test('two ENRP messages in one segment are both decoded', () => {
        assert.deepEqual(values('enrpPair', 'enrp.message_type'), [typeOf(framing.enrpPair[0]), typeOf(framing.enrpPair[1])]);
        assert.deepEqual(values('enrpPair', 'enrp.message_length'), [lengthOf(framing.enrpPair[0]), lengthOf(framing.enrpPair[1])]);
      });

      test('a Message Length below the header size is flagged as malformed (negative control)', () => {
        for (const frame of badLengthFrames) {
          const row = badLengthRows[frame - 1];
          assert.ok(column(row, 'frame.protocols')[0]?.includes('rserpool_tcp'), `frame ${frame} did not reach the Lua framing dissector`);
          assert.notDeepEqual(column(row, '_ws.malformed'), [], `frame ${frame}: a bad Message Length went unnoticed`);
        }
      });

      test('an ENRP message split across three segments is reassembled', () => {
        assert.deepEqual(values('enrpSplitFirst', 'enrp.message_type'), []);
        assert.deepEqual(values('enrpSplitMiddle', 'enrp.message_type'), []);
        assert.deepEqual(values('enrpSplitLast', 'enrp.message_type'), [typeOf(framing.enrpSplit)]);
        assert.deepEqual(values('enrpSplitLast', 'enrp.message_length'), [lengthOf(framing.enrpSplit)]);
        assert.deepEqual(values('enrpSplitLast', 'tcp.reassembled.length'), [String(framing.enrpSplit?.bytes.length ?? -1)]);
      });
    });
  });
}
