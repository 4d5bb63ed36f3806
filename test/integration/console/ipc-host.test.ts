/**
 * The core host (core/console/ipc-host.ts) as the desktop app runs it, but forked as a Node child instead
 * of an Electron utilityProcess: it starts the console on `start`, answers calls with ConsoleResults under
 * the desktop operator's identity, streams events, writes exports, refuses malformed messages without
 * falling over, and shuts down cleanly. Waits are for named messages, never sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PoolElement } from '../../../core/client/pool-element.js';
import type { ConsoleEvent, EventStreamMessage, Snapshot } from '../../../core/console/contract.js';
import type { HostToMainMessage, MainToHostMessage } from '../../../core/console/ipc-protocol.js';
import { CoreHostClient, type HostProcess } from '../../../electron/core-host-client.js';
import type { CoreHostStatus } from '../../../renderer/src/desktop-bridge.js';

const HOST_ENTRY = fileURLToPath(new URL('../../../core/console/ipc-host.ts', import.meta.url));
const WAIT_MS = 15_000;
/** The host's stdout goes to our stderr: the test runner reads this process's stdout as its own channel. */
const HOST_STDIO: StdioOptions = ['ignore', 2, 'inherit', 'ipc'];

type Predicate = (message: HostToMainMessage) => boolean;

