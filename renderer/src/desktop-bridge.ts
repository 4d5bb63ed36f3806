/**
 * The contract between the Electron preload and the renderer: what `window.handlespaceDesktop` offers when
 * the console runs in the desktop app. In a LAN browser the property is absent. Types only: the sandboxed
 * preload cannot load modules, so it restates the channel names and `satisfies` these types instead.
 */
import type { ConsoleApi, ConsoleResult } from '../../core/console/contract.js';

/** Versions shown in the console's footer and in bug reports. */
export interface AppInfo {
  readonly name: string;
  readonly version: string;
  readonly electron: string;
  readonly chrome: string;
  readonly platform: string;
}

/**
 * The core host (registrar, history, console service) runs in a utility process of its own; the main
 * process restarts it with backoff when it crashes and says so here, so the console can show why its
 * stream paused. Event streams resume by themselves after a restart (a new epoch: `resync`).
 */
export type CoreHostStatus =
  | { readonly state: 'starting'; readonly attempt: number }
  | {
      readonly state: 'running';
      readonly since: number;
      /** Where ASAP listens, "HOST:PORT". */
      readonly asap: string;
      readonly history: { readonly file: string; readonly temporary: boolean } | null;
    }
  | { readonly state: 'restarting'; readonly attempt: number; readonly retryInMs: number; readonly reason: string }
  | { readonly state: 'stopped'; readonly reason: string };

/** A remote `handlespace serve` console the app watches besides (or instead of) its embedded registrar. */
export interface SavedConnection {
  /** The console's origin, "http(s)://HOST:PORT". */
  readonly url: string;
  readonly label: string;
  /** Null: kept without its token (encryption unavailable); the console asks for it again. */
  readonly token: string | null;
}

/** The connection list as the renderer hands it to the main process to keep. */
export interface SavedConnections {
  /** Whether the embedded registrar is watched (on by default). */
  readonly embedded: boolean;
  readonly remotes: readonly SavedConnection[];
}

export interface SavedConnectionsState extends SavedConnections {
  /** Whether tokens can be kept (safeStorage encryption is available on this system). */
  readonly tokensKept: boolean;
  /** What the operator should know (tokens not kept, a damaged file ignored); null when all is well. */
  readonly note: string | null;
}

/** One named function per capability; never a generic invoke(channel). */
export interface DesktopBridge {
  getAppInfo(): Promise<AppInfo>;
  /** The ConsoleApi, answered by the core host through the main process (every argument is validated there). */
  readonly console: ConsoleApi;
  coreStatus(): Promise<CoreHostStatus>;
  /** Returns the function that stops listening. */
  onCoreStatus(listener: (status: CoreHostStatus) => void): () => void;
  /** The saved connection list, tokens decrypted with the OS keychain (Electron safeStorage). */
  loadConnections(): Promise<ConsoleResult<SavedConnectionsState>>;
  /**
   * Keeps the list: each token encrypted with safeStorage; when encryption is unavailable the list is kept
   * without tokens (never in plain text) and the answer says so.
   */
  saveConnections(list: SavedConnections): Promise<ConsoleResult<SavedConnectionsState>>;
}

/** The ConsoleApi capabilities answered with one ConsoleResult (subscribe has channels of its own). */
export type ConsoleCallName = Exclude<keyof ConsoleApi, 'subscribe'>;

/** IPC channel names, namespaced; main and preload both check their literals against this type. */
export type DesktopChannel =
  | 'desktop:get-app-info'
  | 'desktop:core-status'
  /** main → renderer: a CoreHostStatus. */
  | 'desktop:core-status-changed'
  | 'desktop:load-connections'
  | 'desktop:save-connections'
  | `console:${ConsoleCallName}`
  | 'console:subscribe'
  | 'console:unsubscribe'
  /** main → renderer: `{ subscription, message }` for a stream the renderer opened. */
  | 'console:event';
