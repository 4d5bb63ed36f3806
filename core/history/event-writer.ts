/**
 * The registrar-side half of the history writer: a queue of batches that `record()` appends to (it encodes
 * the event into the newest batch, a flat array of numbers and strings: event-codec.ts), batches handed to
 * the writer thread (writer-worker.ts) at most `maxInFlight` at a time, and group commit: every
 * `durable()` promise of a batch resolves when that batch's transaction has committed. Handing a batch
 * over only copies that flat array into the worker's message (no garbage to collect meanwhile): batches
 * are sized so that the copy stays well within the block budget (measured per batch, adapted as it goes),
 * and one turn hands over batches for at most half the budget before it lets the event loop run.
 *
 * Nothing is dropped silently: a batch that fails rejects its durable promises, and every failure and
 * every event lost is reported through `log` (and counted in `stats`).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { err, ok, type Result } from '../result.js';
import { encodeEvent } from './event-codec.js';
import { historyError, HistoryWriteError, type HistoryError } from './history-error.js';
import type { HistoryEvent } from './history-event.js';
import type { MaintenanceReport, RetentionPolicy } from './retention.js';
import type { FromWriter, Synchronous, ToWriter, WriterSetup } from './writer-protocol.js';

export interface EventWriterOptions {
  readonly file: string;
  readonly schemaVersion: number;
  /** Default FULL: see Synchronous. */
  readonly synchronous?: Synchronous;
  /** Most events in one batch (default 4096). */
  readonly maxBatchEvents?: number;
  /** Longest the registrar's thread may spend handing one batch to the writer (default 4 ms). */
  readonly blockBudgetMs?: number;
  /** Batches handed to the writer thread and not yet committed (default 8; the writer commits them together). */
  readonly maxInFlight?: number;
  /** Events queued beyond this are refused (reported, counted; durable ones rejected). Default 2,000,000. */
  readonly maxQueuedEvents?: number;
  /** Where failures are reported (default: standard error). */
  readonly log?: (line: string) => void;
  /** The writer thread waits up to this long for more batches before a small transaction commits (default 4 ms). */
  readonly groupCommitDelayMs?: number;
  /** A transaction with this many events commits at once (default 4096). */
  readonly groupCommitEvents?: number;
}

export interface WriterStats {
  readonly enqueued: number;
  readonly committed: number;
  readonly batches: number;
  /** Transactions committed (a transaction holds every batch that reached the writer meanwhile). */
  readonly commits: number;
  readonly failedEvents: number;
  readonly refusedEvents: number;
  readonly queued: number;
  readonly inFlightBatches: number;
  /** Batches handed to the writer thread. */
  readonly handOvers: number;
  /** Most events in one hand-over. */
  readonly largestBatch: number;
  /** Hand-overs that took longer than the block budget (preemption by the OS counts too). */
  readonly handOversOverBudget: number;
  /** Longest single hand-over of one batch to the writer thread (ms on the registrar's thread). */
  readonly maxHandOverMs: number;
  readonly handOverP50Ms: number;
  readonly handOverP99Ms: number;
  /** Longest flush (all hand-overs of one turn) on the registrar's thread. */
  readonly maxFlushMs: number;
  /** Writer-thread time of the last committed batch (insert + commit + fsync). */
  readonly lastCommitMs: number;
  readonly maxCommitMs: number;
}

interface Waiter {
  /** Absolute index of the last event the waiter needs. */
  readonly position: number;
  readonly resolve: () => void;
  readonly reject: (e: HistoryWriteError) => void;
}

interface InFlight {
  readonly start: number;
  readonly end: number;
}

/** A batch being filled or waiting for the writer: its events in flat form. */
interface Chunk {
  readonly flat: unknown[];
  count: number;
}

const DEFAULTS = { maxBatchEvents: 4096, blockBudgetMs: 4, maxInFlight: 8, maxQueuedEvents: 2_000_000 } as const;

