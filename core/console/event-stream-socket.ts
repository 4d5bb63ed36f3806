/**
 * The live event stream over WebSocket (GET /api/v1/events, upgraded): one backend subscription per socket,
 * each EventStreamMessage sent as one JSON text frame, liveness by ping/pong, and the rule for a client that
 * cannot keep up: once its unsent data passes a bound, the socket is closed with CLOSE_SLOW_CONSUMER rather
 * than buffering without end; the client reconnects with `?epoch=E&since=LAST` and the backend replays what
 * it missed (or sends a resync snapshot when it no longer holds those events). Nothing is skipped silently:
 * the close is the signal.
 */
import type { WebSocket } from 'ws';
import type { ConsoleBackend } from './console-backend.js';
import type { EventStreamMessage, Identity, StreamPosition } from './contract.js';

/** Close code (application range 4000-4999): reconnect and resume from the last sequence received. */
export const CLOSE_SLOW_CONSUMER = 4000;
/**
 * Close code for a refused token, sent right after the handshake to clients that offered our subprotocol
 * (browsers): a refused HTTP upgrade reaches a browser script only as an anonymous 1006.
 */
export const CLOSE_UNAUTHORIZED = 4401;
/** RFC 6455 1001 "going away": the server is shutting down. */
export const CLOSE_GOING_AWAY = 1001;

export interface EventSocketSettings {
  /** Unsent bytes a socket may hold before it is closed as a slow consumer. */
  readonly maxBufferedBytes: number;
  /** A ping this often; a socket that did not answer the previous one is dropped. */
  readonly pingIntervalMs: number;
  /** How long a closing socket may take to finish its close handshake before it is cut. */
  readonly closeGraceMs: number;
}

export const DEFAULT_EVENT_SOCKET_SETTINGS: EventSocketSettings = { maxBufferedBytes: 4 * 1024 * 1024, pingIntervalMs: 30_000, closeGraceMs: 2000 };

interface SocketState {
  readonly source: string;
  alive: boolean;
  closing: boolean;
  unsubscribe: (() => void) | undefined;
  /** Last event sequence sent, for the slow-consumer log line (what the client should resume from). */
  lastSequence: number | undefined;
}

export class EventSockets {
  private readonly sockets = new Map<WebSocket, SocketState>();
  private readonly heartbeat: ReturnType<typeof setInterval>;

  constructor(
    private readonly backend: ConsoleBackend,
    private readonly settings: EventSocketSettings,
    private readonly log: (line: string) => void,
  ) {
    this.heartbeat = setInterval(() => this.ping(), settings.pingIntervalMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Starts streaming to an upgraded socket: from `position` on, or from now. */
  attach(ws: WebSocket, identity: Identity, position: StreamPosition | undefined, source: string): void {
    const state: SocketState = { source, alive: true, closing: false, unsubscribe: undefined, lastSequence: undefined };
    this.sockets.set(ws, state);
    ws.on('pong', () => {
      state.alive = true;
    });
    // The stream is one-way; whatever a client sends is ignored (ws limits its size).
    ws.on('message', () => undefined);
    ws.on('error', (e) => this.log(`console events: socket ${source}: ${e.message}`));
    ws.on('close', () => {
      this.sockets.delete(ws);
      state.unsubscribe?.();
      state.unsubscribe = undefined;
    });
    const unsubscribe = this.backend.subscribe(identity, position, (message) => this.send(ws, state, message));
    // The socket may have closed while subscribe() delivered its first messages synchronously.
    if (this.sockets.has(ws)) state.unsubscribe = unsubscribe;
    else unsubscribe();
  }

  /** Closes a socket that was upgraded only to be told why it is refused (`reason`: at most 123 bytes). */
  refuse(ws: WebSocket, code: number, reason: string): void {
    ws.on('error', () => undefined);
    let shortened = reason;
    while (Buffer.byteLength(shortened) > 123) shortened = shortened.slice(0, -1);
    ws.close(code, shortened);
    const cut = setTimeout(() => ws.terminate(), this.settings.closeGraceMs);
    cut.unref();
    ws.once('close', () => clearTimeout(cut));
  }

  /** Closes every socket (server shutdown) and waits until they are gone or cut. */
  async closeAll(): Promise<void> {
    clearInterval(this.heartbeat);
    const closing = [...this.sockets.keys()].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve();
          ws.once('close', () => resolve());
          this.close(ws, CLOSE_GOING_AWAY, 'server shutting down');
        }),
    );
    await Promise.all(closing);
  }

  private send(ws: WebSocket, state: SocketState, message: EventStreamMessage): void {
    if (state.closing || ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.settings.maxBufferedBytes) {
      this.log(
        `console events: ${state.source} is not reading (${ws.bufferedAmount} bytes unsent); closed with ${CLOSE_SLOW_CONSUMER}, it may resume after sequence ${state.lastSequence ?? 'none'}`,
      );
      this.close(ws, CLOSE_SLOW_CONSUMER, 'slow consumer: reconnect with epoch and since to resume');
      return;
    }
    if (message.kind === 'events') state.lastSequence = message.events.at(-1)?.seq ?? state.lastSequence;
    else if (message.kind === 'resync') state.lastSequence = message.snapshot.sequence;
    ws.send(JSON.stringify(message));
  }

  private close(ws: WebSocket, code: number, reason: string): void {
    const state = this.sockets.get(ws);
    if (state) {
      state.closing = true;
      state.unsubscribe?.();
      state.unsubscribe = undefined;
    }
    ws.close(code, reason);
    // A client that does not read will not read the close frame either: cut it after a grace period.
    const cut = setTimeout(() => ws.terminate(), this.settings.closeGraceMs);
    cut.unref();
    ws.once('close', () => clearTimeout(cut));
  }

  private ping(): void {
    for (const [ws, state] of this.sockets) {
      if (!state.alive) {
        this.log(`console events: ${state.source} did not answer a ping; dropped`);
        ws.terminate();
        continue;
      }
      state.alive = false;
      ws.ping();
    }
  }
}
