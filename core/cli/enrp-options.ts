/**
 * `handlespace serve`'s ENRP options: reading `--enrp HOST:PORT|off`, `--peer HOST:PORT` (repeatable),
 * `--enrp-announce ADDR:PORT|off` and the ENRP timers; starting ENRP on the running registrar and saying so
 * at start; and stopping it before the registrar closes. A default ENRP port that is taken (another serve
 * on this host, most likely) is a warning and no ENRP, not a failed start; an explicit --enrp that cannot be
 * served fails the start.
 */
import net from 'node:net';
import { EnrpServer } from '../enrp/enrp-server.js';
import { DEFAULT_ENRP_ANNOUNCE, DEFAULT_ENRP_LISTEN, formatEnrpEndpoint, type EnrpSettings } from '../enrp/settings.js';
import type { Registrar } from '../registrar/registrar.js';
import { err, ok, type Result } from '../result.js';
import { ENRP_PORT } from '../wire/constants.js';
import { hex32 } from '../wire/json.js';
import { parseHostPort, parseInteger } from './endpoint.js';

export const SERVE_ENRP_USAGE = `  --enrp HOST:PORT|off          ENRP (peer registrars, TCP) listens here (default ${formatEnrpEndpoint(DEFAULT_ENRP_LISTEN)})
  --peer HOST:PORT              a peer registrar's ENRP address (repeatable; port default ${ENRP_PORT})
  --enrp-announce ADDR:PORT|off ENRP_PRESENCE discovery over UDP (default ${formatEnrpEndpoint(DEFAULT_ENRP_ANNOUNCE)})
  --enrp-advertise HOST         the address peers dial this registrar at, when --enrp listens on 0.0.0.0
  --peer-heartbeat-cycle MS     ENRP_PRESENCE to every peer (default 2444)
  --peer-max-time-last-heard MS a peer silent this long is probed (default 5000)
  --peer-max-time-no-response MS  an unanswered probe means the peer is dead: takeover (default 5000)
  --mentor-discovery-timeout MS how long start-up waits for a mentor (default 5000)
  --takeover-expiry MS          how long a takeover waits for the other peers' acknowledgements (default 5000)
  --takeover-grace MS           taken-over elements that re-register nowhere in this time are removed
                                (default 30000)
  --max-elements-per-table-response N  handle table chunk (default 128)
`;

/** The parseArgs option table serve merges into its own. */
export const ENRP_PARSE_OPTIONS = {
  enrp: { type: 'string' },
  peer: { type: 'string', multiple: true },
  'enrp-announce': { type: 'string' },
  'enrp-advertise': { type: 'string' },
  'peer-heartbeat-cycle': { type: 'string' },
  'peer-max-time-last-heard': { type: 'string' },
  'peer-max-time-no-response': { type: 'string' },
  'mentor-discovery-timeout': { type: 'string' },
  'takeover-expiry': { type: 'string' },
  'takeover-grace': { type: 'string' },
  'max-elements-per-table-response': { type: 'string' },
} as const;

const INTEGER_OPTIONS: Record<string, keyof EnrpSettings> = {
  'peer-heartbeat-cycle': 'peerHeartbeatCycleMs',
  'peer-max-time-last-heard': 'maxTimeLastHeardMs',
  'peer-max-time-no-response': 'maxTimeNoResponseMs',
  'mentor-discovery-timeout': 'mentorDiscoveryTimeoutMs',
  'takeover-expiry': 'takeoverExpiryMs',
  'takeover-grace': 'takeoverGraceMs',
  'max-elements-per-table-response': 'maxElementsPerTableResponse',
};

export type EnrpChoice = { readonly kind: 'off' } | { readonly kind: 'on'; readonly settings: Partial<EnrpSettings>; readonly explicit: boolean };

