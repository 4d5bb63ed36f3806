/**
 * The Component Status Protocol options of the command line: `--csp HOST:PORT` (serve: receive RSPLIB
 * components' reports) and `--csp-report HOST:PORT --csp-interval MS` (serve, pe, pu: report our own
 * status to a cspmonitor). Owns their parsing, usage text and start/stop, and what each of our components
 * says about itself (role, id, location, status text, workload, associations), so the commands only call in.
 */
import os from 'node:os';
import { componentId, ComponentGroup, CSP_DURATION_UNKNOWN, CSP_MAX_ASSOCIATIONS, CSP_PORT, IPPROTO_TCP, PPID_ASAP, type CspAssociation } from '../csp/csp-codec.js';
import { formatComponentId, type CspComponent } from '../csp/csp-component-table.js';
import { CspReceiver, formatHostPort } from '../csp/csp-receiver.js';
import { clampCspInterval, CSP_DEFAULT_INTERVAL_MS, CSP_INTERVAL_RANGE, CspSender, type CspStatus } from '../csp/csp-sender.js';
import type { ConsoleRuntime } from '../console/console-runtime.js';
import type { PoolElement } from '../client/pool-element.js';
import { err, ok, type Result } from '../result.js';
import { parseHostPort, parseInteger, type HostPort } from './endpoint.js';
import type { CliIo } from './io.js';

export const CSP_RECEIVE_USAGE = `  --csp HOST:PORT               receive RSPLIB Component Status reports here (UDP; off by default,
                                RSPLIB's port is ${CSP_PORT}); shown in the console's Components view
`;
export const CSP_REPORT_USAGE = `  --csp-report HOST:PORT        send this component's status to a CSP monitor (cspmonitor, or
                                another serve --csp) over UDP; a final report on shutdown
  --csp-interval MS             report interval (default ${CSP_DEFAULT_INTERVAL_MS}, ${CSP_INTERVAL_RANGE.min} - ${CSP_INTERVAL_RANGE.max})
`;

/** parseArgs options for the reporting side (pe, pu) and for serve (both sides). */
export const CSP_REPORT_ARGS = { 'csp-report': { type: 'string' }, 'csp-interval': { type: 'string' } } as const;
export const CSP_SERVE_ARGS = { csp: { type: 'string' }, ...CSP_REPORT_ARGS } as const;

export interface CspReportChoice {
  readonly target: HostPort;
  readonly intervalMs: number;
  /** Set when the interval was clamped: say so at start. */
  readonly note?: string;
}

export interface CspChoices {
  readonly listen?: HostPort;
  readonly report?: CspReportChoice;
}

type ParsedValues = Readonly<Record<string, unknown>>;

/** Reads --csp-report / --csp-interval (and --csp when `receive`); problems go to `problems`. */
export function parseCspOptions(values: ParsedValues, problems: string[], receive = false): CspChoices {
  const choices: { listen?: HostPort; report?: CspReportChoice } = {};
  const listenText = values['csp'];
  if (receive && typeof listenText === 'string') {
    const listen = parseHostPort(listenText, '0.0.0.0', CSP_PORT);
    if (listen.ok) choices.listen = listen.value;
    else problems.push(`--csp ${listen.error}`);
  }
  const reportText = values['csp-report'];
  const intervalText = values['csp-interval'];
  let intervalMs: number = CSP_DEFAULT_INTERVAL_MS;
  let note: string | undefined;
  if (typeof intervalText === 'string') {
    const parsed = parseInteger(intervalText, 'csp-interval');
    if (!parsed.ok) problems.push(parsed.error);
    else {
      const clamped = clampCspInterval(parsed.value);
      intervalMs = clamped.value;
      note = clamped.problem;
    }
    if (typeof reportText !== 'string') problems.push('--csp-interval needs --csp-report HOST:PORT');
  }
  if (typeof reportText === 'string') {
    const target = parseHostPort(reportText, '127.0.0.1', CSP_PORT);
    if (!target.ok) problems.push(`--csp-report ${target.error}`);
    else if (target.value.port === 0) problems.push('--csp-report needs a port other than 0');
    else choices.report = { target: target.value, intervalMs, ...(note ? { note } : {}) };
  }
  return choices;
}

