/**
 * The pool element SDK: what a service embeds to be part of a pool (RFC 5352 §3.1-3.4, §3.6).
 *
 * It registers (pool handle, PE identifier, user transport, policy, registration life), re-registers every
 * re-registration interval and promptly when the policy changes (load, weight, priority), answers
 * keep-alives, re-registers at once with another (or the restarted) registrar when its connection drops,
 * and deregisters on close.
 *
 * Defaults and why:
 *   re-registration interval  30 s   RSPLIB's rspserver default (-rereginterval=30000)
 *   registration life          3 × interval, in milliseconds (DESIGN.md §3; RSPLIB's rule)
 *   request timeout            3 s    RSPLIB's registrar request/response timeout (RFC T2 is 30 s)
 *   deregistration timeout     3 s    how long close() waits for the deregistration response
 *   policy update spacing      100 ms setLoad() & co. re-register at once, but at most one registration is
 *                                     in flight and two are at least this far apart: bursts coalesce
 *   registration attempts      2      MAX-REG-ATTEMPT (RFC 5352 §7): unanswered first registrations
 *                                     before register() gives up. Once registered, the element keeps
 *                                     trying for as long as it is open.
 * A rejection is never retried unchanged (RFC 5352 §3.1): register() fails with the cause and the element
 * stops until the application changes something and calls register() again.
 *
 * A deregistration the registrar sends on its own (lifetime expiry, an operator) is reported as
 * 'deregistered'; the element registers again at its next re-registration time, not at once, so an
 * operator's deregistration is visible for at least one interval.
 */
import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { TransportUse } from '../wire/constants.js';
import { encodeMessage } from '../wire/encoder.js';
import { PolicyType, policyDefinition, type PolicyField } from '../wire/policy.js';
import type { AsapEndpointKeepAlive, ErrorCause, Policy, PoolElement as WirePoolElement, UserTransport } from '../wire/types.js';
import type { AnnounceListenOptions, HuntOptions, RegistrarDiscovery } from './registrar-discovery.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, formatRegistrarAddress, type ProtocolProblem, type RegistrarAddress, type RegistrarConnection } from './registrar-connection.js';
import { RegistrarLink } from './registrar-link.js';
import { pause } from './clock-signals.js';
import { sameBytes, toPoolHandle, type PoolHandleInput } from './pool-handle.js';

export const DEFAULT_REREGISTRATION_INTERVAL_MS = 30_000;
export const DEFAULT_POLICY_UPDATE_SPACING_MS = 100;
export const DEFAULT_MAX_REGISTRATION_ATTEMPTS = 2;
/** Pause after the second registration in a row lost with its connection; doubles, capped at RETRAN-MAX. */
const CLOSED_RETRY_FIRST_DELAY_MS = 250;
const CLOSED_RETRY_MAX_DELAY_MS = 60_000;

/** The TCP endpoint a service advertises (the usual user transport); converted to a TCP Transport. */
export interface TcpServiceEndpoint {
  /**
   * An IPv4 or IPv6 address (no host names: the wire carries addresses). 0.0.0.0 or :: asks the registrar
   * to put in the address it sees the element connect from (our registrar does; RFC 5352 leaves it open).
   */
  readonly host: string;
  readonly port: number;
  /** 'data' (default) or 'dataAndControl' when ASAP control messages share the connection. */
  readonly transportUse?: 'data' | 'dataAndControl';
}

