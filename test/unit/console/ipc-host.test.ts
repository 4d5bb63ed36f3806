/**
 * The core host's logic in-process (core/console/ipc-host.ts with a fake port and a stub runtime): start
 * failures become `startFailed` with their reason, exports never leave a half-written file under the
 * chosen name, subscriptions are bounded, and a shutdown during start closes what was started. The real
 * host, forked with its real runtime, is tested in test/integration/console/ipc-host.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { ConsoleBackend } from '../../../core/console/console-backend.js';
import type { ConsoleRuntime } from '../../../core/console/console-runtime.js';
import type { ConsoleResult, ExportQuery } from '../../../core/console/contract.js';
import { desktopIdentity, exportToFile, serveIpcHost, type HostPort } from '../../../core/console/ipc-host.js';
import { IPC_LIMITS, type HostToMainMessage } from '../../../core/console/ipc-protocol.js';
import { err, ok } from '../../../core/result.js';

function fakePort(): HostPort & { sent: HostToMainMessage[]; deliver(message: unknown): void } {
  let listener: (message: unknown) => void = () => {};
  const sent: HostToMainMessage[] = [];
  return {
    sent,
    postMessage: (message) => sent.push(message),
    onMessage: (l) => (listener = l),
    deliver: (message) => listener(message),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function stubBackend(overrides: Partial<ConsoleBackend> = {}): ConsoleBackend {
  return {
    epoch: 'epoch-1',
    snapshot: () => ({ sequence: 0, registrar: { asap: '127.0.0.1:1', history: null }, pools: [], poolUsers: [] }) as unknown as ReturnType<ConsoleBackend['snapshot']>,
    pool: () => err({ code: 'notFound', message: 'none' }),
    history: () => err({ code: 'unavailable', message: 'none' }),
    metrics: () => err({ code: 'unavailable', message: 'none' }),
    components: () => err({ code: 'unavailable', message: 'none' }),
    heardRegistrars: () => ok([]),
    exportHistory: async (_query: ExportQuery, out: Writable) => {
      out.end('a,b\n');
      return ok({ rows: 1, bytes: 4 });
    },
    command: async () => err({ code: 'unavailable', message: 'none' }),
    auditAccess: () => {},
    subscribe: () => () => {},
    ...overrides,
  };
}

function stubRuntime(backend: ConsoleBackend, closed: string[] = []): ConsoleRuntime {
  return {
    console: backend,
    close: async (reason: string) => {
      closed.push(reason);
      return ok(undefined);
    },
  } as unknown as ConsoleRuntime;
}

const start = { type: 'start', options: { history: { kind: 'none' } } };

test('the desktop identity names the OS user and is an operator', () => {
  assert.deepEqual(desktopIdentity('alice'), { actor: 'desktop operator (OS user alice)', role: 'operator' });
  assert.match(desktopIdentity().actor, /^desktop operator \(OS user .+\)$/);
});

test('a runtime that throws while starting is a startFailed with its message, and start may be tried again', async () => {
  const port = fakePort();
  let attempts = 0;
  serveIpcHost(port, {
    identity: desktopIdentity('t'),
    startRuntime: async () => {
      attempts++;
      if (attempts === 1) throw new Error('better_sqlite3.node was compiled against a different Node.js version');
      return ok(stubRuntime(stubBackend()));
    },
  });
  port.deliver(start);
  await tick();
  const failed = port.sent.find((m) => m.type === 'startFailed');
  assert.ok(failed?.type === 'startFailed');
  assert.match(failed.error, /compiled against a different Node\.js version/);
  assert.ok(port.sent.some((m) => m.type === 'log' && /at /.test(m.line)), 'the stack goes to the log');
  port.deliver(start);
  await tick();
  const ready = port.sent.find((m) => m.type === 'ready');
  assert.deepEqual(ready, { type: 'ready', identity: desktopIdentity('t'), epoch: 'epoch-1', asap: '127.0.0.1:1', history: null });
});

test('a runtime answering an error is a startFailed with that error', async () => {
  const port = fakePort();
  serveIpcHost(port, { startRuntime: async () => err('cannot open the history: database is newer than this app') });
  port.deliver(start);
  await tick();
  assert.deepEqual(port.sent.at(-1), { type: 'startFailed', error: 'cannot open the history: database is newer than this app' });
});

test('a shutdown that arrives while starting closes the runtime once it is up', async () => {
  const port = fakePort();
  const closed: string[] = [];
  let finishStart: (runtime: ConsoleRuntime) => void = () => {};
  let stoppedWith = '';
  serveIpcHost(port, {
    startRuntime: () => new Promise((resolve) => (finishStart = (runtime) => resolve(ok(runtime)))),
    onStopped: (reason) => (stoppedWith = reason),
  });
  port.deliver(start);
  await tick();
  port.deliver({ type: 'shutdown', reason: 'quit early' });
  await tick();
  assert.equal(stoppedWith, '', 'the shutdown waits for the start');
  finishStart(stubRuntime(stubBackend(), closed));
  await tick();
  await tick();
  assert.deepEqual(closed, ['shut down while starting']);
  assert.equal(stoppedWith, 'quit early');
  assert.equal(port.sent.some((m) => m.type === 'ready'), false);
  assert.deepEqual(port.sent.at(-1), { type: 'stopped', reason: 'quit early' });
});

test('subscriptions are bounded, duplicates refused, and all end at shutdown', async () => {
  const port = fakePort();
  let open = 0;
  const backend = stubBackend({
    subscribe: (_identity, _position, listener) => {
      open++;
      listener({ kind: 'hello', epoch: 'epoch-1', identity: desktopIdentity('t'), sequence: 0 });
      return () => open--;
    },
  });
  serveIpcHost(port, { startRuntime: async () => ok(stubRuntime(backend)) });
  port.deliver(start);
  await tick();
  for (let subscription = 1; subscription <= IPC_LIMITS.subscriptions + 1; subscription++) port.deliver({ type: 'subscribe', subscription, position: null });
  port.deliver({ type: 'subscribe', subscription: 1, position: null });
  assert.equal(open, IPC_LIMITS.subscriptions);
  const refusals = port.sent.filter((m) => m.type === 'rejected').map((m) => (m.type === 'rejected' ? m.reason : ''));
  assert.equal(refusals.length, 2);
  assert.match(refusals[0] ?? '', /are open/);
  assert.match(refusals[1] ?? '', /already open/);
  assert.equal(port.sent.filter((m) => m.type === 'event').length, IPC_LIMITS.subscriptions, 'each open stream got its hello');
  port.deliver({ type: 'shutdown', reason: 'bye' });
  await tick();
  assert.equal(open, 0);
  assert.deepEqual(port.sent.at(-1), { type: 'stopped', reason: 'bye' });
});

test('a call that throws in the backend is answered internal, and the host goes on', async () => {
  const port = fakePort();
  const backend = stubBackend({
    pool: () => {
      throw new Error('bug');
    },
  });
  serveIpcHost(port, { startRuntime: async () => ok(stubRuntime(backend)) });
  port.deliver(start);
  await tick();
  port.deliver({ type: 'call', id: 1, method: 'pool', args: ['echo'] });
  port.deliver({ type: 'call', id: 2, method: 'snapshot', args: [] });
  await tick();
  const results = new Map(port.sent.flatMap((m) => (m.type === 'result' ? [[m.id, m.result] as const] : [])));
  assert.deepEqual(results.get(1), { ok: false, error: { code: 'internal', message: 'bug' } });
  assert.equal(results.get(2)?.ok, true);
});

test('exports: renamed into place when complete, removed when the export fails', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-export-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'out.csv');
  assert.deepEqual(await exportToFile(stubBackend(), { format: 'csv' }, file), { ok: true, value: { rows: 1, bytes: 4 } });
  assert.equal(fs.readFileSync(file, 'utf8'), 'a,b\n');

  const failing = stubBackend({
    exportHistory: async (_query: ExportQuery, out: Writable): Promise<ConsoleResult<{ rows: number; bytes: number }>> => {
      out.write('half a row');
      out.end();
      return err({ code: 'internal', message: 'disk full' });
    },
  });
  const second = path.join(dir, 'second.csv');
  assert.deepEqual(await exportToFile(failing, { format: 'csv' }, second), { ok: false, error: { code: 'internal', message: 'disk full' } });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['out.csv'], 'neither the file nor its .partial is left');
});
