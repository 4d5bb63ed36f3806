/**
 * Cuts a TCP byte stream into ASAP / ENRP messages by the header's 16-bit length (DESIGN.md §3): handles
 * messages split across reads and several messages in one read. Each message is handed on with its
 * padding (length rounded up to 4), as the sender wrote it. A length below 4 or above the limit ends the
 * stream with an error value: after that the framing is lost and the connection must be closed.
 */
import { DEFAULT_WIRE_LIMITS } from './limits.js';

export interface FramingError {
  /** Offset in the stream (bytes consumed before the bad header). */
  readonly streamOffset: number;
  readonly length: number;
  readonly reason: string;
}

export type FrameEvent = { readonly kind: 'message'; readonly bytes: Uint8Array } | { readonly kind: 'error'; readonly error: FramingError };

export class TcpFramer {
  private pending: Uint8Array = new Uint8Array(0);
  private consumed = 0;
  private failed: FramingError | undefined;

  constructor(private readonly maxMessageSize: number = DEFAULT_WIRE_LIMITS.maxMessageSize) {}

  /** The error that ended the stream, if any. */
  get error(): FramingError | undefined {
    return this.failed;
  }

  /** Bytes held back waiting for the rest of a message. */
  get buffered(): number {
    return this.pending.length;
  }

  /**
   * Feeds one chunk; returns the complete messages it finished, and at most one error as the last event.
   * After an error every further push returns nothing.
   */
  push(chunk: Uint8Array): FrameEvent[] {
    if (this.failed) return [];
    let data: Uint8Array;
    // As a plain Uint8Array, slice() copies (on a Node Buffer it would return a view into the read buffer).
    if (this.pending.length === 0) data = Object.getPrototypeOf(chunk) === Uint8Array.prototype ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    else {
      data = new Uint8Array(this.pending.length + chunk.length);
      data.set(this.pending);
      data.set(chunk, this.pending.length);
    }
    const events: FrameEvent[] = [];
    let pos = 0;
    while (data.length - pos >= 4) {
      const length = ((data[pos + 2] ?? 0) << 8) | (data[pos + 3] ?? 0);
      const padded = (length + 3) & ~3;
      if (length < 4 || padded > this.maxMessageSize) {
        this.failed = {
          streamOffset: this.consumed + pos,
          length,
          reason: length < 4 ? `message length ${length} is below the 4-byte header` : `message length ${length} is above the limit of ${this.maxMessageSize} bytes`,
        };
        events.push({ kind: 'error', error: this.failed });
        this.pending = new Uint8Array(0);
        return events;
      }
      if (data.length - pos < padded) break;
      // A copy, so a message kept by the caller does not pin the whole read buffer.
      events.push({ kind: 'message', bytes: data.slice(pos, pos + padded) });
      pos += padded;
    }
    this.consumed += pos;
    this.pending = pos === data.length ? new Uint8Array(0) : data.slice(pos);
    return events;
  }
}