export interface PoolElementOptions {
  readonly poolHandle: PoolHandleInput;
  /** PE identifier; default a random non-zero 32-bit number (RFC 5352 §3.1 R2.2). */
  readonly identifier?: number;
  /** What pool users connect to: a TCP endpoint, or any wire user transport. */
  readonly userTransport: TcpServiceEndpoint | UserTransport;
  /** Member selection policy; default round robin. */
  readonly policy?: Policy;
  readonly reregistrationIntervalMs?: number;
  /** Registration life in milliseconds; default 3 × the re-registration interval. -1 = infinite. */
  readonly registrationLifeMs?: number;
  /**
   * A registrar connection shared with other elements and users (one TCP connection carries them all);
   * its owner closes it. Without it the element makes its own link from the options below.
   */
  readonly link?: RegistrarLink;
  /** Static registrar list (`host:port`). */
  readonly registrars?: readonly (string | RegistrarAddress)[];
  /** A discovery shared with other elements or users (announces); its owner closes it. */
  readonly discovery?: RegistrarDiscovery;
  /**
   * Announce listening when neither `link` nor `discovery` is given. Default: multicast 239.0.0.50:3863
   * when there is no static list, none when there is. `false`: none.
   */
  readonly announces?: AnnounceListenOptions | false;
  readonly clock?: Clock;
  /** Request timeout of the element's own link (a shared link has its own). */
  readonly requestTimeoutMs?: number;
  readonly deregistrationTimeoutMs?: number;
  readonly policyUpdateSpacingMs?: number;
  readonly maxRegistrationAttempts?: number;
  /** Server hunt tuning (T5, back-off, parallelism). */
  readonly hunt?: Omit<HuntOptions, 'signal' | 'prefer' | 'connection'>;
}

export type PoolElementState = 'idle' | 'registering' | 'registered' | 'rejected' | 'closing' | 'closed';

/** Why a registration was sent. */
export type RegistrationReason = 'initial' | 'periodic' | 'policyChange' | 'reconnect' | 'retry';

export interface RegisteredEvent {
  readonly registrar: RegistrarAddress;
  readonly reason: RegistrationReason;
  readonly homeServerId: number;
  /** Operation Error causes in an accepted response: the registrar changed some values (RFC 5352 §2.2.3). */
  readonly warnings: readonly ErrorCause[];
}

export interface DeregisteredEvent {
  /** element: close() deregistered it; registrar: the registrar dropped it on its own (e.g. lifetime expiry). */
  readonly initiator: 'element' | 'registrar';
  /** For close(): whether the registrar confirmed before the timeout. */
  readonly confirmed: boolean;
  readonly causes: readonly ErrorCause[];
}

export type RegistrationFailure =
  | { readonly kind: 'rejected'; readonly causeCode: number | undefined; readonly causes: readonly ErrorCause[]; readonly registrar: RegistrarAddress }
  | { readonly kind: 'timeout'; readonly attempt: number; readonly registrar: RegistrarAddress; readonly message: string }
  | { readonly kind: 'discovery'; readonly message: string };

export interface RegistrarLostEvent {
  readonly registrar: RegistrarAddress;
  readonly reason: string;
}

export interface KeepAliveEvent {
  readonly registrar: RegistrarAddress;
  readonly serverId: number;
  /** The H flag: the sender wants to be the element's home registrar. */
  readonly home: boolean;
  /** True when this keep-alive made the sender the new home registrar. */
  readonly homeChanged: boolean;
}

/** Non-fatal trouble, for logs: bad bytes or ASAP_ERROR from the registrar. The element carries on. */
export type PoolElementProblem =
  | { readonly kind: 'protocol'; readonly registrar: RegistrarAddress; readonly problem: ProtocolProblem }
  | { readonly kind: 'asapError'; readonly registrar: RegistrarAddress; readonly causes: readonly ErrorCause[] };

export interface PoolElementEvents {
  registered: [event: RegisteredEvent];
  deregistered: [event: DeregisteredEvent];
  registrationFailed: [failure: RegistrationFailure];
  registrarLost: [event: RegistrarLostEvent];
  keepAlive: [event: KeepAliveEvent];
  stateChange: [state: PoolElementState];
  /** Emitted only when someone listens (an 'error' without listener would crash the process). */
  error: [problem: PoolElementProblem];
}

