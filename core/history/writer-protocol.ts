/**
 * The messages between the event writer (registrar thread) and the writer thread that owns the
 * database's write connection. Types only.
 */
import type { EncodedBatch } from './event-codec.js';
import type { HistoryError } from './history-error.js';
import type { MaintenanceReport, RetentionPolicy } from './retention.js';

/**
 * SQLite's synchronous setting for the writer (the durability rule, DESIGN.md §4): FULL fsyncs the WAL
 * at every commit, so a committed batch survives power loss as well as a crash of the process; NORMAL
 * survives a crash of the process but may lose the last commits on power loss.
 */
export type Synchronous = 'FULL' | 'NORMAL';

export interface WriterSetup {
  readonly file: string;
  readonly schemaVersion: number;
  readonly synchronous: Synchronous;
  /** A transaction with fewer events waits up to this long for more before it commits. */
  readonly groupCommitDelayMs: number;
  /** A transaction with this many events commits at once. */
  readonly groupCommitEvents: number;
}

export interface BatchOutcome {
  readonly seq: number;
  readonly error?: HistoryError;
}

export type ToWriter =
  /** A batch of events in flat form (event-codec.ts). */
  | { readonly type: 'batch'; readonly seq: number; readonly events: EncodedBatch }
  | { readonly type: 'maintain'; readonly seq: number; readonly now: number; readonly policy: RetentionPolicy }
  | { readonly type: 'close' };

export type FromWriter =
  | { readonly type: 'ready' }
  | { readonly type: 'startFailed'; readonly error: HistoryError }
  /**
   * The outcome of every batch of one transaction, in the order they were sent: no error = committed
   * (durable), an error = none of its rows were written. ms is the transaction's writer-thread time.
   */
  | { readonly type: 'settled'; readonly results: readonly BatchOutcome[]; readonly rows: number; readonly ms: number }
  | { readonly type: 'maintained'; readonly seq: number; readonly report: MaintenanceReport }
  | { readonly type: 'maintenanceFailed'; readonly seq: number; readonly error: HistoryError }
  | { readonly type: 'closed'; readonly error?: HistoryError };
