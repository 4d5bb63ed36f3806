/**
 * Which registrars an element or user can reach, and the server hunt that picks one (RFC 5352 §3.6).
 *
 * The list is the union of static `host:port` entries and the registrars heard in ASAP_SERVER_ANNOUNCE over
 * UDP, multicast (RSPLIB's 239.0.0.50:3863 by default) or plain unicast on a chosen port. An announced
 * registrar stays on the list for T7 = 5 s (RFC 5352 §7, RSPLIB's RegistrarAnnounceTimeout) after it was
 * last heard. The ASAP address of an announced registrar is its TCP Transport parameter; an unspecified
 * address (0.0.0.0 or ::) stands for the datagram's source address, and an announce without transport
 * parameters means the source address and port 3863 (RFC 5352 §3.6). SCTP transport parameters are not
 * usable over TCP and are ignored.
 *
 * The hunt tries at most 3 registrars at a time (SH1), each round bounded by T5 (RFC default 10 s, doubled
 * when it expires, capped at RETRAN-MAX = 60 s); the first connection wins and the others are dropped.
 * When every known registrar failed, it pauses (500 ms at first, doubling up to 60 s) or until a new
 * registrar is announced, then starts over. It hunts until it succeeds or its signal aborts.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { ASAP_PORT } from '../wire/constants.js';
import { decodeMessage } from '../wire/decoder.js';
import type { AsapServerAnnounce } from '../wire/types.js';
import { pause } from './clock-signals.js';
import {
  RegistrarConnection,
  formatRegistrarAddress,
  parseRegistrarAddress,
  type RegistrarAddress,
  type RegistrarConnectionOptions,
} from './registrar-connection.js';

/** RSPLIB's ASAP announce group (rserpool.h); IANA's 224.0.1.185 is the RFC's. */
export const DEFAULT_ANNOUNCE_GROUP = '239.0.0.50';
/** T7-ENRPoutdate (RFC 5352 §7) = RSPLIB's RegistrarAnnounceTimeout. */
export const DEFAULT_ANNOUNCE_TIMEOUT_MS = 5000;
/** T5-Serverhunt initial value (RFC 5352 §7). */
export const DEFAULT_HUNT_ROUND_TIMEOUT_MS = 10_000;
/** RETRAN-MAX (RFC 5352 §7): cap on T5 and on the pause between hunt passes. */
export const DEFAULT_HUNT_MAX_BACKOFF_MS = 60_000;
export const DEFAULT_HUNT_RETRY_DELAY_MS = 500;
/** SH1: never more than 3 parallel attempts. */
const MAX_PARALLEL = 3;

export interface KnownRegistrar {
  readonly address: RegistrarAddress;
  readonly source: 'static' | 'announce';
  /** From the announce; unknown for static entries. */
  readonly serverId?: number;
  /** Clock time of the last announce heard (announced entries only). */
  readonly lastHeardAt?: number;
}

export interface AnnounceListenOptions {
  /** UDP port; default 3863. Use 0 in tests and read `announceAddress`. */
  readonly port?: number;
  /** Bind address; default 0.0.0.0 (needed to receive multicast). */
  readonly host?: string;
  /** Multicast group to join; default 239.0.0.50. `false`: unicast only (tests send to 127.0.0.1). */
  readonly multicastGroup?: string | false;
  /** Local interface address for the group membership; default: the kernel's choice. */
  readonly multicastInterface?: string;
}

export interface ListenError {
  readonly code: 'alreadyListening' | 'bind' | 'membership';
  readonly message: string;
}

export interface IgnoredAnnounce {
  readonly from: RegistrarAddress;
  readonly reason: string;
}

export interface RegistrarDiscoveryEvents {
  /** A registrar appeared on the list (announced for the first time, or again after it expired). */
  added: [registrar: KnownRegistrar];
  /** An announced registrar was not heard for T7. */
  expired: [registrar: KnownRegistrar];
  /** A datagram on the announce socket that was not a usable ASAP_SERVER_ANNOUNCE. */
  ignored: [announce: IgnoredAnnounce];
}

