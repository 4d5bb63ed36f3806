/**
 * The core host: the registrar, the history and the console service running in a process of their own,
 * answering the Electron main process over a message port (ipc-protocol.ts). In the desktop app it is an
 * Electron utilityProcess (`process.parentPort`), so SQLite and registrar work never block the window; in
 * tests it is a Node child from `child_process.fork` (`process.send` / `process.on('message')`). Everything
 * but the last few lines is independent of which: `serveIpcHost` takes any port-like object.
 *
 * Every message is validated (parseMainToHostMessage) before it is acted on, and every call is answered
 * with a ConsoleResult, never an exception. The caller is always the desktop operator (one identity per
 * process); the service audits the commands under it.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { Result } from '../result.js';
import { APP_VERSION } from './app-version.js';
import type { ConsoleBackend } from './console-backend.js';
import type { ConsoleRuntime, ConsoleRuntimeOptions } from './console-runtime.js';
import type { ConsoleResult, ExportQuery, Identity } from './contract.js';
import {
  IPC_LIMITS,
  parseMainToHostMessage,
  unavailable,
  type CapabilityCall,
  type ExportWritten,
  type HostStartOptions,
  type HostToMainMessage,
} from './ipc-protocol.js';

/** What the host needs of its transport: Electron's parentPort and Node's process IPC both fit. */
export interface HostPort {
  postMessage(message: HostToMainMessage): void;
  onMessage(listener: (message: unknown) => void): void;
  /** Resolves once what was posted has been handed to the transport (before the process exits). */
  flush?(): Promise<void>;
}

export interface IpcHostDependencies {
  readonly startRuntime?: (options: ConsoleRuntimeOptions) => Promise<Result<ConsoleRuntime, string>>;
  readonly identity?: Identity;
  /** Called once the host has stopped (the entry point exits the process). */
  readonly onStopped?: (reason: string) => void;
}

/** The identity every desktop call runs under: the audit names the OS account that ran the app. */
export function desktopIdentity(userName: string = currentUserName()): Identity {
  return { actor: `desktop operator (OS user ${userName})`, role: 'operator' };
}

