/**
 * `handlespace serve`: prints its effective settings, serves ASAP on the given address, refuses bad
 * options with exit status 2, and shuts down cleanly on SIGTERM / SIGINT (real process).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../core/cli/main.js';
import { serveCommand } from '../../core/cli/serve-command.js';
import type { Registrar } from '../../core/registrar/registrar.js';
import { memoryIo } from '../support/memory-io.js';
import { AsapTestPeer, handle } from '../support/asap-test-peer.js';

const bin = fileURLToPath(new URL('../../bin/handlespace.mjs', import.meta.url));
// Without --db, serve keeps its history in the user data folder: point that at a temporary folder here
// (the spawned servers inherit it).
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-data-'));
process.env['HANDLESPACE_DATA_DIR'] = dataDir;
process.on('exit', () => fs.rmSync(dataDir, { recursive: true, force: true }));


test('serve: prints its settings, serves ASAP, stops when told', async () => {
  const io = memoryIo();
  let stop: (signal: string) => void = () => {};
  let started: (r: Registrar) => void = () => {};
  const registrarReady = new Promise<Registrar>((r) => (started = r));
  const running = serveCommand(['--asap', '127.0.0.1:0', '--announce', 'off', '--id', '0xabc', '--keepalive-interval', '7000', '--max-items', '5'], io, {
    stopSignal: new Promise((r) => (stop = r)),
    onStarted: (r) => started(r),
  });
  const registrar = await registrarReady;
  assert.equal(registrar.serverId, 0xabc);
  assert.equal(registrar.settings.keepAliveIntervalMs, 7000);
  assert.equal(registrar.settings.maxItems, 5);
  assert.match(io.out(), /listening on 127\.0\.0\.1:\d+/);
  assert.match(io.out(), /server id\s+0x00000abc/);
  assert.match(io.out(), /keep-alive interval\s+7000 ms/);
  const pu = await AsapTestPeer.connect(registrar.asapAddress.port);
  const answer = await pu.request({ protocol: 'asap', type: 'handleResolution', subscribe: false, poolHandle: handle('none') }, 'handleResolutionResponse');
  assert.equal(answer.error?.[0]?.code, 0x9);
  await pu.close();
  stop('SIGTERM');
  assert.equal(await running, 0);
  assert.match(io.out(), /SIGTERM, shutting down/);
  assert.ok(io.out().includes(`history: ${path.join(dataDir, 'history.db')}`), 'the default history file is in the user data folder');
  assert.ok(fs.existsSync(path.join(dataDir, 'history.db')));
});

test('serve: out-of-range settings are clamped and said so; bad options exit 2', async () => {
  const bad = memoryIo();
  assert.equal(await main(['serve', '--asap', 'nowhere:1'], bad), 2);
  assert.match(bad.err(), /not an IP address/);
  const badNumber = memoryIo();
  assert.equal(await main(['serve', '--keepalive-timeout', 'soon'], badNumber), 2);
  assert.match(badNumber.err(), /not an integer/);
  const io = memoryIo();
  let stop: (signal: string) => void = () => {};
  let started: (r: Registrar) => void = () => {};
  const ready = new Promise<Registrar>((r) => (started = r));
  const running = serveCommand(['--asap', '127.0.0.1:0', '--announce', 'off', '--keepalive-interval', '10'], io, { stopSignal: new Promise((r) => (stop = r)), onStarted: (r) => started(r) });
  const registrar = await ready;
  assert.equal(registrar.settings.keepAliveIntervalMs, 300);
  assert.match(io.err(), /keepAliveIntervalMs 10 is outside 300\.\.300000 ms; using 300/);
  stop('SIGINT');
  assert.equal(await running, 0);
});

test('serve: the real process shuts down cleanly on SIGTERM', async () => {
  const child = spawn(process.execPath, [bin, 'serve', '--asap', '127.0.0.1:0', '--announce', 'off'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 20_000);
    child.stdout.on('data', () => {
      const m = /listening on 127\.0\.0\.1:(\d+) \(ASAP/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  const peer = await AsapTestPeer.connect(port);
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0);
  await peer.ended;
  assert.match(out, /SIGTERM, shutting down/);
});

test('serve --db records what happens; export reads it back as CSV', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-serve-db-'));
  try {
    const db = path.join(dir, 'history.db');
    const io = memoryIo();
    let stop: (signal: string) => void = () => {};
    let started: (r: Registrar) => void = () => {};
    const ready = new Promise<Registrar>((r) => (started = r));
    const running = serveCommand(['--asap', '127.0.0.1:0', '--announce', 'off', '--db', db], io, { stopSignal: new Promise((r) => (stop = r)), onStarted: (r) => started(r) });
    const registrar = await ready;
    assert.match(io.out(), /history: .*history\.db \(schema \d+, migrated from 0\)/);
    const pe = await AsapTestPeer.connect(registrar.asapAddress.port);
    const answer = await pe.request(
      { protocol: 'asap', type: 'registration', poolHandle: handle('recorded'), poolElement: { id: 0x77, homeServerId: 0, registrationLife: 60_000, userTransport: { kind: 'tcp', port: 7077, transportUse: 0, address: '127.0.0.1' }, policy: { type: 1 } } },
      'registrationResponse',
    );
    assert.equal(answer.reject, false);
    await pe.close();
    stop('SIGTERM');
    assert.equal(await running, 0, io.err());
    const csv = memoryIo();
    const out = path.join(dir, 'export.csv');
    assert.equal(await main(['export', '--db', db, '--format', 'csv', '--pool', 'recorded', '--out', out], csv), 0, csv.err());
    const text = fs.readFileSync(out, 'utf8');
    const lines = text.trim().split(/\r?\n/);
    assert.ok(lines.length >= 3, text);
    assert.match(lines[1] ?? '', /registered/);
    assert.match(text, /0x00000077/);
    assert.match(text, /connectionLost|removed/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
