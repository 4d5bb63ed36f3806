/**
 * The history store (DESIGN.md §4): one SQLite file in WAL mode, migrated on open, written by a writer
 * thread in batched transactions (group commit), read on the caller's thread through a read-only
 * connection, maintained (roll-ups, retention, incremental vacuum) on a timer.
 *
 * Durability rule: an event is durable before the operator or the PE is told it happened. `durable()`
 * resolves only after the batch holding the event committed, and the writer runs with synchronous=FULL
 * (the WAL is fsynced at every commit), so a resolved event survives a killed process and a power cut.
 * The fsync costs the registrar's thread nothing (it happens on the writer thread) and group commit
 * shares one fsync among every event of a batch.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Database } from 'better-sqlite3';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { connectHistoryDatabase, openHistoryDatabase } from './database.js';
import { EventWriter, type WriterStats } from './event-writer.js';
import { historyError, type HistoryError } from './history-error.js';
import type { HistoryEvent } from './history-event.js';
import { exportHistory, type ExportFormat, type ExportResult } from './history-export.js';
import { HistoryQueries, type HistoryFilter } from './history-queries.js';
import { loadMigrations, type MigrationReport } from './migration-runner.js';
import { DEFAULT_RETENTION, MINUTE, type MaintenanceReport, type RetentionPolicy } from './retention.js';
import type { Synchronous } from './writer-protocol.js';

export interface HistoryOptions {
  /** The database file (created when missing). */
  readonly path: string;
  /** Default FULL (see the module comment). */
  readonly synchronous?: Synchronous;
  readonly retention?: Partial<RetentionPolicy>;
  /** Interval of maintenance passes (default 60 s; 0 = only when `maintain()` is called). */
  readonly maintenanceIntervalMs?: number;
  /** Migration files folder (default migrations/). */
  readonly migrationsDir?: string;
  readonly clock?: Clock;
  /** Where failures are reported (default standard error). */
  readonly log?: (line: string) => void;
  /** Writer tuning (defaults suit the registrar; the benchmark and tests change them). */
  readonly maxBatchEvents?: number;
  readonly blockBudgetMs?: number;
  readonly maxInFlight?: number;
  readonly maxQueuedEvents?: number;
  readonly groupCommitDelayMs?: number;
  readonly groupCommitEvents?: number;
}

export class History {
  private maintenanceTimer: TimerHandle | undefined;
  private closed: Promise<Result<void, HistoryError>> | undefined;

  private constructor(
    /** The database file. */
    readonly file: string,
    readonly schemaVersion: number,
    /** What the migration on open did. */
    readonly migration: MigrationReport,
    private readonly writer: EventWriter,
    private readonly reader: Database,
    /** Queries on the caller's thread (short: pages, series, lists). */
    readonly queries: HistoryQueries,
    readonly retention: RetentionPolicy,
    private readonly clock: Clock,
    private readonly maintenanceIntervalMs: number,
    private readonly onClosed: () => void,
  ) {
    this.scheduleMaintenance();
  }

  /**
   * Opens (creating and migrating as needed) the history at `options.path`. Every failure is a value with
   * a message fit for an operator: the start-up stops on it.
   */
  static open(options: HistoryOptions): Promise<Result<History, HistoryError>> {
    return History.create(options, () => {});
  }

