/**
 * The ASAP registrar (RFC 5352 server side): one session per connection; registration, deregistration,
 * handle resolution, keep-alive monitoring of home elements, unreachable reports with probing, lifetime
 * expiry, server announces, limits and rate limits, and the RFC's answer to every malformed message.
 * It emits typed events for every change of the handlespace, which notifications and history consume.
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { Handlespace, type AdminState, type ElementRecord, type RegistrationOutcome, type RegistrationRejection } from '../handlespace/handlespace.js';
import { err, ok, type Result } from '../result.js';
import { Cause, HROPT_ALL_ITEMS } from '../wire/constants.js';
import { decodeMessage, reportsFor } from '../wire/decoder.js';
import { encodeHandleResolutionResponse, encodeMessage, encodePoolElementParameter } from '../wire/encoder.js';
import { poolHandleToText } from '../wire/json.js';
import type {
  AsapDeregistration,
  AsapEndpointKeepAliveAck,
  AsapEndpointUnreachable,
  AsapHandleResolution,
  AsapMessage,
  AsapRegistration,
  ConsoleEndpoint,
  ErrorCause,
  PoolElement,
  TcpTransport,
  UserTransport,
} from '../wire/types.js';
import { Announcer } from './announcer.js';
import { Counters } from './counters.js';
import { DeadlineQueue } from './deadline-queue.js';
import { DEFAULT_NOTIFICATION_SETTINGS, NotificationCenter, type ElementChange, type NotificationSettings, type NotificationsSent } from './notification-center.js';
import { MAX_HANDLE_RESOLUTION_ITEMS, resolveSettings, type RegistrarSettings, type SettingsProblem } from './options.js';
import { TokenBucket } from './rate-limiter.js';
import { listenTcp } from './tcp-transport.js';
import type { MessageConnection, MessageServer, RemoteAddress } from './transport.js';

/** Why an element left the handlespace. */
export type RemovalReason = 'deregistered' | 'keepAliveTimeout' | 'connectionLost' | 'unreachable' | 'lifetimeExpired' | 'operatorDeregister' | PeerRemovalReason;

/** Why an element whose home is a peer registrar left (core/enrp): DEL_PE, a resync, the takeover grace rule. */
export type PeerRemovalReason = 'peerDeregistered' | 'peerResync' | 'takeoverExpired';

/** Operator actions on an element's admin state (core/console adds validation, audit and persistence). */
export type OperatorAction = 'drain' | 'ready' | 'maintenance' | 'failover' | 'deregister';

export interface ElementAdminChanged {
  readonly element: ElementRecord;
  readonly action: OperatorAction;
  readonly before: AdminState;
  readonly after: AdminState | 'removed';
  readonly reasonText: string;
}

export type AdminError = { readonly code: 'unknownElement'; readonly message: string };

export interface ElementRemoved {
  readonly element: ElementRecord;
  readonly reason: RemovalReason;
  readonly detail: string;
}

export interface ElementRegistered {
  readonly element: ElementRecord;
  readonly outcome: RegistrationOutcome;
}

export interface RegistrarEvents {
  elementRegistered: [ElementRegistered];
  elementRemoved: [ElementRemoved];
  /** An element became suspect (probe pending) or up again. */
  elementHealth: [{ readonly element: ElementRecord; readonly detail: string }];
  elementAdmin: [ElementAdminChanged];
  /** A push to one subscribed pool user (one per subscriber per push). */
  notificationsSent: [NotificationsSent];
  /**
   * A handle resolution answered with elements, by the pool's key (ElementRecord.poolKey): one per answer,
   * for the per-pool resolution counts. Hot path, hence a bare string and no payload object.
   */
  handleResolved: [poolKey: string];
  /** A pool user subscribed to a pool (again) or ended its subscription (not when its connection closes). */
  subscriptionChanged: [{ readonly connectionId: number; readonly remote: RemoteAddress; readonly poolHandle: Uint8Array; readonly subscribed: boolean }];
  sessionOpened: [{ readonly connectionId: number; readonly remote: RemoteAddress }];
  sessionClosed: [{ readonly connectionId: number; readonly remote: RemoteAddress; readonly reason: string }];
  /** Something a log should show: a malformed message, a closed connection, a rejected request. */
  notice: [{ readonly connectionId?: number; readonly message: string }];
}

export interface RegistrarStartOptions extends Partial<RegistrarSettings> {
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly log?: (line: string) => void;
  readonly notifications?: Partial<NotificationSettings>;
  /**
   * Durability rule (DESIGN.md §4): resolves once every event emitted so far is durable (the history's
   * group commit). A registration response waits for it, so an acknowledged registration is never lost;
   * later messages to the same connection wait behind it to keep their order.
   */
  readonly beforeAcknowledge?: () => Promise<void>;
  /**
   * An operator-set admin state that outlives registrations (core/console persists it): consulted when an
   * element registers anew, so a drained element comes back draining, never ready by itself.
   */
  readonly persistedAdminState?: (poolHandle: Uint8Array, peId: number) => { readonly state: AdminState; readonly cause: string } | undefined;
  /**
   * Start without the ASAP port (and announces): `startListening()` opens them later. ENRP uses this so a
   * registrar serves ASAP only once it holds the handlespace its mentor sent (RFC 5353 §3.3).
   */
  readonly deferListen?: boolean;
}

