/**
 * The CSP receiver and sender over real UDP on loopback: a report arrives and updates the table, a silent
 * component is purged by the interval rule (ManualClock), a final report removes it at once, malformed
 * datagrams are counted by reason and leave the table and the socket working, the sender reports at start,
 * every interval and finally on stop, and a port in use is an error value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { ManualClock, systemClock } from '../../../core/clock.js';
import { componentId, CSP_FLAG_FINAL, decodeCspReport, encodeCspReport, isFinalReport, type CspReport } from '../../../core/csp/csp-codec.js';
import type { CspComponentTable, CspTableEvents } from '../../../core/csp/csp-component-table.js';
import { CspReceiver } from '../../../core/csp/csp-receiver.js';
import { CspSender } from '../../../core/csp/csp-sender.js';

const WAIT_MS = 5000;

/** Resolves with the next event of that name; fails after WAIT_MS. */
function next<K extends keyof CspTableEvents>(table: CspComponentTable, event: K): Promise<CspTableEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      table.off(event, listener as never);
      reject(new Error(`no ${event} within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const listener = (...args: CspTableEvents[K]): void => {
      clearTimeout(timer);
      resolve(args);
    };
    table.once(event, listener as never);
  });
}

/** Polls `condition` every 10 ms; fails after WAIT_MS. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function report(id: bigint, change: Partial<CspReport> = {}): Uint8Array {
  const encoded = encodeCspReport({
    flags: 0,
    senderId: id,
    senderTimestampMicros: 5_000_000n,
    reportIntervalMicros: 1_000_000,
    location: 'rsplib-host: 127.0.0.1:9000',
    status: 'fine',
    workload: 0,
    associations: [],
    ...change,
  });
  assert.ok(encoded.ok);
  return encoded.value;
}

async function client(): Promise<{ send: (bytes: Uint8Array, port: number) => Promise<void>; close: () => void }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    send: (bytes, port) => new Promise<void>((resolve, reject) => socket.send(bytes, port, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    close: () => socket.close(),
  };
}

test('receiver: arrival, update, purge by the interval rule, final report — over UDP', async () => {
  const clock = new ManualClock();
  const started = await CspReceiver.start({ listen: { host: '127.0.0.1', port: 0 }, clock });
  assert.ok(started.ok, started.ok ? '' : started.error);
  const receiver = started.value;
  const { table } = receiver;
  const peer = await client();
  try {
    const port = receiver.address.port;
    assert.ok(port > 0);
    const pe = componentId(2, 0x51);
    let arrived = next(table, 'componentArrived');
    await peer.send(report(pe), port);
    const [component] = await arrived;
    assert.equal(component.id, pe);
    assert.equal(component.source.address, '127.0.0.1');

    const updated = next(table, 'componentUpdated');
    await peer.send(report(pe, { status: 'busier', workload: 0xfffe }), port);
    const [now, before] = await updated;
    assert.equal(before.status, 'fine');
    assert.equal(now.status, 'busier');
    assert.equal(now.workload, 1);

    // 10 × 1 s of silence: purged; 1 ms earlier it is still listed.
    clock.advance(9999);
    assert.equal(table.size, 1);
    const departed = next(table, 'componentDeparted');
    clock.advance(1);
    const [gone, reason] = await departed;
    assert.equal(gone.id, pe);
    assert.equal(reason, 'silent');

    const pr = componentId(1, 0xfeed);
    arrived = next(table, 'componentArrived');
    await peer.send(report(pr), port);
    await arrived;
    const finalDeparture = next(table, 'componentDeparted');
    await peer.send(report(pr, { flags: CSP_FLAG_FINAL }), port);
    const [left, why] = await finalDeparture;
    assert.equal(left.id, pr);
    assert.equal(why, 'final');
    assert.equal(table.size, 0);
  } finally {
    peer.close();
    await receiver.close();
  }
});

test('receiver: malformed and truncated datagrams are counted by reason and harmless', async () => {
  const lines: string[] = [];
  const started = await CspReceiver.start({ listen: { host: '127.0.0.1', port: 0 }, clock: new ManualClock(), log: (l) => lines.push(l) });
  assert.ok(started.ok);
  const receiver = started.value;
  const { table } = receiver;
  const peer = await client();
  try {
    const port = receiver.address.port;
    const good = report(componentId(3, 0x42));
    const junk: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([1, 0, 1, 32]),
      good.subarray(0, 287),
      Uint8Array.from(good, (b, i) => (i === 0 ? 0x02 : b)),
      Uint8Array.from(good, (b, i) => (i === 6 ? 0x03 : b)),
      Uint8Array.from(good, (b, i) => (i === 287 ? 1 : b)),
      Uint8Array.from(good, (b, i) => (i === 3 ? 0x21 : b)),
      Uint8Array.from(good, (b, i) => (i >= 28 && i < 156 ? 0x41 : b)),
      Uint8Array.from(good, (b, i) => (i >= 156 && i < 284 ? 0x41 : b)),
      new Uint8Array(65_000).fill(0xff),
    ];
    for (const bytes of junk) await peer.send(bytes, port);
    await until(() => table.counters().datagrams === junk.length, 'every junk datagram');
    assert.equal(table.size, 0);
    assert.deepEqual(table.counters().rejected, { truncated: 4, type: 2, version: 1, associationCount: 0, length: 1, location: 1, status: 1, tableFull: 0 });
    assert.equal(lines.length, 6, 'one log line per reason');
    // The socket still works.
    const arrived = next(table, 'componentArrived');
    await peer.send(good, port);
    const [c] = await arrived;
    assert.equal(c.id, componentId(3, 0x42));
  } finally {
    peer.close();
    await receiver.close();
  }
});

test('receiver: a port in use is an error value', async () => {
  const first = await CspReceiver.start({ listen: { host: '127.0.0.1', port: 0 } });
  assert.ok(first.ok);
  try {
    const second = await CspReceiver.start({ listen: { host: '127.0.0.1', port: first.value.address.port } });
    assert.equal(second.ok, false);
    if (!second.ok) assert.match(second.error, /cannot listen for CSP on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  } finally {
    await first.value.close();
  }
});

test('sender: a report at start and every interval, a final one on stop; the receiver follows', async () => {
  const clock = new ManualClock();
  const started = await CspReceiver.start({ listen: { host: '127.0.0.1', port: 0 }, clock });
  assert.ok(started.ok);
  const receiver = started.value;
  const { table } = receiver;
  let calls = 0;
  const arrived = next(table, 'componentArrived');
  const sending = await CspSender.start({
    target: { host: '127.0.0.1', port: receiver.address.port },
    role: 'poolElement',
    objectId: 0x1234,
    intervalMs: 500,
    clock,
    status: () => {
      calls++;
      return {
        location: 'here: 127.0.0.1:7001',
        status: `report ${calls}`,
        workload: 0.25,
        associations: [{ receiverId: componentId(1, 0xabc), durationMicros: 1000n, flags: 0, protocol: 6, ppid: 11 }],
      };
    },
  });
  assert.ok(sending.ok, sending.ok ? '' : sending.error);
  const sender = sending.value;
  try {
    const [first] = await arrived;
    assert.equal(first.id, componentId(2, 0x1234));
    assert.equal(first.status, 'report 1');
    assert.equal(first.reportIntervalMs, 500);
    assert.equal(first.workload, Math.round(0.25 * 0xfffe) / 0xfffe);
    assert.equal(first.associations.length, 1);
    assert.equal(first.uptimeMicros, 0n);

    const updated = next(table, 'componentUpdated');
    clock.advance(500);
    const [second] = await updated;
    assert.equal(second.status, 'report 2');
    assert.equal(second.uptimeMicros, 500_000n, 'the sender timestamp is its uptime in microseconds');
    await until(() => sender.reportsSent === 2, 'the send callback');

    const departed = next(table, 'componentDeparted');
    await sender.stop();
    const [gone, reason] = await departed;
    assert.equal(gone.id, componentId(2, 0x1234));
    assert.equal(reason, 'final');
    assert.equal(sender.reportsSent, 3);
    assert.equal(sender.sendFailures, 0);
    // Stopped: no more reports, whatever the clock does.
    clock.advance(5000);
    assert.equal(calls, 3);
    await sender.stop();
  } finally {
    await sender.stop();
    await receiver.close();
  }
});

test('sender: the final report is a valid report with the F flag and no associations', async () => {
  const monitor = dgram.createSocket('udp4');
  await new Promise<void>((r) => monitor.bind(0, '127.0.0.1', r));
  const received: Uint8Array[] = [];
  monitor.on('message', (m) => received.push(new Uint8Array(m)));
  try {
    const sending = await CspSender.start({
      target: { host: '127.0.0.1', port: monitor.address().port },
      role: 'poolUser',
      objectId: 0x00ab_cdef_0123_4567n,
      intervalMs: 60_000,
      clock: systemClock,
      status: () => ({ location: 'pu-host', status: 'pool echo: resolving', associations: [{ receiverId: 1n, durationMicros: 1n, flags: 0, protocol: 6, ppid: 11 }] }),
    });
    assert.ok(sending.ok);
    await until(() => received.length === 1, 'the first report');
    await sending.value.stop();
    await until(() => received.length === 2, 'the final report');
    const [first, last] = received.map((bytes) => decodeCspReport(bytes));
    assert.ok(first?.ok && last?.ok);
    assert.equal(isFinalReport(first.value), false);
    assert.equal(first.value.workload, 0xffff, 'no workload given: unknown');
    assert.equal(first.value.senderId, 0x03ab_cdef_0123_4567n);
    assert.equal(isFinalReport(last.value), true);
    assert.equal(last.value.associations.length, 0);
    assert.equal(last.value.reportIntervalMicros, 60_000_000);
  } finally {
    monitor.close();
  }
});

test('sender: a status function that throws skips that report, is logged once, and the final still goes out', async () => {
  const monitor = dgram.createSocket('udp4');
  await new Promise<void>((r) => monitor.bind(0, '127.0.0.1', r));
  const received: Uint8Array[] = [];
  monitor.on('message', (m) => received.push(new Uint8Array(m)));
  const lines: string[] = [];
  const clock = new ManualClock();
  try {
    const sending = await CspSender.start({
      target: { host: '127.0.0.1', port: monitor.address().port },
      role: 'registrar',
      objectId: 7,
      intervalMs: 1000,
      clock,
      log: (l) => lines.push(l),
      status: () => {
        throw new Error('broken status');
      },
    });
    assert.ok(sending.ok);
    clock.advance(3000);
    await sending.value.stop();
    await until(() => received.length === 1, 'the final report');
    const last = decodeCspReport(received[0] ?? new Uint8Array());
    assert.ok(last.ok && isFinalReport(last.value));
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /broken status/);
  } finally {
    monitor.close();
  }
});