/** The worker entry: the compiled .js next to this file, or the .ts source loaded through tsx. */
function workerEntry(): URL {
  const here = import.meta.url;
  // Packaged desktop app: a worker thread cannot start from inside app.asar, so it starts from the
  // unpacked copy electron-builder keeps beside it (build/electron-builder.yml, asarUnpack).
  if (!here.endsWith('.ts')) return new URL('./writer-worker.js', here.replace('/app.asar/', '/app.asar.unpacked/'));
  // Node 20's tsx hooks do not reach worker threads: the worker registers tsx itself, then loads the source.
  const require = createRequire(here);
  const tsxApi = pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs')).href;
  const target = new URL('./writer-worker.ts', here).href;
  const code = `const { register } = await import(${JSON.stringify(tsxApi)}); register(); await import(${JSON.stringify(target)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

export class EventWriter {
  /** Batches not yet handed to the writer thread, oldest first; record() fills the last one. */
  private chunks: Chunk[] = [];
  private queuedEvents = 0;
  /** Absolute index of the first event not handed over. */
  private sent = 0;
  private enqueued = 0;
  private committed = 0;
  private batches = 0;
  private commits = 0;
  private failedEvents = 0;
  private refusedEvents = 0;
  private nextSeq = 1;
  /** Absolute index just past the last batch committed or failed. */
  private settled = 0;
  private lastFailure: { readonly start: number; readonly end: number; readonly error: HistoryError } | undefined;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly waiters: Waiter[] = [];
  private readonly maintenance = new Map<number, (result: Result<MaintenanceReport, HistoryError>) => void>();
  private flushScheduled = false;
  private perEventMs = 0.004;
  private batchSize = 512;
  private maxHandOverMs = 0;
  /** Hand-over durations in nanoseconds. */
  private readonly handOverTimes = createHistogram();
  private handOvers = 0;
  private largestBatch = 0;
  private handOversOverBudget = 0;
  private maxFlushMs = 0;
  private lastCommitMs = 0;
  private maxCommitMs = 0;
  private broken: HistoryError | undefined;
  private closing: Promise<Result<void, HistoryError>> | undefined;
  private closedResolve: ((error: HistoryError | undefined) => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  private referenced = false;

  private readonly maxBatchEvents: number;
  private readonly blockBudgetMs: number;
  private readonly maxInFlight: number;
  private readonly maxQueuedEvents: number;
  private readonly log: (line: string) => void;

  private constructor(
    private readonly worker: Worker,
    private readonly file: string,
    options: EventWriterOptions,
  ) {
    this.maxBatchEvents = Math.max(1, options.maxBatchEvents ?? DEFAULTS.maxBatchEvents);
    this.blockBudgetMs = Math.max(0.1, options.blockBudgetMs ?? DEFAULTS.blockBudgetMs);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULTS.maxInFlight);
    this.maxQueuedEvents = Math.max(1, options.maxQueuedEvents ?? DEFAULTS.maxQueuedEvents);
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.batchSize = Math.min(this.batchSize, this.maxBatchEvents);
    worker.on('message', (message: FromWriter) => this.onMessage(message));
    worker.on('error', (e) => this.fail(historyError('writerFailed', `history database ${file}: the writer thread failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.closedResolve) this.fail(historyError('writerFailed', `history database ${file}: the writer thread exited (code ${code})`));
      else this.closedResolve(undefined);
    });
    worker.unref();
  }

  /** Starts the writer thread on an already migrated file; resolves once its connection is open. */
  static start(options: EventWriterOptions): Promise<Result<EventWriter, HistoryError>> {
    const setup: WriterSetup = {
      file: options.file,
      schemaVersion: options.schemaVersion,
      synchronous: options.synchronous ?? 'FULL',
      groupCommitDelayMs: Math.max(0, options.groupCommitDelayMs ?? 4),
      groupCommitEvents: Math.max(1, options.groupCommitEvents ?? 4096),
    };
    let worker: Worker;
    try {
      worker = new Worker(workerEntry(), { workerData: setup });
    } catch (e) {
      return Promise.resolve(err(historyError('writerFailed', `history database ${options.file}: cannot start the writer thread: ${(e as Error).message}`)));
    }
    return new Promise((resolve) => {
      const onMessage = (message: FromWriter): void => {
        cleanup();
        if (message.type === 'ready') resolve(ok(new EventWriter(worker, options.file, options)));
        else if (message.type === 'startFailed') {
          void worker.terminate();
          resolve(err(message.error));
        }
      };
      const onError = (e: Error): void => {
        cleanup();
        resolve(err(historyError('writerFailed', `history database ${options.file}: the writer thread failed to start: ${e.message}`)));
      };
      const onExit = (code: number): void => {
        cleanup();
        resolve(err(historyError('writerFailed', `history database ${options.file}: the writer thread exited during start-up (code ${code})`)));
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  /** Events waiting to be handed to the writer thread (cheap; `stats` computes percentiles). */
  get queued(): number {
    return this.queuedEvents;
  }

  get stats(): WriterStats {
    return {
      enqueued: this.enqueued,
      committed: this.committed,
      batches: this.batches,
      commits: this.commits,
      failedEvents: this.failedEvents,
      refusedEvents: this.refusedEvents,
      queued: this.queuedEvents,
      inFlightBatches: this.inFlight.size,
      handOvers: this.handOvers,
      largestBatch: this.largestBatch,
      handOversOverBudget: this.handOversOverBudget,
      maxHandOverMs: this.maxHandOverMs,
      handOverP50Ms: this.handOverTimes.count > 0 ? this.handOverTimes.percentile(50) / 1e6 : 0,
      handOverP99Ms: this.handOverTimes.count > 0 ? this.handOverTimes.percentile(99) / 1e6 : 0,
      maxFlushMs: this.maxFlushMs,
      lastCommitMs: this.lastCommitMs,
      maxCommitMs: this.maxCommitMs,
    };
  }

  /** Queues an event (fire and forget). Failures to write it are reported through `log`. */
  record(event: HistoryEvent): void {
    if (!this.accept(1)) return;
    const chunk = this.chunkFor(1);
    const length = chunk.flat.length;
    try {
      encodeEvent(chunk.flat, event);
    } catch (e) {
      this.unencodable(chunk, length);
      this.failedEvents++;
      this.log(`history: a ${event.kind} event cannot be stored (${(e as Error).message}): not recorded`);
      return;
    }
    chunk.count++;
    this.queuedEvents++;
    this.enqueued++;
    this.scheduleFlush();
  }

  /** Queues an event; resolves once the batch holding it has committed, rejects (HistoryWriteError) if it failed. */
  durable(event: HistoryEvent): Promise<void> {
    return this.durableAll([event]);
  }

  /** Queues events that are written in the same transaction (an audit row and the change it describes). */
  durableAll(events: readonly HistoryEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const refusal = this.refusal(events.length);
    if (refusal) return Promise.reject(new HistoryWriteError(refusal));
    // One chunk holds them all (a chunk is one batch, and a batch commits in one transaction).
    const chunk = this.chunkFor(events.length);
    const length = chunk.flat.length;
    try {
      for (const event of events) encodeEvent(chunk.flat, event);
    } catch (e) {
      this.unencodable(chunk, length);
      return Promise.reject(new HistoryWriteError(historyError('writeFailed', `history database ${this.file}: an event cannot be stored (${(e as Error).message}): not recorded`)));
    }
    chunk.count += events.length;
    this.queuedEvents += events.length;
    this.enqueued += events.length;
    const promise = new Promise<void>((resolve, reject) => this.waiters.push({ position: this.enqueued - 1, resolve, reject }));
    this.scheduleFlush();
    return promise;
  }

  /**
   * Resolves once every event queued so far is durable (group commit: the registrar records an event
   * synchronously, then awaits this before answering). Rejects (HistoryWriteError) if the batch holding
   * the last of them failed.
   */
  barrier(): Promise<void> {
    if (this.broken) return Promise.reject(new HistoryWriteError(this.broken));
    const position = this.enqueued - 1;
    if (position < this.settled) {
      const failure = this.lastFailure;
      return failure && failure.start <= position && position < failure.end ? Promise.reject(new HistoryWriteError(failure.error)) : Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => this.waiters.push({ position, resolve, reject }));
  }

  /** Resolves when every event queued so far was committed or reported failed. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Runs one maintenance pass on the writer thread (between batches). */
  maintain(now: number, policy: RetentionPolicy): Promise<Result<MaintenanceReport, HistoryError>> {
    if (this.broken) return Promise.resolve(err(this.broken));
    if (this.closing) return Promise.resolve(err(historyError('closed', `history database ${this.file} is closed`)));
    const seq = this.nextSeq++;
    this.post({ type: 'maintain', seq, now, policy });
    this.updateRef();
    return new Promise((resolve) => this.maintenance.set(seq, resolve));
  }

  /** Writes everything queued, then closes the writer's connection (checkpointing the WAL). */
  close(): Promise<Result<void, HistoryError>> {
    if (this.closing) return this.closing;
    this.closing = (async (): Promise<Result<void, HistoryError>> => {
      await this.idle();
      if (this.broken) {
        await this.worker.terminate();
        return err(this.broken);
      }
      const closed = new Promise<HistoryError | undefined>((resolve) => {
        this.closedResolve = resolve;
      });
      this.worker.ref();
      this.post({ type: 'close' });
      const error = await closed;
      return error ? err(error) : ok(undefined);
    })();
    return this.closing;
  }

  private refusal(count: number): HistoryError | undefined {
    if (this.broken) return this.broken;
    if (this.closing) return historyError('closed', `history database ${this.file} is closed: event not recorded`);
    if (this.queuedEvents + count > this.maxQueuedEvents) {
      return historyError('writeFailed', `history database ${this.file}: ${this.maxQueuedEvents} events are waiting for the writer (it cannot keep up): event refused`);
    }
    return undefined;
  }

  private accept(count: number): boolean {
    const refusal = this.refusal(count);
    if (!refusal) return true;
    this.refusedEvents += count;
    // One line per power of two refused, so a flood of refusals cannot flood the log too.
    if ((this.refusedEvents & (this.refusedEvents - 1)) === 0) this.log(`history: ${refusal.message} (${this.refusedEvents} refused so far)`);
    return false;
  }

  /** The chunk `count` more events go into: the newest, unless they would overfill it. */
  private chunkFor(count: number): Chunk {
    const last = this.chunks[this.chunks.length - 1];
    if (last && (last.count === 0 || last.count + count <= this.batchSize)) return last;
    const chunk: Chunk = { flat: [], count: 0 };
    this.chunks.push(chunk);
    return chunk;
  }

  /** Drops what an event that failed to encode left in `chunk`. */
  private unencodable(chunk: Chunk, length: number): void {
    chunk.flat.length = length;
    if (chunk.count === 0 && this.chunks[this.chunks.length - 1] === chunk) this.chunks.pop();
  }

  private scheduleFlush(): void {
    this.updateRef();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const started = performance.now();
    while (this.inFlight.size < this.maxInFlight && this.chunks.length > 0 && !this.broken) {
      this.sendBatch();
      // Half the budget per turn: the next batch (sized to a quarter of it) still ends within it.
      if (performance.now() - started >= this.blockBudgetMs / 2) {
        if (this.chunks.length > 0) this.scheduleFlush();
        break;
      }
    }
    this.maxFlushMs = Math.max(this.maxFlushMs, performance.now() - started);
  }

  private sendBatch(): void {
    const chunk = this.chunks.shift() as Chunk;
    const count = chunk.count;
    const seq = this.nextSeq++;
    const started = performance.now();
    this.post({ type: 'batch', seq, events: chunk.flat });
    const took = performance.now() - started;
    this.maxHandOverMs = Math.max(this.maxHandOverMs, took);
    this.handOverTimes.record(Math.max(1, Math.round(took * 1e6)));
    this.handOvers++;
    this.largestBatch = Math.max(this.largestBatch, count);
    if (took > this.blockBudgetMs) this.handOversOverBudget++;
    this.adapt(took, count);
    this.inFlight.set(seq, { start: this.sent, end: this.sent + count });
    this.sent += count;
    this.queuedEvents -= count;
  }

  /**
   * Sizes the next batch so that handing it over takes about a quarter of the block budget: the copy's
   * cost per event varies (event size), and a young-generation collection or the OS preempting the thread
   * during a copy adds milliseconds that have nothing to do with its size; the margin absorbs them.
   */
  private adapt(tookMs: number, count: number): void {
    if (count >= 64) this.perEventMs = 0.8 * this.perEventMs + 0.2 * (tookMs / count);
    const target = Math.floor((0.25 * this.blockBudgetMs) / Math.max(this.perEventMs, 1e-5));
    this.batchSize = Math.min(this.maxBatchEvents, Math.max(64, target));
  }

  private post(message: ToWriter): void {
    this.worker.postMessage(message);
  }

  private onMessage(message: FromWriter): void {
    switch (message.type) {
      case 'settled': {
        this.lastCommitMs = message.ms;
        this.maxCommitMs = Math.max(this.maxCommitMs, message.ms);
        if (message.results.some((r) => !r.error)) this.commits++;
        // In the order sent, so each batch settles exactly the waiters up to its end.
        for (const result of message.results) {
          const batch = this.inFlight.get(result.seq);
          this.inFlight.delete(result.seq);
          if (!batch) continue;
          const count = batch.end - batch.start;
          this.settled = batch.end;
          if (result.error) {
            this.failedEvents += count;
            this.lastFailure = { start: batch.start, end: batch.end, error: result.error };
            this.log(`history: ${result.error.message} (${count} event${count === 1 ? '' : 's'} of this batch not recorded; ${this.failedEvents} so far)`);
          } else {
            this.batches++;
            this.committed += count;
          }
          this.settleWaiters(batch.end, result.error);
        }
        break;
      }
      case 'maintained':
      case 'maintenanceFailed': {
        const resolve = this.maintenance.get(message.seq);
        this.maintenance.delete(message.seq);
        if (message.type === 'maintenanceFailed' && message.error.code !== 'closed') this.log(`history: ${message.error.message}`);
        resolve?.(message.type === 'maintained' ? ok(message.report) : err(message.error));
        break;
      }
      case 'closed':
        if (message.error) this.log(`history: ${message.error.message}`);
        this.closedResolve?.(message.error);
        break;
      default:
        break;
    }
    if (this.chunks.length > 0) this.scheduleFlush();
    this.checkIdle();
  }

  private settleWaiters(end: number, error: HistoryError | undefined): void {
    while (this.waiters.length > 0 && (this.waiters[0] as Waiter).position < end) {
      const waiter = this.waiters.shift() as Waiter;
      if (error) waiter.reject(new HistoryWriteError(error));
      else waiter.resolve();
    }
  }

  private fail(error: HistoryError): void {
    if (this.broken) return;
    this.broken = error;
    const lost = this.queuedEvents + [...this.inFlight.values()].reduce((n, b) => n + b.end - b.start, 0);
    this.failedEvents += lost;
    this.log(`history: ${error.message} (${lost} queued events not recorded)`);
    this.chunks = [];
    this.queuedEvents = 0;
    this.inFlight.clear();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new HistoryWriteError(error));
    for (const resolve of this.maintenance.values()) resolve(err(error));
    this.maintenance.clear();
    this.closedResolve?.(error);
    this.checkIdle();
  }

  private isIdle(): boolean {
    return this.chunks.length === 0 && this.inFlight.size === 0;
  }

  private checkIdle(): void {
    this.updateRef();
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** The writer thread keeps the process alive only while it has work (a forgotten close never hangs it). */
  private updateRef(): void {
    const busy = !this.isIdle() || this.maintenance.size > 0;
    if (busy && !this.referenced) this.worker.ref();
    else if (!busy && this.referenced) this.worker.unref();
    this.referenced = busy;
  }
}
