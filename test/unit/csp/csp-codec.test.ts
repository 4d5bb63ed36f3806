/**
 * The CSP codec: the layout is RSPLIB's byte for byte (checked against a report built by hand from
 * componentstatuspackets.h), reports round-trip (fast-check), and every malformed or truncated datagram is
 * rejected with its reason, never with an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  componentGroupOf,
  componentId,
  componentObjectOf,
  componentRoleOf,
  cspTextBytes,
  CSP_ASSOCIATION_SIZE,
  CSP_BASE_SIZE,
  CSP_DURATION_UNKNOWN,
  CSP_FLAG_FINAL,
  CSP_MAX_ASSOCIATIONS,
  CSP_REJECT_REASONS,
  CSP_WORKLOAD_UNKNOWN,
  decodeCspReport,
  encodeCspReport,
  isFinalReport,
  workloadFromWire,
  workloadToWire,
  type CspAssociation,
  type CspRejectReason,
  type CspReport,
} from '../../../core/csp/csp-codec.js';

const sample: CspReport = {
  flags: 0,
  senderId: componentId(1, 0xabcdef),
  senderTimestampMicros: 123_456_789n,
  reportIntervalMicros: 1_000_000,
  location: 'host-x: [127.0.0.1]:3863',
  status: '2 PEs in 1 pool',
  workload: 0x7fff,
  associations: [
    { receiverId: componentId(2, 0x1234), durationMicros: 5_000_000n, flags: 0, protocol: 6, ppid: 11 },
    { receiverId: componentId(3, 0x00ff_eedd_ccbb_aa99n), durationMicros: CSP_DURATION_UNKNOWN, flags: 0xffff, protocol: 132, ppid: 0 },
  ],
};

function encoded(report: CspReport = sample): Uint8Array {
  const result = encodeCspReport(report);
  assert.ok(result.ok, result.ok ? '' : result.error.message);
  return result.value;
}

/** The report as RSPLIB's packed struct would hold it, written field by field with DataView. */
function rsplibBytes(report: CspReport): Uint8Array {
  const size = 288 + 24 * report.associations.length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, 1);
  view.setUint8(1, report.flags);
  view.setUint16(2, size);
  view.setUint32(4, 0x0200);
  view.setBigUint64(8, report.senderId);
  view.setBigUint64(16, report.senderTimestampMicros);
  view.setUint32(24, report.reportIntervalMicros);
  bytes.set(new TextEncoder().encode(report.location), 28);
  bytes.set(new TextEncoder().encode(report.status), 156);
  view.setUint16(284, report.workload);
  view.setUint16(286, report.associations.length);
  report.associations.forEach((a, i) => {
    const at = 288 + 24 * i;
    view.setBigUint64(at, a.receiverId);
    view.setBigUint64(at + 8, a.durationMicros);
    view.setUint16(at + 16, a.flags);
    view.setUint16(at + 18, a.protocol);
    view.setUint32(at + 20, a.ppid);
  });
  return bytes;
}

function rejects(bytes: Uint8Array, reason: CspRejectReason): void {
  const result = decodeCspReport(bytes);
  assert.equal(result.ok, false, `expected rejection (${reason})`);
  if (!result.ok) {
    assert.equal(result.error.reason, reason, result.error.message);
    assert.ok(result.error.message.length > 0);
  }
}

function patched(bytes: Uint8Array, patch: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const copy = bytes.slice();
  patch(new DataView(copy.buffer), copy);
  return copy;
}

test('the layout is RSPLIB\'s: 288-byte base, 24 bytes per association, big-endian', () => {
  const bytes = encoded();
  assert.equal(CSP_BASE_SIZE, 288);
  assert.equal(CSP_ASSOCIATION_SIZE, 24);
  assert.equal(bytes.length, 288 + 2 * 24);
  assert.deepEqual(bytes, rsplibBytes(sample));
  const decoded = decodeCspReport(bytes);
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.value, sample);
});

test('component ids: role group in the top byte, 56-bit object', () => {
  const id = componentId(2, 0x77);
  assert.equal(id, 0x0200_0000_0000_0077n);
  assert.equal(componentGroupOf(id), 2);
  assert.equal(componentObjectOf(id), 0x77n);
  assert.equal(componentRoleOf(componentId(1, 5)), 'registrar');
  assert.equal(componentRoleOf(id), 'poolElement');
  assert.equal(componentRoleOf(componentId(3, 5)), 'poolUser');
  assert.equal(componentRoleOf(componentId(9, 5)), undefined);
  // Objects are cut to 56 bits, as RSPLIB's CID_COMPOUND does.
  assert.equal(componentId(3, 0xffff_ffff_ffff_ffffn), 0x03ff_ffff_ffff_ffffn);
});

