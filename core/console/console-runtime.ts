/**
 * One running console: the history (opened and migrated first: admin states persist in it), the registrar
 * (which re-applies those admin states and acknowledges registrations only once they are durable), the
 * recorder, the discovery listener (registrars heard announcing on the LAN), and the ConsoleService over
 * them. `handlespace serve`, the demo and the Electron core host all start it the same way, and close it in
 * the reverse order.
 */
import { systemClock, type Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import { History } from '../history/history.js';
import { HistoryRecorder } from '../history/history-recorder.js';
import { Registrar, type RegistrarStartOptions } from '../registrar/registrar.js';
import type { Endpoint, RegistrarSettings } from '../registrar/options.js';
import { AdminStateBook, ConsoleService } from './console-service.js';
import { RegistrarDiscoveryListener } from './registrar-discovery.js';

export type HistoryChoice = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'temporary' } | { readonly kind: 'none' };

export interface ConsoleRuntimeOptions {
  readonly registrar?: Partial<RegistrarSettings>;
  /** Passed to the registrar (notification tuning, clock, random). */
  readonly registrarOptions?: Omit<RegistrarStartOptions, keyof RegistrarSettings | 'beforeAcknowledge' | 'persistedAdminState' | 'log'>;
  readonly history: HistoryChoice;
  readonly version?: string;
  readonly log?: (line: string) => void;
  readonly clock?: Clock;
  /**
   * Where to listen for registrar announces (heardRegistrars): a multicast group (joined) or a unicast
   * address (bound), or 'off'. Default: the registrar's own announce group when it announces, else off.
   */
  readonly discovery?: { readonly group: Endpoint } | 'off';
}

export interface ConsoleRuntime {
  readonly registrar: Registrar;
  readonly history: History | undefined;
  readonly recorder: HistoryRecorder | undefined;
  readonly console: ConsoleService;
  /** Undefined when discovery is off or could not listen (the log says why). */
  readonly discovery: RegistrarDiscoveryListener | undefined;
  /** Admin states restored from the history at start. */
  readonly restoredAdminStates: number;
  close(reason: string): Promise<Result<void, string>>;
}

export async function startConsoleRuntime(options: ConsoleRuntimeOptions): Promise<Result<ConsoleRuntime, string>> {
  const log = options.log ?? (() => {});
  const clock = options.clock ?? options.registrarOptions?.clock ?? systemClock;
  let history: History | undefined;
  if (options.history.kind !== 'none') {
    const opened = options.history.kind === 'file' ? await History.open({ path: options.history.path, log, clock }) : await History.openTemporary({ log, clock });
    if (!opened.ok) return err(`cannot open the history: ${opened.error.message}`);
    history = opened.value;
  }
  const adminStates = new AdminStateBook();
  if (history) {
    for (const s of history.queries.adminStates()) adminStates.set(s.poolHandle, s.peId, { state: s.state, reason: s.reason, actor: s.actor, since: s.since });
  }
  let registrar: Registrar;
  try {
    const durable = history;
    registrar = await Registrar.start({
      ...options.registrar,
      ...options.registrarOptions,
      clock,
      log,
      persistedAdminState: adminStates.lookup,
      // Durability rule: a registration is acknowledged only once its event is committed (group commit).
      ...(durable ? { beforeAcknowledge: () => durable.barrier() } : {}),
    });
  } catch (e) {
    await history?.close();
    return err(`cannot start the registrar: ${(e as Error).message}`);
  }
  const recorder = history ? HistoryRecorder.attach(registrar, history, { clock, ...(options.version ? { appVersion: options.version } : {}) }) : undefined;
  const service = new ConsoleService({
    registrar,
    history,
    recorder,
    adminStates,
    clock,
    version: options.version ?? '',
    historyInfo: history ? { file: history.file, temporary: options.history.kind === 'temporary' } : null,
    log,
  });
  const announceGroup = registrar.settings.announce;
  const discoveryGroup = options.discovery === undefined ? (announceGroup === 'off' ? undefined : announceGroup) : options.discovery === 'off' ? undefined : options.discovery.group;
  let discovery: RegistrarDiscoveryListener | undefined;
  if (discoveryGroup) {
    // Discovery is a convenience: a host without multicast (or a taken unicast port) runs without it.
    const listening = await RegistrarDiscoveryListener.start({ group: discoveryGroup, ownServerId: registrar.serverId, clock, log });
    if (listening.ok) {
      discovery = listening.value;
      service.attachDiscovery(discovery);
    } else {
      log(`discovery: ${listening.error}; registrars on the LAN are not listed`);
    }
  }
  let closing: Promise<Result<void, string>> | undefined;
  return ok({
    registrar,
    history,
    recorder,
    console: service,
    discovery,
    restoredAdminStates: adminStates.size,
    close(reason: string): Promise<Result<void, string>> {
      closing ??= (async () => {
        service.close();
        discovery?.close();
        await registrar.close();
        recorder?.detach(reason);
        const closed = await history?.close();
        return closed && !closed.ok ? err(`closing the history failed: ${closed.error.message}`) : ok(undefined);
      })();
      return closing;
    },
  });
}
