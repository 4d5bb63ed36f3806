/**
 * The main process's side of the core host, kept free of Electron so it runs under plain Node in tests:
 * starts the host process (through the `spawn` it is given: utilityProcess.fork in the app), matches
 * results to requests, routes event streams, and restarts the host with exponential backoff when it dies.
 *
 * What survives a restart: event-stream subscriptions (re-opened from their last position; the new run
 * has a new epoch, so each gets `hello` and a `resync` snapshot) and calls still waiting for the host to be
 * ready. Calls already sent to the host that died are answered `unavailable`: a command may or may not
 * have happened, and the audit says which.
 */
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import type { ConsoleResult, EventStreamMessage, ExportQuery, StreamPosition } from '../core/console/contract.js';
import {
  callArguments,
  parseHostToMainMessage,
  unavailable,
  type CallValues,
  type CapabilityCall,
  type ExportWritten,
  type HostStartOptions,
  type HostToMainMessage,
  type MainToHostMessage,
} from '../core/console/ipc-protocol.js';
import type { CoreHostStatus } from '../renderer/src/desktop-bridge.js';

/** The host process as the client sees it (an Electron UtilityProcess or a Node ChildProcess, adapted). */
export interface HostProcess {
  postMessage(message: MainToHostMessage): void;
  onMessage(listener: (message: unknown) => void): void;
  /** Called once, when the process has ended (code null: killed by a signal or unknown). */
  onExit(listener: (code: number | null) => void): void;
  kill(): void;
}

export interface RestartPolicy {
  /** Delay before the first restart; doubled for each further one in a row. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A host that ran this long before dying starts the backoff over. */
  readonly stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, stableAfterMs: 60_000 };

/** The wait before restart number `attempt` (1 = the first restart after a failure). */
export function restartDelay(attempt: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
}

export interface CoreHostClientOptions {
  readonly spawn: () => HostProcess;
  readonly start: HostStartOptions;
  readonly onStatus?: (status: CoreHostStatus) => void;
  readonly log?: (line: string) => void;
  readonly clock?: Clock;
  readonly restart?: RestartPolicy;
  /** A call unanswered this long is answered `unavailable` (commands wait for durable audit rows). */
  readonly requestTimeoutMs?: number;
  readonly exportTimeoutMs?: number;
  /** How long `stop` waits for a clean shutdown before killing the host. */
  readonly stopTimeoutMs?: number;
  /** Calls held while the host starts; beyond this they are refused at once. */
  readonly maxQueuedCalls?: number;
}

interface PendingCall {
  readonly message: MainToHostMessage & { readonly id: number };
  readonly resolve: (result: ConsoleResult<unknown>) => void;
  readonly timer: TimerHandle;
  sent: boolean;
}

interface Subscription {
  readonly listener: (message: EventStreamMessage) => void;
  position: StreamPosition | undefined;
  epoch: string | undefined;
}

type Phase = 'idle' | 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped';

export class CoreHostClient {
  private phase: Phase = 'idle';
  private process: HostProcess | undefined;
  /** Incremented per spawn: messages and exits of an earlier process are ignored. */
  private generation = 0;
  private failuresInARow = 0;
  private runningSince = 0;
  private lastFailure = '';
  private restartTimer: TimerHandle | undefined;
  private nextId = 1;
  private nextSubscription = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly subscriptions = new Map<number, Subscription>();
  private currentStatus: CoreHostStatus = { state: 'starting', attempt: 1 };
  private stopped: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;
  private readonly clock: Clock;
  private readonly policy: RestartPolicy;
  private readonly log: (line: string) => void;

  constructor(private readonly options: CoreHostClientOptions) {
    this.clock = options.clock ?? systemClock;
    this.policy = options.restart ?? DEFAULT_RESTART_POLICY;
    this.log = options.log ?? (() => {});
  }

  get status(): CoreHostStatus {
    return this.currentStatus;
  }

  start(): void {
    if (this.phase !== 'idle') return;
    this.spawnHost();
  }