export type RegistrationErrorKind = 'rejected' | 'timeout' | 'aborted' | 'closed' | 'discovery';

/** Why register() failed. `causeCode` is the first Operation Error cause of a rejection (RFC 5354 §3.12). */
export class RegistrationError extends Error {
  override readonly name = 'RegistrationError';
  constructor(
    readonly kind: RegistrationErrorKind,
    message: string,
    readonly causes: readonly ErrorCause[] = [],
  ) {
    super(message);
  }

  get causeCode(): number | undefined {
    return this.causes[0]?.code;
  }
}

interface Waiter {
  resolve(): void;
  reject(error: RegistrationError): void;
}

function randomIdentifier(): number {
  return randomInt(1, 0x1_0000_0000);
}

function checkUint32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`${what} ${value} is not a 32-bit unsigned integer`);
  return value;
}

function toUserTransport(transport: TcpServiceEndpoint | UserTransport): UserTransport {
  if ('kind' in transport) return transport;
  return {
    kind: 'tcp',
    port: transport.port,
    transportUse: transport.transportUse === 'dataAndControl' ? TransportUse.dataPlusControl : TransportUse.dataOnly,
    address: transport.host,
  };
}

function describeCauses(causes: readonly ErrorCause[]): string {
  return causes.length === 0 ? 'no cause given' : causes.map((cause) => `cause 0x${cause.code.toString(16)}`).join(', ');
}

export class PoolElement extends EventEmitter<PoolElementEvents> {
  readonly identifier: number;
  readonly poolHandle: Uint8Array;
  readonly userTransport: UserTransport;
  readonly reregistrationIntervalMs: number;
  readonly registrationLifeMs: number;

  private policyValue: Policy;
  private homeServerIdValue = 0;
  private stateValue: PoolElementState = 'idle';
  private readonly clock: Clock;
  private readonly link: RegistrarLink;
  private readonly ownsLink: boolean;
  private readonly deregistrationTimeoutMs: number;
  private readonly policyUpdateSpacingMs: number;
  private readonly maxRegistrationAttempts: number;

  private connection: RegistrarConnection | undefined;
  private detachConnection: (() => void) | undefined;
  /** The connection a registration was last sent on: close() deregisters there. */
  private registrationSentOn: RegistrarConnection | undefined;
  private running: Promise<void> | undefined;
  private runController: AbortController | undefined;
  private everRegistered = false;
  private readonly waiters = new Set<Waiter>();
  /** Ends the current wait between registrations (set while the loop waits). */
  private wakeUp: ((reason: RegistrationReason) => void) | undefined;
  private policyDirty = false;
  private policyTimer: TimerHandle | undefined;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private closing: Promise<void> | undefined;

  /** Invalid options (bad handle, ports, numbers) are programming errors and throw RangeError. */
  constructor(options: PoolElementOptions) {
    super();
    this.poolHandle = toPoolHandle(options.poolHandle);
    this.identifier = options.identifier ?? randomIdentifier();
    if (!Number.isInteger(this.identifier) || this.identifier < 1 || this.identifier > 0xffffffff) throw new RangeError(`PE identifier ${this.identifier} is not a non-zero 32-bit number`);
    this.userTransport = toUserTransport(options.userTransport);
    this.policyValue = options.policy ?? { type: PolicyType.roundRobin };
    this.reregistrationIntervalMs = options.reregistrationIntervalMs ?? DEFAULT_REREGISTRATION_INTERVAL_MS;
    if (!(this.reregistrationIntervalMs > 0)) throw new RangeError(`re-registration interval ${this.reregistrationIntervalMs} ms must be positive`);
    this.registrationLifeMs = options.registrationLifeMs ?? Math.min(0x7fffffff, 3 * this.reregistrationIntervalMs);
    if (!Number.isInteger(this.registrationLifeMs) || this.registrationLifeMs < -1 || this.registrationLifeMs > 0x7fffffff) {
      throw new RangeError(`registration life ${this.registrationLifeMs} ms is not -1 or a 31-bit integer`);
    }
    this.clock = options.clock ?? systemClock;
    this.policyUpdateSpacingMs = options.policyUpdateSpacingMs ?? DEFAULT_POLICY_UPDATE_SPACING_MS;
    this.maxRegistrationAttempts = Math.max(1, options.maxRegistrationAttempts ?? DEFAULT_MAX_REGISTRATION_ATTEMPTS);
    if (options.link) {
      this.link = options.link;
      this.ownsLink = false;
    } else {
      this.link = new RegistrarLink({
        clock: this.clock,
        requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        ...(options.registrars ? { registrars: options.registrars } : {}),
        ...(options.discovery ? { discovery: options.discovery } : {}),
        ...(options.announces !== undefined ? { announces: options.announces } : {}),
        ...(options.hunt ? { hunt: options.hunt } : {}),
      });
      this.ownsLink = true;
    }
    this.deregistrationTimeoutMs = options.deregistrationTimeoutMs ?? this.link.requestTimeoutMs;
    this.checkEncodable(this.policyValue);
  }

