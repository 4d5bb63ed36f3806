/**
 * `handlespace serve`: runs the registrar headless. Prints its effective settings at start, logs what
 * happens (registrations, removals with their cause, malformed input) to stderr, and shuts down cleanly on
 * SIGINT / SIGTERM.
 */
import { parseArgs } from 'node:util';
import { ASAP_PORT } from '../wire/constants.js';
import { poolHandleToText } from '../wire/json.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Registrar } from '../registrar/registrar.js';
import { startConsoleRuntime, type ConsoleRuntime, type HistoryChoice } from '../console/console-runtime.js';
import { defaultHistoryPath } from '../console/data-dir.js';
import { APP_VERSION } from '../console/app-version.js';
import { describeSettings, DEFAULT_ANNOUNCE, formatEndpoint, type RegistrarSettings } from '../registrar/options.js';
import { parseHostPort, parseInteger } from './endpoint.js';
import { CSP_RECEIVE_USAGE, CSP_REPORT_USAGE, CSP_SERVE_ARGS, parseCspOptions, startServeCsp, type RunningCsp } from './csp-options.js';
import { ENRP_PARSE_OPTIONS, parseEnrpOptions, SERVE_ENRP_USAGE, startEnrp } from './enrp-options.js';
import { waitForTerminationSignal, type CliIo } from './io.js';
import { announcedConsoleEndpoint, parseLanConsoleOptions, SERVE_CONSOLE_USAGE, startLanConsole, type LanConsole } from './serve-console.js';

export const SERVE_USAGE = `Usage: handlespace serve [options]

Runs the RSerPool registrar (ASAP over TCP) headless.

  --asap HOST:PORT              where ASAP listens (default 0.0.0.0:${ASAP_PORT})
  --announce ADDR:PORT|off      ASAP_SERVER_ANNOUNCE group (default ${DEFAULT_ANNOUNCE.host}:${DEFAULT_ANNOUNCE.port})
  --announce-target HOST:PORT   also announce to this unicast address (repeatable)
  --announce-interval MS        announce interval (default 1000)
  --discover ADDR:PORT|off      list registrars heard announcing here: a multicast group or a unicast
                                address (default: the --announce group; off when announces are off)
  --id 0xHEX                    registrar identifier (default random)
  --keepalive-interval MS       keep-alive interval, ±50 % jitter (default 5000)
  --keepalive-timeout MS        keep-alive ACK timeout (default 5000)
  --max-bad-pe-reports N        unreachable reports before removal (default 3)
  --max-items N                 elements per handle resolution when not asked (default 3, up to 128)
  --max-resolution-rate N       handle resolutions per second per pool user (default unlimited)
  --max-unreachable-rate N      unreachable reports per second per pool user (default unlimited)
  --db PATH                     the history (events, notifications, audit, metrics, admin states) in this
                                SQLite file, created and migrated as needed (default: history.db in the
                                user data folder, ${defaultHistoryPath().replace(/[/\\][^/\\]*$/, '')})
  --memory                      keep the history in a temporary file deleted at exit (nothing persists)
${CSP_RECEIVE_USAGE}${CSP_REPORT_USAGE}${SERVE_CONSOLE_USAGE}${SERVE_ENRP_USAGE}  --quiet                       log only problems
`;

const INTEGER_OPTIONS: Record<string, keyof RegistrarSettings> = {
  'announce-interval': 'announceIntervalMs',
  'keepalive-interval': 'keepAliveIntervalMs',
  'keepalive-timeout': 'keepAliveTimeoutMs',
  'max-bad-pe-reports': 'maxBadPeReports',
  'max-items': 'maxItems',
  'max-resolution-rate': 'maxHandleResolutionRate',
  'max-unreachable-rate': 'maxEndpointUnreachableRate',
};

export interface ServeHooks {
  /** Resolves when the server should stop; by default on SIGINT or SIGTERM. */
  readonly stopSignal?: Promise<string>;
  /** Called once the registrar is listening (tests use it to learn the port). */
  readonly onStarted?: (registrar: Registrar, runtime: ConsoleRuntime) => void;
  /** Called once the CSP receiver and reporter (--csp, --csp-report) run, before onStarted. */
  readonly onCsp?: (csp: RunningCsp) => void;
  /** Called once the console's HTTP server listens (tests learn its port and the start-up token). */
  readonly onConsole?: (console: LanConsole) => void;
}

