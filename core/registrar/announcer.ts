/**
 * Sends ASAP_SERVER_ANNOUNCE every announce interval over UDP (multicast 239.0.0.50:3863 by default, as
 * RSPLIB; plus configured unicast targets), carrying the registrar's TCP transport parameter so elements
 * and users can find it (RFC 5352 §3.6).
 */
import dgram from 'node:dgram';
import type { Clock, TimerHandle } from '../clock.js';
import { encodeMessage } from '../wire/encoder.js';
import type { ConsoleEndpoint, ServerTransport } from '../wire/types.js';
import type { Endpoint } from './options.js';

export interface AnnouncerOptions {
  readonly serverId: number;
  readonly transport: ServerTransport;
  readonly group: Endpoint | 'off';
  readonly targets: readonly Endpoint[];
  readonly intervalMs: number;
  readonly ttl: number;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

export class Announcer {
  private socket: dgram.Socket | undefined;
  private timer: TimerHandle | undefined;
  private message: Uint8Array;
  private readonly destinations: Endpoint[];
  private sent = 0;
  private failures = 0;
  private warned = new Set<string>();

  constructor(private readonly options: AnnouncerOptions) {
    this.message = this.encode(undefined);
    this.destinations = [...(options.group === 'off' ? [] : [options.group]), ...options.targets];
  }

  private encode(consoleEndpoint: ConsoleEndpoint | undefined): Uint8Array {
    const { serverId, transport } = this.options;
    return encodeMessage({ protocol: 'asap', type: 'serverAnnounce', serverId, transports: [transport], ...(consoleEndpoint ? { consoleEndpoint } : {}) });
  }

  /**
   * From now on every announce carries this console endpoint (undefined: none). Sent at once, so a console
   * that just started is discoverable without waiting an interval.
   */
  setConsoleEndpoint(endpoint: ConsoleEndpoint | undefined): void {
    this.message = this.encode(endpoint);
    this.sendOnce();
  }

  get announcesSent(): number {
    return this.sent;
  }

  get sendFailures(): number {
    return this.failures;
  }

  async start(): Promise<void> {
    if (this.destinations.length === 0) return;
    const ipv6 = this.destinations.every((d) => d.host.includes(':'));
    const socket = dgram.createSocket({ type: ipv6 ? 'udp6' : 'udp4', reuseAddr: true });
    this.socket = socket;
    socket.on('error', (e) => this.options.log(`announce socket error: ${e.message}`));
    await new Promise<void>((resolve) => socket.bind(0, resolve));
    try {
      socket.setMulticastTTL(this.options.ttl);
      socket.setMulticastLoopback(true);
    } catch (e) {
      this.options.log(`announce: cannot set multicast options (${(e as Error).message}); unicast targets still work`);
    }
    socket.unref();
    this.tick();
  }

  private tick(): void {
    this.sendOnce();
    this.timer = this.options.clock.setTimeout(() => this.tick(), this.options.intervalMs);
  }

  sendOnce(): void {
    const socket = this.socket;
    if (!socket) return;
    for (const destination of this.destinations) {
      socket.send(this.message, destination.port, destination.host, (error) => {
        if (!error) {
          this.sent++;
          return;
        }
        this.failures++;
        // One log line per destination and error kind, not one per second.
        const key = `${destination.host}:${destination.port}:${error.message}`;
        if (!this.warned.has(key)) {
          this.warned.add(key);
          this.options.log(`announce to ${destination.host}:${destination.port} failed: ${error.message} (will keep trying quietly)`);
        }
      });
    }
  }

  stop(): void {
    this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.socket?.close();
    this.socket = undefined;
  }
}