/**
 * RSPLIB's location format: the host name, a colon, then the component's address; for a wildcard address
 * the machine's non-loopback addresses, as RSPLIB gathers them (the text is cut at 127 bytes on the wire).
 */
export function componentLocation(address: HostPort): string {
  const wildcard = address.host === '0.0.0.0' || address.host === '::';
  const hosts = wildcard
    ? Object.values(os.networkInterfaces())
        .flatMap((list) => list ?? [])
        .filter((a) => !a.internal && (address.host === '::' || a.family === 'IPv4'))
        .map((a) => a.address)
    : [address.host];
  const shown = hosts.length > 0 ? hosts : [address.host];
  return `${os.hostname()}: ${shown.map((host) => formatHostPort({ host, port: address.port })).join(', ')}`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A running CSP side of one command; close() sends the final report and closes the sockets. */
export interface RunningCsp {
  readonly receiver: CspReceiver | undefined;
  readonly sender: CspSender | undefined;
  close(): Promise<void>;
}

function describeComponent(c: CspComponent): string {
  const role = c.role === 'registrar' ? 'registrar' : c.role === 'poolElement' ? 'pool element' : c.role === 'poolUser' ? 'pool user' : `component (group ${c.group})`;
  return `${role} ${formatComponentId(c.id)} [${c.location}]`;
}

async function startReport(choice: CspReportChoice | undefined, io: CliIo, log: (line: string) => void, make: (choice: CspReportChoice) => Parameters<typeof CspSender.start>[0]): Promise<Result<CspSender | undefined, string>> {
  if (!choice) return ok(undefined);
  if (choice.note) io.stderr(`${choice.note}\n`);
  const started = await CspSender.start({ ...make(choice), log });
  if (!started.ok) return err(started.error);
  io.stdout(`csp: reporting as ${formatComponentId(started.value.id)} to ${formatHostPort(choice.target)} every ${choice.intervalMs} ms\n`);
  return ok(started.value);
}

/**
 * serve: the receiver (its arrivals and departures logged unless quiet) and the registrar's own reports:
 * role registrar, id = the registrar's server id, workload = connections / the connection limit, one
 * association per element registered over one of our connections (up to what one datagram holds).
 */
export async function startServeCsp(runtime: ConsoleRuntime, choices: CspChoices, io: CliIo, log: (line: string) => void, quiet: boolean): Promise<Result<RunningCsp, string>> {
  let receiver: CspReceiver | undefined;
  if (choices.listen) {
    const started = await CspReceiver.start({ listen: choices.listen, log });
    if (!started.ok) return err(started.error);
    receiver = started.value;
    io.stdout(`csp: receiving component status reports on ${formatHostPort(receiver.address)} (UDP)\n`);
    if (!quiet) {
      const table = receiver.table;
      table.on('componentArrived', (c) => log(`csp: ${describeComponent(c)} arrived from ${c.source.address}:${c.source.port}`));
      table.on('componentDeparted', (c, reason) => log(`csp: ${describeComponent(c)} departed (${reason === 'final' ? 'final report' : `silent for ${c.purgeAt - c.lastReportAt} ms`})`));
    }
  }
  const registrar = runtime.registrar;
  const sender = await startReport(choices.report, io, log, (choice) => ({
    target: choice.target,
    role: 'registrar',
    objectId: registrar.serverId,
    intervalMs: choice.intervalMs,
    status: () => registrarStatus(runtime),
  }));
  if (!sender.ok) {
    await receiver?.close();
    return err(sender.error);
  }
  return ok(runningCsp(receiver, sender.value));
}

function runningCsp(receiver: CspReceiver | undefined, sender: CspSender | undefined): RunningCsp {
  return {
    receiver,
    sender,
    close: async () => {
      await sender?.stop();
      await receiver?.close();
    },
  };
}

/** What our registrar reports about itself. */
export function registrarStatus(runtime: ConsoleRuntime): CspStatus {
  const registrar = runtime.registrar;
  const handlespace = registrar.handlespace;
  const now = Date.now();
  const associations: CspAssociation[] = [];
  fill: for (const pool of handlespace.pools()) {
    for (const element of pool.elements()) {
      if (associations.length >= CSP_MAX_ASSOCIATIONS) break fill;
      // Elements learned from a peer registrar are not our associations.
      if (element.connectionId === undefined) continue;
      associations.push({
        receiverId: componentId(ComponentGroup.poolElement, element.id),
        durationMicros: BigInt(Math.max(0, now - element.registeredAt)) * 1000n,
        flags: 0,
        protocol: IPPROTO_TCP,
        ppid: PPID_ASAP,
      });
    }
  }
  return {
    location: componentLocation(registrar.asapAddress),
    status: `${plural(handlespace.elementCount, 'PE')} in ${plural(handlespace.poolCount, 'pool')}, ${plural(registrar.sessionCount, 'connection')}`,
    workload: registrar.sessionCount / registrar.settings.maxConnections,
    associations,
  };
}

/**
 * pe: role pool element, id = the element's identifier, workload = open connections / capacity, one
 * association to its home registrar while registered (object id 0 while the registrar's id is unknown:
 * it is learned from announces or a keep-alive with the H flag, not from a static --registrar).
 */
export async function startElementCsp(
  choices: CspChoices,
  element: PoolElement,
  info: { readonly pool: string; readonly service: HostPort; readonly connections: () => number; readonly capacity: number },
  io: CliIo,
  log: (line: string) => void,
): Promise<Result<RunningCsp, string>> {
  let registeredAt: number | undefined;
  const sender = await startReport(choices.report, io, log, (choice) => ({
    target: choice.target,
    role: 'poolElement',
    objectId: element.identifier,
    intervalMs: choice.intervalMs,
    status: () => {
      const registered = element.state === 'registered';
      const connections = info.connections();
      return {
        location: componentLocation(info.service),
        status: `pool ${info.pool}: ${registered ? 'registered' : 'looking for a registrar'}, ${plural(connections, 'connection')}`,
        workload: connections / info.capacity,
        associations: registered
          ? [
              {
                receiverId: componentId(ComponentGroup.registrar, element.homeServerId),
                durationMicros: registeredAt === undefined ? CSP_DURATION_UNKNOWN : BigInt(Math.max(0, Date.now() - registeredAt)) * 1000n,
                flags: 0,
                protocol: IPPROTO_TCP,
                ppid: PPID_ASAP,
              },
            ]
          : [],
      };
    },
  }));
  if (!sender.ok) return err(sender.error);
  const running = sender.value;
  if (!running) return ok(runningCsp(undefined, undefined));
  // A change of registration is reported at once, not at the next interval (the element registers only
  // after this returns, so no event is missed).
  element.on('registered', () => {
    registeredAt ??= Date.now();
    void running.sendNow();
  });
  const lost = (): void => {
    registeredAt = undefined;
    void running.sendNow();
  };
  element.on('deregistered', lost);
  element.on('registrarLost', lost);
  return ok(runningCsp(undefined, running));
}

/** A random 56-bit pool user id, as RSPLIB draws one per PU. */
export function randomPoolUserId(): bigint {
  const bytes = new Uint8Array(7);
  crypto.getRandomValues(bytes);
  return bytes.reduce((id, byte) => (id << 8n) | BigInt(byte), 0n) || 1n;
}

/** pu: role pool user, a random id, workload unknown, the pool and what it is doing as status. */
export async function startUserCsp(choices: CspChoices, info: { readonly pool: string; readonly activity: () => string }, io: CliIo, log: (line: string) => void): Promise<Result<RunningCsp, string>> {
  const sender = await startReport(choices.report, io, log, (choice) => ({
    target: choice.target,
    role: 'poolUser',
    objectId: randomPoolUserId(),
    intervalMs: choice.intervalMs,
    status: () => ({ location: os.hostname(), status: `pool ${info.pool}: ${info.activity()}` }),
  }));
  return sender.ok ? ok(runningCsp(undefined, sender.value)) : err(sender.error);
}