function currentUserName(): string {
  try {
    return os.userInfo().username;
  } catch {
    // No passwd entry (containers with an arbitrary uid): fall back to what the environment says.
    return process.env['USER'] ?? process.env['USERNAME'] ?? `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}

type HostState =
  | { readonly kind: 'waiting' }
  | { readonly kind: 'starting' }
  | { readonly kind: 'running'; readonly runtime: ConsoleRuntime }
  | { readonly kind: 'stopping' }
  | { readonly kind: 'stopped' };

export class IpcHost {
  private state: HostState = { kind: 'waiting' };
  private readonly subscriptions = new Map<number, () => void>();
  /** The start in progress: a shutdown waits for it, so what it opens is closed before the process ends. */
  private starting: Promise<void> = Promise.resolve();
  readonly identity: Identity;

  constructor(
    private readonly port: HostPort,
    private readonly dependencies: IpcHostDependencies = {},
  ) {
    this.identity = dependencies.identity ?? desktopIdentity();
  }

  /** Handles one raw message from the main process. */
  receive(raw: unknown): void {
    const parsed = parseMainToHostMessage(raw);
    if (!parsed.ok) {
      const { id, error } = parsed.error;
      this.log(`refused a message from the main process: ${error.message}`);
      if (id !== null) this.post({ type: 'result', id, result: { ok: false, error } });
      else this.post({ type: 'rejected', id: null, reason: error.message });
      return;
    }
    const instruction = parsed.value;
    switch (instruction.type) {
      case 'start':
        this.starting = this.start(instruction.options);
        return;
      case 'call': {
        const backend = this.backend();
        if (!backend) {
          this.post({ type: 'result', id: instruction.id, result: this.notRunning() });
          return;
        }
        void this.answer(instruction.id, () => this.call(backend, instruction.call));
        return;
      }
      case 'export': {
        const backend = this.backend();
        if (!backend) {
          this.post({ type: 'result', id: instruction.id, result: this.notRunning() });
          return;
        }
        void this.answer(instruction.id, () => exportToFile(backend, instruction.query, instruction.file));
        return;
      }
      case 'subscribe':
        this.subscribe(instruction.subscription, instruction.position);
        return;
      case 'unsubscribe':
        this.subscriptions.get(instruction.subscription)?.();
        this.subscriptions.delete(instruction.subscription);
        return;
      case 'shutdown':
        void this.stop(instruction.reason);
        return;
    }
  }

  /** Closes the runtime (the history flushes, the registrar closes its connections) and reports it. */
  async stop(reason: string): Promise<void> {
    const state = this.state;
    if (state.kind === 'stopping' || state.kind === 'stopped') return;
    this.state = { kind: 'stopping' };
    for (const end of this.subscriptions.values()) end();
    this.subscriptions.clear();
    if (state.kind === 'starting') await this.starting;
    if (state.kind === 'running') {
      const closed = await state.runtime.close(reason);
      if (!closed.ok) this.log(`closing the console: ${closed.error}`);
    }
    this.state = { kind: 'stopped' };
    this.post({ type: 'stopped', reason });
    await this.port.flush?.();
    this.dependencies.onStopped?.(reason);
  }

  private async start(options: HostStartOptions): Promise<void> {
    if (this.state.kind !== 'waiting') {
      this.post({ type: 'rejected', id: null, reason: `start refused: the host is ${this.state.kind}` });
      return;
    }
    this.state = { kind: 'starting' };
    let started: Result<ConsoleRuntime, string>;
    try {
      // Loaded here, not at the top: a native module that cannot load (better-sqlite3 built for another
      // ABI) then becomes a startFailed with its reason instead of a host that dies before it can talk.
      const startRuntime = this.dependencies.startRuntime ?? (await import('./console-runtime.js')).startConsoleRuntime;
      started = await startRuntime({
        history: options.history,
        ...(options.registrar ? { registrar: options.registrar } : {}),
        version: options.version ?? APP_VERSION,
        log: (line) => this.log(line),
      });
    } catch (e) {
      this.log(`the console failed to start: ${(e as Error).stack ?? String(e)}`);
      started = { ok: false, error: `the console failed to start: ${(e as Error).message ?? String(e)}` };
    }
    if (!started.ok) {
      if (this.state.kind === 'starting') this.state = { kind: 'waiting' };
      this.post({ type: 'startFailed', error: started.error.slice(0, IPC_LIMITS.textChars) });
      return;
    }
    if (this.state.kind !== 'starting') {
      // A shutdown arrived while starting: close what was started.
      await started.value.close('shut down while starting');
      return;
    }
    this.state = { kind: 'running', runtime: started.value };
    const registrar = started.value.console.snapshot().registrar;
    this.post({ type: 'ready', identity: this.identity, epoch: started.value.console.epoch, asap: registrar.asap, history: registrar.history });
  }

  private backend(): ConsoleBackend | undefined {
    return this.state.kind === 'running' ? this.state.runtime.console : undefined;
  }

  private notRunning(): ConsoleResult<never> {
    return unavailable(`the core host is ${this.state.kind === 'waiting' ? 'not started' : this.state.kind}`);
  }

  private async call(backend: ConsoleBackend, call: CapabilityCall): Promise<ConsoleResult<unknown>> {
    switch (call.method) {
      case 'identity':
        return { ok: true, value: this.identity };
      case 'snapshot':
        return { ok: true, value: backend.snapshot() };
      case 'pool':
        return backend.pool(call.pool);
      case 'history':
        return backend.history(call.query);
      case 'metrics':
        return backend.metrics(call.query);
      case 'components':
        return backend.components();
      case 'heardRegistrars':
        return backend.heardRegistrars();
      default:
        return backend.command(this.identity, call.method, call.target, call.options);
    }
  }

  /** Runs a request and posts its result; a throw is a bug, answered as 'internal' and logged. */
  private async answer(id: number, run: () => Promise<ConsoleResult<unknown>>): Promise<void> {
    let result: ConsoleResult<unknown>;
    try {
      result = await run();
    } catch (e) {
      this.log(`request ${id} failed: ${(e as Error).stack ?? String(e)}`);
      result = { ok: false, error: { code: 'internal', message: (e as Error).message ?? String(e) } };
    }
    this.post({ type: 'result', id, result });
  }

  private subscribe(subscription: number, position: Parameters<ConsoleBackend['subscribe']>[1]): void {
    const backend = this.backend();
    if (!backend) {
      this.post({ type: 'rejected', id: null, reason: `subscription ${subscription} refused: the core host is ${this.state.kind}` });
      return;
    }
    if (this.subscriptions.has(subscription)) {
      this.post({ type: 'rejected', id: null, reason: `subscription ${subscription} is already open` });
      return;
    }
    if (this.subscriptions.size >= IPC_LIMITS.subscriptions) {
      this.post({ type: 'rejected', id: null, reason: `subscription ${subscription} refused: ${IPC_LIMITS.subscriptions} are open` });
      return;
    }
    const end = backend.subscribe(this.identity, position, (message) => this.post({ type: 'event', subscription, message }));
    this.subscriptions.set(subscription, end);
  }

  private log(line: string): void {
    this.post({ type: 'log', line: line.slice(0, IPC_LIMITS.textChars) });
  }

  private post(message: HostToMainMessage): void {
    try {
      this.port.postMessage(message);
    } catch (e) {
      // The channel is gone (the main process died): nothing is left to tell.
      console.error(`core host: could not post ${message.type}: ${(e as Error).message}`);
    }
  }
}

/**
 * Streams an export into `file`: written to `FILE.partial`, renamed when complete, removed when not, so a
 * half-written export never sits under the name the operator chose.
 */
export async function exportToFile(backend: ConsoleBackend, query: ExportQuery, file: string): Promise<ConsoleResult<ExportWritten>> {
  const partial = `${file}.partial`;
  let out: WriteStream;
  try {
    out = createWriteStream(partial, { flags: 'w', mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      out.once('open', () => resolve());
      out.once('error', reject);
    });
  } catch (e) {
    return { ok: false, error: { code: 'internal', message: `cannot write ${partial}: ${(e as Error).message}` } };
  }
  let writeError: Error | undefined;
  out.on('error', (e) => (writeError ??= e));
  const result = await backend.exportHistory(query, out);
  try {
    if (!out.writableFinished && !out.destroyed) out.end();
    await finished(out);
  } catch (e) {
    writeError ??= e as Error;
  }
  if (!result.ok || writeError) {
    await unlink(partial).catch(() => undefined);
    return result.ok ? { ok: false, error: { code: 'internal', message: `writing ${partial} failed: ${writeError?.message}` } } : result;
  }
  try {
    await rename(partial, file);
  } catch (e) {
    await unlink(partial).catch(() => undefined);
    return { ok: false, error: { code: 'internal', message: `cannot rename ${partial} to ${file}: ${(e as Error).message}` } };
  }
  return { ok: true, value: result.value };
}

/** Starts a host on `port`; it waits for the main process's `start` message. */
export function serveIpcHost(port: HostPort, dependencies: IpcHostDependencies = {}): IpcHost {
  const host = new IpcHost(port, dependencies);
  port.onMessage((message) => host.receive(message));
  return host;
}

// ---- process entry: Electron utilityProcess or Node child_process.fork ----------------------------------

interface ElectronParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
}

function processPort(): HostPort | null {
  const parentPort = (process as unknown as { parentPort?: ElectronParentPort }).parentPort;
  if (parentPort) {
    return {
      postMessage: (message) => parentPort.postMessage(message),
      onMessage: (listener) => parentPort.on('message', (event) => listener(event.data)),
      // Electron's parentPort has no delivery callback; a short pause lets the last message leave.
      flush: () => new Promise((resolve) => setTimeout(resolve, 100)),
    };
  }
  const send = process.send?.bind(process);
  if (!send) return null;
  let pending = 0;
  let drained: (() => void)[] = [];
  return {
    postMessage: (message) => {
      pending++;
      send(message, undefined, undefined, () => {
        pending--;
        if (pending === 0) for (const resolve of drained.splice(0)) resolve();
      });
    },
    onMessage: (listener) => process.on('message', listener),
    flush: () => (pending === 0 ? Promise.resolve() : new Promise((resolve) => (drained = [...drained, resolve]))),
  };
}

function isProcessEntry(): boolean {
  if ((process as unknown as { parentPort?: unknown }).parentPort) return true;
  const script = process.argv[1];
  return process.send !== undefined && script !== undefined && path.resolve(script) === fileURLToPath(import.meta.url);
}

if (isProcessEntry()) {
  const port = processPort();
  if (port) {
    const host = serveIpcHost(port, { onStopped: () => process.exit(0) });
    const stop = (reason: string) => void host.stop(reason);
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // A forked child whose parent went away (the utility process is ended by Electron itself).
    process.once('disconnect', () => stop('the main process went away'));
  }
}