interface EncodedElement {
  readonly bytes: Uint8Array;
  readonly policy: ElementRecord['policy'];
  readonly userTransport: ElementRecord['userTransport'];
  readonly asapTransport: ElementRecord['asapTransport'];
  readonly registrationLife: number;
  readonly homeServerId: number;
}

const NO_STATUS: readonly [] = [];

/** Counter names per message type, built once (a template string per message showed in profiles). */
const RECEIVED_KEY = counterKeys('received');
const SENT_KEY = counterKeys('sent');
const UNEXPECTED_KEY = counterKeys('unexpected');

function counterKeys(prefix: string): Record<AsapMessage['type'], string> {
  const types: AsapMessage['type'][] = [
    'registration', 'deregistration', 'registrationResponse', 'deregistrationResponse', 'handleResolution', 'handleResolutionResponse',
    'endpointKeepAlive', 'endpointKeepAliveAck', 'endpointUnreachable', 'serverAnnounce', 'cookie', 'cookieEcho', 'businessCard', 'error',
  ];
  return Object.fromEntries(types.map((t) => [t, `${prefix}.${t}`])) as Record<AsapMessage['type'], string>;
}

interface Session {
  readonly connection: MessageConnection;
  /** The latest acknowledgement waiting for durability; later sends queue behind it. */
  pending: Promise<void> | undefined;
  elementCount: number;
  consecutiveErrors: number;
  readonly resolutionBucket: TokenBucket;
  readonly unreachableBucket: TokenBucket;
}

const UNSPECIFIED_ADDRESSES = new Set(['0.0.0.0', '::']);

export class Registrar extends EventEmitter<RegistrarEvents> {
  readonly counters = new Counters();
  readonly handlespace: Handlespace;
  readonly notifications: NotificationCenter;
  readonly startedAt: number;
  private readonly sessions = new Map<number, Session>();
  private readonly keepAliveDue: DeadlineQueue<ElementRecord>;
  private readonly ackDue: DeadlineQueue<ElementRecord>;
  /** Elements whose pending keep-alive is a probe after an unreachable report. */
  private readonly probed = new Set<ElementRecord>();
  private readonly encodedElements = new WeakMap<ElementRecord, EncodedElement>();
  private expiryTimer: TimerHandle | undefined;
  private expiryDue = Infinity;
  private server: MessageServer | undefined;
  private announcer: Announcer | undefined;
  private readonly lastHeard = new WeakMap<ElementRecord, number>();
  private consoleEndpoint: ConsoleEndpoint | undefined;
  private listening: Promise<void> | undefined;
  private closing = false;

  private constructor(
    readonly settings: RegistrarSettings,
    readonly clampedSettings: readonly SettingsProblem[],
    private readonly clock: Clock,
    private readonly random: () => number,
    private readonly log: (line: string) => void,
    notificationSettings: NotificationSettings,
    private readonly beforeAcknowledge: (() => Promise<void>) | undefined,
    private readonly persistedAdminState: RegistrarStartOptions['persistedAdminState'],
  ) {
    super();
    this.startedAt = clock.now();
    this.handlespace = new Handlespace({
      clock,
      random,
      limits: { maxPools: settings.maxPools, maxElementsPerPool: settings.maxElementsPerPool },
    });
    this.notifications = new NotificationCenter(
      clock,
      notificationSettings,
      settings.maxItems,
      (handle, items) => {
        const resolved = this.handlespace.resolve(handle, items);
        return resolved.ok ? resolved.value : undefined;
      },
      (sent) => {
        this.counters.add('notifications.sent', sent.statuses.length);
        if (sent.snapshot) this.counters.add('notifications.snapshots');
        this.emit('notificationsSent', sent);
      },
      (pe) => this.encodedElement(pe as ElementRecord),
    );
    this.keepAliveDue = new DeadlineQueue(clock, (element) => this.sendKeepAlive(element, false));
    this.ackDue = new DeadlineQueue(clock, (element) => this.keepAliveMissed(element));
  }

  /** Starts listening (and announcing); resolves once the ASAP port is bound. */
  static async start(options: RegistrarStartOptions = {}): Promise<Registrar> {
    const { clock = systemClock, random = Math.random, log = () => {}, notifications = {}, beforeAcknowledge, persistedAdminState, deferListen, ...overrides } = options;
    const { settings, clamped } = resolveSettings(overrides);
    const registrar = new Registrar(settings, clamped, clock, random, log, { ...DEFAULT_NOTIFICATION_SETTINGS, ...notifications }, beforeAcknowledge, persistedAdminState);
    for (const problem of clamped) log(problem.message);
    if (!deferListen) await registrar.startListening();
    return registrar;
  }

