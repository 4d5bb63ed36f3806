/**
 * Preload for the sandboxed renderer: exposes window.handlespaceDesktop with one named function per
 * capability (never a generic invoke), and `console`, an object that satisfies the ConsoleApi contract.
 *
 * Why CommonJS (.cts, compiled to preload.cjs): a sandboxed renderer's preload runs in Electron's
 * sandbox loader, which supports neither ES modules nor `require` of anything but 'electron' and a few
 * built-ins. So nothing here is imported at run time except 'electron': channel names are restated and
 * checked against the renderer's DesktopChannel type, and the main process validates every argument.
 */
import electron = require('electron');
import type { ConsoleApi, ConsoleResult, EventStreamMessage, StreamPosition } from '../core/console/contract.js';
import type { AppInfo, ConsoleCallName, CoreHostStatus, DesktopBridge, DesktopChannel, SavedConnections, SavedConnectionsState } from '../renderer/src/desktop-bridge.js';

const { contextBridge, ipcRenderer } = electron;

const CHANNEL = {
  appInfo: 'desktop:get-app-info',
  coreStatus: 'desktop:core-status',
  coreStatusChanged: 'desktop:core-status-changed',
  loadConnections: 'desktop:load-connections',
  saveConnections: 'desktop:save-connections',
  subscribe: 'console:subscribe',
  unsubscribe: 'console:unsubscribe',
  event: 'console:event',
} as const satisfies Record<string, DesktopChannel>;

/** A call that could not cross IPC (main process error, refused sender) still answers a ConsoleResult. */
function invokeConsole<T>(capability: ConsoleCallName, ...args: unknown[]): Promise<ConsoleResult<T>> {
  const channel = `console:${capability}` as const satisfies DesktopChannel;
  return ipcRenderer.invoke(channel, ...args).then(
    (result) => result as ConsoleResult<T>,
    (error: unknown) => ({ ok: false, error: { code: 'internal', message: error instanceof Error ? error.message : String(error) } }),
  );
}

/** Event streams this page opened, by the id the page chose (so no event can arrive before its listener). */
const streams = new Map<number, (message: EventStreamMessage) => void>();
let nextStream = 1;

ipcRenderer.on(CHANNEL.event, (_event, payload: { readonly subscription: number; readonly message: EventStreamMessage }) => {
  streams.get(payload.subscription)?.(payload.message);
});

const consoleApi = {
  identity: () => invokeConsole('identity'),
  snapshot: () => invokeConsole('snapshot'),
  pool: (pool) => invokeConsole('pool', pool),
  history: (query) => invokeConsole('history', query),
  metrics: (query) => invokeConsole('metrics', query),
  components: () => invokeConsole('components'),
  heardRegistrars: () => invokeConsole('heardRegistrars'),
  exportHistory: (query) => invokeConsole('exportHistory', query),
  drain: (target, options) => invokeConsole('drain', target, options),
  ready: (target, options) => invokeConsole('ready', target, options),
  maintenance: (target, options) => invokeConsole('maintenance', target, options),
  failover: (target, options) => invokeConsole('failover', target, options),
  deregister: (target, options) => invokeConsole('deregister', target, options),
  subscribe: (position: StreamPosition | undefined, listener: (message: EventStreamMessage) => void): (() => void) => {
    const subscription = nextStream++;
    streams.set(subscription, listener);
    const refused = (reason: string): void => {
      streams.delete(subscription);
      console.error(`the console's event stream was refused: ${reason}`);
    };
    ipcRenderer.invoke(CHANNEL.subscribe, subscription, position ?? null).then(
      (result: ConsoleResult<null>) => (result.ok ? undefined : refused(result.error.message)),
      (error: unknown) => refused(error instanceof Error ? error.message : String(error)),
    );
    return () => {
      if (streams.delete(subscription)) ipcRenderer.invoke(CHANNEL.unsubscribe, subscription).catch(() => undefined);
    };
  },
} satisfies ConsoleApi;

const bridge = {
  getAppInfo: (): Promise<AppInfo> => ipcRenderer.invoke(CHANNEL.appInfo) as Promise<AppInfo>,
  console: consoleApi,
  coreStatus: (): Promise<CoreHostStatus> => ipcRenderer.invoke(CHANNEL.coreStatus) as Promise<CoreHostStatus>,
  onCoreStatus: (listener: (status: CoreHostStatus) => void): (() => void) => {
    const handler = (_event: unknown, status: CoreHostStatus): void => listener(status);
    ipcRenderer.on(CHANNEL.coreStatusChanged, handler);
    return () => void ipcRenderer.removeListener(CHANNEL.coreStatusChanged, handler);
  },
  loadConnections: (): Promise<ConsoleResult<SavedConnectionsState>> => ipcRenderer.invoke(CHANNEL.loadConnections) as Promise<ConsoleResult<SavedConnectionsState>>,
  saveConnections: (list: SavedConnections): Promise<ConsoleResult<SavedConnectionsState>> =>
    ipcRenderer.invoke(CHANNEL.saveConnections, list) as Promise<ConsoleResult<SavedConnectionsState>>,
} satisfies DesktopBridge;

contextBridge.exposeInMainWorld('handlespaceDesktop', bridge);