  get state(): PoolElementState {
    return this.stateValue;
  }

  get policy(): Policy {
    return this.policyValue;
  }

  /** The home registrar's server identifier; 0 while undetermined. */
  get homeServerId(): number {
    return this.homeServerIdValue;
  }

  /** The registrar the element is connected to, if any. */
  get registrar(): RegistrarAddress | undefined {
    return this.connection && !this.connection.isClosed ? this.connection.remote : undefined;
  }

  /** The Pool Element parameter as the next registration will carry it. */
  toWire(): WirePoolElement {
    return {
      id: this.identifier,
      homeServerId: this.homeServerIdValue,
      registrationLife: this.registrationLifeMs,
      userTransport: this.userTransport,
      policy: this.policyValue,
    };
  }

  /**
   * Registers and resolves once a registrar accepted. Rejects with RegistrationError: 'rejected' (with the
   * cause), 'timeout' (no answer after MAX-REG-ATTEMPT tries), 'aborted', 'closed' or 'discovery'.
   * While registered it resolves at once. Aborting before acceptance stops the attempt.
   */
  register(signal?: AbortSignal): Promise<void> {
    if (this.stateValue === 'closing' || this.stateValue === 'closed') return Promise.reject(new RegistrationError('closed', 'the pool element is closed'));
    if (this.stateValue === 'registered') return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new RegistrationError('aborted', 'registration aborted'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(new RegistrationError('aborted', 'registration aborted'));
        if (this.waiters.size === 0 && !this.everRegistered) void this.halt();
      };
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.start();
    });
  }

  /** Sets the load (0 … 0xffffffff = 0 … 100 %) and re-registers promptly (coalesced). */
  setLoad(load: number): void {
    this.updatePolicyField('load', checkUint32(load, 'load'));
  }

  setWeight(weight: number): void {
    this.updatePolicyField('weight', checkUint32(weight, 'weight'));
  }

  setPriority(priority: number): void {
    this.updatePolicyField('priority', checkUint32(priority, 'priority'));
  }

  /** Replaces the whole policy and re-registers promptly. */
  setPolicy(policy: Policy): void {
    this.checkEncodable(policy);
    this.policyValue = policy;
    this.markPolicyDirty();
  }

  /**
   * Deregisters (waiting for the response up to the deregistration timeout), closes the connection and,
   * if the element made its own discovery, that too. Never rejects; idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  /**
   * Encodes a registration once, so values the encoder refuses (an address that is not an IP address, a
   * port or policy field out of range) fail here as RangeError, not later inside the registration loop.
   */
  private checkEncodable(policy: Policy): void {
    try {
      encodeMessage({ protocol: 'asap', type: 'registration', poolHandle: this.poolHandle, poolElement: { ...this.toWire(), policy } });
    } catch (failure) {
      throw new RangeError(`pool element options cannot be sent: ${failure instanceof Error ? failure.message : String(failure)}`, { cause: failure });
    }
  }

  private updatePolicyField(field: PolicyField, value: number): void {
    this.policyValue = { ...this.policyValue, [field]: value };
    // A field the policy type does not carry never reaches the wire: no registration needed.
    const definition = policyDefinition(this.policyValue.type);
    if (!definition || definition.fields.includes(field)) this.markPolicyDirty();
  }

  private markPolicyDirty(): void {
    this.policyDirty = true;
    this.schedulePolicyUpdate();
  }

  /** Wakes the loop for a policy change, no sooner than the spacing after the last registration. */
  private schedulePolicyUpdate(): void {
    if (!this.policyDirty || !this.wakeUp || this.policyTimer) return;
    const delay = this.lastSentAt + this.policyUpdateSpacingMs - this.clock.now();
    if (delay <= 0) {
      queueMicrotask(() => this.wakeUp?.('policyChange'));
      return;
    }
    this.policyTimer = this.clock.setTimeout(() => {
      this.policyTimer = undefined;
      this.wakeUp?.('policyChange');
    }, delay);
  }

  private setState(state: PoolElementState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit('stateChange', state);
  }

  private problem(problem: PoolElementProblem): void {
    if (this.listenerCount('error') > 0) this.emit('error', problem);
  }

  private start(): void {
    if (this.running) {
      // A loop that is being stopped (aborted register()) finishes first; then start over for new waiters.
      if (this.runController?.signal.aborted) {
        void this.running.then(() => {
          if (this.waiters.size > 0 && this.stateValue !== 'closing' && this.stateValue !== 'closed') this.start();
        });
      }
      return;
    }
    const controller = new AbortController();
    this.runController = controller;
    this.running = this.run(controller.signal).finally(() => {
      if (this.runController === controller) this.runController = undefined;
      this.running = undefined;
    });
  }

  private settleWaiters(error?: RegistrationError): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }

  /** The registration loop: connect (hunt), register, wait for the next reason to register, repeat. */
  private async run(signal: AbortSignal): Promise<void> {
    let timeouts = 0;
    let closedInARow = 0;
    let reason: RegistrationReason = this.everRegistered ? 'reconnect' : 'initial';
    while (!signal.aborted) {
      // A registrar that takes the connection and drops it again (e.g. at its connection limit) must not
      // be redialled in a tight loop; the first retry after a loss is immediate, as takeover requires.
      if (closedInARow > 1) {
        const delay = Math.min(CLOSED_RETRY_FIRST_DELAY_MS * 2 ** (closedInARow - 2), CLOSED_RETRY_MAX_DELAY_MS);
        if ((await pause(this.clock, delay, signal)) === 'aborted') return;
      }
      const connection = await this.ensureConnection(signal);
      if (!connection) return;
      if (this.stateValue !== 'registered') this.setState('registering');
      this.policyDirty = false;
      this.lastSentAt = this.clock.now();
      this.registrationSentOn = connection;
      const response = await connection.register(this.poolHandle, this.toWire(), { signal });
      if (signal.aborted) return;
      if (!response.ok) {
        if (response.error.kind === 'timeout') {
          timeouts++;
          this.emit('registrationFailed', { kind: 'timeout', attempt: timeouts, registrar: connection.remote, message: response.error.message });
          // No answer: that registrar is of no use; hunt (RFC 5352 §3.1 R4: T2 expiry ⇒ server hunt).
          this.detach(connection, response.error.message);
          this.link.drop(connection);
          if (!this.everRegistered && timeouts >= this.maxRegistrationAttempts) {
            this.setState('idle');
            this.settleWaiters(new RegistrationError('timeout', `no registration response after ${timeouts} attempts: ${response.error.message}`));
            return;
          }
        } else {
          // 'closed': the close listener reported the loss; hunt and register again.
          closedInARow++;
        }
        reason = this.everRegistered ? 'reconnect' : 'retry';
        continue;
      }
      timeouts = 0;
      closedInARow = 0;
      const answer = response.value;
      if (answer.reject) {
        const causes = answer.error ?? [];
        this.setState('rejected');
        this.emit('registrationFailed', { kind: 'rejected', causeCode: causes[0]?.code, causes, registrar: connection.remote });
        this.settleWaiters(new RegistrationError('rejected', `registrar ${formatRegistrarAddress(connection.remote)} rejected the registration (${describeCauses(causes)})`, causes));
        // Not retried unchanged (RFC 5352 §3.1): stop until the application calls register() again.
        this.everRegistered = false;
        this.registrationSentOn = undefined;
        this.release(connection);
        return;
      }
      this.everRegistered = true;
      this.setState('registered');
      this.emit('registered', { registrar: connection.remote, reason, homeServerId: this.homeServerIdValue, warnings: answer.error ?? [] });
      this.settleWaiters();
      reason = await this.waitForNextRegistration(signal, connection);
    }
  }

  /** Resolves with why to register next: the T4 timer, a policy change, or the connection dropped. */
  private waitForNextRegistration(signal: AbortSignal, connection: RegistrarConnection): Promise<RegistrationReason> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (reason: RegistrationReason): void => {
        if (done) return;
        done = true;
        this.clock.clearTimeout(timer);
        this.clock.clearTimeout(this.policyTimer);
        this.policyTimer = undefined;
        this.wakeUp = undefined;
        signal.removeEventListener('abort', onAbort);
        connection.off('close', onClose);
        resolve(reason);
      };
      const onAbort = (): void => finish('retry');
      const onClose = (): void => finish('reconnect');
      const timer = this.clock.setTimeout(() => finish('periodic'), this.reregistrationIntervalMs);
      this.wakeUp = finish;
      signal.addEventListener('abort', onAbort, { once: true });
      connection.on('close', onClose);
      if (connection.isClosed) finish('reconnect');
      else this.schedulePolicyUpdate();
    });
  }

  private async ensureConnection(signal: AbortSignal): Promise<RegistrarConnection | undefined> {
    if (this.connection && !this.connection.isClosed) return this.connection;
    const acquired = await this.link.acquire(signal);
    if (!acquired.ok) {
      if (acquired.error.code === 'discovery' || (acquired.error.code === 'closed' && !signal.aborted)) {
        this.emit('registrationFailed', { kind: 'discovery', message: acquired.error.message });
        this.setState('idle');
        this.settleWaiters(new RegistrationError(acquired.error.code === 'closed' ? 'closed' : 'discovery', acquired.error.message));
      }
      return undefined;
    }
    if (signal.aborted) return undefined;
    if (acquired.value !== this.connection) this.attach(acquired.value);
    return acquired.value;
  }

  private attach(connection: RegistrarConnection): void {
    this.detachConnection?.();
    this.connection = connection;
    // A new registrar: its identifier is known only if it was announced; until a keep-alive with the H flag
    // says otherwise, it is the home to name.
    this.homeServerIdValue = this.link.discovery.serverIdOf(connection.remote) ?? 0;
    const onKeepAlive = (message: AsapEndpointKeepAlive): void => this.onKeepAlive(connection, message);
    const onDeregistered = (message: { poolHandle: Uint8Array; peId: number; error?: readonly ErrorCause[] }): void => {
      if (message.peId !== this.identifier || !sameBytes(message.poolHandle, this.poolHandle)) return;
      if (this.stateValue === 'registered') this.setState('registering');
      this.emit('deregistered', { initiator: 'registrar', confirmed: true, causes: message.error ?? [] });
    };
    const onAsapError = (message: { error: readonly ErrorCause[] }): void => this.problem({ kind: 'asapError', registrar: connection.remote, causes: message.error });
    const onProtocolError = (problem: ProtocolProblem): void => this.problem({ kind: 'protocol', registrar: connection.remote, problem });
    // Listeners are removed before this element closes a connection itself, so any close seen here came from
    // the registrar or from another user of a shared link.
    const onClose = (info: { message: string }): void => this.detach(connection, info.message);
    connection.on('keepAlive', onKeepAlive);
    connection.on('deregistered', onDeregistered);
    connection.on('asapError', onAsapError);
    connection.on('protocolError', onProtocolError);
    connection.on('close', onClose);
    this.detachConnection = () => {
      connection.off('keepAlive', onKeepAlive);
      connection.off('deregistered', onDeregistered);
      connection.off('asapError', onAsapError);
      connection.off('protocolError', onProtocolError);
      connection.off('close', onClose);
    };
  }

  /** Stops using `connection`; with a reason, reports it as lost (the element will hunt and re-register). */
  private detach(connection: RegistrarConnection, lostReason: string | undefined): void {
    if (this.connection !== connection) return;
    this.detachConnection?.();
    this.detachConnection = undefined;
    this.connection = undefined;
    if (lostReason === undefined || this.stateValue === 'closing' || this.stateValue === 'closed') return;
    if (this.stateValue === 'registered') this.setState('registering');
    this.emit('registrarLost', { registrar: connection.remote, reason: lostReason });
  }

  /** Done with `connection` for now: an own link's connection is closed, a shared one is left to the others. */
  private release(connection: RegistrarConnection): void {
    this.detach(connection, undefined);
    if (this.ownsLink) this.link.drop(connection);
  }

  /** RFC 5352 §3.4: answer every keep-alive for this element; adopt a sender with the H flag as home. */
  private onKeepAlive(connection: RegistrarConnection, message: AsapEndpointKeepAlive): void {
    if (!sameBytes(message.poolHandle, this.poolHandle)) return;
    // RSPLIB (and our registrar) name the probed element; one for another element on this connection is not ours.
    if (message.peId !== undefined && message.peId !== this.identifier) return;
    connection.send({ protocol: 'asap', type: 'endpointKeepAliveAck', poolHandle: this.poolHandle, peId: this.identifier });
    let homeChanged = false;
    if (message.home && message.serverId !== this.homeServerIdValue) {
      this.homeServerIdValue = message.serverId;
      homeChanged = true;
    }
    this.emit('keepAlive', { registrar: connection.remote, serverId: message.serverId, home: message.home, homeChanged });
  }

  /** Stops the registration loop (register() aborted before acceptance): deregister what may have landed. */
  private async halt(): Promise<void> {
    this.runController?.abort();
    const connection = this.connection;
    if (connection && this.registrationSentOn === connection) {
      await connection.deregister(this.poolHandle, this.identifier, { timeoutMs: this.deregistrationTimeoutMs });
    }
    this.registrationSentOn = undefined;
    if (connection) this.release(connection);
    await this.running;
    if (this.stateValue !== 'closing' && this.stateValue !== 'closed') this.setState('idle');
  }

  private async shutDown(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.setState('closing');
    this.runController?.abort();
    this.clock.clearTimeout(this.policyTimer);
    this.policyTimer = undefined;
    const connection = this.connection;
    if (connection && !connection.isClosed && this.registrationSentOn === connection) {
      const answer = await connection.deregister(this.poolHandle, this.identifier, { timeoutMs: this.deregistrationTimeoutMs });
      this.emit('deregistered', { initiator: 'element', confirmed: answer.ok, causes: answer.ok ? (answer.value.error ?? []) : [] });
    }
    if (connection) this.detach(connection, undefined);
    if (this.ownsLink) await this.link.close();
    await this.running;
    this.settleWaiters(new RegistrationError('closed', 'the pool element was closed'));
    this.setState('closed');
  }
}
