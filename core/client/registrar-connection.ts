/**
 * One ASAP connection from a pool element or pool user to a registrar, over TCP framed by the message
 * length (DESIGN.md §3). It owns the socket, the framing and decoding, the matching of responses to
 * requests, and the delivery of what a registrar sends unasked: keep-alives, pushed handle-resolution
 * updates (A flag), deregistration responses on lifetime expiry and ASAP_ERROR.
 *
 * Requests are matched by content, never by "the last thing sent", so several elements and a user can
 * share one connection: a registration by pool handle + PE identifier, a deregistration likewise, a handle
 * resolution by pool handle (first in, first out per handle: a registrar answers in order on one
 * connection). A request that timed out or was aborted keeps its place in the queue for one more timeout,
 * so its late answer is swallowed instead of being taken for the answer to the next request or for a
 * pushed update. A handle-resolution response that carries PE Status parameters (docs/protocol.md) is
 * always a push, never an answer: registrars put PE Status only in pushed updates.
 *
 * Every decoded message gets an arrival number (arrivalOf()), increasing per connection, so a user can
 * tell whether an answer it awaited is older than a push it already applied (both can come in one TCP
 * read, and the answer's awaiter runs after the push's listener).
 *
 * Bad input: a message that fails to decode is dropped and, where the decoder says so (RFC 5354 action
 * bits, Invalid Values), answered with ASAP_ERROR carrying the cause; the connection survives it. A framing
 * error (length below 4 or above the limit) loses the stream, so the connection is closed.
 *
 * Timeouts: requests wait `requestTimeoutMs`, default 3 s (RSPLIB's registrar request/response timeout),
 * not the RFC's T1 = 15 s / T2 = 30 s: on a LAN a registrar that has not answered in 3 s is better replaced
 * by a server hunt. Connecting waits `connectTimeoutMs`, default 7.5 s (RSPLIB's connect timeout).
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { ASAP_PORT, AsapType, Cause } from '../wire/constants.js';
import { decodeMessage, reportsFor, type DecodeError } from '../wire/decoder.js';
import { encodeMessage } from '../wire/encoder.js';
import { DEFAULT_WIRE_LIMITS, type WireLimits } from '../wire/limits.js';
import { TcpFramer, type FramingError } from '../wire/tcp-framer.js';
import type {
  AsapDeregistrationResponse,
  AsapEndpointKeepAlive,
  AsapError,
  AsapHandleResolutionResponse,
  AsapMessage,
  AsapRegistrationResponse,
  PoolElement as WirePoolElement,
} from '../wire/types.js';
import { handleKey } from './pool-handle.js';

/** Where a registrar accepts ASAP connections. */
export interface RegistrarAddress {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 3000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 7500;
/** How long close() waits for the peer's FIN before destroying the socket (socket hygiene, not protocol). */
const CLOSE_GRACE_MS = 1000;

/**
 * Reads `host:port`, `[v6]:port`, a bare host or a bare IPv6 address (port defaults to 3863, the ASAP
 * port of RFC 5352 §8.2).
 */
export function parseRegistrarAddress(text: string): Result<RegistrarAddress, string> {
  const trimmed = text.trim();
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
  } else {
    const colons = trimmed.split(':').length - 1;
    if (colons === 1) {
      const at = trimmed.indexOf(':');
      host = trimmed.slice(0, at);
      portText = trimmed.slice(at + 1);
    } else {
      // No colon: a host name or IPv4 address. Several: a bare IPv6 address (a port needs brackets).
      host = trimmed;
    }
  }
  if (host === '' || /\s/.test(host)) return err(`not a registrar address: ${JSON.stringify(text)} (expected host:port)`);
  if (portText === undefined) return ok({ host, port: ASAP_PORT });
  if (!/^\d{1,5}$/.test(portText)) return err(`bad port in registrar address ${JSON.stringify(text)}`);
  const port = Number(portText);
  if (port < 1 || port > 65535) return err(`port ${port} out of range in registrar address ${JSON.stringify(text)}`);
  return ok({ host, port });
}

