/**
 * `handlespace demo`: `handlespace serve` plus a simulated system against it (demo-simulation.ts), so a new
 * user sees a living registrar at once: pools with different policies, changing loads, crashes and
 * restarts, subscribed pool users failing over. The demo's own options are taken out of the arguments;
 * everything else goes to serve unchanged, with defaults that keep the demo on this machine and out of any
 * real history (loopback ASAP, no announces, a temporary history file).
 */
import type { Registrar } from '../registrar/registrar.js';
import { formatEndpoint } from '../registrar/options.js';
import { err, ok, type Result } from '../result.js';
import { DEFAULT_DEMO_TIMINGS, DEMO_POOLS, startDemoSimulation, type DemoSimulation, type DemoTimings, type IntervalRange } from './demo-simulation.js';
import { parseInteger } from './endpoint.js';
import { waitForTerminationSignal, type CliIo } from './io.js';
import { serveCommand } from './serve-command.js';

const ELEMENT_COUNT = DEMO_POOLS.reduce((sum, pool) => sum + pool.elements, 0);
const USER_COUNT = DEMO_POOLS.reduce((sum, pool) => sum + pool.users, 0);
const range = (r: IntervalRange | 'off'): string => (r === 'off' ? 'off' : `${r.minMs}-${r.maxMs}`);

export const DEMO_USAGE = `Usage: handlespace demo [demo options] [serve options]

Runs the registrar (as handlespace serve) and a simulated system against it: ${ELEMENT_COUNT} pool elements in
${DEMO_POOLS.length} pools (sip-proxy Round Robin, media Least Used, game-eu Weighted Round Robin, rpc Least Used
with Degradation, signalling Random), each a TCP service on 127.0.0.1 registered through the PoolElement
SDK. Loads change every few seconds; now and then an element crashes (its registrar connection and service
vanish, no deregistration) and restarts a few seconds later with the same PE identifier; ${USER_COUNT} subscribed
pool users send a request every few hundred ms and fail over on the registrar's pushes. One line per
simulated event goes to stderr. SIGINT / SIGTERM stop it all (the elements deregister).

Demo options:
  --load-interval MS            between load changes (default ${DEFAULT_DEMO_TIMINGS.loadIntervalMs})
  --crash-interval MIN-MAX|off  between crashes, uniformly in MIN..MAX ms (default ${range(DEFAULT_DEMO_TIMINGS.crashIntervalMs)})
  --restart-delay MIN-MAX       from a crash to the restart (default ${range(DEFAULT_DEMO_TIMINGS.restartDelayMs)})
  --request-interval MS         between two requests of one pool user (default ${DEFAULT_DEMO_TIMINGS.requestIntervalMs})
  --quiet                       no simulated-event lines; the registrar logs only problems

Every other option goes to serve (handlespace serve --help). Defaults that differ from serve's, so the demo
stays on this machine and out of real records:
  --asap 127.0.0.1:3863         (serve: 0.0.0.0:3863)
  --announce off                (serve: multicast announces that pool users on the LAN would follow)
  --enrp off                    (serve: ENRP on 0.0.0.0:9901 with multicast presence), unless --enrp or --peer
  --memory                      the history goes to a temporary file deleted at exit, unless --db PATH
`;

/** Demo options that take a value, and the timing each sets. */
const VALUE_OPTIONS = ['load-interval', 'crash-interval', 'restart-delay', 'request-interval'] as const;
type ValueOption = (typeof VALUE_OPTIONS)[number];

export interface DemoHooks {
  /** Resolves when the demo should stop; by default on SIGINT or SIGTERM. */
  readonly stopSignal?: Promise<string>;
  /** Called once the registrar listens and the simulation is started (tests use it). */
  readonly onStarted?: (registrar: Registrar, simulation: DemoSimulation) => void;
}

interface DemoArguments {
  readonly serveArgs: string[];
  readonly timings: Partial<DemoTimings>;
  readonly quiet: boolean;
  readonly help: boolean;
}

function parseRange(text: string, name: string): Result<IntervalRange, string> {
  const [minText = '', maxText, ...rest] = text.split('-');
  if (rest.length > 0) return err(`--${name}: ${JSON.stringify(text)} is not MIN-MAX`);
  const min = parseInteger(minText, name);
  const max = maxText === undefined ? min : parseInteger(maxText, name);
  if (!min.ok) return min;
  if (!max.ok) return max;
  if (min.value < 1 || max.value < min.value) return err(`--${name}: ${JSON.stringify(text)} needs 1 ≤ MIN ≤ MAX`);
  return ok({ minMs: min.value, maxMs: max.value });
}

