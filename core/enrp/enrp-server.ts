/**
 * ENRP (RFC 5353) for one registrar: peering with the other registrars of the deployment so they keep one
 * handlespace. It owns the peer list and its connections (TCP, both directions; presence discovery over
 * UDP), start-up with a mentor (ENRP_LIST_REQUEST, ENRP_HANDLE_TABLE_REQUEST in chunks), ENRP_HANDLE_UPDATE
 * for every change the local registrar makes to elements it is home of, the heartbeat with the PE
 * checksum and the audit that resyncs a peer's elements when the checksums disagree, peer liveness and
 * takeover of a dead peer's elements, and the admin state extension that carries operator actions between
 * registrars (docs/protocol.md). The registrar stays the only writer of the handlespace: this module
 * listens to its events and calls its peer-element methods and operate().
 *
 * Over TCP a registrar cannot reach the elements of a dead peer (they dialed that peer), so a takeover
 * cannot send them ASAP_ENDPOINT_KEEP_ALIVE with the H bit; the PE SDK re-registers with a live registrar
 * instead, and the grace rule keeps taken-over entries meanwhile (docs/protocol.md).
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { poolKeyOf, type AdminState, type ElementRecord } from '../handlespace/handlespace.js';
import { Counters } from '../registrar/counters.js';
import { REMOVAL_STATUS, type ElementAdminChanged, type ElementRegistered, type ElementRemoved, type OperatorAction, type Registrar } from '../registrar/registrar.js';
import { listenTcp } from '../registrar/tcp-transport.js';
import type { MessageConnection, MessageServer } from '../registrar/transport.js';
import { err, ok, type Result } from '../result.js';
import { UpdateAction } from '../wire/constants.js';
import { decodeMessage, reportsFor } from '../wire/decoder.js';
import { encodeMessage } from '../wire/encoder.js';
import { hex32, poolHandleToText } from '../wire/json.js';
import type {
  EnrpHandleTableRequest,
  EnrpHandleTableResponse,
  EnrpHandleUpdate,
  EnrpMessage,
  EnrpPresence,
  ServerInformation,
  TcpTransport,
  UnrecognizedParameter,
} from '../wire/types.js';
import { adminStateParameter, adminStatesOf, isNewer, type AdminAction, type AdminStateNotice } from './admin-state-parameter.js';
import { HandleTableServer, toPoolElement } from './handle-table.js';
import { elementKey, OwnershipLedger } from './ownership-ledger.js';
import { connectionTo, newPeer, peerView, type Peer, type PeerView } from './peer-table.js';
import { PresenceChannel } from './presence-channel.js';
import { removalCauseOf, removalCauseParameter } from './removal-cause-parameter.js';
import { describeEnrpSettings, formatEnrpEndpoint, resolveEnrpSettings, type EnrpEndpoint, type EnrpSettings, type EnrpSettingsProblem } from './settings.js';
import { dialTcp } from './tcp-dialer.js';

export type { PeerView } from './peer-table.js';

export interface EnrpEvents {
  /** A peer was heard for the first time, or again after it was down. */
  peerUp: [{ readonly serverId: number; readonly address: string | null }];
  /** A peer stopped answering (before any takeover). */
  peerDown: [{ readonly serverId: number; readonly reason: string }];
  takeoverStarted: [{ readonly target: number; readonly awaitingAcks: number }];
  /** We won the takeover: the target's elements are ours now. */
  takeoverCompleted: [{ readonly target: number; readonly elements: number; readonly durationMs: number }];
  takeoverAborted: [{ readonly target: number; readonly reason: string }];
  /** Another registrar took `target` over; its elements now have `by` as home. */
  takenOverByPeer: [{ readonly target: number; readonly by: number; readonly elements: number }];
  resyncStarted: [{ readonly serverId: number; readonly reason: string }];
  resyncCompleted: [{ readonly serverId: number; readonly elements: number; readonly removed: number; readonly durationMs: number }];
  /** Start-up is over: the handlespace came from `mentor` (0 = no mentor answered; serving alone). */
  synced: [{ readonly mentor: number; readonly elements: number; readonly durationMs: number }];
  /**
   * An operator's admin action on an element arrived from a peer (and was applied here). The console can
   * keep it in its AdminStateBook so it survives this registrar's restart too.
   */
  adminStateLearned: [AdminStateNotice];
  notice: [{ readonly message: string }];
}

export interface EnrpStartOptions {
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly log?: (line: string) => void;
}

interface TableDownload {
  readonly peerId: number;
  readonly ownChildrenOnly: boolean;
  /** Resync: keys of the peer's elements not yet seen in the answer. */
  readonly marked: Set<string> | undefined;
  readonly startedAt: number;
  deadline: number;
  elements: number;
  refused: number;
}

interface GraceBatch {
  readonly due: number;
  readonly keys: string[];
}

const ACTION_OF: Record<OperatorAction, AdminAction> = {
  drain: 'drain',
  ready: 'ready',
  maintenance: 'maintenance',
  failover: 'failover',
  deregister: 'deregister',
};

const STATE_OF_ACTION: Record<Exclude<AdminAction, 'deregister'>, AdminState> = {
  drain: 'draining',
  ready: 'ready',
  maintenance: 'maintenance',
  failover: 'maintenance',
};

const MAX_TABLE_SESSIONS = 16;
const MAX_REMEMBERED_ADMIN_STATES = 100_000;
const WILDCARD = new Set(['0.0.0.0', '::']);

export class EnrpServer extends EventEmitter<EnrpEvents> {
  readonly counters = new Counters();
  readonly serverId: number;
  private readonly ledger = new OwnershipLedger();
  private readonly byId = new Map<number, Peer>();
  private readonly configured: Peer[] = [];
  private readonly outboundOwner = new Map<MessageConnection, Peer>();
  private readonly inbound = new Set<MessageConnection>();
  /** Malformed messages in a row, per connection. */
  private readonly errorsInARow = new WeakMap<MessageConnection, number>();
  private readonly downloads = new Map<number, TableDownload>();
  private readonly tables: HandleTableServer;
  /** The newest operator action known per element (poolKey|peId), wherever it was set. */
  private readonly adminVersions = new Map<string, AdminStateNotice>();
  private readonly graceBatches: GraceBatch[] = [];
  /** Elements this registrar took over, by key, with the registrar they came from. */
  private readonly adoptedFrom = new Map<string, number>();
  private server: MessageServer | undefined;
  private presence: PresenceChannel | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private tickTimer: TimerHandle | undefined;
  private phase: 'starting' | 'serving' = 'starting';
  private readonly startedAt: number;
  private mentor: number | undefined;
  private readonly mentorsTried = new Set<number>();
  /** >0 while applying a peer's admin action through the registrar (its elementAdmin must not echo back). */
  private applyingPeerAction = 0;
  private closed = false;
  private readonly tickMs: number;
  private readonly registeredListener = (e: ElementRegistered): void => this.onElementRegistered(e);
  private readonly removedListener = (e: ElementRemoved): void => this.onElementRemoved(e);
  private readonly adminListener = (e: ElementAdminChanged): void => this.onElementAdmin(e);

