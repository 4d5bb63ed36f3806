/**
 * The peer list (RFC 5353 §3.5): what this registrar knows about each peer registrar — identity, where to
 * dial it, its connections, when it was last heard, the PE checksum it last reported and any takeover in
 * progress — and the plain-data view of it that the console's Registrars view shows.
 */
import type { MessageConnection } from '../registrar/transport.js';
import { formatEnrpEndpoint, type EnrpEndpoint } from './settings.js';

/**
 * connecting: configured, never heard; active: heard within max-time-last-heard; probing: silent, a
 * presence with reply required is out; takingOver: we run a takeover of it; down: dead (taken over, or
 * owned nothing), kept in the table so it can come back.
 */
export type PeerState = 'connecting' | 'active' | 'probing' | 'takingOver' | 'down';

export interface TakeoverProcess {
  readonly startedAt: number;
  readonly expiresAt: number;
  /** Peers whose ENRP_INIT_TAKEOVER_ACK is still awaited. */
  readonly outstanding: Set<number>;
}

export interface Peer {
  /** 0 until the peer has sent something (a configured peer before its first message). */
  serverId: number;
  /** Where to dial it: configured, or from its Server Information. */
  address: EnrpEndpoint | undefined;
  readonly configured: boolean;
  /** Our connection to it (we send on this one first, so everything we send it stays in order). */
  outbound: MessageConnection | undefined;
  dialing: boolean;
  dialFailures: number;
  redialAt: number;
  /** Connections it opened to us. */
  readonly inbound: Set<MessageConnection>;
  state: PeerState;
  readonly addedAt: number;
  lastHeard: number | undefined;
  probeSentAt: number | undefined;
  reportedChecksum: number | undefined;
  /** Heartbeats in a row whose checksum disagreed with ours for its elements. */
  mismatches: number;
  lastResyncAt: number | undefined;
  takeover: TakeoverProcess | undefined;
  /** The server that took it over (or whose takeover we acknowledged) and when. */
  takenOverBy: number | undefined;
  takenOverAt: number | undefined;
  /** A configured address that turned out to be this registrar itself. */
  isSelf: boolean;
}

export function newPeer(now: number, address: EnrpEndpoint | undefined, configured: boolean, serverId = 0): Peer {
  return {
    serverId,
    address,
    configured,
    outbound: undefined,
    dialing: false,
    dialFailures: 0,
    redialAt: now,
    inbound: new Set(),
    state: configured && serverId === 0 ? 'connecting' : 'active',
    addedAt: now,
    lastHeard: undefined,
    probeSentAt: undefined,
    reportedChecksum: undefined,
    mismatches: 0,
    lastResyncAt: undefined,
    takeover: undefined,
    takenOverBy: undefined,
    takenOverAt: undefined,
    isSelf: false,
  };
}

/** A live connection to the peer, ours first. */
export function connectionTo(peer: Peer): MessageConnection | undefined {
  if (peer.outbound && !peer.outbound.closed) return peer.outbound;
  for (const c of peer.inbound) if (!c.closed) return c;
  return undefined;
}

/** One row of the Registrars view: plain data (JSON-safe), no live objects. */
export interface PeerView {
  /** 0 while a configured peer has not answered yet. */
  readonly serverId: number;
  /** `host:port` of its ENRP TCP transport, when known. */
  readonly address: string | null;
  /** self: this registrar; mentor: the peer it downloaded the handlespace from at start-up. */
  readonly role: 'self' | 'mentor' | 'peer';
  readonly state: PeerState | 'starting' | 'serving';
  readonly configured: boolean;
  readonly connected: boolean;
  /** ms since 1970; null when never heard (always null for self). */
  readonly lastHeardAt: number | null;
  readonly checksum: {
    /** What the peer last said in ENRP_PRESENCE (null before its first presence). For self: what we send. */
    readonly reported: number | null;
    /** What our handlespace gives for the elements it owns. */
    readonly computed: number;
    readonly state: 'agree' | 'mismatch' | 'unknown' | 'resyncing';
  };
  /** Elements whose home it is, in our handlespace. */
  readonly elementsOwned: number;
  readonly takenOverBy: number | null;
  readonly takeoverOutstandingAcks: number | null;
}

export function peerView(peer: Peer, role: PeerView['role'], computed: number, owned: number, resyncing: boolean): PeerView {
  const reported = peer.reportedChecksum ?? null;
  return {
    serverId: peer.serverId,
    address: peer.address ? formatEnrpEndpoint(peer.address) : null,
    role,
    state: peer.state,
    configured: peer.configured,
    connected: connectionTo(peer) !== undefined,
    lastHeardAt: peer.lastHeard ?? null,
    checksum: { reported, computed, state: resyncing ? 'resyncing' : reported === null ? 'unknown' : reported === computed ? 'agree' : 'mismatch' },
    elementsOwned: owned,
    takenOverBy: peer.takenOverBy ?? null,
    takeoverOutstandingAcks: peer.takeover ? peer.takeover.outstanding.size : null,
  };
}
