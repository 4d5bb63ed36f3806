/**
 * The registrar's settings: every tunable has a named default (RSPLIB's where RSPLIB has one) and a clamped
 * range, and the effective values are printed at start-up (RSPLIB's practice).
 */
import { ASAP_PORT } from '../wire/constants.js';
import { DEFAULT_WIRE_LIMITS, type WireLimits } from '../wire/limits.js';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface RegistrarSettings {
  /** Registrar (ENRP server) identifier, random non-zero by default. */
  readonly serverId: number;
  /** Where ASAP over TCP listens; port 0 = any free port. */
  readonly asap: Endpoint;
  /** Multicast (or broadcast/unicast) group for ASAP_SERVER_ANNOUNCE, or off. */
  readonly announce: Endpoint | 'off';
  /** Extra unicast announce targets. */
  readonly announceTargets: readonly Endpoint[];
  readonly announceIntervalMs: number;
  readonly announceTtl: number;
  readonly keepAliveIntervalMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxBadPeReports: number;
  /** Elements per handle resolution when the request does not say (Handle Resolution Option). */
  readonly maxItems: number;
  /** Per pool-user rate limits (requests per second, bucket of one second); 0 = unlimited. */
  readonly maxHandleResolutionRate: number;
  readonly maxEndpointUnreachableRate: number;
  readonly maxConnections: number;
  readonly maxPools: number;
  readonly maxElementsPerPool: number;
  readonly maxElementsPerConnection: number;
  /** Decode errors in a row after which a connection is closed. */
  readonly maxConsecutiveErrors: number;
  readonly wire: WireLimits;
}

/** The largest number of elements one handle resolution may return (RSPLIB's MAX_MAX_HANDLE_RESOLUTION_ITEMS). */
export const MAX_HANDLE_RESOLUTION_ITEMS = 128;

export const DEFAULT_ANNOUNCE: Endpoint = { host: '239.0.0.50', port: ASAP_PORT };

/** The allowed values of a numeric setting, and its unit for the message when one is clamped. */
export interface SettingRange {
  readonly min: number;
  readonly max: number;
  readonly unit: string;
}

export const SETTING_RANGES: Partial<Record<keyof RegistrarSettings, SettingRange>> = {
  announceIntervalMs: { min: 100, max: 60_000, unit: 'ms' },
  announceTtl: { min: 1, max: 255, unit: 'hops' },
  keepAliveIntervalMs: { min: 300, max: 300_000, unit: 'ms' },
  keepAliveTimeoutMs: { min: 100, max: 60_000, unit: 'ms' },
  maxBadPeReports: { min: 1, max: 1000, unit: 'reports' },
  maxItems: { min: 1, max: MAX_HANDLE_RESOLUTION_ITEMS, unit: 'elements' },
  maxHandleResolutionRate: { min: 0, max: 1_000_000, unit: '/s' },
  maxEndpointUnreachableRate: { min: 0, max: 1_000_000, unit: '/s' },
  maxConnections: { min: 1, max: 1_000_000, unit: 'connections' },
  maxPools: { min: 1, max: 10_000_000, unit: 'pools' },
  maxElementsPerPool: { min: 1, max: 10_000_000, unit: 'elements' },
  maxElementsPerConnection: { min: 1, max: 10_000_000, unit: 'elements' },
  maxConsecutiveErrors: { min: 1, max: 1000, unit: 'errors' },
};

export function randomServerId(): number {
  const buf = new Uint32Array(1);
  do crypto.getRandomValues(buf);
  while (buf[0] === 0);
  return buf[0] ?? 1;
}

export function defaultSettings(): RegistrarSettings {
  return {
    serverId: randomServerId(),
    asap: { host: '0.0.0.0', port: ASAP_PORT },
    announce: DEFAULT_ANNOUNCE,
    announceTargets: [],
    announceIntervalMs: 1000,
    announceTtl: 30,
    keepAliveIntervalMs: 5000,
    keepAliveTimeoutMs: 5000,
    maxBadPeReports: 3,
    maxItems: 3,
    maxHandleResolutionRate: 0,
    maxEndpointUnreachableRate: 0,
    maxConnections: 10_000,
    maxPools: 10_000,
    maxElementsPerPool: 100_000,
    maxElementsPerConnection: 100_000,
    maxConsecutiveErrors: 8,
    wire: DEFAULT_WIRE_LIMITS,
  };
}

export interface SettingsProblem {
  readonly setting: string;
  readonly message: string;
}

/**
 * Defaults overlaid with `overrides`; numeric settings outside their range are clamped (as RSPLIB does)
 * and reported, so start-up can print what changed.
 */
export function resolveSettings(overrides: Partial<RegistrarSettings>): { settings: RegistrarSettings; clamped: SettingsProblem[] } {
  return clampSettings(defaultSettings(), overrides, SETTING_RANGES, '');
}

/**
 * `defaults` overlaid with `overrides`, every number of `ranges` rounded and clamped into its range; each
 * clamp is reported (`prefix` names the subsystem in the message). Shared by the registrar's and ENRP's
 * settings.
 */
export function clampSettings<S extends object>(defaults: S, overrides: Partial<S>, ranges: Partial<Record<keyof S, SettingRange>>, prefix: string): { settings: S; clamped: SettingsProblem[] } {
  const merged: Record<string, unknown> = { ...defaults, ...overrides };
  const clamped: SettingsProblem[] = [];
  for (const [key, range] of Object.entries(ranges) as [string, SettingRange | undefined][]) {
    const value = merged[key];
    if (typeof value !== 'number' || !range) continue;
    const fixed = Math.min(range.max, Math.max(range.min, Math.round(value)));
    if (fixed !== value) {
      clamped.push({ setting: key, message: `${prefix}${key} ${value} is outside ${range.min}..${range.max} ${range.unit}; using ${fixed}` });
      merged[key] = fixed;
    }
  }
  return { settings: merged as S, clamped };
}

const formatEndpoint = (e: Endpoint): string => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

/** One line per setting, for the start-up banner. */
export function describeSettings(s: RegistrarSettings): string[] {
  return [
    `server id                 0x${s.serverId.toString(16).padStart(8, '0')}`,
    `ASAP (TCP)                ${formatEndpoint(s.asap)}`,
    `announce                  ${s.announce === 'off' ? 'off' : `${formatEndpoint(s.announce)} every ${s.announceIntervalMs} ms, ttl ${s.announceTtl}`}`,
    `announce targets          ${s.announceTargets.length === 0 ? 'none' : s.announceTargets.map(formatEndpoint).join(', ')}`,
    `keep-alive interval       ${s.keepAliveIntervalMs} ms (±50 % jitter)`,
    `keep-alive timeout        ${s.keepAliveTimeoutMs} ms`,
    `max bad PE reports        ${s.maxBadPeReports}`,
    `handle resolution items   ${s.maxItems} (up to ${MAX_HANDLE_RESOLUTION_ITEMS} on request)`,
    `rate limits per PU        resolutions ${s.maxHandleResolutionRate || 'unlimited'}/s, unreachable reports ${s.maxEndpointUnreachableRate || 'unlimited'}/s`,
    `limits                    ${s.maxConnections} connections, ${s.maxPools} pools, ${s.maxElementsPerPool} elements/pool, ${s.maxElementsPerConnection} elements/connection`,
    `wire limits               message ${s.wire.maxMessageSize} B, pool handle ${s.wire.maxPoolHandleLength} B, ${s.wire.maxPoolElementsPerMessage} PEs/message`,
  ];
}

export { formatEndpoint };
