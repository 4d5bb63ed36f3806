/**
 * The contract between the Electron preload and the renderer: what `window.handlespaceDesktop` offers when
 * the console runs in the desktop app. In a LAN browser the property is absent. Types only: the sandboxed
 * preload cannot load modules, so it restates the channel names and `satisfies` these types instead.
 */

/** Versions shown in the console's footer and in bug reports. */
export interface AppInfo {
  readonly name: string;
  readonly version: string;
  readonly electron: string;
  readonly chrome: string;
  readonly platform: string;
}

/** One named function per capability; never a generic invoke(channel). */
export interface DesktopBridge {
  getAppInfo(): Promise<AppInfo>;
}

/** IPC channel names, namespaced; main and preload both check their literals against this type. */
export type DesktopChannel = 'desktop:get-app-info';
