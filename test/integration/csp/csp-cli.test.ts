/**
 * The CSP options of the command line, in-process over real sockets: `serve --csp` receives reports (and
 * logs arrivals and departures), `serve --csp-report` reports the registrar (role 1, id = server id, one
 * association per registered element), `pe --csp-report` reports the element (role 2, its PE id, an
 * association to its registrar) with a final report on stop, `pu --csp-report` reports a pool user; the
 * Components view merges the table with our registrar; bad options exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { main } from '../../../core/cli/main.js';
import { serveCommand } from '../../../core/cli/serve-command.js';
import { peCommand, puCommand } from '../../../core/cli/pool-commands.js';
import { parseCspOptions, type RunningCsp } from '../../../core/cli/csp-options.js';
import { componentsSnapshot, ownRegistrarView } from '../../../core/console/components.js';
import { componentId, componentGroupOf, componentObjectOf, decodeCspReport, isFinalReport, type CspReport } from '../../../core/csp/csp-codec.js';
import type { Registrar } from '../../../core/registrar/registrar.js';
import { memoryIo } from '../../support/memory-io.js';

const WAIT_MS = 8000;

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A stand-in cspmonitor: collects decoded reports. */
async function monitor(): Promise<{ port: number; reports: CspReport[]; close: () => void }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const reports: CspReport[] = [];
  socket.on('message', (m) => {
    const decoded = decodeCspReport(new Uint8Array(m));
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.error.message);
    reports.push(decoded.value);
  });
  return { port: socket.address().port, reports, close: () => socket.close() };
}

test('serve --csp / --csp-report, pe --csp-report: both directions end to end', async () => {
  const mon = await monitor();
  const serveIo = memoryIo();
  let stopServe: (s: string) => void = () => {};
  let ready: (v: [Registrar, RunningCsp]) => void = () => {};
  const started = new Promise<[Registrar, RunningCsp]>((r) => (ready = r));
  let csp: RunningCsp | undefined;
  const serving = serveCommand(
    ['--asap', '127.0.0.1:0', '--announce', 'off', '--memory', '--id', '0xc5b', '--csp', '127.0.0.1:0', '--csp-report', `127.0.0.1:${mon.port}`, '--csp-interval', '250'],
    serveIo,
    { stopSignal: new Promise((r) => (stopServe = r)), onCsp: (c) => (csp = c), onStarted: (registrar) => csp && ready([registrar, csp]) },
  );
  const [registrar, running] = await Promise.race([started, serving.then((code) => Promise.reject(new Error(`serve exited ${code}: ${serveIo.err()}`)))]);
  const receiver = running.receiver;
  assert.ok(receiver, 'serve --csp runs a receiver');
  assert.match(serveIo.out(), /csp: receiving component status reports on 127\.0\.0\.1:\d+ \(UDP\)/);
  assert.match(serveIo.out(), /csp: reporting as 0x0100000000000c5b to 127\.0\.0\.1:\d+ every 250 ms/);

  // The registrar reports itself: role 1, object = server id.
  await until(() => mon.reports.length >= 1, 'the registrar\'s first report');
  const first = mon.reports[0];
  assert.ok(first);
  assert.equal(componentGroupOf(first.senderId), 1);
  assert.equal(componentObjectOf(first.senderId), 0xc5bn);
  assert.equal(first.reportIntervalMicros, 250_000);
  assert.match(first.status, /^0 PEs in 0 pools, 0 connections$/);
  assert.match(first.location, /: 127\.0\.0\.1:\d+$/);
  assert.equal(first.associations.length, 0);

  // A pool element reports to the serve's receiver.
  const peIo = memoryIo();
  let stopPe: (s: string) => void = () => {};
  let registered: () => void = () => {};
  const peRegistered = new Promise<void>((r) => (registered = r));
  const peRun = peCommand(
    ['--pool', 'echo', '--listen', '127.0.0.1:0', '--id', '0x77', '--registrar', `127.0.0.1:${registrar.asapAddress.port}`, '--csp-report', `127.0.0.1:${receiver.address.port}`, '--csp-interval', '250'],
    peIo,
    { stopSignal: new Promise((r) => (stopPe = r)), onRegistered: () => registered() },
  );
  await peRegistered;
  const peId = componentId(2, 0x77);
  await until(() => receiver.table.get(peId)?.associations.length === 1, 'the element\'s report with its registrar association');
  const pe = receiver.table.get(peId);
  assert.ok(pe);
  assert.equal(pe.role, 'poolElement');
  assert.match(pe.status, /^pool echo: registered, 0 connections$/);
  assert.equal(pe.workload, 0);
  // With a static --registrar the element learns its registrar's id only from announces (off here) or
  // a keep-alive with the H flag; until then the association names the registrar group with object 0.
  assert.equal(componentGroupOf(pe.associations[0]?.receiverId ?? 0n), 1);
  assert.equal(pe.associations[0]?.protocol, 6);
  assert.equal(pe.associations[0]?.ppid, 11);
  assert.match(serveIo.err(), /csp: pool element 0x0200000000000077 \[.*\] arrived from 127\.0\.0\.1:\d+/);

  // The Components view merges the element with our registrar's own view.
  const snapshot = componentsSnapshot(receiver.table, Date.now(), ownRegistrarView(registrar));
  const view = snapshot.components.find((c) => c.id === '0x0200000000000077');
  assert.deepEqual(view?.own, { kind: 'registeredElement', pools: ['echo'] });
  assert.equal(view?.associations[0]?.peerRole, 'registrar');

  // The registrar's reports now carry one association to the element.
  await until(() => mon.reports.some((r) => r.associations.some((a) => a.receiverId === peId)), 'an association to the element');
  const withElement = mon.reports.findLast((r) => r.associations.length > 0);
  assert.match(withElement?.status ?? '', /^1 PE in 1 pool, 1 connection$/);
  assert.ok((withElement?.workload ?? 0) > 0, 'workload = connections / connection limit');

  // Stopping the element sends its final report: it departs from the table at once.
  stopPe('SIGTERM');
  assert.equal(await peRun, 0);
  await until(() => receiver.table.get(peId) === undefined, 'the element\'s departure');
  assert.match(serveIo.err(), /csp: pool element 0x0200000000000077 .* departed \(final report\)/);

  stopServe('SIGTERM');
  assert.equal(await serving, 0);
  await until(() => mon.reports.some(isFinalReport), 'the registrar\'s final report');
  assert.equal(mon.reports.filter(isFinalReport).length, 1);
  assert.ok(isFinalReport(mon.reports.at(-1) as CspReport), 'the final report is the last one');
  mon.close();
});