  private constructor(
    private readonly registrar: Registrar,
    readonly settings: EnrpSettings,
    readonly clampedSettings: readonly EnrpSettingsProblem[],
    private readonly clock: Clock,
    private readonly random: () => number,
    private readonly log: (line: string) => void,
  ) {
    super();
    this.serverId = registrar.serverId;
    this.startedAt = clock.now();
    this.tables = new HandleTableServer(registrar.handlespace, settings.maxElementsPerTableResponse, MAX_TABLE_SESSIONS, settings.maxTimeNoResponseMs);
    // Liveness is checked often enough that a takeover starts within a small fraction of its timers.
    this.tickMs = Math.max(20, Math.min(250, Math.floor(Math.min(settings.maxTimeLastHeardMs, settings.maxTimeNoResponseMs) / 10)));
  }

  /**
   * Attaches ENRP to a running registrar: listens on the ENRP TCP port, joins the presence channel, dials
   * the configured peers and starts the mentor download. Fails (as a value) when a port cannot be bound.
   */
  static async start(registrar: Registrar, overrides: Partial<EnrpSettings> = {}, options: EnrpStartOptions = {}): Promise<Result<EnrpServer, string>> {
    const { settings, clamped } = resolveEnrpSettings(overrides);
    const log = options.log ?? (() => {});
    const enrp = new EnrpServer(registrar, settings, clamped, options.clock ?? systemClock, options.random ?? Math.random, log);
    for (const problem of clamped) log(problem.message);
    const started = await enrp.listen();
    if (!started.ok) {
      await enrp.close();
      return started;
    }
    enrp.attach();
    return ok(enrp);
  }

  /** The bound ENRP TCP address (the real port when 0 was asked). */
  get address(): EnrpEndpoint {
    const bound = this.server?.address;
    return { host: bound?.address ?? this.settings.listen.host, port: bound?.port ?? this.settings.listen.port };
  }

  get serving(): boolean {
    return this.phase === 'serving';
  }

  describe(): string[] {
    return describeEnrpSettings(this.settings, this.address);
  }

  /** The Registrars view: this registrar first, then every peer known (plain data). */
  peers(): PeerView[] {
    const ownChecksum = this.ledger.checksum(this.serverId);
    const self: PeerView = {
      serverId: this.serverId,
      address: formatEnrpEndpoint(this.advertised()),
      role: 'self',
      state: this.phase,
      configured: false,
      connected: true,
      lastHeardAt: null,
      checksum: { reported: ownChecksum, computed: ownChecksum, state: 'agree' },
      elementsOwned: this.ledger.count(this.serverId),
      takenOverBy: null,
      takeoverOutstandingAcks: null,
    };
    const rows = [self];
    const seen = new Set<Peer>();
    for (const peer of [...this.configured, ...this.byId.values()]) {
      if (seen.has(peer) || peer.isSelf) continue;
      seen.add(peer);
      const id = peer.serverId;
      rows.push(peerView(peer, id !== 0 && id === this.mentor ? 'mentor' : 'peer', this.ledger.checksum(id), id === 0 ? 0 : this.ledger.count(id), id !== 0 && this.downloads.has(id)));
    }
    return rows;
  }

  /**
   * The operator admin state ENRP knows for an element (set here or at a peer), for chaining into the
   * registrar's persistedAdminState: a drained element that registers anew here comes back draining.
   */
  adminStateOf(poolHandle: Uint8Array, peId: number): { readonly state: AdminState; readonly cause: string } | undefined {
    const notice = this.adminVersions.get(elementKey(poolKeyOf(poolHandle), peId));
    if (!notice || notice.action === 'deregister' || notice.action === 'ready') return undefined;
    return { state: STATE_OF_ACTION[notice.action], cause: `${notice.reasonText} (set at registrar ${hex32(notice.setBy)}; kept by ENRP)` };
  }

  /** Stops peering: timers, connections, the ports. The handlespace keeps what it has. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clock.clearTimeout(this.heartbeatTimer);
    this.clock.clearTimeout(this.tickTimer);
    this.registrar.off('elementRegistered', this.registeredListener);
    this.registrar.off('elementRemoved', this.removedListener);
    this.registrar.off('elementAdmin', this.adminListener);
    this.presence?.stop();
    for (const peer of this.allPeers()) {
      peer.outbound?.close('ENRP shutting down');
      peer.outbound = undefined;
    }
    await this.server?.close();
  }

  // ---- start-up -------------------------------------------------------------------------------------

  private async listen(): Promise<Result<void, string>> {
    const { listen } = this.settings;
    try {
      this.server = await listenTcp(listen.host, listen.port, this.registrar.settings.wire.maxMessageSize, {
        onOpen: (connection) => this.onInboundOpen(connection),
        onMessage: (connection, bytes) => this.onBytes(connection, bytes),
        onFramingError: (connection, reason) => {
          this.counters.add('framing.errors');
          this.notice(`ENRP framing error from ${describeRemote(connection)}: ${reason}; closing the connection`);
        },
        onClose: (connection, reason) => this.onConnectionClosed(connection, reason),
      });
    } catch (e) {
      return err(`cannot listen for ENRP on ${formatEnrpEndpoint(listen)}: ${(e as Error).message}`);
    }
    if (this.settings.announce !== 'off') {
      const channel = new PresenceChannel({
        group: this.settings.announce,
        ttl: this.settings.announceTtl,
        log: this.log,
        onMalformed: (reason) => {
          this.counters.add('presenceChannel.malformed');
          this.counters.add('decode.errors');
          if (this.counters.get('presenceChannel.malformed') <= 10) this.notice(`malformed datagram on the ENRP presence channel: ${reason}`);
        },
        onPresence: (presence, from) => this.onDiscoveryPresence(presence, from.address),
      });
      try {
        await channel.start();
        this.presence = channel;
      } catch (e) {
        return err(`cannot open the ENRP presence channel ${formatEnrpEndpoint(this.settings.announce)}: ${(e as Error).message}`);
      }
    }
    return ok(undefined);
  }

  private attach(): void {
    // Elements registered before ENRP started are already in the handlespace.
    for (const pool of this.registrar.handlespace.pools()) {
      for (const element of pool.elements()) this.ledger.set(elementKey(element.poolKey, element.id), element.poolHandle, element.id, element.homeServerId);
    }
    this.registrar.on('elementRegistered', this.registeredListener);
    this.registrar.on('elementRemoved', this.removedListener);
    this.registrar.on('elementAdmin', this.adminListener);
    const now = this.clock.now();
    for (const address of this.settings.peers) {
      const peer = newPeer(now, address, true);
      this.configured.push(peer);
    }
    // Alone by configuration: serve at once (on the next turn, so whoever started us hears 'synced').
    if (this.configured.length === 0 && this.settings.announce === 'off') this.clock.setTimeout(() => this.finishStartup(0, 0), 0);
    this.heartbeat();
    this.tick();
  }

  /** The mentor: the first configured peer that answered, else the first peer heard at all. */
  private chooseMentor(): void {
    if (this.phase !== 'starting' || this.mentor !== undefined) return;
    const candidates = [...this.configured, ...this.byId.values()].filter((p) => p.serverId !== 0 && !p.isSelf && p.state === 'active' && !this.mentorsTried.has(p.serverId));
    const mentor = candidates[0];
    if (!mentor) return;
    this.mentor = mentor.serverId;
    this.mentorsTried.add(mentor.serverId);
    this.log(`ENRP: mentor is registrar ${hex32(mentor.serverId)}${mentor.address ? ` at ${formatEnrpEndpoint(mentor.address)}` : ''}; asking for its peer list and handlespace`);
    this.sendTo(mentor, { protocol: 'enrp', type: 'listRequest', senderServerId: this.serverId, receiverServerId: mentor.serverId });
    this.startDownload(mentor, false);
  }