  /** When the element was last heard from: its last keep-alive acknowledgement, else its last registration. */
  lastHeardAt(element: ElementRecord): number {
    return Math.max(this.lastHeard.get(element) ?? 0, element.lastRegistrationAt);
  }

  get serverId(): number {
    return this.settings.serverId;
  }

  /** The bound ASAP address (the real port when 0 was asked). */
  get asapAddress(): { host: string; port: number } {
    const address = this.server?.address;
    return { host: address?.address ?? this.settings.asap.host, port: address?.port ?? this.settings.asap.port };
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get announcesSent(): number {
    return this.announcer?.announcesSent ?? 0;
  }

  /**
   * Where this registrar's console listens, carried in its announces (our Console Endpoint parameter) from
   * now on; undefined stops it. Called by serve once the console is up (the console starts after us).
   */
  setConsoleEndpoint(endpoint: ConsoleEndpoint | undefined): void {
    this.consoleEndpoint = endpoint;
    this.announcer?.setConsoleEndpoint(endpoint);
  }

  /** Opens the ASAP port and starts announcing (once; what `start` does unless told `deferListen`). */
  startListening(): Promise<void> {
    this.listening ??= this.listen();
    return this.listening;
  }

  /** Whether the ASAP port is open. */
  get isListening(): boolean {
    return this.server !== undefined;
  }

  private async listen(): Promise<void> {
    this.server = await listenTcp(this.settings.asap.host, this.settings.asap.port, this.settings.wire.maxMessageSize, {
      onOpen: (connection) => this.onOpen(connection),
      onMessage: (connection, bytes) => this.onMessage(connection, bytes),
      onFramingError: (connection, reason) => {
        this.counters.add('framing.errors');
        this.notice(connection.id, `framing error from ${describe(connection.remote)}: ${reason}; closing the connection`);
      },
      onClose: (connection, reason) => this.onClose(connection, reason),
    });
    const bound = this.asapAddress;
    const transport: TcpTransport = { kind: 'tcp', port: bound.port, transportUse: 0, address: bound.host };
    if (this.settings.announce !== 'off' || this.settings.announceTargets.length > 0) {
      this.announcer = new Announcer({
        serverId: this.serverId,
        transport,
        group: this.settings.announce,
        targets: this.settings.announceTargets,
        intervalMs: this.settings.announceIntervalMs,
        ttl: this.settings.announceTtl,
        clock: this.clock,
        log: this.log,
      });
      await this.announcer.start();
      if (this.consoleEndpoint) this.announcer.setConsoleEndpoint(this.consoleEndpoint);
    }
  }

  /** Stops announcing, closes every connection (their elements leave with reason connectionLost) and the port. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.announcer?.stop();
    await this.server?.close();
    this.keepAliveDue.clear();
    this.ackDue.clear();
    this.notifications.close();
    this.clock.clearTimeout(this.expiryTimer);
  }

  // ---- sessions -------------------------------------------------------------------------------------

  private onOpen(connection: MessageConnection): void {
    if (this.sessions.size >= this.settings.maxConnections) {
      this.counters.add('limits.connections');
      connection.send(encodeMessage({ protocol: 'asap', type: 'error', error: [{ code: Cause.lackOfResources }] }));
      connection.close(`connection limit of ${this.settings.maxConnections} reached`);
      return;
    }
    const now = this.clock.now();
    this.sessions.set(connection.id, {
      connection,
      pending: undefined,
      elementCount: 0,
      consecutiveErrors: 0,
      resolutionBucket: new TokenBucket(this.settings.maxHandleResolutionRate, now),
      unreachableBucket: new TokenBucket(this.settings.maxEndpointUnreachableRate, now),
    });
    this.counters.add('sessions.opened');
    this.emit('sessionOpened', { connectionId: connection.id, remote: connection.remote });
  }

  private onClose(connection: MessageConnection, reason: string): void {
    const session = this.sessions.get(connection.id);
    if (!session) return;
    this.sessions.delete(connection.id);
    this.counters.add('sessions.closed');
    this.notifications.connectionClosed(connection.id);
    // A lost connection fails all its elements at once (the PE SDK re-registers elsewhere or after restart).
    for (const element of this.handlespace.elementsOfConnection(connection.id)) {
      this.removeElement(element, 'connectionLost', `connection from ${describe(connection.remote)} ${reason}`);
    }
    this.emit('sessionClosed', { connectionId: connection.id, remote: connection.remote, reason });
  }

  private onMessage(connection: MessageConnection, bytes: Uint8Array): void {
    const session = this.sessions.get(connection.id);
    if (!session) return;
    const decoded = decodeMessage('asap', bytes, this.settings.wire);
    if (!decoded.ok) {
      const e = decoded.error;
      this.counters.add('decode.errors');
      this.counters.add(`decode.rule.${e.rule}`);
      if (e.cause) this.counters.add(`decode.cause.0x${e.cause.code.toString(16)}`);
      this.notice(connection.id, `malformed message from ${describe(connection.remote)}: ${e.reason} at byte ${e.offset} (${e.rule}); ${e.action === 'reply' ? 'answered with ASAP_ERROR' : 'dropped'}`);
      if (e.action === 'reply' && e.cause) this.send(session, { protocol: 'asap', type: 'error', error: [e.cause] });
      if (++session.consecutiveErrors >= this.settings.maxConsecutiveErrors) {
        this.counters.add('sessions.closedForErrors');
        connection.close(`${session.consecutiveErrors} malformed messages in a row`);
      }
      return;
    }
    session.consecutiveErrors = 0;
    const message = decoded.value;
    if (message.protocol !== 'asap') return;
    this.counters.add(RECEIVED_KEY[message.type]);
    const reports = reportsFor(message);
    if (reports.length > 0) this.send(session, { protocol: 'asap', type: 'error', error: reports });
    this.dispatch(session, message);
  }

  private dispatch(session: Session, message: AsapMessage): void {
    switch (message.type) {
      case 'registration':
        return this.onRegistration(session, message);
      case 'deregistration':
        return this.onDeregistration(session, message);
      case 'handleResolution':
        return this.onHandleResolution(session, message);
      case 'endpointKeepAliveAck':
        return this.onKeepAliveAck(session, message);
      case 'endpointUnreachable':
        return this.onEndpointUnreachable(session, message);
      case 'error':
        this.notice(session.connection.id, `ASAP_ERROR from ${describe(session.connection.remote)}: causes ${message.error.map((c) => `0x${c.code.toString(16)}`).join(', ')}`);
        return;
      default:
        // Messages a registrar is never sent (responses, cookies, announces): counted, otherwise ignored.
        this.counters.add(UNEXPECTED_KEY[message.type]);
        return;
    }
  }

  // ---- registration ---------------------------------------------------------------------------------

  private onRegistration(session: Session, m: AsapRegistration): void {
    const remote = session.connection.remote;
    const existing = this.handlespace.element(m.poolHandle, m.poolElement.id);
    const isNewForSession = !existing || existing.connectionId !== session.connection.id;
    if (isNewForSession && session.elementCount >= this.settings.maxElementsPerConnection) {
      this.counters.add('limits.elementsPerConnection');
      this.rejectRegistration(session, m, { code: Cause.lackOfResources }, `the connection already has ${session.elementCount} elements (limit)`);
      return;
    }
    const asapTransport: TcpTransport = { kind: 'tcp', port: remote.port, transportUse: 0, address: remote.address };
    const pe: PoolElement = {
      ...m.poolElement,
      homeServerId: this.serverId,
      userTransport: withRemoteAddress(m.poolElement.userTransport, remote.address),
      asapTransport,
    };
    const result = this.handlespace.register(m.poolHandle, pe, session.connection.id, this.serverId);
    if (!result.ok) {
      const r = result.error;
      const cause: ErrorCause = r.policy ? { code: r.cause, policy: r.policy } : r.transport ? { code: r.cause, transport: r.transport } : { code: r.cause };
      this.counters.add(`registration.rejected.0x${r.cause.toString(16)}`);
      this.rejectRegistration(session, m, cause, r.reason);
      return;
    }
    const outcome = result.value;
    const element = outcome.element;
    if (outcome.kind === 'registered') {
      // Re-apply an operator's admin state before anyone can be given the element.
      const persisted = this.persistedAdminState?.(m.poolHandle, element.id);
      if (persisted && persisted.state !== 'ready') {
        this.handlespace.setAdminState(m.poolHandle, element.id, persisted.state, persisted.cause);
        this.counters.add('registration.adminStateReapplied');
      }
    }
    if (outcome.kind === 'registered' || outcome.changed.includes('connection')) {
      // New here: a new element, or one this registrar knew from a peer and now serves as home.
      session.elementCount++;
      this.counters.add(outcome.kind === 'registered' ? 'registration.new' : 'registration.takenOver');
      this.scheduleKeepAlive(element);
    } else {
      this.counters.add('registration.renewed');
    }
    this.armExpiry();
    this.notifyRegistration(outcome);
    // Listeners (the history recorder) take the event in during emit, so the durability barrier covers it.
    this.emit('elementRegistered', { element, outcome });
    const response: AsapMessage = { protocol: 'asap', type: 'registrationResponse', reject: false, poolHandle: m.poolHandle, peId: element.id };
    if (!this.beforeAcknowledge) {
      this.send(session, response);
      return;
    }
    const durable = this.beforeAcknowledge();
    const prior = session.pending;
    const acknowledged: Promise<void> = (prior ? Promise.all([prior, durable]) : durable).then(
      () => {
        this.counters.add(SENT_KEY.registrationResponse);
        session.connection.send(encodeMessage(response));
      },
      (e: unknown) => {
        // Not durable: the registration is undone and refused, so nothing acknowledged can be lost.
        this.counters.add('registration.notDurable');
        this.notice(session.connection.id, `registration of PE 0x${element.id.toString(16)} in pool ${poolHandleToText(m.poolHandle)} refused: its event could not be stored (${e instanceof Error ? e.message : String(e)})`);
        const current = this.handlespace.element(m.poolHandle, element.id);
        if (current && outcome.kind === 'registered') this.removeElement(current, 'deregistered', 'registration not durable');
        this.counters.add(SENT_KEY.registrationResponse);
        session.connection.send(encodeMessage({ ...response, reject: true, error: [{ code: Cause.lackOfResources }] }));
      },
    );
    session.pending = acknowledged;
    void acknowledged.finally(() => {
      if (session.pending === acknowledged) session.pending = undefined;
    });
  }

  private rejectRegistration(session: Session, m: AsapRegistration, cause: ErrorCause, reason: string): void {
    this.notice(session.connection.id, `registration of PE 0x${m.poolElement.id.toString(16)} in pool ${poolHandleToText(m.poolHandle)} rejected (cause 0x${cause.code.toString(16)}): ${reason}`);
    this.send(session, { protocol: 'asap', type: 'registrationResponse', reject: true, poolHandle: m.poolHandle, peId: m.poolElement.id, error: [cause] });
  }

  private onDeregistration(session: Session, m: AsapDeregistration): void {
    const element = this.handlespace.element(m.poolHandle, m.peId);
    if (element && element.connectionId !== session.connection.id) {
      // RFC 5352 §3.2: no deregistration by proxy; RFC 5355 §2.3: a PE may only act for itself.
      this.counters.add('deregistration.refused');
      this.notice(session.connection.id, `deregistration of PE 0x${m.peId.toString(16)} in pool ${poolHandleToText(m.poolHandle)} refused: registered over another connection`);
      this.send(session, { protocol: 'asap', type: 'deregistrationResponse', poolHandle: m.poolHandle, peId: m.peId, error: [{ code: Cause.rejectedDueToSecurity }] });
      return;
    }
    // An unknown element is a successful deregistration (RFC 5352 §3.2).
    if (element) this.removeElement(element, 'deregistered', 'deregistered by the element');
    this.send(session, { protocol: 'asap', type: 'deregistrationResponse', poolHandle: m.poolHandle, peId: m.peId });
  }

  // ---- handle resolution ----------------------------------------------------------------------------

  private onHandleResolution(session: Session, m: AsapHandleResolution): void {
    if (!session.resolutionBucket.take(this.clock.now())) {
      this.counters.add('rateLimited.handleResolution');
      this.send(session, { protocol: 'asap', type: 'handleResolutionResponse', accepted: false, poolHandle: m.poolHandle, poolElements: [], error: [{ code: Cause.lackOfResources }], peStatus: [] });
      return;
    }
    const items = resolutionItems(m.items, this.settings.maxItems);
    const connectionId = session.connection.id;
    // RFC 5352 §2.2.5: S subscribes (only to a pool that exists); a resolution without S ends a subscription.
    let accepted = false;
    if (m.subscribe && this.handlespace.pool(m.poolHandle)) {
      const already = this.notifications.isSubscribed(connectionId, m.poolHandle);
      this.notifications.subscribe(session.connection, m.poolHandle, items);
      this.counters.add('subscriptions.accepted');
      accepted = true;
      if (!already) this.emit('subscriptionChanged', { connectionId, remote: session.connection.remote, poolHandle: m.poolHandle, subscribed: true });
    } else if (m.subscribe) {
      this.counters.add('subscriptions.refusedUnknownPool');
    } else if (this.notifications.isSubscribed(connectionId, m.poolHandle)) {
      this.notifications.unsubscribe(connectionId, m.poolHandle);
      this.counters.add('subscriptions.ended');
      this.emit('subscriptionChanged', { connectionId, remote: session.connection.remote, poolHandle: m.poolHandle, subscribed: false });
    }
    const resolved = this.handlespace.resolve(m.poolHandle, items);
    if (!resolved.ok || resolved.value.elements.length === 0) {
      // An unknown pool, or one whose every element is draining, in maintenance or failed: RFC 5352 allows
      // no positive answer without an element, so both get Unknown Pool Handle (docs/protocol.md).
      this.counters.add('resolution.unknownPool');
      this.send(session, { protocol: 'asap', type: 'handleResolutionResponse', accepted, poolHandle: m.poolHandle, poolElements: [], error: [{ code: Cause.unknownPoolHandle }], peStatus: [] });
      return;
    }
    this.counters.add('resolution.answered');
    const { overallPolicy, elements } = resolved.value;
    this.emit('handleResolved', (elements[0] as ElementRecord).poolKey);
    const encoded: Uint8Array[] = new Array<Uint8Array>(elements.length);
    for (let i = 0; i < elements.length; i++) encoded[i] = this.encodedElement(elements[i] as ElementRecord);
    // RFC 5352 §3.3: the overall policy is sent unless it is Round Robin, the default.
    const response = overallPolicy.type !== 0x1 ? { accepted, poolHandle: m.poolHandle, overallPolicy, peStatus: NO_STATUS } : { accepted, poolHandle: m.poolHandle, peStatus: NO_STATUS };
    this.counters.add(SENT_KEY.handleResolutionResponse);
    this.sendBytes(session, encodeHandleResolutionResponse(response, encoded));
  }

  /**
   * The element's Pool Element parameter, encoded once and reused until a re-registration replaces one of
   * its parts (the handlespace swaps in new transport and policy objects, so identity tells).
   */
  private encodedElement(element: ElementRecord): Uint8Array {
    const cached = this.encodedElements.get(element);
    if (
      cached &&
      cached.policy === element.policy &&
      cached.userTransport === element.userTransport &&
      cached.asapTransport === element.asapTransport &&
      cached.registrationLife === element.registrationLife &&
      cached.homeServerId === element.homeServerId
    ) {
      return cached.bytes;
    }
    const bytes = encodePoolElementParameter(element);
    this.encodedElements.set(element, {
      bytes,
      policy: element.policy,
      userTransport: element.userTransport,
      asapTransport: element.asapTransport,
      registrationLife: element.registrationLife,
      homeServerId: element.homeServerId,
    });
    return bytes;
  }

  // ---- keep-alive monitoring ------------------------------------------------------------------------

  private scheduleKeepAlive(element: ElementRecord): void {
    // RFC 5352 §3.7: the interval MUST vary by ±50 % so keep-alives spread over time.
    const jittered = this.settings.keepAliveIntervalMs * (0.5 + this.random());
    this.keepAliveDue.schedule(element, this.clock.now() + jittered);
  }

  private sendKeepAlive(element: ElementRecord, probe: boolean): void {
    const session = element.connectionId === undefined ? undefined : this.sessions.get(element.connectionId);
    if (!session) return;
    this.counters.add(probe ? 'keepAlive.probes' : 'keepAlive.sent');
    if (probe) this.probed.add(element);
    this.send(session, { protocol: 'asap', type: 'endpointKeepAlive', home: false, serverId: this.serverId, poolHandle: element.poolHandle, peId: element.id });
    if (!this.ackDue.has(element)) this.ackDue.schedule(element, this.clock.now() + this.settings.keepAliveTimeoutMs);
  }

  private onKeepAliveAck(session: Session, m: AsapEndpointKeepAliveAck): void {
    const element = this.handlespace.element(m.poolHandle, m.peId);
    if (!element || element.connectionId !== session.connection.id || !this.ackDue.has(element)) {
      this.counters.add('keepAlive.unexpectedAck');
      return;
    }
    this.counters.add('keepAlive.acked');
    this.lastHeard.set(element, this.clock.now());
    this.ackDue.cancel(element);
    if (this.probed.delete(element) || element.health.state !== 'up') {
      this.handlespace.setHealth(element.poolHandle, element.id, 'up', 'keep-alive answered');
      this.emit('elementHealth', { element, detail: 'answered the keep-alive probe' });
    }
    this.scheduleKeepAlive(element);
  }

  private keepAliveMissed(element: ElementRecord): void {
    const probe = this.probed.delete(element);
    const detail = `no keep-alive ACK within ${this.settings.keepAliveTimeoutMs} ms${probe ? ' after an unreachable report' : ''}`;
    this.counters.add(probe ? 'removed.unreachableProbe' : 'removed.keepAliveTimeout');
    this.handlespace.setHealth(element.poolHandle, element.id, 'failed', detail);
    this.removeElement(element, probe ? 'unreachable' : 'keepAliveTimeout', detail);
  }

  // ---- unreachable reports --------------------------------------------------------------------------

  private onEndpointUnreachable(session: Session, m: AsapEndpointUnreachable): void {
    if (!session.unreachableBucket.take(this.clock.now())) {
      this.counters.add('rateLimited.endpointUnreachable');
      return;
    }
    const element = this.handlespace.element(m.poolHandle, m.peId);
    if (!element) {
      this.counters.add('unreachable.unknownElement');
      return;
    }
    const reports = this.handlespace.countUnreachableReport(m.poolHandle, m.peId) ?? 0;
    this.counters.add('unreachable.reports');
    if (reports >= this.settings.maxBadPeReports) {
      const detail = `${reports} unreachable reports (max-bad-pe-reports ${this.settings.maxBadPeReports}), last from ${describe(session.connection.remote)}`;
      this.counters.add('removed.unreachableReports');
      this.handlespace.setHealth(element.poolHandle, element.id, 'failed', detail);
      this.removeElement(element, 'unreachable', detail);
      return;
    }
    // RFC 5352 §3.5: probe the element at once; a failed probe removes it.
    if (element.connectionId !== undefined && this.sessions.has(element.connectionId) && !this.probed.has(element)) {
      this.handlespace.setHealth(element.poolHandle, element.id, 'suspect', `reported unreachable by ${describe(session.connection.remote)}; probing`);
      this.emit('elementHealth', { element, detail: 'reported unreachable; probing' });
      this.keepAliveDue.cancel(element);
      this.sendKeepAlive(element, true);
    }
  }

  // ---- lifetime expiry ------------------------------------------------------------------------------

  private armExpiry(): void {
    const next = this.handlespace.nextExpiry() ?? Infinity;
    if (next === this.expiryDue) return;
    this.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryDue = next;
    if (next === Infinity) return;
    this.expiryTimer = this.clock.setTimeout(() => {
      this.expiryTimer = undefined;
      this.expiryDue = Infinity;
      this.expireNow();
    }, next - this.clock.now());
  }

  private expireNow(): void {
    for (const element of this.handlespace.expire(this.clock.now())) {
      this.counters.add('removed.lifetimeExpired');
      const session = element.connectionId === undefined ? undefined : this.sessions.get(element.connectionId);
      // RFC 5352 §3.2: the element is told with a deregistration response.
      if (session) this.send(session, { protocol: 'asap', type: 'deregistrationResponse', poolHandle: element.poolHandle, peId: element.id });
      this.forget(element);
      this.notifications.changed({ element, status: 'deregistered', reason: 'lifetimeExpired', takenAway: true });
      this.emit('elementRemoved', { element, reason: 'lifetimeExpired', detail: `registration life of ${element.registrationLife} ms passed without re-registration` });
    }
    this.armExpiry();
  }

  // ---- shared ---------------------------------------------------------------------------------------

  /** Removes an element from the handlespace and every schedule, and tells listeners why. */
  private removeElement(element: ElementRecord, reason: RemovalReason, detail: string, reasonText?: string): void {
    const removed = this.handlespace.deregister(element.poolHandle, element.id);
    if (!removed) return;
    this.forget(removed);
    this.armExpiry();
    this.notifications.changed({ element: removed, ...REMOVAL_STATUS[reason], takenAway: true, ...(reasonText ? { reasonText } : {}) });
    this.emit('elementRemoved', { element: removed, reason, detail });
  }

  private notifyRegistration(outcome: RegistrationOutcome): void {
    const element = outcome.element;
    if (outcome.kind === 'registered') {
      const admin = element.admin.state;
      if (admin === 'ready') this.notifications.changed({ element, status: 'up', reason: 'registered', takenAway: false });
      else this.notifications.changed({ element, ...ADMIN_STATUS[admin === 'draining' ? 'drain' : 'maintenance'], takenAway: true, reasonText: element.admin.cause });
      return;
    }
    // RFC-visible changes (transport, policy values) are pushed at once; a load change alone is coalesced.
    if (outcome.changed.includes('transport') || outcome.changed.includes('policy')) {
      this.notifications.changed({ element, status: 'up', reason: 'reregistered', takenAway: false });
    } else if (outcome.changed.includes('load')) {
      this.notifications.changed({ element, status: 'loadChanged', reason: 'loadChanged', takenAway: false });
    }
  }

  // ---- operator actions (validated, audited and persisted by core/console) ---------------------------

  /**
   * drain / ready / maintenance / failover / deregister one element. Failover takes the element out like
   * maintenance but tells pool users it failed, so they move at once (docs/protocol.md).
   */
  operate(handle: Uint8Array, peId: number, action: OperatorAction, reasonText: string): Result<ElementRecord, AdminError> {
    const element = this.handlespace.element(handle, peId);
    if (!element) return err({ code: 'unknownElement', message: `no element 0x${peId.toString(16)} in pool ${poolHandleToText(handle)}` });
    const before = element.admin.state;
    this.counters.add(`operator.${action}`);
    if (action === 'deregister') {
      const session = element.connectionId === undefined ? undefined : this.sessions.get(element.connectionId);
      // The element hears it as the registrar ending its registration (RFC 5352 §3.2).
      if (session) this.send(session, { protocol: 'asap', type: 'deregistrationResponse', poolHandle: element.poolHandle, peId: element.id });
      this.removeElement(element, 'operatorDeregister', `deregistered by an operator: ${reasonText}`, reasonText);
      this.emit('elementAdmin', { element, action, before, after: 'removed', reasonText });
      return ok(element);
    }
    const after: AdminState = action === 'drain' ? 'draining' : action === 'ready' ? 'ready' : 'maintenance';
    this.handlespace.setAdminState(handle, peId, after, reasonText);
    const change = ADMIN_STATUS[action];
    this.notifications.changed({ element, status: change.status, reason: change.reason, takenAway: after !== 'ready', reasonText });
    this.emit('elementAdmin', { element, action, before, after, reasonText });
    return ok(element);
  }

  // ---- elements whose home is a peer registrar (ENRP: core/enrp calls these) -------------------------

  /**
   * Adds or replaces an element learned from a peer registrar (ENRP_HANDLE_UPDATE ADD_PE, a handle table
   * entry, a takeover): `pe.homeServerId` names its home, this registrar's own id after a takeover. Pool
   * users hear it like a registration and resolutions include it; it expires by its registration life like
   * any element. An element this registrar serves over a live ASAP connection is not handed to a peer's
   * claim: the handlespace refuses that with cause 0x4 (docs/protocol.md, "the live connection wins").
   */
  applyPeerElement(handle: Uint8Array, pe: PoolElement): Result<RegistrationOutcome, RegistrationRejection> {
    const result = this.handlespace.register(handle, pe, undefined, pe.homeServerId);
    if (!result.ok) {
      this.counters.add(`peerElements.refused.0x${result.error.cause.toString(16)}`);
      return result;
    }
    const outcome = result.value;
    this.counters.add(outcome.kind === 'registered' ? 'peerElements.added' : 'peerElements.updated');
    this.armExpiry();
    this.notifyRegistration(outcome);
    this.emit('elementRegistered', { element: outcome.element, outcome });
    return result;
  }

  /**
   * Removes an element no ASAP connection of this registrar serves (undefined when there is none such).
   * `pushed` is the status its home told its own pool users (ENRP carries it), so ours hear the same.
   */
  removePeerElement(handle: Uint8Array, peId: number, reason: PeerRemovalReason, detail: string, pushed?: Pick<ElementChange, 'status' | 'reason'>): ElementRecord | undefined {
    const element = this.handlespace.element(handle, peId);
    if (!element || element.connectionId !== undefined) return undefined;
    this.counters.add(`peerElements.removed.${reason}`);
    this.handlespace.deregister(handle, peId);
    this.forget(element);
    this.armExpiry();
    this.notifications.changed({ element, ...(pushed ?? REMOVAL_STATUS[reason]), takenAway: true });
    this.emit('elementRemoved', { element, reason, detail });
    return element;
  }

  private forget(element: ElementRecord): void {
    this.notifications.forget(element);
    this.keepAliveDue.cancel(element);
    this.ackDue.cancel(element);
    this.probed.delete(element);
    const session = element.connectionId === undefined ? undefined : this.sessions.get(element.connectionId);
    if (session) session.elementCount--;
  }

  private send(session: Session, message: AsapMessage): void {
    this.counters.add(SENT_KEY[message.type]);
    this.sendBytes(session, encodeMessage(message));
  }

  private sendBytes(session: Session, bytes: Uint8Array): void {
    const pending = session.pending;
    // Behind an acknowledgement that waits for durability: keep the order the messages were produced in.
    if (pending) {
      const next = pending.then(() => session.connection.send(bytes));
      session.pending = next;
      void next.finally(() => {
        if (session.pending === next) session.pending = undefined;
      });
      return;
    }
    session.connection.send(bytes);
  }

  private notice(connectionId: number | undefined, message: string): void {
    this.log(message);
    this.emit('notice', connectionId === undefined ? { message } : { connectionId, message });
  }
}

/** The status pool users are pushed for each removal reason (core/enrp sends it to peers with DEL_PE). */
export const REMOVAL_STATUS: Readonly<Record<RemovalReason, Pick<ElementChange, 'status' | 'reason'>>> = {
  deregistered: { status: 'deregistered', reason: 'deregisteredByElement' },
  keepAliveTimeout: { status: 'failed', reason: 'keepAliveTimeout' },
  connectionLost: { status: 'failed', reason: 'connectionLost' },
  unreachable: { status: 'unreachable', reason: 'unreachableReports' },
  lifetimeExpired: { status: 'deregistered', reason: 'lifetimeExpired' },
  operatorDeregister: { status: 'deregistered', reason: 'operatorDeregister' },
  // When a peer's DEL_PE does not say why (a standard peer), and when a resync found it gone at its home.
  peerDeregistered: { status: 'deregistered', reason: 'unspecified' },
  peerResync: { status: 'deregistered', reason: 'unspecified' },
  takeoverExpired: { status: 'failed', reason: 'takeover' },
};

const ADMIN_STATUS: Record<Exclude<OperatorAction, 'deregister'>, Pick<ElementChange, 'status' | 'reason'>> = {
  drain: { status: 'draining', reason: 'operatorDrain' },
  ready: { status: 'up', reason: 'operatorReady' },
  maintenance: { status: 'maintenance', reason: 'operatorMaintenance' },
  failover: { status: 'failed', reason: 'operatorFailover' },
};

/** Items for a resolution: the Handle Resolution Option if present (0xffffffff = as many as allowed), else the default. */
export function resolutionItems(requested: number | undefined, defaultItems: number): number {
  if (requested === undefined || requested === 0) return defaultItems;
  if (requested === HROPT_ALL_ITEMS) return MAX_HANDLE_RESOLUTION_ITEMS;
  return Math.min(requested, MAX_HANDLE_RESOLUTION_ITEMS);
}

/**
 * An element that registers its service on the unspecified address (0.0.0.0 or ::) means "wherever you see
 * me": the registrar records the address the element's own connection comes from (docs/protocol.md).
 */
function withRemoteAddress(transport: UserTransport, remoteAddress: string): UserTransport {
  switch (transport.kind) {
    case 'sctp':
      return transport.addresses.some((a) => UNSPECIFIED_ADDRESSES.has(a))
        ? { ...transport, addresses: transport.addresses.map((a) => (UNSPECIFIED_ADDRESSES.has(a) ? remoteAddress : a)) }
        : transport;
    case 'opaque':
      return transport;
    default:
      return UNSPECIFIED_ADDRESSES.has(transport.address) ? { ...transport, address: remoteAddress } : transport;
  }
}

function describe(remote: RemoteAddress): string {
  return remote.family === 6 ? `[${remote.address}]:${remote.port}` : `${remote.address}:${remote.port}`;
}