export async function serveCommand(args: string[], io: CliIo, hooks: ServeHooks = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        asap: { type: 'string' },
        announce: { type: 'string' },
        'announce-target': { type: 'string', multiple: true },
        discover: { type: 'string' },
        id: { type: 'string' },
        quiet: { type: 'boolean' },
        db: { type: 'string' },
        memory: { type: 'boolean' },
        ...CSP_SERVE_ARGS,
        http: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'allow-origin': { type: 'string', multiple: true },
        ...ENRP_PARSE_OPTIONS,
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(Object.keys(INTEGER_OPTIONS).map((name) => [name, { type: 'string' as const }])),
      },
    });
  } catch (e) {
    io.stderr(`handlespace serve: ${(e as Error).message}\n${SERVE_USAGE}`);
    return 2;
  }
  const v = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (v['help']) {
    io.stdout(SERVE_USAGE);
    return 0;
  }
  const problems: string[] = [];
  const overrides: { -readonly [K in keyof RegistrarSettings]?: RegistrarSettings[K] } = {};
  const asap = typeof v['asap'] === 'string' ? parseHostPort(v['asap'], '0.0.0.0', ASAP_PORT) : undefined;
  if (asap && !asap.ok) problems.push(`--asap ${asap.error}`);
  else if (asap) overrides.asap = asap.value;
  if (v['announce'] === 'off') overrides.announce = 'off';
  else if (typeof v['announce'] === 'string') {
    const announce = parseHostPort(v['announce'], DEFAULT_ANNOUNCE.host, DEFAULT_ANNOUNCE.port);
    if (announce.ok) overrides.announce = announce.value;
    else problems.push(`--announce ${announce.error}`);
  }
  const targets = (v['announce-target'] as string[] | undefined) ?? [];
  overrides.announceTargets = targets.flatMap((target) => {
    const parsedTarget = parseHostPort(target, '127.0.0.1', ASAP_PORT);
    if (parsedTarget.ok) return [parsedTarget.value];
    problems.push(`--announce-target ${parsedTarget.error}`);
    return [];
  });
  if (typeof v['id'] === 'string') {
    const id = parseInteger(v['id'], 'id');
    if (!id.ok) problems.push(id.error);
    else if (id.value <= 0 || id.value > 0xffffffff) problems.push('--id must be a non-zero 32-bit value');
    else overrides.serverId = id.value;
  }
  for (const [name, key] of Object.entries(INTEGER_OPTIONS)) {
    const text = v[name];
    if (typeof text !== 'string') continue;
    const value = parseInteger(text, name);
    if (value.ok) (overrides as Record<string, number>)[key] = value.value;
    else problems.push(value.error);
  }
  let discovery: { readonly group: { host: string; port: number } } | 'off' | undefined;
  if (v['discover'] === 'off') discovery = 'off';
  else if (typeof v['discover'] === 'string') {
    const group = parseHostPort(v['discover'], DEFAULT_ANNOUNCE.host, DEFAULT_ANNOUNCE.port);
    if (group.ok) discovery = { group: group.value };
    else problems.push(`--discover ${group.error}`);
  }
  if (typeof v['db'] === 'string' && v['memory'] === true) problems.push('choose one of --db and --memory');
  const cspChoices = parseCspOptions(v, problems, true);
  const str = (name: string): string | undefined => (typeof v[name] === 'string' ? v[name] : undefined);
  const consoleChoice = parseLanConsoleOptions(str('http'), str('tls-cert'), str('tls-key'), (v['allow-origin'] as string[] | undefined) ?? []);
  if (!consoleChoice.ok) problems.push(...consoleChoice.error);
  const enrpChoice = parseEnrpOptions(v);
  if (!enrpChoice.ok) problems.push(...enrpChoice.error);
  if (problems.length > 0) {
    io.stderr(`handlespace serve: ${problems.join('\n  ')}\n`);
    return 2;
  }
  // Listen for SIGINT / SIGTERM before anything starts, so a signal right after start-up still shuts down cleanly.
  const stop = hooks.stopSignal ?? waitForTerminationSignal();
  const quiet = v['quiet'] === true;
  const log = (line: string): void => io.stderr(`${new Date().toISOString()} ${line}\n`);
  const historyChoice: HistoryChoice =
    v['memory'] === true ? { kind: 'temporary' } : { kind: 'file', path: typeof v['db'] === 'string' ? v['db'] : defaultHistoryPath() };
  if (historyChoice.kind === 'file' && typeof v['db'] !== 'string') {
    // The default file lives in the user data folder, which may not exist yet.
    try {
      fs.mkdirSync(path.dirname(historyChoice.path), { recursive: true });
    } catch (e) {
      io.stderr(`handlespace serve: cannot create the data folder for ${historyChoice.path}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  // With ENRP, ASAP opens only once the handlespace is in from a mentor (RFC 5353 §3.3): see below.
  const deferListen = enrpChoice.ok && enrpChoice.value.kind !== 'off';
  const started = await startConsoleRuntime({ registrar: overrides, registrarOptions: { deferListen }, history: historyChoice, version: APP_VERSION, log, ...(discovery ? { discovery } : {}) });
  if (!started.ok) {
    io.stderr(`handlespace serve: ${started.error}\n`);
    return 1;
  }
  const runtime = started.value;
  const { registrar, history } = runtime;
  if (history) {
    const m = history.migration;
    io.stdout(`history: ${historyChoice.kind === 'temporary' ? 'temporary file ' : ''}${history.file} (schema ${m.to}${m.applied.length > 0 ? `, migrated from ${m.from}` : ''})\n`);
    if (runtime.restoredAdminStates > 0) io.stdout(`history: ${runtime.restoredAdminStates} operator admin state(s) kept from earlier runs, re-applied when those elements register\n`);
  }
  if (!quiet) {
    registrar.on('elementRegistered', ({ element, outcome }) => {
      if (outcome.kind === 'registered') log(`pool ${poolHandleToText(element.poolHandle)}: element 0x${element.id.toString(16)} registered`);
    });
    registrar.on('elementRemoved', ({ element, reason, detail }) => log(`pool ${poolHandleToText(element.poolHandle)}: element 0x${element.id.toString(16)} removed (${reason}: ${detail})`));
  }
  if (runtime.discovery) io.stdout(`discovery: listing registrars heard announcing on ${formatEndpoint(runtime.discovery.group)}\n`);
  const csp = await startServeCsp(runtime, cspChoices, io, log, quiet);
  if (!csp.ok) {
    io.stderr(`handlespace serve: ${csp.error}\n`);
    await runtime.close('CSP failed to start');
    return 1;
  }
  // The console's Components view, and the arrivals, departures and workload in the history.
  if (csp.value.receiver) runtime.console.attachCsp(csp.value.receiver.table);
  hooks.onCsp?.(csp.value);
  let lanConsole: LanConsole | undefined;
  if (consoleChoice.ok && consoleChoice.value.kind === 'on') {
    const startedConsole = await startLanConsole({
      choice: consoleChoice.value,
      backend: runtime.console,
      // A temporary history is this process's alone: no other process could have made tokens in it.
      tokenDatabase: history && historyChoice.kind === 'file' ? history.file : undefined,
      print: (line) => io.stdout(`${line}\n`),
      warn: (line) => io.stderr(`${line}\n`),
      log,
    });
    if (!startedConsole.ok) {
      io.stderr(`handlespace serve: ${startedConsole.error}\n`);
      await csp.value.close();
      await runtime.close('console failed to start');
      return 1;
    }
    lanConsole = startedConsole.value;
    if (lanConsole) {
      // From now on the announces say where the console is, so consoles on the LAN can attach to it.
      registrar.setConsoleEndpoint(announcedConsoleEndpoint(lanConsole.server, consoleChoice.value.tls, (line) => io.stderr(`${line}\n`)));
      hooks.onConsole?.(lanConsole);
    }
  }
  // ENRP last: its peers learn this registrar's elements once everything else is up.
  const enrp = enrpChoice.ok ? await startEnrp({ choice: enrpChoice.value, registrar, print: (line) => io.stdout(`${line}\n`), warn: (line) => io.stderr(`${line}\n`), log, quiet }) : undefined;
  if (enrp && !enrp.ok) {
    io.stderr(`handlespace serve: ${enrp.error}\n`);
    await lanConsole?.close();
    await csp.value.close();
    await runtime.close('ENRP failed to start');
    return 1;
  }
  // The console's Registrars view, the peer events in the history, admin states learned from peers.
  if (enrp?.value) runtime.console.attachEnrp(enrp.value);
  const enrpServer = enrp?.value;
  if (enrpServer && !enrpServer.serving) {
    // Pool elements and users are served only with the handlespace the mentor sends (bounded by the
    // mentor discovery timeout and the download; alone by configuration it is at once).
    if (!quiet) log('ENRP: waiting for the handlespace from a mentor before serving ASAP');
    await Promise.race([new Promise<void>((resolve) => enrpServer.once('synced', () => resolve())), stop]);
  }
  try {
    await registrar.startListening();
  } catch (e) {
    io.stderr(`handlespace serve: cannot start the registrar: ${(e as Error).message}\n`);
    registrar.setConsoleEndpoint(undefined);
    await lanConsole?.close();
    await csp.value.close();
    await enrpServer?.close();
    await runtime.close('ASAP failed to listen');
    return 1;
  }
  const settings = { ...registrar.settings, asap: { host: registrar.asapAddress.host, port: registrar.asapAddress.port } };
  io.stdout(`handlespace registrar listening on ${formatEndpoint(settings.asap)} (ASAP over TCP)\n${describeSettings(settings).map((l) => `  ${l}`).join('\n')}\n`);
  hooks.onStarted?.(registrar, runtime);
  const signal = await stop;
  io.stdout(`handlespace registrar: ${signal}, shutting down\n`);
  // The console first, so no command arrives while the registrar closes; the announces stop naming it.
  registrar.setConsoleEndpoint(undefined);
  await lanConsole?.close();
  await csp.value.close(); // the final CSP report goes out before the registrar closes
  // ENRP before the registrar: closing its connections must not send peers a DEL_PE for every element.
  await enrp?.value?.close();
  const closed = await runtime.close(signal);
  if (!closed.ok) {
    io.stderr(`handlespace serve: ${closed.error}\n`);
    return 1;
  }
  return 0;
}