  private finishStartup(mentor: number, elements: number): void {
    if (this.phase === 'serving') return;
    this.phase = 'serving';
    const durationMs = this.clock.now() - this.startedAt;
    this.log(mentor === 0 ? `ENRP: no mentor answered; serving with what this registrar has (${this.registrar.handlespace.elementCount} elements)` : `ENRP: synchronised from mentor ${hex32(mentor)}: ${elements} elements in ${durationMs} ms`);
    this.emit('synced', { mentor, elements, durationMs });
  }

  // ---- timers ---------------------------------------------------------------------------------------

  private heartbeat(): void {
    if (this.closed) return;
    const presence = this.encodePresence(0, false);
    for (const peer of this.identifiedPeers()) {
      if (peer.state === 'down' && !connectionTo(peer)) continue;
      this.sendBytesTo(peer, presence);
    }
    this.presence?.send(presence);
    this.counters.add('presence.heartbeats');
    // RSPLIB varies the cycle by ±12.5 %, so registrars started together do not stay in step.
    const cycle = this.settings.peerHeartbeatCycleMs * (0.875 + 0.25 * this.random());
    this.heartbeatTimer = this.clock.setTimeout(() => this.heartbeat(), cycle);
  }

  private tick(): void {
    if (this.closed) return;
    const now = this.clock.now();
    for (const peer of this.allPeers()) {
      if (peer.isSelf) continue;
      this.maybeDial(peer, now);
      this.checkLiveness(peer, now);
      this.checkTakeover(peer, now);
    }
    for (const download of [...this.downloads.values()]) {
      if (now >= download.deadline) this.failDownload(download, `no ENRP_HANDLE_TABLE_RESPONSE within ${this.settings.maxTimeNoResponseMs} ms`);
    }
    this.tables.expire(now);
    this.expireGrace(now);
    this.forgetLongDeadPeers(now);
    if (this.phase === 'starting') {
      this.chooseMentor();
      if (this.mentor === undefined && now - this.startedAt >= this.settings.mentorDiscoveryTimeoutMs) this.finishStartup(0, 0);
    }
    this.tickTimer = this.clock.setTimeout(() => this.tick(), this.tickMs);
  }

  // ---- connections ----------------------------------------------------------------------------------

  private maybeDial(peer: Peer, now: number): void {
    if (!peer.address || peer.dialing || (peer.outbound && !peer.outbound.closed) || now < peer.redialAt) return;
    peer.dialing = true;
    const address = peer.address;
    void dialTcp(address.host, address.port, this.registrar.settings.wire.maxMessageSize, Math.max(1000, this.settings.maxTimeNoResponseMs), {
      onMessage: (connection, bytes) => this.onBytes(connection, bytes),
      onFramingError: (connection, reason) => {
        this.counters.add('framing.errors');
        this.notice(`ENRP framing error from ${describeRemote(connection)}: ${reason}; closing the connection`);
      },
      onClose: (connection, reason) => this.onConnectionClosed(connection, reason),
    }).then((dialed) => {
      peer.dialing = false;
      if (!dialed.ok) {
        peer.dialFailures++;
        this.counters.add('connections.dialFailed');
        // Back off up to the heartbeat cycle: a peer that is down is tried again, but not in a tight loop.
        peer.redialAt = this.clock.now() + Math.min(this.settings.peerHeartbeatCycleMs, 100 * 2 ** Math.min(peer.dialFailures, 10));
        if (peer.dialFailures === 1 && peer.configured) this.log(`ENRP: cannot reach peer ${formatEnrpEndpoint(address)} (${dialed.error}); will keep trying`);
        return;
      }
      const connection = dialed.value;
      if (this.closed || peer.isSelf) {
        connection.close(this.closed ? 'ENRP shutting down' : 'that address is this registrar');
        return;
      }
      peer.dialFailures = 0;
      peer.outbound = connection;
      this.outboundOwner.set(connection, peer);
      this.counters.add('connections.dialed');
      // Tell it who we are and ask for its presence back (RFC 5353 §3.5: reply required).
      connection.send(this.encodePresence(peer.serverId, true));
    });
  }

  private onInboundOpen(connection: MessageConnection): void {
    if (this.closed) {
      connection.close('ENRP shutting down');
      return;
    }
    if (this.inbound.size >= this.settings.maxConnections) {
      this.counters.add('limits.connections');
      connection.close(`ENRP connection limit of ${this.settings.maxConnections} reached`);
      return;
    }
    this.inbound.add(connection);
    this.counters.add('connections.accepted');
  }

  private onConnectionClosed(connection: MessageConnection, reason: string): void {
    this.inbound.delete(connection);
    const owner = this.outboundOwner.get(connection);
    if (owner) {
      this.outboundOwner.delete(connection);
      if (owner.outbound === connection) owner.outbound = undefined;
      owner.redialAt = this.clock.now() + 100;
    }
    for (const peer of this.byId.values()) peer.inbound.delete(connection);
    if (!this.closed) this.counters.add('connections.closed');
    if (owner && owner.serverId !== 0 && !this.closed) this.log(`ENRP: connection to peer ${hex32(owner.serverId)} closed (${reason})`);
  }

  // ---- receiving ------------------------------------------------------------------------------------

  private onBytes(connection: MessageConnection, bytes: Uint8Array): void {
    if (this.closed) return;
    const decoded = decodeMessage('enrp', bytes, this.registrar.settings.wire);
    if (!decoded.ok) {
      const e = decoded.error;
      this.counters.add('decode.errors');
      this.counters.add(`decode.rule.${e.rule}`);
      this.notice(`malformed ENRP message from ${describeRemote(connection)}: ${e.reason} at byte ${e.offset} (${e.rule}); ${e.action === 'reply' ? 'answered with ENRP_ERROR' : 'dropped'}`);
      if (e.action === 'reply' && e.cause) connection.send(encodeMessage({ protocol: 'enrp', type: 'error', senderServerId: this.serverId, receiverServerId: 0, error: [e.cause] }));
      const errors = (this.errorsInARow.get(connection) ?? 0) + 1;
      this.errorsInARow.set(connection, errors);
      if (errors >= this.settings.maxConsecutiveErrors) {
        this.counters.add('connections.closedForErrors');
        connection.close(`${errors} malformed ENRP messages in a row`);
      }
      return;
    }
    this.errorsInARow.delete(connection);
    const message = decoded.value;
    if (message.protocol !== 'enrp') return;
    this.counters.add(`received.${message.type}`);
    if (message.senderServerId === 0) {
      this.counters.add('received.withoutServerId');
      this.notice(`ENRP ${message.type} from ${describeRemote(connection)} without a sending server identifier; ignored`);
      return;
    }
    const outboundPeer = this.outboundOwner.get(connection);
    if (message.senderServerId === this.serverId) {
      // We dialed our own address (a peer list that includes this registrar).
      if (outboundPeer) {
        outboundPeer.isSelf = true;
        connection.close('that address is this registrar');
      }
      return;
    }
    const reports = reportsFor(message);
    if (reports.length > 0) connection.send(encodeMessage({ protocol: 'enrp', type: 'error', senderServerId: this.serverId, receiverServerId: message.senderServerId, error: reports }));
    const peer = this.peerFor(message.senderServerId, connection, outboundPeer, message.type === 'presence' ? message.serverInformation : undefined);
    this.heard(peer, message);
    this.dispatch(peer, message);
  }

