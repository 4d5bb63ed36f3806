/**
 * The writer thread: owns the history's only write connection. Group commit: every 'batch' message that
 * arrives while a transaction is open joins it (each in its own savepoint), and the transaction commits
 * once the messages waiting have been written (a setImmediate after them); then one 'settled' message
 * answers every batch of it, in order: committed (durable: with synchronous=FULL the WAL was fsynced), or
 * failed (alone, or with the whole transaction) and none of its rows written. Maintenance passes run here too, in short
 * chunks with the message loop turning between them, so batches are never held up by more than one chunk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import { BatchWriter } from './batch-writer.js';
import { connectHistoryDatabase } from './database.js';
import { fromSqliteError, type HistoryError } from './history-error.js';
import { runMaintenance } from './retention.js';
import { decodeBatch, type WriterEvent } from './event-codec.js';
import type { FromWriter, ToWriter, WriterSetup } from './writer-protocol.js';

const port = parentPort;
if (!port) throw new Error('writer-worker.ts runs as a worker thread only');
const setup = workerData as WriterSetup;

function send(message: FromWriter): void {
  port?.postMessage(message);
}

class ClosingError extends Error {}

let db: Database | undefined;
let writer: BatchWriter | undefined;
let closing = false;
let maintenanceRunning: Promise<void> | undefined;
/** Batches of the open transaction (those that failed alone carry their error), answered when it ends. */
let group: { seq: number; rows: number; events: number; error?: HistoryError }[] = [];
let groupStarted = 0;
let groupEvents = 0;
let commitTimer: NodeJS.Timeout | undefined;
let commitImmediate: NodeJS.Immediate | undefined;

function settleGroup(error: HistoryError | undefined): void {
  const results = group.map((b) => {
    const failure = b.error ?? error;
    return failure ? { seq: b.seq, error: failure } : { seq: b.seq };
  });
  const rows = error ? 0 : group.reduce((n, b) => n + b.rows, 0);
  send({ type: 'settled', results, rows, ms: performance.now() - groupStarted });
  group = [];
}

function commitGroup(): void {
  clearTimeout(commitTimer);
  commitTimer = undefined;
  if (commitImmediate) clearImmediate(commitImmediate);
  commitImmediate = undefined;
  groupEvents = 0;
  if (!writer || group.length === 0) return;
  const events = group.reduce((n, b) => n + (b.error ? 0 : b.events), 0);
  try {
    writer.commit();
  } catch (e) {
    settleGroup(fromSqliteError(e, setup.file, `committing ${events} event${events === 1 ? '' : 's'}`));
    return;
  }
  settleGroup(undefined);
}

function writeBatch(seq: number, events: readonly WriterEvent[]): void {
  const doing = `writing a batch of ${events.length} event${events.length === 1 ? '' : 's'}`;
  if (!writer) {
    send({ type: 'settled', results: [{ seq, error: { code: 'writerFailed', message: `history database ${setup.file}: the writer is not open` } }], rows: 0, ms: 0 });
    return;
  }
  if (!writer.inTransaction) {
    try {
      writer.begin();
    } catch (e) {
      send({ type: 'settled', results: [{ seq, error: fromSqliteError(e, setup.file, doing) }], rows: 0, ms: 0 });
      return;
    }
    groupStarted = performance.now();
  }
  try {
    const result = writer.writeInGroup(events);
    group.push({ seq, rows: result.rows, events: events.length });
  } catch (e) {
    const error = fromSqliteError(e, setup.file, doing);
    group.push({ seq, rows: 0, events: events.length, error });
    // Some errors (a full disk) make SQLite roll back the whole transaction: the group went with it.
    if (!writer.inTransaction) {
      writer.rollback();
      settleGroup(error);
      commitGroup(); // nothing left to commit: clears the pending commit
      return;
    }
  }
  groupEvents += events.length;
  scheduleCommit();
}

/**
 * Group commit: a transaction with enough events commits as soon as the messages already waiting are
 * written; a small one waits up to groupCommitDelayMs for more (each commit fsyncs and writes every page
 * it dirtied, so fewer, larger commits write far less per event), and never longer.
 */
function scheduleCommit(): void {
  if (commitImmediate) return;
  if (groupEvents >= setup.groupCommitEvents || setup.groupCommitDelayMs <= 0) {
    clearTimeout(commitTimer);
    commitTimer = undefined;
    commitImmediate = setImmediate(commitGroup);
    return;
  }
  if (!commitTimer) commitTimer = setTimeout(() => (commitImmediate = setImmediate(commitGroup)), setup.groupCommitDelayMs);
}

function start(): void {
  const connected = connectHistoryDatabase(setup.file, setup.schemaVersion);
  if (!connected.ok) {
    send({ type: 'startFailed', error: connected.error });
    return;
  }
  db = connected.value;
  try {
    db.pragma(`synchronous = ${setup.synchronous}`);
    // Index pages of a growing file stay in memory (the default 2 MiB cache misses on random index inserts).
    db.pragma('cache_size = -32768');
    writer = new BatchWriter(db);
  } catch (e) {
    send({ type: 'startFailed', error: fromSqliteError(e, setup.file, 'preparing the writer', 'writerFailed') });
    db.close();
    db = undefined;
    return;
  }
  send({ type: 'ready' });
}

/** Between two maintenance chunks: batches that arrived meanwhile are written and committed first. */
const pause = (): Promise<void> =>
  new Promise((resolve, reject) => {
    setImmediate(() => {
      commitGroup();
      if (closing) reject(new ClosingError());
      else resolve();
    });
  });

async function maintain(seq: number, now: number, policy: Extract<ToWriter, { type: 'maintain' }>['policy']): Promise<void> {
  if (!db) return;
  try {
    const report = await runMaintenance(db, now, policy, writer, pause);
    send({ type: 'maintained', seq, report });
  } catch (e) {
    if (e instanceof ClosingError) {
      send({ type: 'maintenanceFailed', seq, error: { code: 'closed', message: 'the history closed during maintenance; the pass resumes next time' } });
      return;
    }
    send({ type: 'maintenanceFailed', seq, error: fromSqliteError(e, setup.file, 'running maintenance (roll-ups, retention, vacuum)') });
  }
}

port.on('message', (message: ToWriter) => {
  switch (message.type) {
    case 'batch':
      writeBatch(message.seq, decodeBatch(message.events));
      return;
    case 'maintain': {
      // Maintenance writes in its own transactions: the open group commits first.
      commitGroup();
      const previous = maintenanceRunning ?? Promise.resolve();
      const run = previous.then(() => maintain(message.seq, message.now, message.policy));
      maintenanceRunning = run;
      void run.finally(() => {
        if (maintenanceRunning === run) maintenanceRunning = undefined;
      });
      return;
    }
    case 'close': {
      commitGroup();
      closing = true;
      void (maintenanceRunning ?? Promise.resolve()).then(() => {
        let error;
        try {
          // Fold the WAL back into the main file so the file stands alone once closed.
          db?.pragma('wal_checkpoint(TRUNCATE)');
          db?.close();
        } catch (e) {
          error = fromSqliteError(e, setup.file, 'closing');
        }
        db = undefined;
        writer = undefined;
        send(error ? { type: 'closed', error } : { type: 'closed' });
        port.close();
      });
      return;
    }
  }
});

start();