test('pu --csp-report: a pool user reports while it works and says goodbye', async () => {
  const mon = await monitor();
  const serveIo = memoryIo();
  let stopServe: (s: string) => void = () => {};
  let ready: (r: Registrar) => void = () => {};
  const started = new Promise<Registrar>((r) => (ready = r));
  const serving = serveCommand(['--asap', '127.0.0.1:0', '--announce', 'off', '--memory'], serveIo, { stopSignal: new Promise((r) => (stopServe = r)), onStarted: (r) => ready(r) });
  const registrar = await started;
  const io = memoryIo();
  const code = await puCommand(['--pool', 'nothing', '--registrar', `127.0.0.1:${registrar.asapAddress.port}`, '--csp-report', `127.0.0.1:${mon.port}`], io);
  assert.equal(code, 1, 'the pool is unknown');
  await until(() => mon.reports.length === 2, 'a report and the final report');
  const [report, final] = mon.reports;
  assert.equal(componentGroupOf(report?.senderId ?? 0n), 3);
  assert.equal(report?.status, 'pool nothing: resolving');
  assert.equal(report?.workload, 0xffff);
  assert.ok(final && isFinalReport(final));
  assert.equal(final.senderId, report?.senderId);
  stopServe('SIGTERM');
  assert.equal(await serving, 0);
  mon.close();
});

test('CSP options: bad values exit 2, an interval out of range is clamped and said so', async () => {
  const cases: [string[], RegExp][] = [
    [['serve', '--csp', 'nowhere:2960'], /--csp .*not an IP address/],
    [['serve', '--csp-interval', '500'], /--csp-interval needs --csp-report/],
    [['serve', '--csp-report', '127.0.0.1:2960', '--csp-interval', 'often'], /--csp-interval: "often" is not an integer/],
    [['serve', '--csp-report', '127.0.0.1:0'], /--csp-report needs a port other than 0/],
    [['pe', '--pool', 'p', '--listen', '127.0.0.1:0', '--csp-report', '[::1'], /--csp-report/],
    [['pu', '--pool', 'p', '--csp-interval', '100'], /--csp-interval needs --csp-report/],
  ];
  for (const [args, message] of cases) {
    const io = memoryIo();
    assert.equal(await main(args, io), 2, args.join(' '));
    assert.match(io.err(), message);
  }
  const problems: string[] = [];
  const clamped = parseCspOptions({ 'csp-report': '127.0.0.1:2960', 'csp-interval': '10' }, problems);
  assert.deepEqual(problems, []);
  assert.equal(clamped.report?.intervalMs, 250);
  assert.equal(clamped.report?.note, 'CSP report interval 10 ms is outside 250-3600000 ms; using 250 ms');
  const defaults = parseCspOptions({ csp: ':2960', 'csp-report': '2961' }, problems, true);
  assert.deepEqual(defaults, { listen: { host: '0.0.0.0', port: 2960 }, report: { target: { host: '127.0.0.1', port: 2961 }, intervalMs: 1000 } });
  assert.deepEqual(parseCspOptions({ csp: '127.0.0.1:2960' }, problems), {}, 'pe and pu take no --csp');
  const help = memoryIo();
  assert.equal(await main(['serve', '--help'], help), 0);
  assert.match(help.out(), /--csp HOST:PORT/);
  assert.match(help.out(), /--csp-report HOST:PORT/);
});
