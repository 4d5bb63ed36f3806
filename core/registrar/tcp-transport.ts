/**
 * Messages over TCP (ASAP, and ENRP in core/enrp): one server socket, and the connection class both the
 * listener and outgoing dials use, each connection framed by TcpFramer. Messages sent in one event-loop
 * turn are joined into one write, so a burst of responses leaves in one segment.
 */
import net from 'node:net';
import { TcpFramer } from '../wire/tcp-framer.js';
import type { ConnectionHandlers, MessageConnection, MessageServer, RemoteAddress } from './transport.js';

let nextConnectionId = 1;
/** Outgoing connections count down from -1, so they never share an id with incoming ones. */
let nextOutgoingId = -1;

export interface TcpConnectionOptions {
  /** Outgoing (dialed) connections take negative ids. */
  readonly outgoing?: boolean;
  /** TCP keep-alive probes after this idle time (ms); off by default. */
  readonly keepAliveMs?: number;
}

export class TcpConnection implements MessageConnection {
  readonly id: number;
  readonly remote: RemoteAddress;
  private readonly framer: TcpFramer;
  private outgoing: Uint8Array[] = [];
  private outgoingBytes = 0;
  closed = false;

  constructor(
    private readonly socket: net.Socket,
    maxMessageSize: number,
    private readonly handlers: Omit<ConnectionHandlers, 'onOpen'>,
    options: TcpConnectionOptions = {},
  ) {
    this.id = options.outgoing ? nextOutgoingId-- : nextConnectionId++;
    this.framer = new TcpFramer(maxMessageSize);
    this.remote = {
      address: normalizeAddress(socket.remoteAddress ?? '0.0.0.0'),
      port: socket.remotePort ?? 0,
      family: socket.remoteFamily === 'IPv6' && !(socket.remoteAddress ?? '').startsWith('::ffff:') ? 6 : 4,
    };
    socket.setNoDelay(true);
    if (options.keepAliveMs !== undefined) socket.setKeepAlive(true, options.keepAliveMs);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => {
      // 'close' follows; the error itself (ECONNRESET and the like) is the reason.
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
    // Messages of one event-loop turn leave in one write (one syscall, one segment where they fit).
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
    // What was sent before closing (e.g. an ASAP_ERROR saying why) still goes out.
    this.flush();
    this.closed = true;
    this.socket.end();
    // A peer that never finishes its side must not keep the socket half-open.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.handlers.onClose(this, reason);
  }
}

/** IPv4-mapped IPv6 peers (dual-stack sockets) are reported as plain IPv4. */
function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export async function listenTcp(host: string, port: number, maxMessageSize: number, handlers: ConnectionHandlers): Promise<MessageServer> {
  const connections = new Set<TcpConnection>();
  const server = net.createServer((socket) => {
    const connection = new TcpConnection(socket, maxMessageSize, {
      onMessage: handlers.onMessage,
      onFramingError: handlers.onFramingError,
      onClose: (c, reason) => {
        connections.delete(connection);
        handlers.onClose(c, reason);
      },
    });
    connections.add(connection);
    handlers.onOpen(connection);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const address: RemoteAddress =
    bound && typeof bound === 'object'
      ? { address: bound.address, port: bound.port, family: bound.family === 'IPv6' ? 6 : 4 }
      : { address: host, port, family: 4 };
  return {
    address,
    get connectionCount() {
      return connections.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.close('registrar shutting down');
        server.close(() => resolve());
      }),
  };
}