  /** Finds (or adds) the peer a message came from, and files the connection under it. */
  private peerFor(serverId: number, connection: MessageConnection, outboundPeer: Peer | undefined, info: ServerInformation | undefined): Peer {
    const now = this.clock.now();
    if (outboundPeer && outboundPeer.serverId !== 0 && outboundPeer.serverId !== serverId) this.splitIdentity(outboundPeer, now);
    let peer = this.byId.get(serverId);
    if (outboundPeer && outboundPeer.serverId === 0) {
      // A configured peer answered for the first time: now we know who it is.
      outboundPeer.serverId = serverId;
      if (peer && peer !== outboundPeer) {
        for (const c of peer.inbound) outboundPeer.inbound.add(c);
        outboundPeer.lastHeard = peer.lastHeard;
        if (peer.outbound && peer.outbound !== outboundPeer.outbound) peer.outbound.close('a second connection to the same peer');
      }
      this.byId.set(serverId, outboundPeer);
      peer = outboundPeer;
    }
    if (!peer) {
      peer = newPeer(now, undefined, false, serverId);
      this.byId.set(serverId, peer);
      this.counters.add('peers.discovered');
      this.log(`ENRP: new peer ${hex32(serverId)} (connected from ${describeRemote(connection)})`);
      // RFC 5353 §3.5: a message from an unknown server makes it a peer, and it gets our presence.
      this.sendTo(peer, this.presenceMessage(serverId, true), connection);
    }
    if (!outboundPeer && !peer.inbound.has(connection)) peer.inbound.add(connection);
    if (info) {
      const host = WILDCARD.has(info.transport.kind === 'tcp' ? info.transport.address : (info.transport.addresses[0] ?? '')) ? connection.remote.address : transportHost(info);
      if (host && (!peer.address || !peer.configured)) peer.address = { host, port: info.transport.port };
    }
    return peer;
  }

  /**
   * The registrar at a peer's address answers with another identifier: it restarted (RFC 5353 §3.1: a new
   * random identifier each start). The address now belongs to the new identity; the old one keeps its
   * state without a connection, so it ages into a takeover of whatever it still owns.
   */
  private splitIdentity(peer: Peer, now: number): void {
    const old = newPeer(now, undefined, false, peer.serverId);
    old.state = peer.state === 'connecting' ? 'active' : peer.state;
    old.lastHeard = peer.lastHeard;
    old.probeSentAt = peer.probeSentAt;
    old.reportedChecksum = peer.reportedChecksum;
    old.takeover = peer.takeover;
    old.takenOverBy = peer.takenOverBy;
    old.takenOverAt = peer.takenOverAt;
    this.byId.set(peer.serverId, old);
    this.log(`ENRP: the registrar at ${peer.address ? formatEnrpEndpoint(peer.address) : 'a configured address'} was ${hex32(peer.serverId)}; it has a new identifier now`);
    peer.serverId = 0;
    peer.state = 'connecting';
    peer.lastHeard = undefined;
    peer.probeSentAt = undefined;
    peer.reportedChecksum = undefined;
    peer.mismatches = 0;
    peer.takeover = undefined;
    peer.takenOverBy = undefined;
    peer.takenOverAt = undefined;
  }

  private heard(peer: Peer, message: EnrpMessage): void {
    const now = this.clock.now();
    const wasSilent = peer.state === 'connecting' || peer.state === 'down' || peer.lastHeard === undefined;
    // A registrar we took over is back (it was frozen or cut off): learn at once what it still serves.
    const reclaim = wasSilent && peer.takenOverBy === this.serverId;
    peer.lastHeard = now;
    peer.probeSentAt = undefined;
    if (peer.takeover) {
      // RFC 5353 §3.6: a presence from the target aborts; any message shows just as well that it lives.
      this.abortTakeover(peer, `registrar ${hex32(peer.serverId)} answered (${message.type})`);
    }
    if (peer.state !== 'active') {
      peer.state = 'active';
      peer.takenOverBy = undefined;
      peer.takenOverAt = undefined;
    }
    if (wasSilent) {
      this.counters.add('peers.up');
      this.emit('peerUp', { serverId: peer.serverId, address: peer.address ? formatEnrpEndpoint(peer.address) : null });
    }
    if (reclaim && !this.downloads.has(peer.serverId)) {
      this.log(`ENRP: registrar ${hex32(peer.serverId)}, taken over by this registrar, is back; resynchronising its elements`);
      this.emit('resyncStarted', { serverId: peer.serverId, reason: 'a registrar this one took over is back' });
      this.startDownload(peer, true);
    }
  }

  private dispatch(peer: Peer, message: EnrpMessage): void {
    switch (message.type) {
      case 'presence':
        return this.onPresence(peer, message);
      case 'listRequest':
        return this.onListRequest(peer);
      case 'listResponse':
        if (message.reject) return;
        for (const info of message.servers) this.learnServer(info);
        return;
      case 'handleTableRequest':
        return this.onTableRequest(peer, message);
      case 'handleTableResponse':
        return this.onTableResponse(peer, message);
      case 'handleUpdate':
        return this.onHandleUpdate(peer, message);
      case 'initTakeover':
        return this.onInitTakeover(peer, message.targetServerId);
      case 'initTakeoverAck':
        return this.onInitTakeoverAck(peer, message.targetServerId);
      case 'takeoverServer':
        return this.onTakeoverServer(peer, message.targetServerId);
      case 'error':
        this.notice(`ENRP_ERROR from registrar ${hex32(peer.serverId)}: causes ${message.error.map((c) => `0x${c.code.toString(16)}`).join(', ')}`);
        return;
    }
  }

  private onPresence(peer: Peer, m: EnrpPresence): void {
    if (m.replyRequired) this.sendTo(peer, this.presenceMessage(peer.serverId, false));
    if (m.peChecksum === undefined) return;
    const firstReport = peer.reportedChecksum === undefined;
    peer.reportedChecksum = m.peChecksum;
    // While the mentor's download runs our copy is incomplete by design; the audit starts once we serve.
    if (this.phase === 'starting') return;
    // RFC 5353 §3.11: the checksum covers the elements the sender owns, as we hold them.
    if (m.peChecksum === this.ledger.checksum(peer.serverId)) {
      peer.mismatches = 0;
      return;
    }
    this.counters.add('audit.mismatches');
    peer.mismatches++;
    // A peer we just met is resynchronised at once; a known one after the mismatch persists (settings).
    const threshold = firstReport ? 1 : this.settings.checksumMismatchesBeforeResync;
    if (peer.mismatches >= threshold && !this.downloads.has(peer.serverId)) {
      this.emit('resyncStarted', { serverId: peer.serverId, reason: `PE checksum ${hex16(m.peChecksum)} reported, ${hex16(this.ledger.checksum(peer.serverId))} computed` });
      this.log(`ENRP: PE checksum of registrar ${hex32(peer.serverId)} disagrees (${hex16(m.peChecksum)} reported, ${hex16(this.ledger.checksum(peer.serverId))} here); resynchronising its elements`);
      this.startDownload(peer, true);
    }
  }

  /** A presence heard on the UDP discovery channel: a registrar we should peer with. */
  private onDiscoveryPresence(m: EnrpPresence, fromAddress: string): void {
    if (m.senderServerId === this.serverId || m.senderServerId === 0) return;
    this.counters.add('presenceChannel.received');
    const info = m.serverInformation;
    if (!info) return;
    const known = this.byId.get(m.senderServerId);
    if (known?.address) return;
    const host = WILDCARD.has(transportHost(info) ?? '') ? fromAddress : transportHost(info);
    if (!host) return;
    const address = { host, port: info.transport.port };
    if (known) {
      known.address = address;
      return;
    }
    if (this.configured.some((p) => p.address?.host === host && p.address.port === address.port)) return;
    const peer = newPeer(this.clock.now(), address, false, m.senderServerId);
    peer.state = 'connecting';
    this.byId.set(m.senderServerId, peer);
    this.counters.add('peers.discovered');
    this.log(`ENRP: heard registrar ${hex32(m.senderServerId)} announce itself at ${formatEnrpEndpoint(address)}`);
  }

