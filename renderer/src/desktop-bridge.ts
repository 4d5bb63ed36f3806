/**
 * The contract between the Electron preload and the renderer: what `window.handlespaceDesktop` offers when
 * the console runs in the desktop app. In a LAN browser the property is absent. Types only: the sandboxed
 * preload cannot load modules, so it restates the channel names and `satisfies` these types instead.
 */
import type { ConsoleApi } from '../../core/console/contract.js';

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

/** One named function per capability; never a generic invoke(channel). */
export interface DesktopBridge {
  getAppInfo(): Promise<AppInfo>;
  /** The ConsoleApi, answered by the core host through the main process (every argument is validated there). */
  readonly console: ConsoleApi;
  coreStatus(): Promise<CoreHostStatus>;
  /** Returns the function that stops listening. */
  onCoreStatus(listener: (status: CoreHostStatus) => void): () => void;
}

/** The ConsoleApi capabilities answered with one ConsoleResult (subscribe has channels of its own). */
export type ConsoleCallName = Exclude<keyof ConsoleApi, 'subscribe'>;

/** IPC channel names, namespaced; main and preload both check their literals against this type. */
export type DesktopChannel =
  | 'desktop:get-app-info'
  | 'desktop:core-status'
  /** main → renderer: a CoreHostStatus. */
  | 'desktop:core-status-changed'
  | `console:${ConsoleCallName}`
  | 'console:subscribe'
  | 'console:unsubscribe'
  /** main → renderer: `{ subscription, message }` for a stream the renderer opened. */
  | 'console:event';