/** Reads the ENRP options from serve's parsed values; problems are phrased like serve's other errors. */
export function parseEnrpOptions(values: Readonly<Record<string, unknown>>): Result<EnrpChoice, string[]> {
  const problems: string[] = [];
  const text = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const peersGiven = Array.isArray(values['peer']) ? (values['peer'] as unknown[]).filter((p): p is string => typeof p === 'string') : [];
  if (text('enrp') === 'off') {
    if (peersGiven.length > 0) problems.push('--peer needs ENRP (--enrp is off)');
    return problems.length > 0 ? err(problems) : ok({ kind: 'off' });
  }
  const settings: { -readonly [K in keyof EnrpSettings]?: EnrpSettings[K] } = {};
  const listenText = text('enrp');
  if (listenText !== undefined) {
    const listen = parseHostPort(listenText, DEFAULT_ENRP_LISTEN.host, ENRP_PORT);
    if (listen.ok) settings.listen = listen.value;
    else problems.push(`--enrp ${listen.error}`);
  }
  settings.peers = peersGiven.flatMap((peer) => {
    const parsed = parseHostPort(peer, '127.0.0.1', ENRP_PORT);
    if (parsed.ok) return [parsed.value];
    problems.push(`--peer ${parsed.error}`);
    return [];
  });
  const announce = text('enrp-announce');
  if (announce === 'off') settings.announce = 'off';
  else if (announce !== undefined) {
    const parsed = parseHostPort(announce, DEFAULT_ENRP_ANNOUNCE.host, DEFAULT_ENRP_ANNOUNCE.port);
    if (parsed.ok) settings.announce = parsed.value;
    else problems.push(`--enrp-announce ${parsed.error}`);
  }
  const advertise = text('enrp-advertise')?.replace(/^\[(.*)\]$/, '$1');
  if (advertise !== undefined) {
    if (net.isIP(advertise) !== 0) settings.advertisedHost = advertise;
    else problems.push(`--enrp-advertise ${JSON.stringify(advertise)} is not an IP address`);
  }
  for (const [name, key] of Object.entries(INTEGER_OPTIONS)) {
    const value = text(name);
    if (value === undefined) continue;
    const parsed = parseInteger(value, name);
    if (parsed.ok) (settings as Record<string, number>)[key] = parsed.value;
    else problems.push(parsed.error);
  }
  if (problems.length > 0) return err(problems);
  return ok({ kind: 'on', settings, explicit: listenText !== undefined });
}

export interface StartEnrpOptions {
  readonly choice: EnrpChoice;
  readonly registrar: Registrar;
  /** One line for standard output (where ENRP listens, start-up sync) and one for standard error. */
  readonly print: (line: string) => void;
  readonly warn: (line: string) => void;
  readonly log: (line: string) => void;
  readonly quiet: boolean;
}

/** Starts ENRP on the running registrar; undefined when it is off or its default port is taken. */
export async function startEnrp(options: StartEnrpOptions): Promise<Result<EnrpServer | undefined, string>> {
  const { choice, registrar } = options;
  if (choice.kind === 'off') return ok(undefined);
  const started = await EnrpServer.start(registrar, choice.settings, { log: options.quiet ? quietLog(options.log) : options.log });
  if (!started.ok) {
    if (choice.explicit) return err(started.error);
    options.warn(`handlespace serve: ${started.error}; running without ENRP (use --enrp HOST:PORT or --enrp off)`);
    return ok(undefined);
  }
  const enrp = started.value;
  options.print(`handlespace ENRP listening on ${formatEnrpEndpoint(enrp.address)} (server id ${hex32(enrp.serverId)})\n${enrp.describe().map((l) => `  ${l}`).join('\n')}`);
  enrp.on('synced', ({ mentor, elements, durationMs }) =>
    options.print(mentor === 0 ? 'ENRP: serving (no mentor)' : `ENRP: synchronised from mentor ${hex32(mentor)}: ${elements} elements in ${durationMs} ms`),
  );
  if (!options.quiet) {
    enrp.on('takeoverCompleted', ({ target, elements, durationMs }) => options.print(`ENRP: took over registrar ${hex32(target)} (${elements} elements, ${durationMs} ms after it started)`));
    enrp.on('takenOverByPeer', ({ target, by, elements }) => options.print(`ENRP: registrar ${hex32(by)} took over ${hex32(target)} (${elements} elements)`));
  }
  return ok(enrp);
}

/** With --quiet only problems are logged: ENRP's routine lines are left out, warnings stay. */
function quietLog(log: (line: string) => void): (line: string) => void {
  return (line) => {
    if (/malformed|cannot|failed|error|refused|not taken/i.test(line)) log(line);
  };
}