  private learnServer(info: ServerInformation): void {
    if (info.serverId === this.serverId || info.serverId === 0 || this.byId.has(info.serverId)) return;
    const host = transportHost(info);
    if (!host || WILDCARD.has(host)) return;
    const address = { host, port: info.transport.port };
    if (this.configured.some((p) => p.address?.host === host && p.address.port === address.port)) return;
    const peer = newPeer(this.clock.now(), address, false, info.serverId);
    peer.state = 'connecting';
    this.byId.set(info.serverId, peer);
    this.counters.add('peers.fromList');
  }

  private onListRequest(peer: Peer): void {
    const servers: ServerInformation[] = [];
    for (const other of this.identifiedPeers()) {
      if (other === peer || other.state === 'down' || !other.address) continue;
      servers.push({ serverId: other.serverId, transport: { kind: 'tcp', port: other.address.port, transportUse: 0, address: other.address.host } });
    }
    this.sendTo(peer, { protocol: 'enrp', type: 'listResponse', senderServerId: this.serverId, receiverServerId: peer.serverId, reject: false, servers });
  }

  // ---- handle table ---------------------------------------------------------------------------------

  private onTableRequest(peer: Peer, m: EnrpHandleTableRequest): void {
    const chunk = this.tables.next(peer.serverId, m.ownChildrenOnly, this.serverId, this.clock.now());
    const base = { protocol: 'enrp' as const, type: 'handleTableResponse' as const, senderServerId: this.serverId, receiverServerId: peer.serverId };
    if (!chunk) {
      this.counters.add('table.rejectedBusy');
      this.sendTo(peer, { ...base, moreToSend: false, reject: true, pools: [] });
      return;
    }
    const admin: UnrecognizedParameter[] = [];
    for (const element of chunk.elements) {
      const notice = this.adminVersions.get(elementKey(element.poolKey, element.id));
      if (notice) admin.push(adminStateParameter(notice));
    }
    this.counters.add('table.chunksSent');
    this.counters.add('table.elementsSent', chunk.elements.length);
    this.sendTo(peer, { ...base, moreToSend: chunk.moreToSend, reject: false, pools: chunk.pools, ...(admin.length > 0 ? { unrecognized: admin } : {}) });
  }

  private startDownload(peer: Peer, ownChildrenOnly: boolean): void {
    const now = this.clock.now();
    const download: TableDownload = {
      peerId: peer.serverId,
      ownChildrenOnly,
      marked: ownChildrenOnly ? new Set(this.ledger.keysOf(peer.serverId)) : undefined,
      startedAt: now,
      deadline: now + this.settings.maxTimeNoResponseMs,
      elements: 0,
      refused: 0,
    };
    this.downloads.set(peer.serverId, download);
    if (ownChildrenOnly) peer.lastResyncAt = now;
    this.counters.add(ownChildrenOnly ? 'audit.resyncs' : 'table.downloads');
    this.sendTo(peer, { protocol: 'enrp', type: 'handleTableRequest', senderServerId: this.serverId, receiverServerId: peer.serverId, ownChildrenOnly });
  }

  private onTableResponse(peer: Peer, m: EnrpHandleTableResponse): void {
    const download = this.downloads.get(peer.serverId);
    if (!download) {
      this.counters.add('table.unexpectedResponses');
      return;
    }
    if (m.reject) {
      this.failDownload(download, 'the peer refused (R flag): busy or starting');
      return;
    }
    this.counters.add('table.chunksReceived');
    for (const pool of m.pools) {
      for (const pe of pool.poolElements) {
        download.elements++;
        if (pe.homeServerId === this.serverId) {
          // We are that element's home: our own record is the truth.
          this.counters.add('table.ownElementsSkipped');
          continue;
        }
        const key = elementKey(poolKeyOf(pool.poolHandle), pe.id);
        download.marked?.delete(key);
        const applied = this.registrar.applyPeerElement(pool.poolHandle, pe);
        if (!applied.ok) {
          download.refused++;
          if (download.refused <= 3) this.log(`ENRP: element ${hex32(pe.id)} of pool ${poolHandleToText(pool.poolHandle)} from registrar ${hex32(peer.serverId)} not taken: ${applied.error.reason}`);
        }
      }
    }
    this.applyAdminNotices(m.unrecognized, peer.serverId);
    if (m.moreToSend) {
      download.deadline = this.clock.now() + this.settings.maxTimeNoResponseMs;
      this.sendTo(peer, { protocol: 'enrp', type: 'handleTableRequest', senderServerId: this.serverId, receiverServerId: peer.serverId, ownChildrenOnly: download.ownChildrenOnly });
      return;
    }
    this.downloads.delete(peer.serverId);
    let removed = 0;
    if (download.marked) {
      // RFC 5353 §3.11: what the peer no longer lists is gone.
      for (const key of download.marked) {
        if (this.ledger.ownerOf(key) !== peer.serverId) continue;
        const id = this.ledger.identify(key);
        if (id && this.registrar.removePeerElement(id.poolHandle, id.peId, 'peerResync', `no longer listed by its home registrar ${hex32(peer.serverId)} (resync after a PE checksum mismatch)`)) removed++;
      }
      // Elements we took over from it that it does not list again are gone (it was frozen or cut off, and
      // they left meanwhile); the ones it lists came back to it above.
      for (const [key, from] of this.adoptedFrom) {
        if (from !== peer.serverId) continue;
        this.adoptedFrom.delete(key);
        if (this.ledger.ownerOf(key) !== this.serverId) continue;
        const id = this.ledger.identify(key);
        if (id && this.registrar.removePeerElement(id.poolHandle, id.peId, 'peerResync', `taken over from registrar ${hex32(peer.serverId)}, which is back and does not list it`)) removed++;
      }
      peer.mismatches = 0;
      const durationMs = this.clock.now() - download.startedAt;
      this.log(`ENRP: resynchronised registrar ${hex32(peer.serverId)}: ${download.elements} elements listed, ${removed} removed, in ${durationMs} ms`);
      this.emit('resyncCompleted', { serverId: peer.serverId, elements: download.elements, removed, durationMs });
      return;
    }
    if (this.phase === 'starting' && peer.serverId === this.mentor) this.finishStartup(peer.serverId, download.elements);
  }

  private failDownload(download: TableDownload, reason: string): void {
    this.downloads.delete(download.peerId);
    this.counters.add('table.downloadsFailed');
    this.notice(`ENRP: handle table ${download.ownChildrenOnly ? 'resync' : 'download'} from registrar ${hex32(download.peerId)} failed: ${reason}`);
    if (!download.ownChildrenOnly && this.phase === 'starting' && download.peerId === this.mentor) {
      // Try another mentor (the tick picks one), or serve alone when none is left.
      this.mentor = undefined;
    }
  }

  // ---- handle updates -------------------------------------------------------------------------------

