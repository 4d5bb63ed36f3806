/**
 * ENRP_PRESENCE over UDP for discovery (RFC 5351 §3.1's well-known channel; RSPLIB's multicast
 * 239.0.0.51:9901): sends our presence to the group each heartbeat and hands every presence heard to the
 * ENRP server, which dials the sender's TCP address. Only discovery rides here: the audit and everything
 * else go over the peers' TCP connections, where order is kept. A datagram that does not decode is
 * counted and dropped (UDP has no one to answer).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { decodeMessage } from '../wire/decoder.js';
import type { EnrpPresence } from '../wire/types.js';
import type { EnrpEndpoint } from './settings.js';

export interface PresenceChannelOptions {
  readonly group: EnrpEndpoint;
  readonly ttl: number;
  readonly onPresence: (presence: EnrpPresence, from: { readonly address: string; readonly port: number }) => void;
  readonly onMalformed: (reason: string) => void;
  readonly log: (line: string) => void;
}

export class PresenceChannel {
  private socket: dgram.Socket | undefined;
  private warned = new Set<string>();
  sent = 0;

  constructor(private readonly options: PresenceChannelOptions) {}

  async start(): Promise<void> {
    const { group } = this.options;
    const ipv6 = group.host.includes(':');
    const socket = dgram.createSocket({ type: ipv6 ? 'udp6' : 'udp4', reuseAddr: true });
    this.socket = socket;
    socket.on('error', (e) => this.options.log(`ENRP presence socket error: ${e.message}`));
    socket.on('message', (bytes, from) => {
      const decoded = decodeMessage('enrp', new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      if (!decoded.ok) {
        this.options.onMalformed(`${decoded.error.reason} (${decoded.error.rule}) from ${from.address}:${from.port}`);
        return;
      }
      const message = decoded.value;
      if (message.protocol !== 'enrp' || message.type !== 'presence') {
        this.options.onMalformed(`${message.type} over UDP from ${from.address}:${from.port}: only ENRP_PRESENCE belongs on the discovery channel`);
        return;
      }
      this.options.onPresence(message, { address: from.address, port: from.port });
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(group.port, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    if (isMulticast(group.host)) {
      try {
        socket.addMembership(group.host);
        socket.setMulticastTTL(this.options.ttl);
        socket.setMulticastLoopback(true);
      } catch (e) {
        this.options.log(`ENRP presence: cannot join ${group.host} (${(e as Error).message}); peers must be configured with --peer`);
      }
    }
    socket.unref();
  }

  send(bytes: Uint8Array): void {
    const socket = this.socket;
    if (!socket) return;
    const { group } = this.options;
    socket.send(bytes, group.port, group.host, (error) => {
      if (!error) {
        this.sent++;
        return;
      }
      const key = error.message;
      if (this.warned.has(key)) return;
      this.warned.add(key);
      this.options.log(`ENRP presence to ${group.host}:${group.port} failed: ${error.message} (will keep trying quietly)`);
    });
  }

  stop(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}

function isMulticast(host: string): boolean {
  if (net.isIPv4(host)) {
    const first = Number(host.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return net.isIPv6(host) && host.toLowerCase().startsWith('ff');
}
