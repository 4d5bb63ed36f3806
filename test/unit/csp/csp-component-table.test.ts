/**
 * The CSP component table on a ManualClock: arrival, update, departure on a final report, the purge rule
 * min(30 s, 10 × the report interval) to the millisecond, the size bound, and the counters of rejected
 * datagrams by reason (junk changes nothing else).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../core/clock.js';
import { componentId, CSP_FLAG_FINAL, encodeCspReport, type CspReport } from '../../../core/csp/csp-codec.js';
import { allowedSilenceMs, CspComponentTable, type CspComponent, type DepartureReason } from '../../../core/csp/csp-component-table.js';
import { componentsSnapshot, ownRegistrarView } from '../../../core/console/components.js';

const source = { address: '192.0.2.7', port: 40000 };

function report(id: bigint, change: Partial<CspReport> = {}): Uint8Array {
  const encoded = encodeCspReport({
    flags: 0,
    senderId: id,
    senderTimestampMicros: 61_000_000n,
    reportIntervalMicros: 1_000_000,
    location: 'host-a: 192.0.2.7:7001',
    status: 'pool echo: registered',
    workload: 0x7fff,
    associations: [{ receiverId: componentId(1, 0xabc), durationMicros: 2_500_000n, flags: 0, protocol: 6, ppid: 11 }],
    ...change,
  });
  assert.ok(encoded.ok);
  return encoded.value;
}

function tableWithLog(clock: ManualClock, options: { maxComponents?: number } = {}) {
  const table = new CspComponentTable({ clock, ...options });
  const events: string[] = [];
  const departures: [CspComponent, DepartureReason][] = [];
  table.on('componentArrived', (c) => events.push(`arrived ${c.id.toString(16)}`));
  table.on('componentUpdated', (c, previous) => events.push(`updated ${c.id.toString(16)} ${previous.reports}->${c.reports}`));
  table.on('componentDeparted', (c, reason) => {
    events.push(`departed ${c.id.toString(16)} ${reason}`);
    departures.push([c, reason]);
  });
  return { table, events, departures };
}

test('the purge rule: min(30 s, 10 × interval); interval 0 gets the maximum', () => {
  assert.equal(allowedSilenceMs(1000), 10_000);
  assert.equal(allowedSilenceMs(250), 2500);
  assert.equal(allowedSilenceMs(3000), 30_000);
  assert.equal(allowedSilenceMs(60_000), 30_000);
  assert.equal(allowedSilenceMs(0), 30_000);
  assert.equal(allowedSilenceMs(5000, 20_000), 20_000);
});

test('arrival, update, and the fields as reported', () => {
  const clock = new ManualClock();
  const { table, events } = tableWithLog(clock);
  const pe = componentId(2, 0x77);
  table.receive(report(pe), source);
  assert.deepEqual(events, ['arrived 200000000000077']);
  const c = table.get(pe);
  assert.ok(c);
  assert.equal(c.role, 'poolElement');
  assert.equal(c.object, 0x77n);
  assert.equal(c.location, 'host-a: 192.0.2.7:7001');
  assert.equal(c.status, 'pool echo: registered');
  assert.equal(c.workload, 0x7fff / 0xfffe);
  assert.equal(c.uptimeMicros, 61_000_000n);
  assert.equal(c.reportIntervalMs, 1000);
  assert.equal(c.associations.length, 1);
  assert.deepEqual(c.source, source);
  assert.equal(c.purgeAt, clock.now() + 10_000);
  clock.advance(700);
  table.receive(report(pe, { status: 'busy', workload: 0xffff }), { address: '192.0.2.8', port: 1 });
  assert.deepEqual(events, ['arrived 200000000000077', 'updated 200000000000077 1->2']);
  const updated = table.get(pe);
  assert.ok(updated);
  assert.equal(updated.status, 'busy');
  assert.equal(updated.workload, undefined);
  assert.equal(updated.firstReportAt, c.firstReportAt);
  assert.equal(updated.lastReportAt, c.lastReportAt + 700);
  assert.equal(updated.source.address, '192.0.2.8');
  assert.equal(table.counters().arrivals, 1);
  assert.equal(table.counters().reports, 2);
});

test('a silent component is purged exactly 10 intervals after its last report, not before', () => {
  const clock = new ManualClock();
  const { table, events, departures } = tableWithLog(clock);
  const pr = componentId(1, 0xabc);
  table.receive(report(pr, { reportIntervalMicros: 500_000 }), source);
  clock.advance(4999);
  assert.equal(table.size, 1);
  // A report just before the deadline renews it.
  table.receive(report(pr, { reportIntervalMicros: 500_000 }), source);
  clock.advance(4999);
  assert.equal(table.size, 1, 'still there 1 ms before its renewed deadline');
  clock.advance(1);
  assert.equal(table.size, 0);
  assert.deepEqual(events.at(-1), 'departed 100000000000abc silent');
  assert.equal(departures[0]?.[0].status, 'pool echo: registered', 'the departure carries the last known state');
  assert.deepEqual(table.counters().departures, { final: 0, silent: 1 });
  assert.equal(clock.pending, 0, 'no timer left once the table is empty');
});

test('a long interval is capped at 30 s of silence; each component has its own deadline', () => {
  const clock = new ManualClock();
  const { table, events } = tableWithLog(clock);
  const slow = componentId(3, 1);
  const fast = componentId(3, 2);
  table.receive(report(slow, { reportIntervalMicros: 3_600_000_000 }), source);
  table.receive(report(fast, { reportIntervalMicros: 250_000 }), source);
  clock.advance(2500);
  assert.deepEqual(events.slice(2), ['departed 300000000000002 silent']);
  clock.advance(27_499);
  assert.equal(table.size, 1);
  clock.advance(1);
  assert.equal(table.size, 0);
});

test('a final report removes the component at once; a final from a stranger is only counted', () => {
  const clock = new ManualClock();
  const { table, events } = tableWithLog(clock);
  const pe = componentId(2, 9);
  table.receive(report(pe), source);
  table.receive(report(pe, { flags: CSP_FLAG_FINAL, associations: [], location: '', status: '' }), source);
  assert.deepEqual(events, ['arrived 200000000000009', 'departed 200000000000009 final']);
  assert.equal(table.size, 0);
  table.receive(report(componentId(2, 10), { flags: CSP_FLAG_FINAL }), source);
  assert.deepEqual(events.length, 2);
  const counters = table.counters();
  assert.equal(counters.finalReports, 2);
  assert.equal(counters.finalUnknown, 1);
  assert.deepEqual(counters.departures, { final: 1, silent: 0 });
  clock.advance(60_000);
  assert.equal(events.length, 2, 'nothing departs twice');
});

test('malformed datagrams are counted by reason and change nothing', () => {
  const clock = new ManualClock();
  const lines: string[] = [];
  const table = new CspComponentTable({ clock, log: (l) => lines.push(l) });
  const pe = componentId(2, 1);
  table.receive(report(pe), source);
  const good = report(pe, { status: 'changed' });
  const wrongType = good.slice();
  wrongType[0] = 2;
  table.receive(wrongType, source);
  table.receive(wrongType, source);
  table.receive(good.subarray(0, 100), source);
  const wrongVersion = good.slice();
  wrongVersion[6] = 1;
  table.receive(wrongVersion, source);
  table.receive(new Uint8Array(2000), source);
  const counters = table.counters();
  assert.equal(counters.datagrams, 6);
  assert.equal(counters.reports, 1);
  assert.equal(counters.rejected.type, 3);
  assert.equal(counters.rejected.truncated, 1);
  assert.equal(counters.rejected.version, 1);
  assert.equal(table.get(pe)?.status, 'pool echo: registered');
  assert.equal(lines.length, 3, 'one log line per reason, not per datagram');
  assert.match(lines[0] ?? '', /rejected a datagram \(type\).*192\.0\.2\.7:40000/);
});

test('the table is bounded: new components beyond the limit are refused and counted', () => {
  const clock = new ManualClock();
  const { table } = tableWithLog(clock, { maxComponents: 2 });
  table.receive(report(componentId(2, 1)), source);
  table.receive(report(componentId(2, 2)), source);
  table.receive(report(componentId(2, 3)), source);
  assert.equal(table.size, 2);
  assert.equal(table.counters().rejected.tableFull, 1);
  // Known components still update.
  table.receive(report(componentId(2, 2), { status: 'again' }), source);
  assert.equal(table.get(componentId(2, 2))?.status, 'again');
});

test('close stops the purge timer and the intake', () => {
  const clock = new ManualClock();
  const { table, events } = tableWithLog(clock);
  table.receive(report(componentId(2, 1)), source);
  table.close();
  assert.equal(clock.pending, 0);
  table.receive(report(componentId(2, 2)), source);
  clock.advance(60_000);
  assert.deepEqual(events, ['arrived 200000000000001']);
});

test('list order is cspmonitor\'s; the console snapshot is plain JSON, merged with our registrar', () => {
  const clock = new ManualClock();
  const { table } = tableWithLog(clock);
  table.receive(report(componentId(3, 0x0012_3456_789a_bcden), { location: 'a', workload: 0xffff, associations: [] }), source);
  table.receive(report(componentId(2, 0x77), { location: 'z' }), source);
  table.receive(report(componentId(2, 0x78), { location: 'b' }), source);
  table.receive(report(componentId(1, 0xabc), { location: 'y', associations: [{ receiverId: componentId(2, 0x77), durationMicros: 0xffff_ffff_ffff_ffffn, flags: 0, protocol: 132, ppid: 12 }] }), source);
  table.receive(report(componentId(7, 1), { location: 'q' }), source);
  clock.advance(1500);
  const own = { registrarId: 0xabc, poolsOfElement: (id: number) => (id === 0x77 ? ['echo'] : []) };
  const snapshot = componentsSnapshot(table, clock.now(), own);
  assert.deepEqual(
    snapshot.components.map((c) => [c.role, c.location]),
    [
      ['registrar', 'y'],
      ['poolElement', 'b'],
      ['poolElement', 'z'],
      ['poolUser', 'a'],
      ['unknown', 'q'],
    ],
  );
  assert.deepEqual(snapshot.counts, { registrars: 1, poolElements: 2, poolUsers: 1, other: 1 });
  const [registrar, , element, user] = snapshot.components;
  assert.equal(registrar?.id, '0x0100000000000abc');
  assert.equal(registrar?.objectId, '0x00000abc');
  assert.deepEqual(registrar?.own, { kind: 'thisRegistrar' });
  assert.deepEqual(registrar?.associations, [{ peerId: '0x0200000000000077', peerRole: 'poolElement', protocol: 'SCTP', protocolNumber: 132, ppidName: 'ENRP', ppid: 12, durationMs: null, flags: 0 }]);
  assert.deepEqual(element?.own, { kind: 'registeredElement', pools: ['echo'] });
  assert.equal(element?.lastReportAgeMs, 1500);
  assert.equal(element?.purgeInMs, 8500);
  assert.equal(element?.uptimeMs, 61_000);
  assert.equal(element?.workload, 0x7fff / 0xfffe);
  assert.equal(element?.source, '192.0.2.7:40000');
  assert.deepEqual(element?.associations[0], { peerId: '0x0100000000000abc', peerRole: 'registrar', protocol: 'TCP', protocolNumber: 6, ppidName: 'ASAP', ppid: 11, durationMs: 2500, flags: 0 });
  assert.equal(user?.objectId, '0x123456789abcde');
  assert.equal(user?.workload, null);
  assert.equal(user?.own, null);
  // Plain JSON: survives a JSON round trip unchanged (no bigint, no undefined).
  assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot);
  assert.equal(typeof ownRegistrarView, 'function');
});