  /**
   * A history in a fresh temporary folder, deleted on close (`handlespace serve --memory`: the same code
   * paths as a file, nothing kept).
   */
  static async openTemporary(options: Omit<HistoryOptions, 'path'> = {}): Promise<Result<History, HistoryError>> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-history-'));
    const removeDir = (): void => fs.rmSync(dir, { recursive: true, force: true });
    const opened = await History.create({ ...options, path: path.join(dir, 'history.db') }, removeDir);
    if (!opened.ok) removeDir();
    return opened;
  }

  private static async create(options: HistoryOptions, onClosed: () => void): Promise<Result<History, HistoryError>> {
    const file = path.resolve(options.path);
    let migrations;
    if (options.migrationsDir !== undefined) {
      const loaded = loadMigrations(options.migrationsDir);
      if (!loaded.ok) return loaded;
      migrations = loaded.value;
    }
    const opened = openHistoryDatabase(file, migrations ? { migrations } : {});
    if (!opened.ok) return opened;
    const { db: setupConnection, migration } = opened.value;
    setupConnection.close();
    const schemaVersion = migration.to;
    const reader = connectHistoryDatabase(file, schemaVersion, { readonly: true });
    if (!reader.ok) return reader;
    const writer = await EventWriter.start({
      file,
      schemaVersion,
      ...(options.synchronous ? { synchronous: options.synchronous } : {}),
      ...(options.maxBatchEvents !== undefined ? { maxBatchEvents: options.maxBatchEvents } : {}),
      ...(options.blockBudgetMs !== undefined ? { blockBudgetMs: options.blockBudgetMs } : {}),
      ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
      ...(options.maxQueuedEvents !== undefined ? { maxQueuedEvents: options.maxQueuedEvents } : {}),
      ...(options.groupCommitDelayMs !== undefined ? { groupCommitDelayMs: options.groupCommitDelayMs } : {}),
      ...(options.groupCommitEvents !== undefined ? { groupCommitEvents: options.groupCommitEvents } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    if (!writer.ok) {
      reader.value.close();
      return writer;
    }
    return ok(
      new History(
        file,
        schemaVersion,
        migration,
        writer.value,
        reader.value,
        new HistoryQueries(reader.value),
        { ...DEFAULT_RETENTION, ...options.retention },
        options.clock ?? systemClock,
        options.maintenanceIntervalMs ?? MINUTE,
        onClosed,
      ),
    );
  }

  /** Queues an event (fire and forget); a failure to write it is logged and counted, never silent. */
  record(event: HistoryEvent): void {
    this.writer.record(event);
  }

  /**
   * Queues an event and resolves once it is durable (its batch committed and fsynced). Rejects with a
   * HistoryWriteError (`.historyError` has the code and message) if the batch failed: the caller must then
   * not report the change as done.
   */
  durable(event: HistoryEvent): Promise<void> {
    return this.writer.durable(event);
  }

  /** Like durable() for several events, all written in one transaction (an audit row and its change). */
  durableAll(events: readonly HistoryEvent[]): Promise<void> {
    return this.writer.durableAll(events);
  }

  /**
   * Resolves once everything recorded so far is durable; rejects (HistoryWriteError) if the batch holding
   * the last recorded event failed. The registrar hook: record (the HistoryRecorder does it while the
   * registrar emits), await barrier(), then answer the PE or the operator.
   */
  barrier(): Promise<void> {
    return this.writer.barrier();
  }

  /** Resolves when everything recorded so far is committed (or reported failed). */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  /** Writer figures (computes hand-over percentiles: not for every event). */
  get stats(): WriterStats {
    return this.writer.stats;
  }

  /** Events recorded and not yet handed to the writer thread (cheap). */
  get queued(): number {
    return this.writer.queued;
  }

  /** One maintenance pass now (roll-ups, retention, incremental vacuum) on the writer thread. */
  maintain(now: number = this.clock.now()): Promise<Result<MaintenanceReport, HistoryError>> {
    return this.writer.maintain(now, this.retention);
  }

  /**
   * Streams the rows matching `filter` to `out` over a connection of its own (the export may wait for a
   * slow reader; other queries go on meanwhile).
   */
  async export(filter: HistoryFilter, format: ExportFormat, out: Writable): Promise<Result<ExportResult, HistoryError>> {
    const connection = connectHistoryDatabase(this.file, this.schemaVersion, { readonly: true });
    if (!connection.ok) return connection;
    try {
      return await exportHistory(new HistoryQueries(connection.value), filter, format, out);
    } finally {
      connection.value.close();
    }
  }

  /** Writes everything queued, stops maintenance, closes both connections. */
  close(): Promise<Result<void, HistoryError>> {
    if (this.closed) return this.closed;
    this.clock.clearTimeout(this.maintenanceTimer);
    this.maintenanceTimer = undefined;
    this.closed = (async () => {
      const result = await this.writer.close();
      try {
        this.reader.close();
      } catch (e) {
        return err(historyError('writeFailed', `history database ${this.file}: closing the reader failed: ${(e as Error).message}`));
      }
      this.onClosed();
      return result;
    })();
    return this.closed;
  }

  private scheduleMaintenance(): void {
    if (this.maintenanceIntervalMs <= 0) return;
    this.maintenanceTimer = this.clock.setTimeout(() => {
      void this.maintain().then(() => {
        if (!this.closed) this.scheduleMaintenance();
      });
    }, this.maintenanceIntervalMs);
  }
}

/** `History.open` as a function (what start-up code calls). */
export function openHistory(options: HistoryOptions): Promise<Result<History, HistoryError>> {
  return History.open(options);
}
