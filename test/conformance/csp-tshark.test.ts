/**
 * tshark as an independent oracle for our CSP reports: hand-picked and generated reports (fast-check, fixed
 * seed) are encoded, written into a pcap as UDP datagrams to port 2960 (IPv4 and IPv6) and decoded by
 * Wireshark's Component Status Protocol dissector. Per frame: no malformed packet, no expert warning or
 * error, and every field tshark shows equal to the value we encoded (times as tshark prints relative
 * times, workload as its percentage, -100 for unknown).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { componentGroupOf, componentId, componentObjectOf, CSP_DURATION_UNKNOWN, CSP_FLAG_FINAL, CSP_PORT, CSP_WORKLOAD_UNKNOWN, encodeCspReport, type CspReport } from '../../core/csp/csp-codec.js';
import { PcapWriter } from '../../core/wire/pcap-writer.js';

const run = promisify(execFile);
const TSHARK = process.env.TSHARK ?? 'tshark';
const AGGREGATOR = '\u001f';
/** Expert severities (epan/proto.h): warn 0x00600000, error 0x00800000. */
const EXPERT_WARN = 0x00600000;
const P = 'componentstatusprotocol.';

const FIELDS = [
  'message_type',
  'message_flags',
  'message_final_bit',
  'message_length',
  'message_version',
  'message_sender_id',
  'message_sender_id.group',
  'message_sender_id.object',
  'message_sendertimestamp',
  'componentstatusreport_reportinterval',
  'componentstatusreport_location',
  'componentstatusreport_status',
  'componentstatusreport_workload',
  'componentstatusreport_associations',
  'componentassociation_receiver_id',
  'componentassociation_receiver_id.group',
  'componentassociation_receiver_id.object',
  'componentassociation_duration',
  'componentassociation_flags',
  'componentassociation_protocolid',
  'componentassociation_ppid',
] as const;
type Field = (typeof FIELDS)[number];
const FRAME_FIELDS = ['frame.number', 'frame.protocols', 'udp.length', '_ws.malformed', '_ws.expert.severity', '_ws.expert.message'] as const;

function tsharkVersion(): string | undefined {
  const result = spawnSync(TSHARK, ['--version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout.split('\n')[0];
}

const hex16 = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;
const hexGroup = (id: bigint): string => `0x${componentGroupOf(id).toString(16).padStart(4, '0')}`;
/** tshark prints FT_RELATIVE_TIME as seconds with nine decimals. */
const seconds = (micros: bigint): string => `${micros / 1_000_000n}.${(micros % 1_000_000n).toString().padStart(6, '0')}000`;

/** What tshark should print for each field of a report, in occurrence order. */
function expected(report: CspReport, size: number): Record<Field, readonly string[]> {
  const a = report.associations;
  return {
    message_type: ['1'],
    message_flags: [String(report.flags)],
    message_final_bit: [report.flags & CSP_FLAG_FINAL ? '1' : '0'],
    message_length: [String(size)],
    message_version: ['0x00000200'],
    message_sender_id: [hex16(report.senderId)],
    'message_sender_id.group': [hexGroup(report.senderId)],
    'message_sender_id.object': [hex16(componentObjectOf(report.senderId))],
    message_sendertimestamp: [seconds(report.senderTimestampMicros)],
    componentstatusreport_reportinterval: [seconds(BigInt(report.reportIntervalMicros))],
    // An empty text is an empty column, which reads as no value.
    componentstatusreport_location: report.location === '' ? [] : [report.location],
    componentstatusreport_status: report.status === '' ? [] : [report.status],
    componentstatusreport_workload: [report.workload === CSP_WORKLOAD_UNKNOWN ? '-100' : 'percent'],
    componentstatusreport_associations: [String(a.length)],
    componentassociation_receiver_id: a.map((x) => hex16(x.receiverId)),
    'componentassociation_receiver_id.group': a.map((x) => hexGroup(x.receiverId)),
    'componentassociation_receiver_id.object': a.map((x) => hex16(componentObjectOf(x.receiverId))),
    componentassociation_duration: a.map((x) => seconds(x.durationMicros)),
    componentassociation_flags: a.map((x) => String(x.flags)),
    componentassociation_protocolid: a.map((x) => String(x.protocol)),
    componentassociation_ppid: a.map((x) => String(x.ppid)),
  };
}

const handPicked: CspReport[] = [
  {
    flags: 0,
    senderId: componentId(1, 0xc5b),
    senderTimestampMicros: 3_723_000_123n,
    reportIntervalMicros: 1_000_000,
    location: 'registrar-1: 192.0.2.10:3863',
    status: '2 PEs in 1 pool, 2 connections',
    workload: 0x0002,
    associations: [
      { receiverId: componentId(2, 0x77), durationMicros: 61_500_000n, flags: 0, protocol: 6, ppid: 11 },
      { receiverId: componentId(2, 0x78), durationMicros: 1n, flags: 0, protocol: 6, ppid: 11 },
    ],
  },
  {
    flags: 0,
    senderId: componentId(2, 0x77),
    senderTimestampMicros: 0n,
    reportIntervalMicros: 250_000,
    location: 'pe-host: 192.0.2.20:7001',
    status: 'pool echo: registered, 3 connections',
    workload: 0x7fff,
    associations: [{ receiverId: componentId(1, 0xc5b), durationMicros: CSP_DURATION_UNKNOWN, flags: 0, protocol: 6, ppid: 11 }],
  },
  {
    flags: 0,
    senderId: componentId(3, 0x00ab_cdef_0123_4567n),
    senderTimestampMicros: 18_446_744_073_709_551_615n,
    reportIntervalMicros: 0xffffffff,
    location: 'pu-host',
    status: 'pool echo: watching — Grüße',
    workload: CSP_WORKLOAD_UNKNOWN,
    associations: [{ receiverId: componentId(2, 0x77), durationMicros: 0n, flags: 0xffff, protocol: 132, ppid: 0xffffffff }],
  },
  // A final report as our sender and RSPLIB send it: no associations.
  { flags: CSP_FLAG_FINAL, senderId: componentId(2, 0x77), senderTimestampMicros: 99_000_000n, reportIntervalMicros: 250_000, location: 'pe-host: 192.0.2.20:7001', status: '', workload: 0xfffe, associations: [] },
  // Texts of 127 bytes (the most that fits with the terminating NUL).
  { flags: 0, senderId: componentId(1, 1), senderTimestampMicros: 1n, reportIntervalMicros: 1, location: 'L'.repeat(127), status: 'S'.repeat(127), workload: 0, associations: [] },
];

const text = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.:[]-_(),/'.split('')), maxLength: 127 });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const generated: CspReport[] = fc.sample(
  fc.record(
    {
      flags: fc.constantFrom(0, CSP_FLAG_FINAL),
      senderId: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.bigInt({ min: 0n, max: (1n << 56n) - 1n })).map(([g, o]) => componentId(g, o)),
      senderTimestampMicros: u64,
      reportIntervalMicros: fc.integer({ min: 0, max: 0xffffffff }),
      location: text,
      status: text,
      workload: fc.integer({ min: 0, max: 0xffff }),
      associations: fc.array(
        fc.record(
          {
            receiverId: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.bigInt({ min: 0n, max: (1n << 56n) - 1n })).map(([g, o]) => componentId(g, o)),
            durationMicros: u64,
            flags: fc.integer({ min: 0, max: 0xffff }),
            protocol: fc.integer({ min: 0, max: 0xffff }),
            ppid: fc.integer({ min: 0, max: 0xffffffff }),
          },
          { noNullPrototype: true },
        ),
        { maxLength: 8 },
      ),
    },
    { noNullPrototype: true },
  ),
  { seed: 2960, numRuns: 60 },
);

