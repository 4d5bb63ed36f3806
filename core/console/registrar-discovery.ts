/**
 * The console's discovery of registrars on the LAN: listens for ASAP_SERVER_ANNOUNCE on the announce group
 * (RSPLIB's 239.0.0.50:3863 by default, or a unicast address), and keeps a table of every registrar heard:
 * its identifier, ASAP addresses, where the announce came from, when it was first and last heard, how
 * often, and (for a handlespace registrar) its console from our Console Endpoint parameter
 * (docs/protocol.md), so the desktop app can attach to it with one click and a token.
 *
 * Announces are decoded with the strict decoder; anything else on the port (malformed datagrams, other
 * messages) is counted and ignored. A registrar not heard for 5 announce intervals (the interval measured
 * between its last two announces; 30 s while it was heard once) is forgotten. The table is pruned when it
 * is read or written, so it needs no timer.
 */
import dgram from 'node:dgram';
import os from 'node:os';
import { systemClock, type Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import type { Endpoint } from '../registrar/options.js';
import { ASAP_PORT } from '../wire/constants.js';
import { decodeMessage } from '../wire/decoder.js';
import { parseIpAddress } from '../wire/ip-address.js';
import { hex32 } from '../wire/json.js';
import { ConsoleScheme, type AsapServerAnnounce, type ConsoleEndpoint } from '../wire/types.js';
import type { HeardRegistrarView } from './contract.js';

/** Forgotten after this many of its announce intervals without an announce (RSPLIB's T7 is 5 s at 1 s). */
export const FORGET_AFTER_INTERVALS = 5;
/** Forgotten after this long while its interval is unknown (heard once). */
export const FORGET_AFTER_FIRST_MS = 30_000;
/** Bounds of the measured interval: the registrar's own announce interval range (core/registrar/options.ts). */
const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 60_000;
/** At most this many registrars are kept: forged announces with ever-new identifiers must not grow memory. */
export const MAX_HEARD_REGISTRARS = 1024;

export interface DiscoveryCounters {
  /** Datagrams received on the announce socket. */
  readonly datagrams: number;
  /** ASAP_SERVER_ANNOUNCE messages taken into the table. */
  readonly announces: number;
  /** Datagrams the strict decoder refused. */
  readonly malformed: number;
  /** Well-formed ASAP messages that are not announces. */
  readonly ignored: number;
}

export interface RegistrarDiscoveryOptions {
  /** Multicast group (joined) or unicast address (bound) to listen on. */
  readonly group: Endpoint;
  /** This server's own registrar: its entry is marked `self`. */
  readonly ownServerId?: number;
  readonly clock?: Clock;
  readonly log?: (line: string) => void;
}

interface Entry {
  readonly serverId: number;
  readonly sourceHost: string;
  source: string;
  asap: string[];
  firstHeardAt: number;
  lastHeardAt: number;
  /** The gap between the last two announces; undefined while heard once. */
  intervalMs: number | undefined;
  announces: number;
  console: HeardRegistrarView['console'];
}

export function isMulticastAddress(host: string): boolean {
  const parsed = parseIpAddress(host);
  if (!parsed) return false;
  return parsed.family === 4 ? ((parsed.bytes[0] ?? 0) & 0xf0) === 0xe0 : parsed.bytes[0] === 0xff;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '::ffff:127.0.0.1';
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** "HOST:PORT" with IPv6 in brackets, as the rest of the console writes addresses. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Node's fingerprint form (X509Certificate.fingerprint256, getPeerCertificate().fingerprint256): "AB:CD:…". */
export function formatFingerprint(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

/** The ASAP addresses an announce offers: its transports, an unspecified address standing for the source. */
function asapAddresses(message: AsapServerAnnounce, sourceHost: string): string[] {
  // RFC 5352 §3.6: an announce without transport parameters means the source address and the ASAP port.
  if (message.transports.length === 0) return [hostPort(sourceHost, ASAP_PORT)];
  const out = new Set<string>();
  for (const t of message.transports) {
    const hosts = t.kind === 'tcp' ? [t.address] : t.addresses;
    for (const host of hosts) out.add(hostPort(isUnspecified(host) ? sourceHost : host, t.port));
  }
  return [...out];
}

/**
 * The console URL an announce's Console Endpoint names, or null when it cannot be used from here: an
 * unknown scheme, port 0, or a loopback host announced by another machine (which would point at ours).
 */
export function consoleOf(endpoint: ConsoleEndpoint | undefined, sourceHost: string, localHosts: () => ReadonlySet<string>): HeardRegistrarView['console'] {
  if (!endpoint || endpoint.port === 0) return null;
  const scheme = endpoint.scheme === ConsoleScheme.https ? 'https' : endpoint.scheme === ConsoleScheme.http ? 'http' : undefined;
  if (scheme === undefined) return null;
  const host = endpoint.host ?? sourceHost;
  if (isLoopback(host) && !isLoopback(sourceHost) && !localHosts().has(sourceHost)) return null;
  return { url: `${scheme}://${hostPort(host, endpoint.port)}/`, tlsFingerprint: endpoint.tlsFingerprint ? formatFingerprint(endpoint.tlsFingerprint) : null };
}

function interfaceAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) for (const info of list ?? []) out.add(info.address);
  return out;
}

export class RegistrarDiscoveryListener {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private readonly counts = { datagrams: 0, announces: 0, malformed: 0, ignored: 0 };
  /** Sources already logged for a malformed datagram: one line each, not one per datagram. */
  private readonly warned = new Set<string>();
  private localHostsCache: { at: number; hosts: Set<string> } | undefined;
  private ownServerId: number | undefined;
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly group: Endpoint,
    readonly address: Endpoint,
    options: RegistrarDiscoveryOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => undefined);
    this.ownServerId = options.ownServerId;
    socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo.address, rinfo.port));
  }

  /**
   * Binds the announce port (shared with other listeners: reuseAddr) and joins the group when it is a
   * multicast address; a unicast address is bound as it is. Errors are values (port taken, no multicast).
   */
  static start(options: RegistrarDiscoveryOptions): Promise<Result<RegistrarDiscoveryListener, string>> {
    const { group } = options;
    const multicast = isMulticastAddress(group.host);
    const ipv6 = group.host.includes(':');
    const bindHost = multicast ? (ipv6 ? '::' : '0.0.0.0') : group.host;
    const socket = dgram.createSocket({ type: ipv6 ? 'udp6' : 'udp4', reuseAddr: true });
    const where = hostPort(group.host, group.port);
    return new Promise((resolve) => {
      const onBindError = (error: Error): void => {
        socket.close();
        resolve(err(`cannot listen for registrar announces on ${where}: ${error.message}`));
      };
      socket.once('error', onBindError);
      socket.bind({ address: bindHost, port: group.port }, () => {
        socket.off('error', onBindError);
        if (multicast) {
          try {
            socket.addMembership(group.host);
          } catch (e) {
            socket.close();
            resolve(err(`cannot join ${group.host} to hear registrar announces: ${e instanceof Error ? e.message : String(e)}`));
            return;
          }
        }
        // After binding, errors (ICMP noise) must not crash the process; announces just stop arriving.
        socket.on('error', (e) => options.log?.(`discovery socket error: ${e.message}`));
        socket.unref();
        const bound = socket.address();
        resolve(ok(new RegistrarDiscoveryListener(socket, group, { host: bound.address, port: bound.port }, options)));
      });
    });
  }

  get counters(): DiscoveryCounters {
    return { ...this.counts };
  }

  /** Which announces are our own registrar's (the console service sets it when it attaches). */
  setOwnServerId(serverId: number | undefined): void {
    this.ownServerId = serverId;
  }

  /** Every registrar heard and not yet forgotten, most recently heard first. */
  heard(): HeardRegistrarView[] {
    const now = this.clock.now();
    this.prune(now);
    return [...this.entries.values()]
      .sort((a, b) => b.lastHeardAt - a.lastHeardAt || a.serverId - b.serverId)
      .map((e) => ({
        serverId: hex32(e.serverId),
        asap: [...e.asap],
        source: e.source,
        firstHeardAt: e.firstHeardAt,
        lastHeardAt: e.lastHeardAt,
        announces: e.announces,
        console: e.console,
        self: e.serverId === this.ownServerId,
      }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  private onDatagram(data: Buffer, sourceHost: string, sourcePort: number): void {
    this.counts.datagrams++;
    const decoded = decodeMessage('asap', data);
    if (!decoded.ok) {
      this.counts.malformed++;
      if (!this.warned.has(sourceHost) && this.warned.size < MAX_HEARD_REGISTRARS) {
        this.warned.add(sourceHost);
        this.log(`discovery: ignoring a malformed datagram from ${hostPort(sourceHost, sourcePort)}: ${decoded.error.reason} (further ones from there are counted, not logged)`);
      }
      return;
    }
    const message = decoded.value;
    if (message.protocol !== 'asap' || message.type !== 'serverAnnounce') {
      this.counts.ignored++;
      return;
    }
    this.counts.announces++;
    const now = this.clock.now();
    this.prune(now);
    // Keyed by identifier and source host: two registrars misconfigured with one identifier stay apart, and
    // a restart (a new source port) is the same registrar.
    const key = `${message.serverId}|${sourceHost}`;
    const consoleView = consoleOf(message.consoleEndpoint, sourceHost, () => this.localHosts(now));
    const entry = this.entries.get(key);
    if (entry) {
      entry.intervalMs = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, now - entry.lastHeardAt));
      entry.lastHeardAt = now;
      entry.announces++;
      entry.source = hostPort(sourceHost, sourcePort);
      entry.asap = asapAddresses(message, sourceHost);
      entry.console = consoleView;
      return;
    }
    if (this.entries.size >= MAX_HEARD_REGISTRARS) this.evictOldest();
    this.entries.set(key, {
      serverId: message.serverId,
      sourceHost,
      source: hostPort(sourceHost, sourcePort),
      asap: asapAddresses(message, sourceHost),
      firstHeardAt: now,
      lastHeardAt: now,
      intervalMs: undefined,
      announces: 1,
      console: consoleView,
    });
  }

  private prune(now: number): void {
    for (const [key, e] of this.entries) {
      const forgetAfter = e.intervalMs === undefined ? FORGET_AFTER_FIRST_MS : FORGET_AFTER_INTERVALS * e.intervalMs;
      if (now - e.lastHeardAt > forgetAfter) this.entries.delete(key);
    }
  }

  private evictOldest(): void {
    let oldest: [string, Entry] | undefined;
    for (const pair of this.entries) if (!oldest || pair[1].lastHeardAt < oldest[1].lastHeardAt) oldest = pair;
    if (oldest) this.entries.delete(oldest[0]);
  }

  /** This machine's addresses, re-read at most every 10 s (interfaces come and go; the call is not free). */
  private localHosts(now: number): Set<string> {
    if (!this.localHostsCache || now - this.localHostsCache.at > 10_000) this.localHostsCache = { at: now, hosts: interfaceAddresses() };
    return this.localHostsCache.hosts;
  }
}