export interface RegistrarDiscoveryOptions {
  /** Static registrars: `host:port` text or addresses. Bad text is a caller bug (RangeError). */
  readonly registrars?: readonly (string | RegistrarAddress)[];
  readonly clock?: Clock;
  readonly announceTimeoutMs?: number;
}

export interface HuntOptions {
  readonly signal?: AbortSignal;
  /** Attempts in parallel, 1-3 (default 3, the RFC's maximum). */
  readonly parallel?: number;
  /** T5 for the first round; default 10 s. */
  readonly roundTimeoutMs?: number;
  /** Cap on T5 and on the pause between passes; default 60 s. */
  readonly maxBackoffMs?: number;
  /** First pause after every registrar failed; default 500 ms, doubling. */
  readonly retryDelayMs?: number;
  /** Tried first (e.g. the previous home registrar). */
  readonly prefer?: RegistrarAddress;
  /** Options for the connection that wins (its clock defaults to the discovery's). */
  readonly connection?: RegistrarConnectionOptions;
}

export interface HuntError {
  readonly code: 'aborted';
  readonly message: string;
  /** Why the attempts of the last round failed, for logs. */
  readonly failures: readonly string[];
}

interface Announced {
  registrar: KnownRegistrar;
  timer: TimerHandle;
}

const sameAddress = (a: RegistrarAddress, b: RegistrarAddress): boolean => a.host === b.host && a.port === b.port;

function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** The ASAP (TCP) addresses an announce offers, per RFC 5352 §3.6 as applied to our TCP transport. */
export function announcedAddresses(message: AsapServerAnnounce, sourceAddress: string): RegistrarAddress[] {
  if (message.transports.length === 0) return [{ host: sourceAddress, port: ASAP_PORT }];
  const addresses: RegistrarAddress[] = [];
  for (const transport of message.transports) {
    if (transport.kind !== 'tcp') continue;
    const address = { host: isUnspecified(transport.address) ? sourceAddress : transport.address, port: transport.port };
    if (!addresses.some((known) => sameAddress(known, address))) addresses.push(address);
  }
  return addresses;
}

function toAddress(entry: string | RegistrarAddress): RegistrarAddress {
  if (typeof entry !== 'string') return { host: entry.host, port: entry.port };
  const parsed = parseRegistrarAddress(entry);
  if (!parsed.ok) throw new RangeError(parsed.error);
  return parsed.value;
}

export class RegistrarDiscovery extends EventEmitter<RegistrarDiscoveryEvents> {
  private readonly clock: Clock;
  private readonly announceTimeoutMs: number;
  private readonly staticRegistrars: KnownRegistrar[];
  private readonly announced = new Map<string, Announced>();
  private socket: dgram.Socket | undefined;
  private boundAddress: RegistrarAddress | undefined;
  private closed = false;

  constructor(options: RegistrarDiscoveryOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    this.announceTimeoutMs = options.announceTimeoutMs ?? DEFAULT_ANNOUNCE_TIMEOUT_MS;
    this.staticRegistrars = (options.registrars ?? []).map((entry) => ({ address: toAddress(entry), source: 'static' as const }));
  }

  /** Where the announce socket is bound, once listening. */
  get announceAddress(): RegistrarAddress | undefined {
    return this.boundAddress;
  }

  /** Whether announces are being listened for. */
  get listening(): boolean {
    return this.socket !== undefined;
  }

  /**
   * Every registrar to try, announced ones first (they were heard recently, most recent first), then the
   * static list in its configured order; each address once.
   */
  candidates(): KnownRegistrar[] {
    const announced = [...this.announced.values()].map((entry) => entry.registrar).sort((a, b) => (b.lastHeardAt ?? 0) - (a.lastHeardAt ?? 0));
    const out: KnownRegistrar[] = [...announced];
    for (const registrar of this.staticRegistrars) {
      if (!out.some((known) => sameAddress(known.address, registrar.address))) out.push(registrar);
    }
    return out;
  }