test('workload: round(fraction × 0xfffe), 0xffff unknown, overload reported as full', () => {
  assert.equal(workloadToWire(0), 0);
  assert.equal(workloadToWire(1), 0xfffe);
  assert.equal(workloadToWire(0.5), 0x7fff);
  assert.equal(workloadToWire(2), 0xfffe);
  assert.equal(workloadToWire(undefined), CSP_WORKLOAD_UNKNOWN);
  assert.equal(workloadToWire(-1), CSP_WORKLOAD_UNKNOWN);
  assert.equal(workloadToWire(Number.NaN), CSP_WORKLOAD_UNKNOWN);
  assert.equal(workloadFromWire(0xffff), undefined);
  assert.equal(workloadFromWire(0xfffe), 1);
  assert.equal(workloadFromWire(0), 0);
});

test('the final flag is bit 0', () => {
  const bytes = encoded({ ...sample, flags: CSP_FLAG_FINAL, associations: [] });
  assert.equal(bytes[1], 1);
  const decoded = decodeCspReport(bytes);
  assert.ok(decoded.ok && isFinalReport(decoded.value));
  assert.ok(!isFinalReport(sample));
});

test('texts: cut to 127 bytes on a character boundary, at a NUL, always NUL-terminated', () => {
  assert.equal(cspTextBytes('x'.repeat(200)).length, 127);
  // 63 two-byte characters are 126 bytes; the 64th would straddle byte 127, so it goes.
  const umlauts = 'ä'.repeat(64);
  assert.equal(cspTextBytes(umlauts).length, 126);
  assert.equal(cspTextBytes('before\0after').length, 6);
  const long = encoded({ ...sample, location: 'L'.repeat(500), status: '€'.repeat(100) });
  const decoded = decodeCspReport(long);
  assert.ok(decoded.ok);
  assert.equal(decoded.value.location, 'L'.repeat(127));
  assert.equal(decoded.value.status, '€'.repeat(42));
  assert.equal(long[28 + 127], 0);
  assert.equal(long[156 + 127], 0);
});

test('the encoder refuses out-of-range numbers and too many associations as values', () => {
  const cases: [Partial<CspReport>, string][] = [
    [{ senderId: -1n }, 'senderId'],
    [{ senderId: 1n << 64n }, 'senderId'],
    [{ flags: 256 }, 'flags'],
    [{ senderTimestampMicros: -5n }, 'timestamp'],
    [{ reportIntervalMicros: 2 ** 32 }, 'reportInterval'],
    [{ reportIntervalMicros: 1.5 }, 'reportInterval'],
    [{ workload: 0x10000 }, 'workload'],
    [{ associations: Array.from({ length: CSP_MAX_ASSOCIATIONS + 1 }, () => sample.associations[0] as CspAssociation) }, 'associations'],
    [{ associations: [{ receiverId: 1n, durationMicros: 0n, flags: 0x10000, protocol: 6, ppid: 11 }] }, 'association'],
    [{ associations: [{ receiverId: 1n, durationMicros: 0n, flags: 0, protocol: 6, ppid: -1 }] }, 'association'],
  ];
  for (const [change, reason] of cases) {
    const result = encodeCspReport({ ...sample, ...change });
    assert.equal(result.ok, false, reason);
    if (!result.ok) assert.equal(result.error.reason, reason);
  }
  const most = encodeCspReport({ ...sample, associations: Array.from({ length: CSP_MAX_ASSOCIATIONS }, () => sample.associations[0] as CspAssociation) });
  assert.ok(most.ok);
  assert.ok(most.value.length <= 65_507, 'the largest report fits one UDP datagram over IPv4');
});

