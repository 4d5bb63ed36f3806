/**
 * The CSP receiver (`handlespace serve --csp HOST:PORT`): one UDP socket that feeds every datagram into a
 * CspComponentTable. It owns the socket's life (bind, errors, close); the table owns the components, the
 * purge rule, the counters and the events (componentArrived, componentUpdated, componentDeparted).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { systemClock, type Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { CspComponentTable, type CspTableOptions } from './csp-component-table.js';

export interface CspReceiverOptions extends Omit<CspTableOptions, 'clock'> {
  /** Where to listen; port 0 picks a free one (see `address`). */
  readonly listen: { readonly host: string; readonly port: number };
  readonly clock?: Clock;
}

export class CspReceiver {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly table: CspComponentTable,
  ) {}

  /** Binds the socket; an address in use or not local is an error value, not an exception. */
  static async start(options: CspReceiverOptions): Promise<Result<CspReceiver, string>> {
    const { listen, clock = systemClock, ...tableOptions } = options;
    const log = tableOptions.log ?? (() => {});
    const socket = dgram.createSocket({ type: net.isIPv6(listen.host) ? 'udp6' : 'udp4' });
    const bound = await new Promise<Error | undefined>((resolve) => {
      socket.once('error', resolve);
      socket.bind({ address: listen.host, port: listen.port, exclusive: true }, () => {
        socket.off('error', resolve);
        resolve(undefined);
      });
    });
    if (bound) {
      socket.close();
      return err(`cannot listen for CSP on ${formatHostPort(listen)}: ${bound.message}`);
    }
    const table = new CspComponentTable({ ...tableOptions, clock });
    const receiver = new CspReceiver(socket, table);
    socket.on('message', (message, remote) => table.receive(message, { address: remote.address, port: remote.port }));
    // After binding, a UDP socket's errors (e.g. ICMP-triggered ones) are logged; the socket stays open.
    socket.on('error', (e) => log(`csp: socket error on ${formatHostPort(receiver.address)}: ${e.message}`));
    return ok(receiver);
  }

  /** The bound address (the real port when 0 was asked). */
  get address(): { host: string; port: number } {
    const a = this.socket.address();
    return { host: a.address, port: a.port };
  }

  /** Closes the socket and stops the table's purge timer; departures are not announced for components still listed. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.table.close();
      this.socket.close(() => resolve());
    });
    return this.closing;
  }
}

export function formatHostPort(e: { readonly host: string; readonly port: number }): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}