const version = tsharkVersion();
const missingReason = `tshark not found (tried ${JSON.stringify(TSHARK)}); install it (Debian: apt-get install tshark) to run the CSP conformance suite`;

if (!version) {
  if (process.env.CI === 'true') {
    test('tshark is installed (required under CI=true)', () => {
      assert.fail(missingReason);
    });
  } else {
    console.error(`\n!!! SKIPPING CSP tshark conformance: ${missingReason}\n`);
    test('CSP tshark conformance', { skip: missingReason }, () => {});
  }
} else {
  const dir = mkdtempSync(join(tmpdir(), 'handlespace-csp-tshark-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test(`tshark (${version}) decodes every CSP report we encode, field by field, with nothing malformed`, async () => {
    const reports = [...handPicked, ...generated];
    const writer = new PcapWriter();
    const sizes: number[] = [];
    reports.forEach((report, i) => {
      const encoded = encodeCspReport(report);
      assert.ok(encoded.ok, encoded.ok ? '' : encoded.error.message);
      sizes.push(encoded.value.length);
      const [from, to] = i % 2 === 0 ? ['192.0.2.1', '192.0.2.2'] : ['2001:db8::1', '2001:db8::2'];
      writer.addUdp({ address: from, port: 40000 + (i % 100) }, { address: to, port: CSP_PORT }, encoded.value);
    });
    const file = join(dir, 'csp.pcap');
    writeFileSync(file, writer.toBytes());
    const fields = [...FRAME_FIELDS, ...FIELDS.map((f) => P + f)];
    const args = ['-n', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-r', file, '-T', 'fields', '-E', 'header=n', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', `aggregator=${AGGREGATOR}`, ...fields.flatMap((f) => ['-e', f])];
    const { stdout } = await run(TSHARK, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
    const rows = stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const columns = line.split('\t');
        return new Map(fields.map((f, i) => [f, columns[i] ? (columns[i] ?? '').split(AGGREGATOR) : []]));
      });
    assert.equal(rows.length, reports.length, 'one row per frame');
    let comparisons = 0;
    rows.forEach((row, i) => {
      const report = reports[i] as CspReport;
      const where = `frame ${i + 1}`;
      assert.match((row.get('frame.protocols') ?? []).join(), /:componentstatusprotocol$/, `${where}: dissected as CSP`);
      assert.deepEqual(row.get('_ws.malformed'), [], `${where}: malformed`);
      const severities = (row.get('_ws.expert.severity') ?? []).map(Number);
      assert.ok(
        severities.every((s) => s < EXPERT_WARN),
        `${where}: expert ${JSON.stringify(row.get('_ws.expert.message'))}`,
      );
      assert.equal(Number(row.get('udp.length')?.[0]) - 8, sizes[i], `${where}: UDP payload is the report`);
      const want = expected(report, sizes[i] ?? 0);
      for (const field of FIELDS) {
        const actual = row.get(P + field) ?? [];
        if (field === 'componentstatusreport_workload' && report.workload !== CSP_WORKLOAD_UNKNOWN) {
          // FT_FLOAT percentage, printed with limited precision.
          assert.equal(actual.length, 1);
          const percent = (100 * report.workload) / 0xfffe;
          assert.ok(Math.abs(Number(actual[0]) - percent) < 1e-3, `${where}: workload ${actual[0]} vs ${percent}`);
        } else {
          assert.deepEqual(actual, want[field], `${where}: ${field}`);
        }
        comparisons++;
      }
    });
    assert.ok(comparisons >= reports.length * FIELDS.length);
  });
}