test('malformed and truncated datagrams are rejected with their reason', () => {
  const good = encoded();
  rejects(new Uint8Array(0), 'truncated');
  rejects(good.subarray(0, 287), 'truncated');
  rejects(good.subarray(0, good.length - 1), 'truncated');
  rejects(good.subarray(0, 288), 'truncated');
  rejects(patched(good, (v) => v.setUint8(0, 2)), 'type');
  rejects(patched(good, (v) => v.setUint8(0, 0)), 'type');
  rejects(patched(good, (v) => v.setUint32(4, 0x0100)), 'version');
  rejects(patched(good, (v) => v.setUint32(4, 0x0002_0000)), 'version');
  rejects(patched(good, (v) => v.setUint16(286, 1)), 'associationCount');
  const extra = new Uint8Array(good.length + 24);
  extra.set(good);
  rejects(extra, 'associationCount');
  rejects(patched(good, (v) => v.setUint16(286, 3)), 'truncated');
  rejects(patched(good, (v) => v.setUint16(286, 0xffff)), 'truncated');
  rejects(patched(good, (v) => v.setUint16(2, good.length - 1)), 'length');
  rejects(patched(good, (v) => v.setUint16(2, 0xffff)), 'length');
  rejects(patched(good, (_, b) => b.fill(0x41, 28, 156)), 'location');
  rejects(patched(good, (_, b) => b.fill(0x41, 156, 284)), 'status');
  // Checks run in a fixed order: the type is looked at before the version, the size before the texts.
  rejects(patched(good, (v) => (v.setUint8(0, 9), v.setUint32(4, 7))), 'type');
  rejects(patched(good, (v, b) => (v.setUint16(286, 1), b.fill(0x41, 28, 156))), 'associationCount');
  assert.deepEqual(
    [...new Set(['truncated', 'type', 'version', 'associationCount', 'length', 'location', 'status'])].sort(),
    [...CSP_REJECT_REASONS].sort(),
    'every reason is exercised above',
  );
});

test('a Length of 0 is accepted (RSPLIB before 2021 left 0 there on little-endian hosts)', () => {
  const legacy = patched(encoded(), (v) => v.setUint16(2, 0));
  const decoded = decodeCspReport(legacy);
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.value, sample);
});

test('text after the terminating NUL is ignored; bytes that are not UTF-8 decode without error', () => {
  const withJunk = patched(encoded(), (_, b) => {
    b[28 + 100] = 0x5a;
    b[156] = 0xff;
    b[157] = 0;
  });
  const decoded = decodeCspReport(withJunk);
  assert.ok(decoded.ok);
  assert.equal(decoded.value.location, sample.location);
  assert.equal(decoded.value.status, '\ufffd');
});

test('decoding a view into a larger buffer reads the view only', () => {
  const bytes = encoded();
  const big = new Uint8Array(bytes.length + 64);
  big.set(bytes, 32);
  const decoded = decodeCspReport(big.subarray(32, 32 + bytes.length));
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.value, sample);
});

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const asciiText = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.:[]-_()'.split('')), maxLength: 127 });
const association = fc.record({
  receiverId: u64,
  durationMicros: u64,
  flags: fc.integer({ min: 0, max: 0xffff }),
  protocol: fc.integer({ min: 0, max: 0xffff }),
  ppid: fc.integer({ min: 0, max: 0xffffffff }),
}, { noNullPrototype: true });
const report: fc.Arbitrary<CspReport> = fc.record({
  flags: fc.integer({ min: 0, max: 0xff }),
  senderId: u64,
  senderTimestampMicros: u64,
  reportIntervalMicros: fc.integer({ min: 0, max: 0xffffffff }),
  location: asciiText,
  status: fc.oneof(asciiText, fc.string({ maxLength: 40 }).map((s) => s.replace(/\0/g, ''))),
  workload: fc.integer({ min: 0, max: 0xffff }),
  associations: fc.array(association, { maxLength: 12 }),
}, { noNullPrototype: true });

test('round trip: decode(encode(r)) = r for every report within the field limits', () => {
  fc.assert(
    fc.property(report, (r) => {
      const bytes = encodeCspReport(r);
      if (!bytes.ok) return false;
      assert.equal(bytes.value.length, 288 + 24 * r.associations.length);
      const decoded = decodeCspReport(bytes.value);
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.error.message);
      assert.deepEqual(decoded.value, r);
      return true;
    }),
    { numRuns: 500 },
  );
});

test('total: random and mutated bytes never throw; every rejection names a known reason', () => {
  const reasons = new Set<string>(CSP_REJECT_REASONS);
  fc.assert(
    fc.property(
      report,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      (r, flips, cut) => {
        const base = encodeCspReport(r);
        if (!base.ok) return false;
        const bytes = base.value.slice();
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        const input = cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
        const result = decodeCspReport(input);
        if (!result.ok) assert.ok(reasons.has(result.error.reason));
        else assert.equal(input.length, 288 + 24 * result.value.associations.length);
        return true;
      },
    ),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
      const result = decodeCspReport(bytes);
      return result.ok || reasons.has(result.error.reason);
    }),
    { numRuns: 2000 },
  );
});
