/**
 * One registrar with ENRP for the ENRP benchmark (enrp.bench.ts), run as its own process (forked with an
 * IPC channel, `--import tsx`): the registrar on an ephemeral loopback ASAP port, ENRP on the given port
 * with the given peers and timers, no history. It reports 'ready', 'synced' and 'takeover' over IPC and
 * answers 'homes' (elements per home registrar) so the parent can watch convergence without ASAP traffic.
 */
import { EnrpServer } from '../../core/enrp/enrp-server.js';
import type { EnrpSettings } from '../../core/enrp/settings.js';
import { Registrar } from '../../core/registrar/registrar.js';

export interface ChildConfig {
  readonly serverId: number;
  readonly enrpPort: number;
  readonly peers: readonly number[];
  readonly settings: Partial<EnrpSettings>;
}

export type FromChild =
  | { readonly type: 'ready'; readonly asapPort: number; readonly pid: number }
  | { readonly type: 'synced'; readonly mentor: number; readonly elements: number; readonly durationMs: number; readonly handlespace: number }
  | { readonly type: 'takeover'; readonly target: number; readonly elements: number; readonly durationMs: number }
  | { readonly type: 'homes'; readonly total: number; readonly byHome: Record<string, number> }
  | { readonly type: 'failed'; readonly error: string };

const send = (message: FromChild): void => {
  process.send?.(message);
};

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const registrar = await Registrar.start({
  asap: { host: '127.0.0.1', port: 0 },
  announce: 'off',
  serverId: config.serverId,
  // The load client's elements answer keep-alives, but the benchmark measures ENRP, not keep-alives.
  keepAliveIntervalMs: 300_000,
  keepAliveTimeoutMs: 60_000,
  maxElementsPerConnection: 1_000_000,
});
const started = await EnrpServer.start(registrar, {
  ...config.settings,
  listen: { host: '127.0.0.1', port: config.enrpPort },
  peers: config.peers.map((port) => ({ host: '127.0.0.1', port })),
  announce: 'off',
});
if (!started.ok) {
  send({ type: 'failed', error: started.error });
  process.exit(1);
}
const enrp = started.value;
enrp.on('synced', (e) => send({ type: 'synced', mentor: e.mentor, elements: e.elements, durationMs: e.durationMs, handlespace: registrar.handlespace.elementCount }));
enrp.on('takeoverCompleted', (e) => send({ type: 'takeover', target: e.target, elements: e.elements, durationMs: e.durationMs }));
process.on('message', (raw: unknown) => {
  const message = raw as { type?: string };
  if (message.type === 'homes') {
    const byHome: Record<string, number> = {};
    for (const row of enrp.peers()) if (row.elementsOwned > 0) byHome[row.serverId.toString(16)] = row.elementsOwned;
    send({ type: 'homes', total: registrar.handlespace.elementCount, byHome });
  } else if (message.type === 'stop') {
    void enrp.close().then(() => registrar.close()).then(() => process.exit(0));
  }
});
// The parent going away ends this process too.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', asapPort: registrar.asapAddress.port, pid: process.pid });
