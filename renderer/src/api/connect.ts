/**
 * Chooses how the console reaches its server at start: the Electron preload bridge when the page runs in
 * the desktop app, else the LAN transport with the token the console URL carried (`#token=...`, kept in
 * sessionStorage for reloads and removed from the address bar so it does not end up in screenshots,
 * bookmarks or the browser history).
 */
import type { ConsoleApi } from '../../../core/console/contract.js';
import type { ConnectionWatch } from './connection-state.js';
import { ConnectionStatus } from './connection-state.js';
import { LanConsoleApi } from './lan-transport.js';

export const TOKEN_STORAGE_KEY = 'handlespace.console.token';

export interface ConsoleTransport {
  readonly kind: 'desktop' | 'lan';
  readonly api: ConsoleApi;
  readonly connection: ConnectionWatch;
}

const CAPABILITIES = ['identity', 'snapshot', 'pool', 'history', 'metrics', 'exportHistory', 'drain', 'ready', 'maintenance', 'failover', 'deregister', 'subscribe'] as const;

/** Whether a value offers every ConsoleApi capability (the preload's object is checked at run time too). */
export function isConsoleApi(value: unknown): value is ConsoleApi {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return CAPABILITIES.every((name) => typeof record[name] === 'function');
}

/** The preload's ConsoleApi: either the bridge object itself or its `console` member, whichever it exposes. */
function desktopApi(): ConsoleApi | undefined {
  const globals = window as unknown as Record<string, unknown>;
  for (const name of ['handlespaceDesktop', 'handlespace']) {
    const bridge = globals[name];
    if (isConsoleApi(bridge)) return bridge;
    if (typeof bridge === 'object' && bridge !== null) {
      const nested = (bridge as Record<string, unknown>)['console'];
      if (isConsoleApi(nested)) return nested;
    }
  }
  return undefined;
}

/** Takes `token=...` out of the fragment (keeping any other fragment content) and stores it. */
export function takeTokenFromLocation(location: Location, history: History, storage: Storage): string | undefined {
  const fragment = location.hash.startsWith('#') ? location.hash.slice(1) : location.hash;
  const parts = fragment.split('&');
  const tokenPart = parts.find((part) => part.startsWith('token='));
  if (tokenPart) {
    const token = decodeURIComponent(tokenPart.slice('token='.length));
    const rest = parts.filter((part) => part !== tokenPart && part !== '').join('&');
    history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
    if (token !== '') {
      storage.setItem(TOKEN_STORAGE_KEY, token);
      return token;
    }
  }
  return storage.getItem(TOKEN_STORAGE_KEY) ?? undefined;
}

export function forgetToken(storage: Storage): void {
  storage.removeItem(TOKEN_STORAGE_KEY);
}

/** The transport for this page, or undefined when a LAN page has no token yet (the view asks for one). */
export function connect(token?: string): ConsoleTransport | undefined {
  const desktop = desktopApi();
  if (desktop) {
    // No token on the desktop; the stream is live once its hello arrives. While the core host (a utility
    // process) restarts, the header says so; the stream resumes by itself with a resync.
    const connection = new ConnectionStatus();
    window.handlespaceDesktop?.onCoreStatus?.((status) => {
      if (status.state === 'restarting') connection.set('reconnecting', `the core restarts (attempt ${status.attempt}): ${status.reason}`);
      else if (status.state === 'stopped') connection.set('reconnecting', `the core stopped: ${status.reason}`);
      else if (status.state === 'starting') connection.set('connecting', 'the core is starting');
    });
    return { kind: 'desktop', api: desktop, connection };
  }
  const lanToken = token ?? takeTokenFromLocation(window.location, window.history, window.sessionStorage);
  if (lanToken === undefined) return undefined;
  const api = new LanConsoleApi({ token: lanToken });
  return { kind: 'lan', api, connection: api.connection };
}
