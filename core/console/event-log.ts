/**
 * The console's live event stream: numbers every event (1, 2, 3 … per run, no gaps), keeps the most recent
 * ones so a client that reconnects resumes exactly where it left off, and delivers to subscribers in one
 * batch per event-loop turn. A client whose position is older than what is kept (or from another run)
 * gets a fresh snapshot instead (`resync`), never a silent gap.
 */
import { randomBytes } from 'node:crypto';
import type { ConsoleEvent, EventStreamMessage, Identity, Snapshot, StreamPosition } from './contract.js';

/** Distributes Omit over the union, so each event type keeps its own fields. */
export type NewConsoleEvent = ConsoleEvent extends infer E ? (E extends ConsoleEvent ? Omit<E, 'seq'> : never) : never;

type Listener = (message: EventStreamMessage) => void;

export interface EventLogOptions {
  /** Events kept for resuming (default 20,000: minutes of a busy registrar's changes). */
  readonly capacity?: number;
}

export class EventLog {
  readonly epoch = randomBytes(8).toString('hex');
  private readonly capacity: number;
  /** Ring buffer: event with sequence s sits at (s - 1) % capacity. */
  private readonly ring: (ConsoleEvent | undefined)[];
  private last = 0;
  private readonly listeners = new Set<Listener>();
  private pending: ConsoleEvent[] = [];
  private flushScheduled = false;

  constructor(options: EventLogOptions = {}) {
    this.capacity = Math.max(16, options.capacity ?? 20_000);
    this.ring = new Array<ConsoleEvent | undefined>(this.capacity);
  }

  /** The sequence of the newest event (0 before any). */
  get sequence(): number {
    return this.last;
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  append(event: NewConsoleEvent): ConsoleEvent {
    const numbered = { ...event, seq: ++this.last } as ConsoleEvent;
    this.ring[(numbered.seq - 1) % this.capacity] = numbered;
    if (this.listeners.size > 0) {
      this.pending.push(numbered);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }
    return numbered;
  }

  /**
   * Subscribes from `position`. Sends `hello`, then either the kept events after the position or a
   * `resync` with `snapshot()` (taken now, so it and the events that follow fit together exactly).
   */
  subscribe(identity: Identity, position: StreamPosition | undefined, snapshot: () => Snapshot, listener: Listener): () => void {
    // Anything appended but not yet flushed is delivered now to the others, so the new listener's
    // catch-up (which reads the ring) and the next flush never overlap.
    this.flush();
    listener({ kind: 'hello', epoch: this.epoch, identity, sequence: this.last });
    const replay = position ? this.since(position) : undefined;
    if (replay) {
      if (replay.length > 0) listener({ kind: 'events', events: replay });
    } else {
      listener({ kind: 'resync', snapshot: snapshot() });
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The kept events after `position`, or undefined when they cannot all be given. */
  since(position: StreamPosition): ConsoleEvent[] | undefined {
    if (position.epoch !== this.epoch) return undefined;
    const from = position.sequence;
    if (!Number.isInteger(from) || from < 0 || from > this.last) return undefined;
    const oldestKept = Math.max(1, this.last - this.capacity + 1);
    if (from + 1 < oldestKept) return undefined;
    const events: ConsoleEvent[] = [];
    for (let s = from + 1; s <= this.last; s++) events.push(this.ring[(s - 1) % this.capacity] as ConsoleEvent);
    return events;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    const message: EventStreamMessage = { kind: 'events', events };
    for (const listener of [...this.listeners]) {
      try {
        listener(message);
      } catch {
        // A transport's failure is its own (it closes its client); the others still get the batch.
      }
    }
  }
}
