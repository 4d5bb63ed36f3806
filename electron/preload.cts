/**
 * Preload for the sandboxed renderer: exposes window.handlespaceDesktop with one named function per
 * capability (never a generic invoke). A sandboxed preload is CommonJS and may require only 'electron', so
 * channel names are restated here and checked against the renderer's DesktopChannel type.
 */
import electron = require('electron');
import type { AppInfo, DesktopBridge, DesktopChannel } from '../renderer/src/desktop-bridge.js';

const GET_APP_INFO = 'desktop:get-app-info' satisfies DesktopChannel;

const bridge = {
  getAppInfo: (): Promise<AppInfo> => electron.ipcRenderer.invoke(GET_APP_INFO) as Promise<AppInfo>,
} satisfies DesktopBridge;

electron.contextBridge.exposeInMainWorld('handlespaceDesktop', bridge);
