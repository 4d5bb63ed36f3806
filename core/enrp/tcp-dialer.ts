/**
 * Outgoing ENRP connections over TCP (DESIGN.md §3: ENRP runs over TCP, framed by the message header):
 * connects with a bounded timeout and hands back the same MessageConnection the registrar's listener gives
 * for incoming ones, so the ENRP server treats both directions alike. Messages of one event-loop turn leave
 * in one write.
 */
import net from 'node:net';
import { err, ok, type Result } from '../result.js';
import type { ConnectionHandlers, MessageConnection, RemoteAddress } from '../registrar/transport.js';
import { TcpFramer } from '../wire/tcp-framer.js';

/** Outgoing connections count down from -1, so they never share an id with incoming ones. */
let nextOutgoingId = -1;

class DialedConnection implements MessageConnection {
  readonly id = nextOutgoingId--;
  readonly remote: RemoteAddress;
  private readonly framer: TcpFramer;
  private outgoing: Uint8Array[] = [];
  private outgoingBytes = 0;
  closed = false;

  constructor(
    private readonly socket: net.Socket,
    maxMessageSize: number,
    private readonly handlers: Omit<ConnectionHandlers, 'onOpen'>,
  ) {
    this.framer = new TcpFramer(maxMessageSize);
    const address = socket.remoteAddress ?? '0.0.0.0';
    this.remote = {
      address: address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address,
      port: socket.remotePort ?? 0,
      family: socket.remoteFamily === 'IPv6' && !address.startsWith('::ffff:') ? 6 : 4,
    };
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => {
      // 'close' follows with the reason.
    });
    socket.on('close', (hadError) => {
      if (this.closed) return;
      this.closed = true;
      this.handlers.onClose(this, hadError ? 'connection reset' : 'closed by peer');
    });
  }

  private receive(chunk: Buffer): void {
    for (const event of this.framer.push(chunk)) {
      if (this.closed) return;
      if (event.kind === 'message') this.handlers.onMessage(this, event.bytes);
      else {
        this.handlers.onFramingError(this, event.error.reason);
        this.close(`framing error: ${event.error.reason}`);
      }
    }
  }

  send(message: Uint8Array): void {
    if (this.closed || this.socket.destroyed) return;
    if (this.outgoing.length === 0) process.nextTick(this.flush);
    this.outgoing.push(message);
    this.outgoingBytes += message.length;
  }

  private readonly flush = (): void => {
    const parts = this.outgoing;
    const size = this.outgoingBytes;
    this.outgoing = [];
    this.outgoingBytes = 0;
    if (this.closed || this.socket.destroyed || parts.length === 0) return;
    this.socket.write(parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts, size));
  };

  get bufferedBytes(): number {
    return this.socket.writableLength + this.outgoingBytes;
  }

  onDrain(listener: () => void): void {
    this.socket.on('drain', listener);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.socket.end();
    // A peer that never finishes its side must not keep the socket half-open.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.handlers.onClose(this, reason);
  }
}

/** Connects to `host:port`; fails (as a value) on refusal, error or after `timeoutMs`. */
export function dialTcp(host: string, port: number, maxMessageSize: number, timeoutMs: number, handlers: Omit<ConnectionHandlers, 'onOpen'>): Promise<Result<MessageConnection, string>> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(err(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    socket.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(ok(new DialedConnection(socket, maxMessageSize, handlers)));
    });
    socket.once('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(err(e.message));
    });
  });
}
