/**
 * `handlespace pe` (an echo service that registers in a pool and reports its load) and `handlespace pu`
 * (resolves a pool and prints its elements as JSON): the SDKs of core/client driven from the command line.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { PoolElement } from '../client/pool-element.js';
import { PoolUser } from '../client/pool-user.js';
import { ASAP_PORT } from '../wire/constants.js';
import { hex32, messageToJson, poolHandleToText, type Json } from '../wire/json.js';
import { parseHostPort, parseInteger, type HostPort } from './endpoint.js';
import { waitForTerminationSignal, type CliIo } from './io.js';
import { parsePolicy, POLICY_SYNTAX, reportsLoad } from './policy-argument.js';
import { CSP_REPORT_ARGS, CSP_REPORT_USAGE, parseCspOptions, startElementCsp, startUserCsp } from './csp-options.js';

export const PE_USAGE = `Usage: handlespace pe --pool NAME --listen HOST:PORT [--registrar HOST:PORT ...] [options]

Runs a TCP echo service on --listen and registers it as a pool element. With a load-based policy it
reports its load: open connections / --capacity.

  --pool NAME                 pool handle (text)
  --listen HOST:PORT          where the echo service listens (0.0.0.0 registers the address the
                              registrar sees this process connect from)
  --registrar HOST:PORT       registrar to use (repeatable; default: registrars heard announcing)
  --policy P                  ${POLICY_SYNTAX} (default rr); D as "5%" or a raw 32-bit value
  --id 0xHEX                  PE identifier (default random)
  --capacity N                connections counted as full load (default 100)
  --reregistration-interval MS  (default 30000; registration life is three times this)
${CSP_REPORT_USAGE}`;

export const PU_USAGE = `Usage: handlespace pu --pool NAME [--registrar HOST:PORT ...] [--items N] [--watch]

Resolves the pool and prints the registrar's answer as JSON: the overall policy and the elements.
Exits 1 when the pool is unknown or no registrar answers.

With --watch it subscribes (S flag) and prints one JSON line per status notification the registrar pushes
(time, pool, element, status, reason, sequence, event time, replacement, load, reason text) until SIGINT or
SIGTERM; the first line lists the elements at subscription time.

${CSP_REPORT_USAGE}`;

function registrarsFrom(values: string[] | undefined, problems: string[]): HostPort[] {
  return (values ?? []).flatMap((text) => {
    const parsed = parseHostPort(text, '127.0.0.1', ASAP_PORT);
    if (parsed.ok) return [parsed.value];
    problems.push(`--registrar ${parsed.error}`);
    return [];
  });
}

export interface PeHooks {
  readonly stopSignal?: Promise<string>;
  readonly onRegistered?: (element: PoolElement, service: HostPort) => void;
}

export async function peCommand(args: string[], io: CliIo, hooks: PeHooks = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        pool: { type: 'string' },
        listen: { type: 'string' },
        registrar: { type: 'string', multiple: true },
        policy: { type: 'string' },
        id: { type: 'string' },
        capacity: { type: 'string' },
        'reregistration-interval': { type: 'string' },
        ...CSP_REPORT_ARGS,
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.stderr(`handlespace pe: ${(e as Error).message}\n${PE_USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    io.stdout(PE_USAGE);
    return 0;
  }
  const problems: string[] = [];
  if (!v.pool) problems.push('--pool is required');
  const listen = v.listen ? parseHostPort(v.listen, '0.0.0.0') : undefined;
  if (!listen) problems.push('--listen HOST:PORT is required');
  else if (!listen.ok) problems.push(`--listen ${listen.error}`);
  const policy = parsePolicy(v.policy ?? 'rr');
  if (!policy.ok) problems.push(policy.error);
  const registrars = registrarsFrom(v.registrar, problems);
  const id = v.id ? parseInteger(v.id, 'id') : undefined;
  if (id && !id.ok) problems.push(id.error);
  const capacity = parseInteger(v.capacity ?? '100', 'capacity');
  if (!capacity.ok || capacity.value < 1) problems.push('--capacity must be a positive integer');
  const interval = v['reregistration-interval'] ? parseInteger(v['reregistration-interval'], 'reregistration-interval') : undefined;
  if (interval && (!interval.ok || interval.value < 100)) problems.push('--reregistration-interval must be at least 100 ms');
  const cspChoices = parseCspOptions(v, problems);
  if (problems.length > 0 || !listen?.ok || !policy.ok || !v.pool || !capacity.ok) {
    io.stderr(`handlespace pe: ${problems.join('\n  ')}\n`);
    return 2;
  }
  // Listen for SIGINT / SIGTERM before anything starts, so an early signal still deregisters cleanly.
  const stop = hooks.stopSignal ?? waitForTerminationSignal();
  const maxConnections = capacity.value;
  const log = (line: string): void => io.stderr(`${new Date().toISOString()} ${line}\n`);

  // The service itself: echo every byte back.
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      updateLoad();
    });
    socket.pipe(socket);
    updateLoad();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: listen.value.host, port: listen.value.port }, () => resolve());
    });
  } catch (e) {
    io.stderr(`handlespace pe: cannot listen on ${v.listen}: ${(e as Error).message}\n`);
    return 1;
  }
  const address = server.address();
  const service: HostPort = { host: listen.value.host, port: address && typeof address === 'object' ? address.port : listen.value.port };

  const element = new PoolElement({
    poolHandle: v.pool,
    ...(id?.ok ? { identifier: id.value } : {}),
    userTransport: { host: service.host, port: service.port },
    policy: policy.value,
    ...(interval?.ok ? { reregistrationIntervalMs: interval.value } : {}),
    ...(registrars.length > 0 ? { registrars: registrars.map((r) => `${r.host.includes(':') ? `[${r.host}]` : r.host}:${r.port}`) } : {}),
  });
  function updateLoad(): void {
    if (!reportsLoad(policy.ok ? policy.value : { type: 1 })) return;
    element.setLoad(Math.min(0xffffffff, Math.round((sockets.size / maxConnections) * 0xffffffff)));
  }
  element.on('registered', () => log(`element ${hex32(element.identifier)} registered in pool ${v.pool}`));
  element.on('deregistered', (e) => log(`element ${hex32(element.identifier)} deregistered (${JSON.stringify(e)})`));
  element.on('registrarLost', (e) => log(`registrar lost (${JSON.stringify(e)}); hunting for a registrar`));
  element.on('error', (e) => log(`element problem: ${JSON.stringify(e)}`));
  const csp = await startElementCsp(cspChoices, element, { pool: v.pool, service, connections: () => sockets.size, capacity: maxConnections }, io, log);
  if (!csp.ok) {
    io.stderr(`handlespace pe: ${csp.error}\n`);
    await element.close();
    server.close();
    return 1;
  }
  io.stdout(`handlespace pe: echo service on ${service.host}:${service.port}, element ${hex32(element.identifier)} in pool ${v.pool}, policy ${v.policy ?? 'rr'}\n`);
  const registration = element.register().then(
    () => {
      hooks.onRegistered?.(element, service);
      return true;
    },
    (e: unknown) => {
      io.stderr(`handlespace pe: registration failed: ${(e as Error).message}\n`);
      return false;
    },
  );
  const first = await Promise.race([registration, stop.then(() => 'stopped' as const)]);
  if (first === false) {
    await element.close();
    await csp.value.close();
    server.close();
    return 1;
  }
  const signal = await stop;
  io.stdout(`handlespace pe: ${signal}, deregistering\n`);
  await element.close();
  await csp.value.close();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return 0;
}

export interface PuHooks {
  readonly stopSignal?: Promise<string>;
  readonly onSubscribed?: () => void;
}

export async function puCommand(args: string[], io: CliIo, hooks: PuHooks = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { pool: { type: 'string' }, registrar: { type: 'string', multiple: true }, items: { type: 'string' }, watch: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, ...CSP_REPORT_ARGS },
    });
  } catch (e) {
    io.stderr(`handlespace pu: ${(e as Error).message}\n${PU_USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    io.stdout(PU_USAGE);
    return 0;
  }
  const problems: string[] = [];
  if (!v.pool) problems.push('--pool is required');
  const registrars = registrarsFrom(v.registrar, problems);
  const items = v.items ? parseInteger(v.items, 'items') : undefined;
  if (items && (!items.ok || items.value < 1 || items.value > 0xffffffff)) problems.push('--items must be 1..4294967295');
  const cspChoices = parseCspOptions(v, problems);
  if (problems.length > 0 || !v.pool) {
    io.stderr(`handlespace pu: ${problems.join('\n  ')}\n`);
    return 2;
  }
  const user = new PoolUser({
    ...(registrars.length > 0 ? { registrars: registrars.map((r) => `${r.host.includes(':') ? `[${r.host}]` : r.host}:${r.port}`) } : {}),
    ...(items?.ok ? { items: items.value } : {}),
  });
  const csp = await startUserCsp(cspChoices, { pool: v.pool, activity: () => (v.watch ? 'watching' : 'resolving') }, io, (line) => io.stderr(`${line}\n`));
  if (!csp.ok) {
    io.stderr(`handlespace pu: ${csp.error}\n`);
    await user.close();
    return 1;
  }
  if (v.watch) return watchPool(user, v.pool, io, hooks).finally(() => csp.value.close());
  try {
    const result = await user.resolve(v.pool);
    if (!result.ok) {
      io.stdout(`${JSON.stringify({ pool: v.pool, error: { code: result.error.code, message: result.error.message } }, null, 2)}\n`);
      return 1;
    }
    const pool = result.value;
    const wire = messageToJson({ protocol: 'asap', type: 'handleResolutionResponse', accepted: false, poolHandle: pool.poolHandle, overallPolicy: pool.overallPolicy, poolElements: pool.elements, peStatus: [] }) as Record<string, Json>;
    io.stdout(`${JSON.stringify({ pool: poolHandleToText(pool.poolHandle), overallPolicy: wire['overallPolicy'] ?? null, elements: wire['poolElements'] ?? [] }, null, 2)}\n`);
    return 0;
  } finally {
    await user.close();
    await csp.value.close();
  }
}

const elementId = (id: number): string => hex32(id);

/** `pu --watch`: subscribe and print every pushed status as one JSON line. */
async function watchPool(user: PoolUser, pool: string, io: CliIo, hooks: PuHooks): Promise<number> {
  const stop = hooks.stopSignal ?? waitForTerminationSignal();
  try {
    user.on('pe-status', (event) => {
      const s = event.status;
      const line: Record<string, Json> = {
        time: new Date(event.receivedAt).toISOString(),
        pool: poolHandleToText(event.poolHandle),
        element: elementId(s.peId),
        status: event.statusName,
        reason: event.reasonName,
        sequence: s.sequence,
        eventTime: new Date(s.eventTimeMs).toISOString(),
      };
      if (s.replacementPeId !== undefined) line['replacement'] = elementId(s.replacementPeId);
      if (s.load !== undefined) line['load'] = s.load;
      if (s.reasonText !== undefined) line['reasonText'] = s.reasonText;
      if (event.latencyMs !== undefined) line['latencyMs'] = event.latencyMs;
      io.stdout(`${JSON.stringify(line)}\n`);
    });
    const subscribed = await user.resolve(pool, { subscribe: true });
    if (!subscribed.ok) {
      io.stdout(`${JSON.stringify({ pool, error: { code: subscribed.error.code, message: subscribed.error.message } })}\n`);
      return 1;
    }
    io.stdout(`${JSON.stringify({ time: new Date().toISOString(), pool, subscribed: subscribed.value.subscribed, elements: subscribed.value.elements.map((e) => elementId(e.id)) })}\n`);
    hooks.onSubscribed?.();
    await stop;
    return 0;
  } finally {
    await user.close();
  }
}