function parseInterval(text: string, name: string): Result<number, string> {
  const value = parseInteger(text, name);
  if (!value.ok) return value;
  return value.value >= 1 ? value : err(`--${name} must be at least 1 ms`);
}

/**
 * Takes the demo's options out of `args` (`--name VALUE` or `--name=VALUE`) and leaves the rest, in order,
 * for serve, which checks them itself.
 */
function splitArguments(args: readonly string[]): Result<DemoArguments, string> {
  const serveArgs: string[] = [];
  const timings: { -readonly [K in keyof DemoTimings]?: DemoTimings[K] } = {};
  let quiet = false;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const option = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    const name = option?.[1] ?? '';
    if (!(VALUE_OPTIONS as readonly string[]).includes(name)) {
      if (arg === '--help' || arg === '-h') help = true;
      else serveArgs.push(arg);
      if (arg === '--quiet') quiet = true;
      continue;
    }
    const value = option?.[2] ?? args[++i];
    if (value === undefined) return err(`--${name} needs a value`);
    const parsed = parseValue(name as ValueOption, value);
    if (!parsed.ok) return parsed;
    Object.assign(timings, parsed.value);
  }
  return ok({ serveArgs, timings, quiet, help });
}

function parseValue(name: ValueOption, text: string): Result<Partial<DemoTimings>, string> {
  const wrap = <T>(parsed: Result<T, string>, build: (value: T) => Partial<DemoTimings>): Result<Partial<DemoTimings>, string> => (parsed.ok ? ok(build(parsed.value)) : parsed);
  switch (name) {
    case 'load-interval':
      return wrap(parseInterval(text, name), (loadIntervalMs) => ({ loadIntervalMs }));
    case 'request-interval':
      return wrap(parseInterval(text, name), (requestIntervalMs) => ({ requestIntervalMs }));
    case 'crash-interval':
      return text === 'off' ? ok({ crashIntervalMs: 'off' }) : wrap(parseRange(text, name), (crashIntervalMs) => ({ crashIntervalMs }));
    case 'restart-delay':
      return wrap(parseRange(text, name), (restartDelayMs) => ({ restartDelayMs }));
  }
}

/** Whether the user gave serve option `name` (as `--name`, `--name VALUE` or `--name=VALUE`). */
function gives(args: readonly string[], name: string): boolean {
  return args.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`));
}

/** The address to reach a registrar listening on `host`: a wildcard means this machine's loopback. */
function reachable(address: { host: string; port: number }): { host: string; port: number } {
  if (address.host === '0.0.0.0') return { host: '127.0.0.1', port: address.port };
  if (address.host === '::') return { host: '::1', port: address.port };
  return address;
}

export async function demoCommand(args: string[], io: CliIo, hooks: DemoHooks = {}): Promise<number> {
  const split = splitArguments(args);
  if (!split.ok) {
    io.stderr(`handlespace demo: ${split.error}\n`);
    return 2;
  }
  const { serveArgs, timings, quiet, help } = split.value;
  if (help) {
    io.stdout(DEMO_USAGE);
    return 0;
  }
  const defaults = [
    ...(gives(serveArgs, 'asap') ? [] : ['--asap', '127.0.0.1:3863']),
    ...(gives(serveArgs, 'announce') ? [] : ['--announce', 'off']),
    // No peering with real registrars on the network either, unless asked for.
    ...(gives(serveArgs, 'enrp') || gives(serveArgs, 'peer') ? [] : ['--enrp', 'off']),
    ...(gives(serveArgs, 'db') || gives(serveArgs, 'memory') ? [] : ['--memory']),
  ];
  // Listen for SIGINT / SIGTERM before anything starts, so an early signal still stops everything cleanly.
  const stop = hooks.stopSignal ?? waitForTerminationSignal();
  const log = (line: string): void => io.stderr(`${new Date().toISOString()} demo: ${line}\n`);
  let simulation: DemoSimulation | undefined;
  // serve closes the registrar when this resolves: the simulation stops first, so its elements deregister.
  const serveStop = stop.then(async (signal) => {
    await simulation?.stop();
    return signal;
  });
  return serveCommand([...defaults, ...serveArgs], io, {
    stopSignal: serveStop,
    onStarted: (registrar) => {
      const target = reachable(registrar.asapAddress);
      simulation = startDemoSimulation({ registrar: target, timings, ...(quiet ? {} : { log }) });
      io.stdout(`handlespace demo: ${ELEMENT_COUNT} elements in ${DEMO_POOLS.length} pools and ${USER_COUNT} pool users against ${formatEndpoint(target)}; SIGINT / SIGTERM stops\n`);
      hooks.onStarted?.(registrar, simulation);
    },
  });
}
