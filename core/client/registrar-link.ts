/**
 * The link to "a registrar" that pool elements and pool users share: at most one RegistrarConnection at a
 * time, and one server hunt however many of them need a connection at once. Elements and users keep their
 * own state (registrations, cache) and listen to the connection themselves; requests on it are matched by
 * pool handle and PE identifier, so they do not interfere.
 *
 * A hunt runs only while someone waits for it: when every waiter gave up (aborted), it stops.
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { RegistrarDiscovery, type AnnounceListenOptions, type HuntOptions } from './registrar-discovery.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, type ConnectionClosed, type RegistrarAddress, type RegistrarConnection } from './registrar-connection.js';

export interface RegistrarLinkOptions {
  /** Static registrar list (`host:port`). */
  readonly registrars?: readonly (string | RegistrarAddress)[];
  /** A discovery shared with others; its owner closes it. Without it the link makes (and closes) its own. */
  readonly discovery?: RegistrarDiscovery;
  /**
   * Announce listening for the link's own discovery. Default: multicast 239.0.0.50:3863 when there is no
   * static list, none when there is. `false`: none.
   */
  readonly announces?: AnnounceListenOptions | false;
  readonly clock?: Clock;
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Server hunt tuning (T5, back-off, parallelism). */
  readonly hunt?: Omit<HuntOptions, 'signal' | 'prefer' | 'connection'>;
}

export interface LinkError {
  /** aborted: the caller's signal; closed: the link is closed; discovery: announces could not be listened for. */
  readonly code: 'aborted' | 'closed' | 'discovery';
  readonly message: string;
}

export interface RegistrarLinkEvents {
  connected: [connection: RegistrarConnection];
  lost: [connection: RegistrarConnection, info: ConnectionClosed];
}

export class RegistrarLink extends EventEmitter<RegistrarLinkEvents> {
  readonly discovery: RegistrarDiscovery;
  readonly requestTimeoutMs: number;
  private readonly ownsDiscovery: boolean;
  private readonly announceOptions: AnnounceListenOptions | false;
  private readonly clock: Clock;
  private readonly connectTimeoutMs: number | undefined;
  private readonly huntOptions: Omit<HuntOptions, 'signal' | 'prefer' | 'connection'>;
  private current: RegistrarConnection | undefined;
  private lastRemote: RegistrarAddress | undefined;
  private hunting: { promise: Promise<Result<RegistrarConnection, LinkError>>; controller: AbortController; waiters: number } | undefined;
  private closed = false;

  constructor(options: RegistrarLinkOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.huntOptions = options.hunt ?? {};
    if (options.discovery) {
      this.discovery = options.discovery;
      this.ownsDiscovery = false;
      this.announceOptions = false;
    } else {
      this.discovery = new RegistrarDiscovery({ registrars: options.registrars ?? [], clock: this.clock });
      this.ownsDiscovery = true;
      this.announceOptions = options.announces ?? ((options.registrars ?? []).length > 0 ? false : {});
    }
  }

  /** The live connection, if there is one. */
  get connection(): RegistrarConnection | undefined {
    return this.current && !this.current.isClosed ? this.current : undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The live connection, or the one the (shared) server hunt finds. */
  acquire(signal?: AbortSignal): Promise<Result<RegistrarConnection, LinkError>> {
    if (this.closed) return Promise.resolve(err({ code: 'closed', message: 'the registrar link is closed' }));
    const live = this.connection;
    if (live) return Promise.resolve(ok(live));
    if (signal?.aborted) return Promise.resolve(err({ code: 'aborted', message: 'aborted' }));
    const hunt = (this.hunting ??= this.startHunt());
    hunt.waiters++;
    return new Promise((resolve) => {
      let done = false;
      const finish = (result: Result<RegistrarConnection, LinkError>): void => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        hunt.waiters--;
        resolve(result);
      };
      const onAbort = (): void => {
        finish(err({ code: 'aborted', message: 'aborted' }));
        // Nobody waits any more: stop hunting.
        if (hunt.waiters === 0) hunt.controller.abort();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      void hunt.promise.then(finish);
    });
  }

  /** Closes `connection` if it is the live one (e.g. it stopped answering); the next acquire() hunts. */
  drop(connection: RegistrarConnection): void {
    void connection.close();
  }

  /** Closes the connection and stops any hunt (and the discovery, if the link made it). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hunting?.controller.abort();
    await this.hunting?.promise;
    const connection = this.current;
    this.current = undefined;
    if (connection) await connection.close();
    if (this.ownsDiscovery) await this.discovery.close();
  }

  private startHunt(): { promise: Promise<Result<RegistrarConnection, LinkError>>; controller: AbortController; waiters: number } {
    const controller = new AbortController();
    const promise = this.hunt(controller.signal).finally(() => {
      if (this.hunting?.controller === controller) this.hunting = undefined;
    });
    return { promise, controller, waiters: 0 };
  }

  private async hunt(signal: AbortSignal): Promise<Result<RegistrarConnection, LinkError>> {
    if (this.ownsDiscovery && this.announceOptions !== false && !this.discovery.listening) {
      const listening = await this.discovery.listen(this.announceOptions);
      if (!listening.ok && listening.error.code !== 'alreadyListening') return err({ code: 'discovery', message: listening.error.message });
    }
    const hunted = await this.discovery.hunt({
      ...this.huntOptions,
      signal,
      ...(this.lastRemote ? { prefer: this.lastRemote } : {}),
      connection: { clock: this.clock, requestTimeoutMs: this.requestTimeoutMs, ...(this.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.connectTimeoutMs } : {}) },
    });
    if (!hunted.ok) return err({ code: this.closed ? 'closed' : 'aborted', message: hunted.error.message });
    const connection = hunted.value;
    if (this.closed) {
      await connection.close();
      return err({ code: 'closed', message: 'the registrar link was closed during the hunt' });
    }
    this.current = connection;
    this.lastRemote = connection.remote;
    connection.once('close', (info) => {
      if (this.current === connection) this.current = undefined;
      this.emit('lost', connection, info);
    });
    this.emit('connected', connection);
    return ok(connection);
  }
}