  /** The server identifier announced for an address, if one was heard. */
  serverIdOf(address: RegistrarAddress): number | undefined {
    return this.announced.get(formatRegistrarAddress(address))?.registrar.serverId;
  }

  /** Starts listening for ASAP_SERVER_ANNOUNCE on UDP (reuseAddr, so several processes can share the port). */
  listen(options: AnnounceListenOptions = {}): Promise<Result<RegistrarAddress, ListenError>> {
    if (this.socket || this.closed) return Promise.resolve(err({ code: 'alreadyListening', message: this.closed ? 'discovery is closed' : 'already listening for announces' }));
    const group = options.multicastGroup === undefined ? DEFAULT_ANNOUNCE_GROUP : options.multicastGroup;
    const host = options.host ?? (group !== false && group.includes(':') ? '::' : '0.0.0.0');
    const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
    return new Promise((resolve) => {
      const onBindError = (error: Error): void => {
        socket.close();
        resolve(err({ code: 'bind', message: `cannot listen for announces on ${formatRegistrarAddress({ host, port: options.port ?? ASAP_PORT })}: ${error.message}` }));
      };
      socket.once('error', onBindError);
      socket.bind({ address: host, port: options.port ?? ASAP_PORT }, () => {
        socket.off('error', onBindError);
        if (group !== false) {
          try {
            socket.addMembership(group, options.multicastInterface);
          } catch (failure) {
            socket.close();
            resolve(err({ code: 'membership', message: `cannot join ${group}: ${failure instanceof Error ? failure.message : String(failure)}` }));
            return;
          }
        }
        // After binding, socket errors (e.g. ICMP noise) must not crash the process; announces just stop.
        socket.on('error', () => undefined);
        socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
        const bound = socket.address();
        this.socket = socket;
        this.boundAddress = { host: bound.address, port: bound.port };
        if (this.closed) {
          socket.close();
          this.socket = undefined;
          resolve(err({ code: 'alreadyListening', message: 'discovery closed while binding' }));
          return;
        }
        resolve(ok(this.boundAddress));
      });
    });
  }

  /**
   * Server hunt: connects to a registrar from the list. Resolves with the first connection made, or with
   * 'aborted' when the signal fires; until then it keeps trying with back-off.
   */
  async hunt(options: HuntOptions = {}): Promise<Result<RegistrarConnection, HuntError>> {
    const { signal } = options;
    const parallel = Math.max(1, Math.min(MAX_PARALLEL, Math.floor(options.parallel ?? MAX_PARALLEL)));
    const maxBackoff = options.maxBackoffMs ?? DEFAULT_HUNT_MAX_BACKOFF_MS;
    let roundTimeout = Math.min(options.roundTimeoutMs ?? DEFAULT_HUNT_ROUND_TIMEOUT_MS, maxBackoff);
    let retryDelay = Math.min(options.retryDelayMs ?? DEFAULT_HUNT_RETRY_DELAY_MS, maxBackoff);
    const connectionOptions: RegistrarConnectionOptions = { clock: this.clock, ...options.connection };
    let failures: string[] = [];
    const aborted = (): Result<RegistrarConnection, HuntError> =>
      err({ code: 'aborted', message: failures.length > 0 ? `server hunt aborted; last failures: ${failures.join('; ')}` : 'server hunt aborted', failures });

    for (;;) {
      if (signal?.aborted || this.closed) return aborted();
      const addresses = this.candidates().map((candidate) => candidate.address);
      if (options.prefer) {
        const preferred = options.prefer;
        const at = addresses.findIndex((address) => sameAddress(address, preferred));
        if (at > 0) addresses.unshift(...addresses.splice(at, 1));
      }
      if (addresses.length === 0) failures = ['no registrar known (no static entry, none announced)'];
      for (let start = 0; start < addresses.length; start += parallel) {
        const round = await connectFirst(addresses.slice(start, start + parallel), roundTimeout, this.clock, connectionOptions, signal);
        if (round.ok) return round;
        failures = round.error.failures;
        if (round.error.timedOut) roundTimeout = Math.min(roundTimeout * 2, maxBackoff);
        if (signal?.aborted || this.closed) return aborted();
      }
      const outcome = await pause(this.clock, retryDelay, signal, (end) => {
        this.on('added', end);
        return () => this.off('added', end);
      });
      if (outcome === 'aborted') return aborted();
      if (outcome === 'elapsed') retryDelay = Math.min(retryDelay * 2, maxBackoff);
    }
  }

