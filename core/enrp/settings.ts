/**
 * ENRP settings (RFC 5353 §4 timers and our transport choices): every tunable has a named default (RSPLIB's
 * where RSPLIB has one) and a clamped range, and the effective values are described at start-up. Ranges
 * reach below RSPLIB's 1 s minimum so tests can run the timers fast; production keeps the defaults.
 */
import { ENRP_PORT } from '../wire/constants.js';
import { clampSettings, type SettingRange } from '../registrar/options.js';

export interface EnrpEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface EnrpSettings {
  /** Where ENRP over TCP listens; port 0 = any free port. */
  readonly listen: EnrpEndpoint;
  /** Static peers (their ENRP TCP addresses); the first reachable one is the mentor at start-up. */
  readonly peers: readonly EnrpEndpoint[];
  /** UDP group (or unicast address) for ENRP_PRESENCE discovery, or off. */
  readonly announce: EnrpEndpoint | 'off';
  /** The address peers should dial us at, when the listen address is a wildcard (0.0.0.0 / ::). */
  readonly advertisedHost: string | undefined;
  readonly announceTtl: number;
  /** PEER-HEARTBEAT-CYCLE: ENRP_PRESENCE to every peer this often (±12.5 % jitter, as RSPLIB). */
  readonly peerHeartbeatCycleMs: number;
  /** MAX-TIME-LAST-HEARD: a peer silent this long is probed (presence with reply required). */
  readonly maxTimeLastHeardMs: number;
  /** MAX-TIME-NO-RESPONSE: a probe, list or handle table request unanswered this long fails. */
  readonly maxTimeNoResponseMs: number;
  /** How long start-up waits for a mentor before serving alone. */
  readonly mentorDiscoveryTimeoutMs: number;
  /** How long a takeover waits for ENRP_INIT_TAKEOVER_ACK from every other peer. */
  readonly takeoverExpiryMs: number;
  /**
   * The TCP grace rule (docs/protocol.md): elements taken over from a dead registrar that do not
   * re-register with a live one within this time are removed (RFC 5353 would probe them with a keep-alive,
   * which over TCP cannot reach them). Their registration life still applies when it is shorter.
   */
  readonly takeoverGraceMs: number;
  /** Pool elements per ENRP_HANDLE_TABLE_RESPONSE chunk (RSPLIB's maxelementsperhtrequest). */
  readonly maxElementsPerTableResponse: number;
  /** Heartbeats in a row whose PE checksum disagrees before a resync (1 = at once, as RFC 5353 §3.11). */
  readonly checksumMismatchesBeforeResync: number;
  /** Most ENRP connections accepted at once. */
  readonly maxConnections: number;
  /** Decode errors in a row after which a peer connection is closed. */
  readonly maxConsecutiveErrors: number;
}

export const DEFAULT_ENRP_ANNOUNCE: EnrpEndpoint = { host: '239.0.0.51', port: ENRP_PORT };
export const DEFAULT_ENRP_LISTEN: EnrpEndpoint = { host: '0.0.0.0', port: ENRP_PORT };

export const ENRP_SETTING_RANGES: Partial<Record<keyof EnrpSettings, SettingRange>> = {
  announceTtl: { min: 1, max: 255, unit: 'hops' },
  peerHeartbeatCycleMs: { min: 100, max: 300_000, unit: 'ms' },
  maxTimeLastHeardMs: { min: 100, max: 300_000, unit: 'ms' },
  maxTimeNoResponseMs: { min: 100, max: 60_000, unit: 'ms' },
  mentorDiscoveryTimeoutMs: { min: 100, max: 60_000, unit: 'ms' },
  takeoverExpiryMs: { min: 100, max: 60_000, unit: 'ms' },
  takeoverGraceMs: { min: 0, max: 3_600_000, unit: 'ms' },
  maxElementsPerTableResponse: { min: 1, max: 200, unit: 'elements' },
  checksumMismatchesBeforeResync: { min: 1, max: 10, unit: 'heartbeats' },
  maxConnections: { min: 1, max: 10_000, unit: 'connections' },
  maxConsecutiveErrors: { min: 1, max: 1000, unit: 'errors' },
};

export function defaultEnrpSettings(): EnrpSettings {
  return {
    listen: DEFAULT_ENRP_LISTEN,
    peers: [],
    announce: DEFAULT_ENRP_ANNOUNCE,
    advertisedHost: undefined,
    announceTtl: 30,
    // RSPLIB: 2 444 444 µs, 5 s, 5 s, 5 s, 5 s; the RFC's own defaults are 30 s / 61 s / 5 s.
    peerHeartbeatCycleMs: 2444,
    maxTimeLastHeardMs: 5000,
    maxTimeNoResponseMs: 5000,
    mentorDiscoveryTimeoutMs: 5000,
    takeoverExpiryMs: 5000,
    takeoverGraceMs: 30_000,
    maxElementsPerTableResponse: 128,
    // A presence can cross an update on another path (an element moving between registrars); a second
    // disagreeing heartbeat is a real divergence.
    checksumMismatchesBeforeResync: 2,
    maxConnections: 256,
    maxConsecutiveErrors: 8,
  };
}

export interface EnrpSettingsProblem {
  readonly setting: string;
  readonly message: string;
}

/** Defaults overlaid with `overrides`; numbers outside their range are clamped and reported. */
export function resolveEnrpSettings(overrides: Partial<EnrpSettings>): { settings: EnrpSettings; clamped: EnrpSettingsProblem[] } {
  return clampSettings(defaultEnrpSettings(), overrides, ENRP_SETTING_RANGES, 'ENRP ');
}

export const formatEnrpEndpoint = (e: EnrpEndpoint): string => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

/** One line per setting, for the start-up banner. */
export function describeEnrpSettings(s: EnrpSettings, bound: EnrpEndpoint): string[] {
  return [
    `ENRP (TCP)                ${formatEnrpEndpoint(bound)}`,
    `ENRP presence (UDP)       ${s.announce === 'off' ? 'off' : formatEnrpEndpoint(s.announce)}`,
    `peers                     ${s.peers.length === 0 ? 'none configured' : s.peers.map(formatEnrpEndpoint).join(', ')}`,
    `peer heartbeat cycle      ${s.peerHeartbeatCycleMs} ms`,
    `max time last heard       ${s.maxTimeLastHeardMs} ms`,
    `max time no response      ${s.maxTimeNoResponseMs} ms`,
    `mentor discovery timeout  ${s.mentorDiscoveryTimeoutMs} ms`,
    `takeover expiry           ${s.takeoverExpiryMs} ms, grace for taken-over elements ${s.takeoverGraceMs} ms`,
    `handle table chunk        ${s.maxElementsPerTableResponse} elements`,
  ];
}