  private onHandleUpdate(peer: Peer, m: EnrpHandleUpdate): void {
    const pe = m.poolElement;
    const { notices } = adminStatesOf(m.unrecognized);
    if (m.updateAction === UpdateAction.delPe) {
      const operatorRemoval = notices.find((n) => n.action === 'deregister' && n.peId === pe.id);
      if (operatorRemoval) {
        this.applyAdminNotice(operatorRemoval, peer.serverId);
        return;
      }
      const element = this.registrar.handlespace.element(m.poolHandle, pe.id);
      // RFC 5353 §3.3.2: only the owner sends DEL_PE. One that arrives from the old home after the element
      // moved (re-registered elsewhere) must not remove the new home's entry.
      if (!element || element.homeServerId !== peer.serverId) {
        this.counters.add('update.delIgnored');
        return;
      }
      this.counters.add('update.del');
      const cause = removalCauseOf(m.unrecognized, pe.id);
      this.registrar.removePeerElement(m.poolHandle, pe.id, 'peerDeregistered', `DEL_PE from its home registrar ${hex32(peer.serverId)}${cause ? ` (${cause.status}: ${cause.reason})` : ''}`, cause);
      return;
    }
    if (pe.homeServerId === this.serverId) {
      this.counters.add('update.addForOwnElement');
    } else if (pe.homeServerId !== peer.serverId && notices.length > 0) {
      // Our extension: an operator acted on this element at the sender, which is not its home.
      this.counters.add('update.adminOnly');
    } else {
      const applied = this.registrar.applyPeerElement(m.poolHandle, pe);
      this.counters.add(applied.ok ? 'update.add' : 'update.addRefused');
      if (!applied.ok && this.counters.get('update.addRefused') <= 10) {
        this.log(`ENRP: ADD_PE of ${hex32(pe.id)} in pool ${poolHandleToText(m.poolHandle)} from registrar ${hex32(peer.serverId)} not taken: ${applied.error.reason}`);
      }
    }
    this.applyAdminNotices(m.unrecognized, peer.serverId);
  }

  // ---- admin state ----------------------------------------------------------------------------------

  private applyAdminNotices(unrecognized: readonly UnrecognizedParameter[] | undefined, from: number): void {
    const { notices, malformed } = adminStatesOf(unrecognized);
    if (malformed.length > 0) {
      this.counters.add('admin.malformed', malformed.length);
      this.notice(`ENRP: unreadable Admin State parameter from registrar ${hex32(from)}: ${malformed[0]}`);
    }
    for (const notice of notices) this.applyAdminNotice(notice, from);
  }

  private applyAdminNotice(notice: AdminStateNotice, from: number): void {
    const key = elementKey(poolKeyOf(notice.poolHandle), notice.peId);
    const known = this.adminVersions.get(key);
    if (!isNewer(notice, known)) {
      // Known already, but the element may be a new record here (it left and registered again
      // elsewhere): it takes the known state. A deregistration is an event, never re-applied.
      if (known && known.action !== 'deregister') this.reconcile(known);
      return;
    }
    this.remember(key, notice);
    this.counters.add('admin.learned');
    const element = this.registrar.handlespace.element(notice.poolHandle, notice.peId);
    if (element && (notice.action === 'deregister' || notice.action === 'failover' || element.admin.state !== STATE_OF_ACTION[notice.action])) {
      const reason = `${notice.reasonText} (at registrar ${hex32(notice.setBy)})`;
      this.applyingPeerAction++;
      try {
        this.registrar.operate(notice.poolHandle, notice.peId, notice.action, reason);
      } finally {
        this.applyingPeerAction--;
      }
    }
    this.emit('adminStateLearned', notice);
    // The home relays what it learned from elsewhere, so a peer the setter could not reach still hears it.
    const current = this.registrar.handlespace.element(notice.poolHandle, notice.peId);
    if (current && current.homeServerId === this.serverId && from !== this.serverId && notice.action !== 'deregister') {
      this.groupcastUpdate(UpdateAction.addPe, current, notice);
    }
  }

  /** Puts the element (if here) into the state of a known drain / ready / maintenance / failover. */
  private reconcile(notice: AdminStateNotice): void {
    if (notice.action === 'deregister') return;
    const element = this.registrar.handlespace.element(notice.poolHandle, notice.peId);
    if (!element || element.admin.state === STATE_OF_ACTION[notice.action]) return;
    this.counters.add('admin.reconciled');
    this.applyingPeerAction++;
    try {
      this.registrar.operate(notice.poolHandle, notice.peId, notice.action, `${notice.reasonText} (at registrar ${hex32(notice.setBy)})`);
    } finally {
      this.applyingPeerAction--;
    }
  }

  private remember(key: string, notice: AdminStateNotice): void {
    if (!this.adminVersions.has(key) && this.adminVersions.size >= MAX_REMEMBERED_ADMIN_STATES) {
      // Forget the oldest version (Map order is insertion order), so the newest actions are always kept.
      const oldest = this.adminVersions.keys().next();
      if (!oldest.done) this.adminVersions.delete(oldest.value);
      this.counters.add('admin.forgotten');
    }
    this.adminVersions.delete(key);
    this.adminVersions.set(key, notice);
  }

  // ---- the registrar's events -----------------------------------------------------------------------

  private onElementRegistered({ element, outcome }: ElementRegistered): void {
    const key = elementKey(element.poolKey, element.id);
    this.ledger.set(key, element.poolHandle, element.id, element.homeServerId);
    // Only changes this registrar makes as home go out (RFC 5353 §3.3.1); learned and adopted ones do not.
    if (element.connectionId === undefined || element.homeServerId !== this.serverId) return;
    const remembered = this.adminVersions.get(key);
    if (outcome.kind === 'registered' && remembered && element.admin.state === 'ready' && remembered.action !== 'ready' && remembered.action !== 'deregister') {
      // An operator's drain or maintenance outlives the registrar where it was set (docs/protocol.md).
      this.applyingPeerAction++;
      try {
        this.registrar.operate(element.poolHandle, element.id, remembered.action, `${remembered.reasonText} (set at registrar ${hex32(remembered.setBy)}; kept by ENRP)`);
      } finally {
        this.applyingPeerAction--;
      }
      this.counters.add('admin.reapplied');
    }
    this.groupcastUpdate(UpdateAction.addPe, element, remembered);
  }

  private onElementRemoved({ element, reason }: ElementRemoved): void {
    const key = elementKey(element.poolKey, element.id);
    // A removed record may have been replaced already by a new one under the same key.
    if (this.registrar.handlespace.element(element.poolHandle, element.id) === undefined) this.ledger.delete(key);
    if (element.homeServerId !== this.serverId) return;
    this.groupcastUpdate(UpdateAction.delPe, element, undefined, removalCauseParameter({ peId: element.id, ...REMOVAL_STATUS[reason] }));
  }

  private onElementAdmin({ element, action, after, reasonText }: ElementAdminChanged): void {
    if (this.applyingPeerAction > 0) return;
    const notice: AdminStateNotice = { poolHandle: element.poolHandle, peId: element.id, action: ACTION_OF[action], since: this.clock.now(), setBy: this.serverId, reasonText };
    const key = elementKey(element.poolKey, element.id);
    const previous = this.adminVersions.get(key);
    // Two actions in the same millisecond still order: the later one must win everywhere.
    const version = previous && previous.since >= notice.since ? { ...notice, since: previous.since + 1 } : notice;
    this.remember(key, version);
    this.counters.add('admin.local');
    if (after === 'removed') {
      // The home's own DEL_PE already went out; a non-home asks every peer (the home included) to remove it.
      if (element.homeServerId !== this.serverId) this.groupcastUpdate(UpdateAction.delPe, element, version);
      return;
    }
    this.groupcastUpdate(UpdateAction.addPe, element, version);
  }