  /** Stops listening and forgets announced registrars. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.announced.values()) this.clock.clearTimeout(entry.timer);
    this.announced.clear();
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  private onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    const from = { host: rinfo.address, port: rinfo.port };
    const decoded = decodeMessage('asap', new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (!decoded.ok) {
      this.emit('ignored', { from, reason: `undecodable datagram: ${decoded.error.reason}` });
      return;
    }
    const message = decoded.value;
    if (message.protocol !== 'asap' || message.type !== 'serverAnnounce') {
      this.emit('ignored', { from, reason: `${message.type} is not an ASAP_SERVER_ANNOUNCE` });
      return;
    }
    const addresses = announcedAddresses(message, rinfo.address);
    if (addresses.length === 0) {
      this.emit('ignored', { from, reason: 'announce offers only SCTP transports, which a TCP client cannot use' });
      return;
    }
    for (const address of addresses) this.heard(address, message.serverId);
  }

  private heard(address: RegistrarAddress, serverId: number): void {
    const key = formatRegistrarAddress(address);
    const registrar: KnownRegistrar = { address, source: 'announce', serverId, lastHeardAt: this.clock.now() };
    const existing = this.announced.get(key);
    if (existing) this.clock.clearTimeout(existing.timer);
    const timer = this.clock.setTimeout(() => {
      const entry = this.announced.get(key);
      if (entry?.timer !== timer) return;
      this.announced.delete(key);
      this.emit('expired', entry.registrar);
    }, this.announceTimeoutMs);
    this.announced.set(key, { registrar, timer });
    if (!existing) this.emit('added', registrar);
  }
}

interface RoundFailure {
  readonly failures: string[];
  readonly timedOut: boolean;
}

/** One hunt round: dial every address at once; the first connection wins, the rest are dropped. */
function connectFirst(
  addresses: readonly RegistrarAddress[],
  roundTimeoutMs: number,
  clock: Clock,
  connectionOptions: RegistrarConnectionOptions,
  signal: AbortSignal | undefined,
): Promise<Result<RegistrarConnection, RoundFailure>> {
  return new Promise((resolve) => {
    const controller = new AbortController();
    const failures: string[] = [];
    let remaining = addresses.length;
    let timedOut = false;
    let done = false;
    const onAbort = (): void => controller.abort();
    const timer = clock.setTimeout(() => {
      timedOut = true;
      failures.push(`round timed out after ${roundTimeoutMs} ms (T5)`);
      controller.abort();
    }, roundTimeoutMs);
    const finish = (result: Result<RegistrarConnection, RoundFailure>): void => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    if (signal?.aborted) controller.abort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    for (const address of addresses) {
      void RegistrarConnection.connect(address, { ...connectionOptions, signal: controller.signal }).then((result) => {
        if (result.ok) {
          if (done) {
            void result.value.close();
            return;
          }
          finish(result);
          controller.abort();
          return;
        }
        if (result.error.code !== 'aborted') failures.push(result.error.message);
        if (--remaining === 0) finish(err({ failures, timedOut }));
      });
    }
  });
}