  call<M extends CapabilityCall['method']>(call: CapabilityCall & { readonly method: M }): Promise<ConsoleResult<CallValues[M]>> {
    const id = this.nextId++;
    const message: MainToHostMessage & { id: number } = { type: 'call', id, method: call.method, args: callArguments(call) };
    return this.request(message, this.options.requestTimeoutMs ?? 60_000) as Promise<ConsoleResult<CallValues[M]>>;
  }

  /** Has the host stream the export into `file` (an absolute path the user chose). */
  exportTo(query: ExportQuery, file: string): Promise<ConsoleResult<ExportWritten>> {
    const id = this.nextId++;
    return this.request({ type: 'export', id, query, file }, this.options.exportTimeoutMs ?? 3_600_000) as Promise<ConsoleResult<ExportWritten>>;
  }

  /** Opens an event stream; it follows the host across restarts. Returns the function that closes it. */
  subscribe(position: StreamPosition | undefined, listener: (message: EventStreamMessage) => void): () => void {
    const subscription = this.nextSubscription++;
    this.subscriptions.set(subscription, { listener, position, epoch: position?.epoch });
    if (this.phase === 'running') this.post({ type: 'subscribe', subscription, position: position ?? null });
    return () => {
      if (!this.subscriptions.delete(subscription)) return;
      if (this.phase === 'running') this.post({ type: 'unsubscribe', subscription });
    };
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  /** Asks the host to close the console cleanly; kills it if it has not exited within the stop timeout. */
  stop(reason: string): Promise<void> {
    if (this.stopped) return this.stopped;
    this.clock.clearTimeout(this.restartTimer);
    this.failAll(`the console is shutting down (${reason})`, true);
    const process = this.process;
    if (!process) {
      this.phase = 'stopped';
      this.setStatus({ state: 'stopped', reason });
      this.stopped = Promise.resolve();
      return this.stopped;
    }
    this.phase = 'stopping';
    this.stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));
    this.post({ type: 'shutdown', reason });
    const killTimer = this.clock.setTimeout(() => {
      this.log(`core host did not stop within ${this.options.stopTimeoutMs ?? 10_000} ms; killing it`);
      process.kill();
    }, this.options.stopTimeoutMs ?? 10_000);
    void this.stopped.then(() => this.clock.clearTimeout(killTimer));
    return this.stopped;
  }

  private spawnHost(): void {
    const generation = ++this.generation;
    this.phase = 'starting';
    this.setStatus({ state: 'starting', attempt: this.failuresInARow + 1 });
    let process: HostProcess;
    try {
      process = this.options.spawn();
    } catch (e) {
      this.lastFailure = `could not start the core host: ${(e as Error).message}`;
      this.hostEnded(generation, null);
      return;
    }
    this.process = process;
    process.onMessage((raw) => this.receive(generation, raw));
    process.onExit((code) => this.hostEnded(generation, code));
    this.post({ type: 'start', options: this.options.start });
  }

  private receive(generation: number, raw: unknown): void {
    if (generation !== this.generation) return;
    const parsed = parseHostToMainMessage(raw);
    if (!parsed.ok) {
      this.log(`core host sent a malformed message: ${parsed.error}`);
      return;
    }
    this.handle(parsed.value);
  }

  private handle(message: HostToMainMessage): void {
    switch (message.type) {
      case 'ready':
        if (this.phase !== 'starting') return;
        this.phase = 'running';
        this.runningSince = this.clock.now();
        this.lastFailure = '';
        this.setStatus({ state: 'running', since: this.runningSince, asap: message.asap, history: message.history });
        for (const [subscription, entry] of this.subscriptions) {
          this.post({ type: 'subscribe', subscription, position: entry.position ?? null });
        }
        for (const call of this.pending.values()) {
          if (!call.sent) this.send(call);
        }
        return;
      case 'startFailed':
        this.lastFailure = message.error;
        this.log(`core host could not start: ${message.error}`);
        this.process?.kill();
        return;
      case 'result': {
        const call = this.pending.get(message.id);
        if (!call) return; // timed out already
        this.pending.delete(message.id);
        this.clock.clearTimeout(call.timer);
        call.resolve(message.result);
        return;
      }
      case 'event':
        this.deliver(message.subscription, message.message);
        return;
      case 'rejected':
        this.log(`core host refused a message${message.id === null ? '' : ` (request ${message.id})`}: ${message.reason}`);
        return;
      case 'log':
        this.log(`core: ${message.line}`);
        return;
      case 'stopped':
        return;
    }
  }

  private deliver(subscription: number, message: EventStreamMessage): void {
    const entry = this.subscriptions.get(subscription);
    if (!entry) return;
    // The position a restart resumes from: the epoch from hello, the sequence from what arrived since.
    if (message.kind === 'hello') {
      entry.epoch = message.epoch;
      entry.position = { epoch: message.epoch, sequence: message.sequence };
    } else if (entry.epoch !== undefined) {
      const last = message.kind === 'events' ? message.events[message.events.length - 1]?.seq : message.snapshot.sequence;
      if (last !== undefined) entry.position = { epoch: entry.epoch, sequence: last };
    }
    try {
      entry.listener(message);
    } catch (e) {
      this.log(`an event listener threw: ${(e as Error).stack ?? String(e)}`);
    }
  }

  private hostEnded(generation: number, code: number | null): void {
    if (generation !== this.generation) return;
    this.process = undefined;
    const how = this.lastFailure || (code === null ? 'the core host was killed' : `the core host exited with code ${code}`);
    if (this.phase === 'stopping' || this.phase === 'stopped') {
      this.phase = 'stopped';
      this.setStatus({ state: 'stopped', reason: how });
      this.resolveStopped?.();
      return;
    }
    this.failAll(`${how}; restarting it`, false);
    const ranLongEnough = this.phase === 'running' && this.clock.now() - this.runningSince >= this.policy.stableAfterMs;
    this.failuresInARow = ranLongEnough ? 1 : this.failuresInARow + 1;
    const retryInMs = restartDelay(this.failuresInARow, this.policy);
    this.log(`${how}; restarting in ${retryInMs} ms (attempt ${this.failuresInARow})`);
    this.phase = 'restarting';
    this.setStatus({ state: 'restarting', attempt: this.failuresInARow, retryInMs, reason: how });
    this.lastFailure = '';
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.phase === 'restarting') this.spawnHost();
    }, retryInMs);
  }

  /** Answers calls `unavailable`: those sent to the host that is gone, or (when stopping) all of them. */
  private failAll(message: string, includeQueued: boolean): void {
    for (const [id, call] of this.pending) {
      if (!call.sent && !includeQueued) continue;
      this.pending.delete(id);
      this.clock.clearTimeout(call.timer);
      call.resolve(unavailable(message));
    }
  }

  private request(message: MainToHostMessage & { readonly id: number }, timeoutMs: number): Promise<ConsoleResult<unknown>> {
    if (this.phase === 'stopping' || this.phase === 'stopped') return Promise.resolve(unavailable('the console is shutting down'));
    const queued = [...this.pending.values()].filter((call) => !call.sent).length;
    if (this.phase !== 'running' && queued >= (this.options.maxQueuedCalls ?? 1000)) {
      return Promise.resolve(unavailable(`the core host is ${this.currentStatus.state} and ${queued} calls are already waiting`));
    }
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        if (!this.pending.delete(message.id)) return;
        resolve(unavailable(`the core host did not answer within ${Math.round(timeoutMs / 1000)} s (${this.currentStatus.state})`));
      }, timeoutMs);
      const call: PendingCall = { message, resolve, timer, sent: false };
      this.pending.set(message.id, call);
      if (this.phase === 'running') this.send(call);
    });
  }

  private send(call: PendingCall): void {
    call.sent = true;
    this.post(call.message);
  }

  private post(message: MainToHostMessage): void {
    try {
      this.process?.postMessage(message);
    } catch (e) {
      // The process is going away; its exit answers what was pending.
      this.log(`could not send ${message.type} to the core host: ${(e as Error).message}`);
    }
  }

  private setStatus(status: CoreHostStatus): void {
    this.currentStatus = status;
    try {
      this.options.onStatus?.(status);
    } catch (e) {
      this.log(`a core status listener threw: ${(e as Error).stack ?? String(e)}`);
    }
  }
}