  private groupcastUpdate(action: number, element: ElementRecord, notice: AdminStateNotice | undefined, cause?: UnrecognizedParameter): void {
    const peers = this.identifiedPeers().filter((p) => p.state !== 'down' || connectionTo(p) !== undefined);
    if (peers.length === 0) return;
    const message: EnrpHandleUpdate = {
      protocol: 'enrp',
      type: 'handleUpdate',
      senderServerId: this.serverId,
      receiverServerId: 0,
      takeoverSuggested: false,
      updateAction: action,
      poolHandle: element.poolHandle,
      poolElement: toPoolElement(element),
      ...(notice || cause ? { unrecognized: [...(notice ? [adminStateParameter(notice)] : []), ...(cause ? [cause] : [])] } : {}),
    };
    const bytes = encodeMessage(message);
    this.counters.add(action === UpdateAction.addPe ? 'sent.addPe' : 'sent.delPe');
    for (const peer of peers) this.sendBytesTo(peer, bytes);
  }

  // ---- liveness and takeover ------------------------------------------------------------------------

  private checkLiveness(peer: Peer, now: number): void {
    if (peer.serverId === 0 || peer.lastHeard === undefined) return;
    if (peer.state === 'active' && now - peer.lastHeard >= this.settings.maxTimeLastHeardMs) {
      // RFC 5353 §3.5: silent too long; ask it directly, with a reply required.
      peer.state = 'probing';
      peer.probeSentAt = now;
      this.counters.add('liveness.probes');
      this.sendTo(peer, this.presenceMessage(peer.serverId, true));
      return;
    }
    if (peer.state === 'probing' && peer.probeSentAt !== undefined && now - peer.probeSentAt >= this.settings.maxTimeNoResponseMs) {
      this.counters.add('liveness.dead');
      this.log(`ENRP: registrar ${hex32(peer.serverId)} did not answer within ${this.settings.maxTimeNoResponseMs} ms (last heard ${now - peer.lastHeard} ms ago)`);
      this.emit('peerDown', { serverId: peer.serverId, reason: `silent for ${now - peer.lastHeard} ms` });
      if (this.ledger.count(peer.serverId) === 0) {
        // Nothing to take over (RSPLIB does the same).
        peer.state = 'down';
        return;
      }
      if (peer.takenOverBy !== undefined && peer.takenOverBy !== this.serverId) {
        peer.state = 'down';
        return;
      }
      this.startTakeover(peer);
    }
  }

  private startTakeover(target: Peer): void {
    const now = this.clock.now();
    const outstanding = new Set<number>();
    for (const other of this.identifiedPeers()) if (other !== target && other.state !== 'down' && other.state !== 'connecting') outstanding.add(other.serverId);
    target.state = 'takingOver';
    target.takeover = { startedAt: now, expiresAt: now + this.settings.takeoverExpiryMs, outstanding };
    this.counters.add('takeover.started');
    this.log(`ENRP: taking over registrar ${hex32(target.serverId)} (${this.ledger.count(target.serverId)} elements); waiting for ${outstanding.size} acknowledgement(s)`);
    this.emit('takeoverStarted', { target: target.serverId, awaitingAcks: outstanding.size });
    const bytes = encodeMessage({ protocol: 'enrp', type: 'initTakeover', senderServerId: this.serverId, receiverServerId: 0, targetServerId: target.serverId });
    // Group-cast, the target included: if it is alive it objects with a presence (RFC 5353 §3.6).
    for (const peer of this.identifiedPeers()) this.sendBytesTo(peer, bytes);
    if (outstanding.size === 0) this.finishTakeover(target);
  }

  private checkTakeover(peer: Peer, now: number): void {
    const takeover = peer.takeover;
    if (takeover && now >= takeover.expiresAt) {
      // A peer that is itself silent cannot acknowledge; one that is alive but did not answer vetoes.
      const alive = [...takeover.outstanding].filter((id) => {
        const other = this.byId.get(id);
        return other !== undefined && other.state === 'active' && other.lastHeard !== undefined && now - other.lastHeard < this.settings.maxTimeLastHeardMs;
      });
      if (alive.length === 0) {
        this.log(`ENRP: takeover of ${hex32(peer.serverId)}: no acknowledgement from ${[...takeover.outstanding].map(hex32).join(', ')}, which are silent themselves; completing it`);
        this.finishTakeover(peer);
      } else {
        this.abortTakeover(peer, `no acknowledgement from ${alive.map(hex32).join(', ')} within ${this.settings.takeoverExpiryMs} ms`);
        // Still silent: probe again, and try again after max-time-no-response.
        peer.state = 'probing';
        peer.probeSentAt = now;
      }
      return;
    }
    // Someone else's takeover that we acknowledged never completed (it died too): do it ourselves.
    if (peer.state === 'down' && peer.takenOverBy !== undefined && peer.takenOverBy !== this.serverId && peer.takenOverAt !== undefined) {
      if (now - peer.takenOverAt > this.settings.takeoverExpiryMs + this.settings.maxTimeNoResponseMs && this.ledger.count(peer.serverId) > 0) {
        this.log(`ENRP: takeover of ${hex32(peer.serverId)} by ${hex32(peer.takenOverBy)} did not complete; starting our own`);
        peer.takenOverBy = undefined;
        peer.takenOverAt = undefined;
        this.startTakeover(peer);
      }
    }
  }

  private abortTakeover(peer: Peer, reason: string): void {
    if (!peer.takeover) return;
    peer.takeover = undefined;
    if (peer.state === 'takingOver') peer.state = 'active';
    this.counters.add('takeover.aborted');
    this.log(`ENRP: takeover of registrar ${hex32(peer.serverId)} aborted: ${reason}`);
    this.emit('takeoverAborted', { target: peer.serverId, reason });
  }

  private finishTakeover(target: Peer): void {
    const startedAt = target.takeover?.startedAt ?? this.clock.now();
    target.takeover = undefined;
    target.state = 'down';
    target.takenOverBy = this.serverId;
    target.takenOverAt = this.clock.now();
    const bytes = encodeMessage({ protocol: 'enrp', type: 'takeoverServer', senderServerId: this.serverId, receiverServerId: 0, targetServerId: target.serverId });
    for (const peer of this.identifiedPeers()) this.sendBytesTo(peer, bytes);
    const adopted = this.rehome(target.serverId, this.serverId);
    for (const key of adopted) this.adoptedFrom.set(key, target.serverId);
    // Over TCP the elements cannot be sent ASAP_ENDPOINT_KEEP_ALIVE with H (they dialed the dead registrar):
    // they re-register with a live registrar themselves; until then the grace rule keeps their entries.
    if (adopted.length > 0 && this.settings.takeoverGraceMs > 0) this.graceBatches.push({ due: this.clock.now() + this.settings.takeoverGraceMs, keys: adopted });
    else if (adopted.length > 0) this.graceBatches.push({ due: this.clock.now(), keys: adopted });
    this.counters.add('takeover.completed');
    this.counters.add('takeover.elements', adopted.length);
    const durationMs = this.clock.now() - startedAt;
    this.log(`ENRP: took over registrar ${hex32(target.serverId)}: ${adopted.length} elements are ours until they re-register (grace ${this.settings.takeoverGraceMs} ms)`);
    this.emit('takeoverCompleted', { target: target.serverId, elements: adopted.length, durationMs });
  }