/** The main process's side of the channel, reduced to what the tests need. */
class ForkedHost {
  readonly messages: HostToMainMessage[] = [];
  readonly logs: string[] = [];
  private readonly waiters: { predicate: Predicate; resolve: (message: HostToMainMessage) => void }[] = [];
  private nextId = 1;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    child.on('message', (raw) => {
      const message = raw as HostToMainMessage;
      if (message.type === 'log') this.logs.push(message.line);
      this.messages.push(message);
      for (const waiter of this.waiters.slice()) {
        if (waiter.predicate(message)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static start(dataDir: string): ForkedHost {
    const child = fork(HOST_ENTRY, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, HANDLESPACE_DATA_DIR: dataDir },
      stdio: HOST_STDIO,
    });
    return new ForkedHost(child);
  }

  send(message: MainToHostMessage | unknown): void {
    this.child.send(message as object);
  }

  /** The first message (already received or still to come) that matches. */
  waitFor(what: string, predicate: Predicate, from = 0): Promise<HostToMainMessage> {
    const seen = this.messages.slice(from).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} from the host within ${WAIT_MS} ms; logs:\n${this.logs.join('\n')}`)), WAIT_MS);
      this.waiters.push({ predicate, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  async call(method: string, args: unknown[]): Promise<Extract<HostToMainMessage, { type: 'result' }>['result']> {
    const id = this.nextId++;
    this.send({ type: 'call', id, method, args });
    const answer = await this.waitFor(`result ${id}`, (m) => m.type === 'result' && m.id === id);
    assert.equal(answer.type, 'result');
    return (answer as Extract<HostToMainMessage, { type: 'result' }>).result;
  }

  newId(): number {
    return this.nextId++;
  }

  eventsOf(subscription: number): EventStreamMessage[] {
    return this.messages.flatMap((m) => (m.type === 'event' && m.subscription === subscription ? [m.message] : []));
  }

  waitForEvent(what: string, subscription: number, predicate: (event: ConsoleEvent) => boolean): Promise<HostToMainMessage> {
    return this.waitFor(what, (m) => m.type === 'event' && m.subscription === subscription && m.message.kind === 'events' && m.message.events.some(predicate));
  }
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-ipc-host-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startedHost(t: Parameters<typeof tempDir>[0] & { after(fn: () => Promise<void> | void): void }, dir: string) {
  const host = ForkedHost.start(dir);
  t.after(async () => {
    if (host.child.exitCode === null && host.child.signalCode === null) {
      host.child.kill('SIGKILL');
      await host.exited;
    }
  });
  host.send({
    type: 'start',
    options: { history: { kind: 'file', path: path.join(dir, 'history.db') }, registrar: { asap: { host: '127.0.0.1', port: 0 }, announce: 'off' } },
  } satisfies MainToHostMessage);
  const ready = await host.waitFor('ready', (m) => m.type === 'ready' || m.type === 'startFailed');
  assert.equal(ready.type, 'ready', JSON.stringify(ready));
  return { host, ready: ready as Extract<HostToMainMessage, { type: 'ready' }> };
}

test('the host starts the console, answers queries, runs commands under the desktop identity and streams events', async (t) => {
  const dir = tempDir(t);
  const { host, ready } = await startedHost(t, dir);
  assert.match(ready.identity.actor, /^desktop operator \(OS user .+\)$/);
  assert.equal(ready.identity.role, 'operator');
  assert.match(ready.asap, /^127\.0\.0\.1:\d+$/);
  assert.equal(ready.history?.file, path.join(dir, 'history.db'));

  const identity = await host.call('identity', []);
  assert.deepEqual(identity, { ok: true, value: ready.identity });
  const snapshot = await host.call('snapshot', []);
  assert.equal(snapshot.ok, true);
  assert.deepEqual((snapshot.ok && (snapshot.value as Snapshot).pools) || null, []);

  const subscription = 1;
  host.send({ type: 'subscribe', subscription, position: null } satisfies MainToHostMessage);
  await host.waitFor('hello', (m) => m.type === 'event' && m.subscription === subscription && m.message.kind === 'hello');

  const port = Number(ready.asap.split(':')[1]);
  const pe = new PoolElement({ poolHandle: 'echo', identifier: 0x77, userTransport: { host: '127.0.0.1', port: 7077 }, registrars: [`127.0.0.1:${port}`], hunt: { retryDelayMs: 20 } });
  t.after(() => pe.close());
  const second = new PoolElement({ poolHandle: 'echo', identifier: 0x78, userTransport: { host: '127.0.0.1', port: 7078 }, registrars: [`127.0.0.1:${port}`], hunt: { retryDelayMs: 20 } });
  t.after(() => second.close());
  await Promise.all([pe.register(), second.register()]);
  await host.waitForEvent('registered', subscription, (e) => e.type === 'elementUpdated' && e.change === 'registered' && e.element.peId === 0x77);

  const pool = await host.call('pool', ['echo']);
  assert.equal(pool.ok, true, JSON.stringify(pool));

  const drained = await host.call('drain', [{ pool: 'echo', peId: 0x77 }, { reason: 'kernel update' }]);
  assert.equal(drained.ok, true, JSON.stringify(drained));
  await host.waitForEvent('admin change', subscription, (e) => e.type === 'elementUpdated' && e.change === 'admin' && e.element.admin.state === 'draining');
  const audit = await host.waitForEvent('audit entry', subscription, (e) => e.type === 'audit' && e.entry.action === 'drain');
  const entry = audit.type === 'event' && audit.message.kind === 'events' ? audit.message.events.find((e) => e.type === 'audit') : undefined;
  assert.ok(entry && entry.type === 'audit');
  assert.equal(entry.entry.actor, ready.identity.actor, 'the audit names the desktop operator');

  // A refusal from the service comes back as a value, not a broken channel.
  const again = await host.call('drain', [{ pool: 'echo', peId: 0x77 }, { reason: 'twice' }]);
  assert.equal(again.ok, false);

  host.send({ type: 'unsubscribe', subscription } satisfies MainToHostMessage);
  // Messages are handled in order: once this answer is here, the unsubscribe has been too.
  await host.call('snapshot', []);
  const before = host.eventsOf(subscription).length;
  const ready2 = await host.call('ready', [{ pool: 'echo', peId: 0x77 }, { reason: 'done' }]);
  assert.equal(ready2.ok, true, JSON.stringify(ready2));
  // A round trip after the command: any event of the closed subscription would have arrived by now.
  await host.call('snapshot', []);
  assert.equal(host.eventsOf(subscription).length, before, 'no events after unsubscribe');

  host.send({ type: 'shutdown', reason: 'test over' } satisfies MainToHostMessage);
  await host.waitFor('stopped', (m) => m.type === 'stopped');
  assert.deepEqual(await host.exited, { code: 0, signal: null });
});

test('the host writes exports to the chosen file (via FILE.partial) and answers rows and bytes', async (t) => {
  const dir = tempDir(t);
  const { host, ready } = await startedHost(t, dir);
  const port = Number(ready.asap.split(':')[1]);
  const pe = new PoolElement({ poolHandle: 'export', identifier: 0x10, userTransport: { host: '127.0.0.1', port: 7010 }, registrars: [`127.0.0.1:${port}`], hunt: { retryDelayMs: 20 } });
  t.after(() => pe.close());
  await pe.register();

  const file = path.join(dir, 'history.csv');
  const id = host.newId();
  host.send({ type: 'export', id, query: { format: 'csv' }, file } satisfies MainToHostMessage);
  const answer = await host.waitFor('export result', (m) => m.type === 'result' && m.id === id);
  assert.ok(answer.type === 'result' && answer.result.ok, JSON.stringify(answer));
  const value = answer.result.value as { rows: number; bytes: number };
  assert.ok(value.rows >= 1, 'the registration is exported');
  assert.equal(fs.statSync(file).size, value.bytes);
  assert.equal(fs.existsSync(`${file}.partial`), false);
  assert.match(fs.readFileSync(file, 'utf8'), /export/);

  const missing = host.newId();
  host.send({ type: 'export', id: missing, query: { format: 'jsonl' }, file: path.join(dir, 'no-such-folder', 'x.jsonl') } satisfies MainToHostMessage);
  const refused = await host.waitFor('export failure', (m) => m.type === 'result' && m.id === missing);
  assert.ok(refused.type === 'result' && !refused.result.ok);
  assert.match(refused.result.error.message, /cannot write/);
});

test('malformed messages are refused with a reason and the host keeps serving', async (t) => {
  const dir = tempDir(t);
  const { host } = await startedHost(t, dir);
  const badCalls: [string, unknown[], string][] = [
    ['evalCode', [], 'method'],
    ['drain', [{ pool: 'echo', peId: -1 }, { reason: 'x' }], 'target.peId'],
    ['drain', [{ pool: 'echo', peId: 1.5 }, { reason: 'x' }], 'target.peId'],
    ['drain', [{ pool: 'echo', peId: 1 }, { reason: 'x', sudo: true }], 'options'],
    ['drain', [{ pool: 'echo', peId: 1 }, { reason: 'x'.repeat(100_000) }], 'options.reason'],
    ['drain', [{ pool: 'echo', peId: 1 }], 'options'],
    ['pool', ['p'.repeat(10_000)], 'pool'],
    ['pool', [{ toString: 'echo' }], 'pool'],
    ['history', [{ limit: 1_000_000 }], 'query.limit'],
    ['history', [{ kinds: ['audit', 'audit'] }], 'query.kinds'],
    ['history', [{ from: 10, to: 5 }], 'query'],
    ['metrics', [{ pool: 'echo', from: 0, to: 1, intervalMs: 7 }], 'query.intervalMs'],
    ['snapshot', ['extra'], 'args'],
  ];
  for (const [method, args, field] of badCalls) {
    const result = await host.call(method, args);
    assert.equal(result.ok, false, `${method} ${JSON.stringify(args).slice(0, 80)}`);
    assert.equal(result.error.code, 'badRequest');
    assert.equal(result.error.field, field, result.error.message);
  }

  const noId = host.messages.length;
  for (const garbage of ['garbage', 42, [1, 2], { type: 'call' }, { type: 'call', id: -3, method: 'snapshot', args: [] }, { type: 'nope' }, { type: 'export', id: 'x' }]) {
    host.send(garbage);
  }
  const rejected = await host.call('snapshot', []);
  assert.equal(rejected.ok, true, 'still serving after garbage');
  const refusals = host.messages.slice(noId).filter((m) => m.type === 'rejected');
  assert.equal(refusals.length, 7, JSON.stringify(refusals));

  const extraField = host.newId();
  host.send({ type: 'call', id: extraField, method: 'snapshot', args: [], admin: true });
  const answered = await host.waitFor('refusal with id', (m) => m.type === 'result' && m.id === extraField);
  assert.ok(answered.type === 'result' && !answered.result.ok && answered.result.error.code === 'badRequest');

  const relative = host.newId();
  host.send({ type: 'export', id: relative, query: { format: 'csv' }, file: 'relative/out.csv' });
  const relativeAnswer = await host.waitFor('relative path refusal', (m) => m.type === 'result' && m.id === relative);
  assert.ok(relativeAnswer.type === 'result' && !relativeAnswer.result.ok && relativeAnswer.result.error.field === 'file');

  host.send({ type: 'start', options: { history: { kind: 'none' } } });
  await host.waitFor('second start refused', (m) => m.type === 'rejected' && /start refused/.test(m.reason));

  host.send({ type: 'shutdown', reason: 'test over' });
  assert.deepEqual(await host.exited, { code: 0, signal: null });
});

test('a start that fails is reported, and calls before start are unavailable', async (t) => {
  const dir = tempDir(t);
  const host = ForkedHost.start(dir);
  t.after(() => {
    if (host.child.exitCode === null) host.child.kill('SIGKILL');
  });
  const early = await host.call('snapshot', []);
  assert.equal(early.ok, false);
  assert.equal(early.error.code, 'unavailable');
  // A history file inside a folder that is a file cannot be created.
  fs.writeFileSync(path.join(dir, 'not-a-folder'), '');
  host.send({ type: 'start', options: { history: { kind: 'file', path: path.join(dir, 'not-a-folder', 'history.db') }, registrar: { asap: { host: '127.0.0.1', port: 0 }, announce: 'off' } } });
  const failed = await host.waitFor('startFailed', (m) => m.type === 'startFailed');
  assert.ok(failed.type === 'startFailed');
  assert.match(failed.error, /history/);
  host.send({ type: 'shutdown', reason: 'test over' });
  assert.deepEqual(await host.exited, { code: 0, signal: null });
});

test('the desktop client restarts a killed host and its event stream resumes with a resync', async (t) => {
  const dir = tempDir(t);
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  // What electron/core-host.ts does with utilityProcess.fork, done with child_process.fork.
  const spawn = (): HostProcess => {
    const child = fork(HOST_ENTRY, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, HANDLESPACE_DATA_DIR: dir }, stdio: HOST_STDIO });
    children.push(child);
    return {
      postMessage: (message) => void child.send(message),
      onMessage: (listener) => child.on('message', listener),
      onExit: (listener) => child.once('exit', (code) => listener(code)),
      kill: () => void child.kill(),
    };
  };
  const statuses: CoreHostStatus[] = [];
  let statusChanged: () => void = () => {};
  const client = new CoreHostClient({
    spawn,
    start: { history: { kind: 'file', path: path.join(dir, 'history.db') }, registrar: { asap: { host: '127.0.0.1', port: 0 }, announce: 'off' } },
    onStatus: (status) => {
      statuses.push(status);
      statusChanged();
    },
    restart: { initialDelayMs: 50, maxDelayMs: 1000, stableAfterMs: 60_000 },
  });
  const status = (state: CoreHostStatus['state']): Promise<CoreHostStatus> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${state} status within ${WAIT_MS} ms: ${JSON.stringify(statuses)}`)), WAIT_MS);
      const check = (): void => {
        const last = statuses.at(-1);
        if (last?.state === state) {
          clearTimeout(timer);
          resolve(last);
        }
      };
      statusChanged = check;
      check();
    });
  const messages: EventStreamMessage[] = [];
  let messageArrived: () => void = () => {};
  client.subscribe(undefined, (message) => {
    messages.push(message);
    messageArrived();
  });
  const streamMessage = (predicate: (message: EventStreamMessage) => boolean, from: number): Promise<EventStreamMessage> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such stream message within ${WAIT_MS} ms`)), WAIT_MS);
      const check = (): void => {
        const found = messages.slice(from).find(predicate);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      };
      messageArrived = check;
      check();
    });

  client.start();
  await status('running');
  const firstHello = await streamMessage((m) => m.kind === 'hello', 0);
  await streamMessage((m) => m.kind === 'resync', 0);
  const snapshot = await client.call({ method: 'snapshot' });
  assert.equal(snapshot.ok, true);

  const before = messages.length;
  children[0]?.kill('SIGKILL');
  const restarting = await status('restarting');
  assert.ok(restarting.state === 'restarting' && /killed/.test(restarting.reason), JSON.stringify(restarting));
  await status('running');
  const secondHello = await streamMessage((m) => m.kind === 'hello', before);
  assert.ok(firstHello.kind === 'hello' && secondHello.kind === 'hello' && firstHello.epoch !== secondHello.epoch, 'a new run, a new epoch');
  await streamMessage((m) => m.kind === 'resync', before);
  const identity = await client.call({ method: 'identity' });
  assert.equal(identity.ok && identity.value.role, 'operator');

  await client.stop('test over');
  assert.equal(statuses.at(-1)?.state, 'stopped');
  assert.equal(children.length, 2);
  assert.equal(children[1]?.exitCode, 0, 'the second host shut down cleanly');
});