export function formatRegistrarAddress(address: RegistrarAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export interface ConnectError {
  readonly code: 'refused' | 'timeout' | 'aborted' | 'failed';
  readonly address: RegistrarAddress;
  readonly message: string;
}

export interface RequestError {
  /** timeout: no answer in time; closed: the connection is (or went) down; aborted: the caller's signal. */
  readonly kind: 'timeout' | 'closed' | 'aborted';
  readonly message: string;
}

/** A message the connection could not use: bad bytes from the registrar. */
export type ProtocolProblem =
  | { readonly kind: 'decode'; readonly error: DecodeError; readonly replied: boolean }
  | { readonly kind: 'framing'; readonly error: FramingError };

export interface ConnectionClosed {
  /** local: close() was called; remote: the registrar closed or reset; framing: the stream was unreadable. */
  readonly reason: 'local' | 'remote' | 'framing';
  readonly message: string;
}

export interface RegistrarConnectionEvents {
  keepAlive: [message: AsapEndpointKeepAlive];
  /** A handle-resolution response no request waited for: a pushed update (A flag) for a subscribed pool. */
  handleUpdate: [message: AsapHandleResolutionResponse];
  /** A deregistration response no request waited for: the registrar dropped the element (lifetime expiry). */
  deregistered: [message: AsapDeregistrationResponse];
  asapError: [message: AsapError];
  /** Any other message: unanswered responses, messages a registrar should not send. */
  unexpected: [message: AsapMessage];
  protocolError: [problem: ProtocolProblem];
  close: [info: ConnectionClosed];
}

export interface RegistrarConnectionOptions {
  readonly clock?: Clock;
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly limits?: WireLimits;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** Overrides the connection's request timeout for this request. */
  readonly timeoutMs?: number;
}

export interface ResolveRequestOptions extends RequestOptions {
  /** S flag: ask for pushed updates while this connection lives (RFC 5352 §2.2.5). */
  readonly subscribe?: boolean;
  /** Handle Resolution Option: how many elements to return (RSPLIB; 0xffffffff = as many as allowed). */
  readonly items?: number;
}

interface Pending {
  /** Undefined once the requester gave up: the answer is then swallowed when it comes. */
  settle: ((result: Result<AsapMessage, RequestError>) => void) | undefined;
  timer: TimerHandle | undefined;
}

const registrationKey = (handle: Uint8Array, peId: number): string => `reg/${handleKey(handle)}/${peId}`;
const deregistrationKey = (handle: Uint8Array, peId: number): string => `dereg/${handleKey(handle)}/${peId}`;
const resolutionKey = (handle: Uint8Array): string => `res/${handleKey(handle)}`;

export class RegistrarConnection extends EventEmitter<RegistrarConnectionEvents> {
  private readonly framer: TcpFramer;
  private readonly pending = new Map<string, Pending[]>();
  private readonly clock: Clock;
  private readonly limits: WireLimits;
  private closedInfo: ConnectionClosed | undefined;
  /** Set once closing started (by us, or by a framing error): the connection takes no more requests. */
  private closeReason: ConnectionClosed | undefined;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  private socketError: string | undefined;
  private arrivals = 0;
  private readonly arrivalNumbers = new WeakMap<AsapMessage, number>();

  /** Default for requests on this connection. */
  readonly requestTimeoutMs: number;

  private constructor(
    private readonly socket: net.Socket,
    /** The address dialled (as configured or announced), not the resolved peer address. */
    readonly remote: RegistrarAddress,
    options: RegistrarConnectionOptions,
  ) {
    super();
    this.clock = options.clock ?? systemClock;
    this.limits = options.limits ?? DEFAULT_WIRE_LIMITS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.framer = new TcpFramer(this.limits.maxMessageSize);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: Error) => {
      this.socketError ??= error.message;
    });
    socket.on('close', () => this.onClose());
  }

  /** Dials a registrar. Resolves once the TCP connection stands, or with why it could not be made. */
  static connect(address: RegistrarAddress, options: RegistrarConnectionOptions & { readonly signal?: AbortSignal } = {}): Promise<Result<RegistrarConnection, ConnectError>> {
    const clock = options.clock ?? systemClock;
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const where = formatRegistrarAddress(address);
    return new Promise((resolve) => {
      if (options.signal?.aborted) {
        resolve(err({ code: 'aborted', address, message: `connecting to ${where} aborted` }));
        return;
      }
      const socket = net.createConnection({ host: address.host, port: address.port });
      let done = false;
      const finish = (result: Result<RegistrarConnection, ConnectError>): void => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        socket.off('connect', onConnect);
        socket.off('error', onError);
        if (!result.ok) socket.destroy();
        resolve(result);
      };
      const onConnect = (): void => finish(ok(new RegistrarConnection(socket, address, options)));
      const onError = (error: NodeJS.ErrnoException): void =>
        finish(err({ code: error.code === 'ECONNREFUSED' ? 'refused' : 'failed', address, message: `connecting to ${where}: ${error.message}` }));
      const onAbort = (): void => finish(err({ code: 'aborted', address, message: `connecting to ${where} aborted` }));
      const timer = clock.setTimeout(() => finish(err({ code: 'timeout', address, message: `connecting to ${where} took longer than ${timeoutMs} ms` })), timeoutMs);
      socket.once('connect', onConnect);
      socket.once('error', onError);
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** True from the moment closing starts: a closing connection takes no requests. */
  get isClosed(): boolean {
    return this.closedInfo !== undefined || this.closeReason !== undefined || this.socket.destroyed;
  }

  /** Why the connection closed, once it has. */
  get closed(): ConnectionClosed | undefined {
    return this.closedInfo;
  }

  /** The local TCP endpoint (what the registrar records as the element's ASAP transport). */
  get localAddress(): RegistrarAddress | undefined {
    const host = this.socket.localAddress;
    const port = this.socket.localPort;
    return host !== undefined && port !== undefined ? { host, port } : undefined;
  }

  /** The arrival number of a message this connection decoded (1, 2, 3 … in the order they came). */
  arrivalOf(message: AsapMessage): number | undefined {
    return this.arrivalNumbers.get(message);
  }

  /** Sends one message without waiting for anything (keep-alive ACK, unreachable report, ...). */
  send(message: AsapMessage): Result<void, RequestError> {
    if (this.isClosed || this.socket.writableEnded) return err({ kind: 'closed', message: `connection to ${formatRegistrarAddress(this.remote)} is closed` });
    this.socket.write(encodeMessage(message));
    return ok(undefined);
  }

  /** ASAP_REGISTRATION → ASAP_REGISTRATION_RESPONSE (accepted or rejected: look at `reject`). */
  async register(poolHandle: Uint8Array, poolElement: WirePoolElement, options: RequestOptions = {}): Promise<Result<AsapRegistrationResponse, RequestError>> {
    const result = await this.request(registrationKey(poolHandle, poolElement.id), { protocol: 'asap', type: 'registration', poolHandle, poolElement }, options);
    if (!result.ok) return result;
    return result.value.type === 'registrationResponse' ? ok(result.value) : err({ kind: 'closed', message: 'mismatched response (bug)' });
  }

  /** ASAP_DEREGISTRATION → ASAP_DEREGISTRATION_RESPONSE. */
  async deregister(poolHandle: Uint8Array, peId: number, options: RequestOptions = {}): Promise<Result<AsapDeregistrationResponse, RequestError>> {
    const result = await this.request(deregistrationKey(poolHandle, peId), { protocol: 'asap', type: 'deregistration', poolHandle, peId }, options);
    if (!result.ok) return result;
    return result.value.type === 'deregistrationResponse' ? ok(result.value) : err({ kind: 'closed', message: 'mismatched response (bug)' });
  }

  /** ASAP_HANDLE_RESOLUTION → ASAP_HANDLE_RESOLUTION_RESPONSE (positive or carrying an Operation Error). */
  async resolve(poolHandle: Uint8Array, options: ResolveRequestOptions = {}): Promise<Result<AsapHandleResolutionResponse, RequestError>> {
    const message: AsapMessage = {
      protocol: 'asap',
      type: 'handleResolution',
      subscribe: options.subscribe ?? false,
      poolHandle,
      ...(options.items !== undefined ? { items: options.items } : {}),
    };
    const result = await this.request(resolutionKey(poolHandle), message, options);
    if (!result.ok) return result;
    return result.value.type === 'handleResolutionResponse' ? ok(result.value) : err({ kind: 'closed', message: 'mismatched response (bug)' });
  }

  /** Closes gracefully (FIN, then destroy after a grace period); pending requests fail with 'closed'. */
  close(): Promise<void> {
    if (this.closedInfo) return Promise.resolve();
    return new Promise((resolve) => {
      this.once('close', () => resolve());
      this.closeReason ??= { reason: 'local', message: 'closed by this side' };
      this.failPending('connection closed by this side');
      if (!this.socket.writableEnded) this.socket.end();
      this.graceTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    });
  }

  private request(key: string, message: AsapMessage, options: RequestOptions): Promise<Result<AsapMessage, RequestError>> {
    return new Promise((resolve) => {
      if (options.signal?.aborted) {
        resolve(err({ kind: 'aborted', message: 'request aborted before it was sent' }));
        return;
      }
      const sent = this.send(message);
      if (!sent.ok) {
        resolve(sent);
        return;
      }
      const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
      const entry: Pending = { settle: undefined, timer: undefined };
      const giveUp = (error: RequestError): void => {
        const settle = entry.settle;
        if (!settle) return;
        entry.settle = undefined;
        this.clock.clearTimeout(entry.timer);
        // Keep the slot for one more timeout so a late answer is recognised as this request's.
        entry.timer = this.clock.setTimeout(() => this.removePending(key, entry), timeoutMs);
        settle(err(error));
      };
      const onAbort = (): void => giveUp({ kind: 'aborted', message: 'request aborted' });
      entry.settle = (result) => {
        options.signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      entry.timer = this.clock.setTimeout(
        () => giveUp({ kind: 'timeout', message: `no answer from ${formatRegistrarAddress(this.remote)} within ${timeoutMs} ms` }),
        timeoutMs,
      );
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const queue = this.pending.get(key);
      if (queue) queue.push(entry);
      else this.pending.set(key, [entry]);
    });
  }

  private removePending(key: string, entry: Pending): void {
    const queue = this.pending.get(key);
    if (!queue) return;
    const at = queue.indexOf(entry);
    if (at >= 0) queue.splice(at, 1);
    if (queue.length === 0) this.pending.delete(key);
  }

  /** Hands a response to the oldest request waiting under `key`; false when none waits. */
  private answer(key: string, message: AsapMessage): boolean {
    const queue = this.pending.get(key);
    const entry = queue?.shift();
    if (!entry) return false;
    if (queue?.length === 0) this.pending.delete(key);
    this.clock.clearTimeout(entry.timer);
    const settle = entry.settle;
    entry.settle = undefined;
    settle?.(ok(message));
    return true;
  }

  private failPending(message: string): void {
    const queues = [...this.pending.values()];
    this.pending.clear();
    for (const queue of queues) {
      for (const entry of queue) {
        this.clock.clearTimeout(entry.timer);
        const settle = entry.settle;
        entry.settle = undefined;
        settle?.(err({ kind: 'closed', message }));
      }
    }
  }

  private onData(chunk: Buffer): void {
    for (const event of this.framer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
      if (this.closedInfo) return;
      if (event.kind === 'error') {
        this.onFramingError(event.error);
        return;
      }
      this.onFrame(event.bytes);
    }
  }

  private onFramingError(error: FramingError): void {
    this.closeReason ??= { reason: 'framing', message: `unreadable stream from ${formatRegistrarAddress(this.remote)}: ${error.reason}` };
    this.emit('protocolError', { kind: 'framing', error });
    // Say why before hanging up (RFC 5354 §4: Invalid Values); nothing after this point can be read.
    if (!this.socket.writableEnded) this.socket.write(encodeMessage({ protocol: 'asap', type: 'error', error: [{ code: Cause.invalidValues }] }));
    this.failPending(this.closeReason.message);
    this.socket.end();
    this.graceTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private onFrame(bytes: Uint8Array): void {
    const decoded = decodeMessage('asap', bytes, this.limits);
    if (!decoded.ok) {
      const { error } = decoded;
      // Never answer an ASAP_ERROR with an ASAP_ERROR: two confused peers would loop.
      const mayReply = error.action === 'reply' && error.cause !== undefined && error.messageType !== AsapType.error;
      const replied = mayReply && error.cause !== undefined && this.send({ protocol: 'asap', type: 'error', error: [error.cause] }).ok;
      this.emit('protocolError', { kind: 'decode', error, replied });
      return;
    }
    const message = decoded.value;
    if (message.protocol !== 'asap') return;
    this.arrivalNumbers.set(message, ++this.arrivals);
    const reports = reportsFor(message);
    if (reports.length > 0 && message.type !== 'error') this.send({ protocol: 'asap', type: 'error', error: reports });
    this.dispatch(message);
  }

  private dispatch(message: AsapMessage): void {
    switch (message.type) {
      case 'registrationResponse':
        if (!this.answer(registrationKey(message.poolHandle, message.peId), message)) this.emit('unexpected', message);
        return;
      case 'deregistrationResponse':
        if (!this.answer(deregistrationKey(message.poolHandle, message.peId), message)) this.emit('deregistered', message);
        return;
      case 'handleResolutionResponse':
        if (message.peStatus.length > 0) this.emit('handleUpdate', message);
        else if (!this.answer(resolutionKey(message.poolHandle), message)) this.emit('handleUpdate', message);
        return;
      case 'endpointKeepAlive':
        this.emit('keepAlive', message);
        return;
      case 'error':
        this.emit('asapError', message);
        return;
      default:
        this.emit('unexpected', message);
    }
  }

  private onClose(): void {
    if (this.closedInfo) return;
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    const where = formatRegistrarAddress(this.remote);
    this.closedInfo = this.closeReason ?? { reason: 'remote', message: this.socketError ? `connection to ${where} failed: ${this.socketError}` : `${where} closed the connection` };
    this.failPending(this.closedInfo.message);
    this.emit('close', this.closedInfo);
  }
}