  /** Moves every element `from` owns to `to` (a takeover); returns their keys. */
  private rehome(from: number, to: number): string[] {
    const keys: string[] = [];
    for (const key of this.ledger.keysOf(from)) {
      const id = this.ledger.identify(key);
      const element = id ? this.registrar.handlespace.element(id.poolHandle, id.peId) : undefined;
      if (!element || element.homeServerId !== from) continue;
      const applied = this.registrar.applyPeerElement(element.poolHandle, { ...toPoolElement(element), homeServerId: to });
      if (applied.ok) keys.push(key);
    }
    return keys;
  }

  private onInitTakeover(sender: Peer, target: number): void {
    if (target === this.serverId) {
      // RFC 5353 §3.6: we are alive; say so to everyone at once.
      this.counters.add('takeover.objected');
      this.log(`ENRP: registrar ${hex32(sender.serverId)} tries to take this registrar over; announcing presence`);
      const bytes = this.encodePresence(0, false);
      for (const peer of this.identifiedPeers()) this.sendBytesTo(peer, bytes);
      return;
    }
    const peer = this.byId.get(target);
    if (peer?.takeover) {
      // Both of us are taking it over: the RFC's rule, the higher identifier wins (RSPLIB lets the lower win).
      if (this.serverId >>> 0 < sender.serverId >>> 0) {
        this.abortTakeover(peer, `registrar ${hex32(sender.serverId)} (higher identifier) takes it over`);
        peer.state = 'down';
      } else {
        this.counters.add('takeover.contestWon');
        return;
      }
    }
    if (peer) {
      peer.takenOverBy = sender.serverId;
      peer.takenOverAt = this.clock.now();
      if (peer.state !== 'down') peer.state = 'down';
    }
    this.counters.add('takeover.acked');
    this.sendTo(sender, { protocol: 'enrp', type: 'initTakeoverAck', senderServerId: this.serverId, receiverServerId: sender.serverId, targetServerId: target });
  }

  private onInitTakeoverAck(sender: Peer, target: number): void {
    const peer = this.byId.get(target);
    if (!peer?.takeover) return;
    peer.takeover.outstanding.delete(sender.serverId);
    if (peer.takeover.outstanding.size === 0) this.finishTakeover(peer);
  }

  private onTakeoverServer(sender: Peer, target: number): void {
    if (target === this.serverId) {
      // Taken over while alive (we were frozen or cut off). Elements still connected here stay ours; our
      // presence makes the others resync from us (docs/protocol.md).
      this.counters.add('takeover.ofSelf');
      this.log(`ENRP: registrar ${hex32(sender.serverId)} took this registrar over; announcing presence so peers resynchronise`);
      const bytes = this.encodePresence(0, false);
      for (const peer of this.identifiedPeers()) this.sendBytesTo(peer, bytes);
      return;
    }
    const peer = this.byId.get(target);
    if (peer) {
      if (peer.takeover) this.abortTakeover(peer, `registrar ${hex32(sender.serverId)} completed it`);
      peer.state = 'down';
      peer.takenOverBy = sender.serverId;
      peer.takenOverAt = this.clock.now();
    }
    const moved = this.rehome(target, sender.serverId);
    this.counters.add('takeover.byPeer');
    this.log(`ENRP: registrar ${hex32(sender.serverId)} took over ${hex32(target)}: ${moved.length} elements have it as home now`);
    this.emit('takenOverByPeer', { target, by: sender.serverId, elements: moved.length });
  }

  /** The grace rule: taken-over elements that did not re-register anywhere are removed (and DEL_PE'd). */
  private expireGrace(now: number): void {
    while (this.graceBatches.length > 0 && (this.graceBatches[0] as GraceBatch).due <= now) {
      const batch = this.graceBatches.shift() as GraceBatch;
      let removed = 0;
      for (const key of batch.keys) {
        this.adoptedFrom.delete(key);
        if (this.ledger.ownerOf(key) !== this.serverId) continue;
        const id = this.ledger.identify(key);
        if (!id) continue;
        if (this.registrar.removePeerElement(id.poolHandle, id.peId, 'takeoverExpired', `taken over from a dead registrar and not re-registered within ${this.settings.takeoverGraceMs} ms`)) removed++;
      }
      this.counters.add('takeover.graceExpired', removed);
      if (removed > 0) this.log(`ENRP: ${removed} taken-over element(s) did not re-register within the grace period; removed`);
    }
  }

  /** Discovered peers that have been down a long time and own nothing leave the table. */
  private forgetLongDeadPeers(now: number): void {
    for (const [id, peer] of this.byId) {
      if (peer.configured || peer.state !== 'down' || this.ledger.count(id) > 0) continue;
      if (now - (peer.lastHeard ?? peer.addedAt) < 10 * this.settings.maxTimeLastHeardMs) continue;
      this.byId.delete(id);
      this.tables.forgetPeer(id);
      peer.outbound?.close('peer forgotten');
      this.counters.add('peers.forgotten');
    }
  }

  // ---- sending --------------------------------------------------------------------------------------

  private advertised(): EnrpEndpoint {
    const bound = this.address;
    const host = this.settings.advertisedHost ?? bound.host;
    return { host, port: bound.port };
  }

  private presenceMessage(receiver: number, replyRequired: boolean): EnrpPresence {
    const advertised = this.advertised();
    const transport: TcpTransport = { kind: 'tcp', port: advertised.port, transportUse: 0, address: advertised.host };
    return {
      protocol: 'enrp',
      type: 'presence',
      senderServerId: this.serverId,
      receiverServerId: receiver,
      replyRequired,
      peChecksum: this.ledger.checksum(this.serverId),
      serverInformation: { serverId: this.serverId, transport },
    };
  }

  private encodePresence(receiver: number, replyRequired: boolean): Uint8Array {
    return encodeMessage(this.presenceMessage(receiver, replyRequired));
  }

  /** Sends on the peer's connection (ours first, so all we send it stays in order); false when there is none. */
  private sendTo(peer: Peer, message: EnrpMessage, fallback?: MessageConnection): boolean {
    const connection = connectionTo(peer) ?? (fallback && !fallback.closed ? fallback : undefined);
    if (!connection) {
      this.counters.add('sent.noConnection');
      return false;
    }
    this.counters.add(`sent.${message.type}`);
    connection.send(encodeMessage(message));
    return true;
  }

  private sendBytesTo(peer: Peer, bytes: Uint8Array): boolean {
    const connection = connectionTo(peer);
    if (!connection) {
      this.counters.add('sent.noConnection');
      return false;
    }
    connection.send(bytes);
    return true;
  }

  private identifiedPeers(): Peer[] {
    const out: Peer[] = [];
    for (const peer of this.byId.values()) if (!peer.isSelf && peer.serverId !== 0) out.push(peer);
    return out;
  }

  private allPeers(): Peer[] {
    const out = new Set<Peer>(this.configured);
    for (const peer of this.byId.values()) out.add(peer);
    return [...out];
  }

  private notice(message: string): void {
    this.log(message);
    this.emit('notice', { message });
  }
}

function transportHost(info: ServerInformation): string | undefined {
  return info.transport.kind === 'tcp' ? info.transport.address : info.transport.addresses[0];
}

function describeRemote(connection: MessageConnection): string {
  const r = connection.remote;
  return r.family === 6 ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;
}

function hex16(value: number): string {
  return `0x${value.toString(16).padStart(4, '0')}`;
}
