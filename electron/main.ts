/**
 * Electron main process: one window showing the console from app://console, locked down by security.ts.
 * (Hosting the core in a utilityProcess arrives with core-host.ts.)
 */
import path from 'node:path';
import process from 'node:process';
import { app, BrowserWindow, ipcMain, session, type IpcMainInvokeEvent } from 'electron';
import type { AppInfo, DesktopChannel } from '../renderer/src/desktop-bridge.js';
import {
  denyPermissions,
  lockDownWebContents,
  registerAppSchemePrivileges,
  serveRendererOverAppProtocol,
} from './security.js';
import { isTrustedRendererUrl, RENDERER_ENTRY_URL } from './trusted-url.js';

const PRODUCT_NAME = 'Handlespace Console';
const GET_APP_INFO = 'desktop:get-app-info' satisfies DesktopChannel;
/** Compiled layout: dist/electron/main.js beside dist/renderer/ (vite) and dist/electron/preload.cjs. */
const RENDERER_ROOT = path.join(import.meta.dirname, '..', 'renderer');
const PRELOAD_SCRIPT = path.join(import.meta.dirname, 'preload.cjs');

registerAppSchemePrivileges();
app.enableSandbox();
app.on('web-contents-created', (_event, contents) => lockDownWebContents(contents));

let mainWindow: BrowserWindow | null = null;

function createMainWindow(): BrowserWindow {
  const window = new BrowserWindow({
    title: PRODUCT_NAME,
    width: 1280,
    height: 820,
    show: false,
    webPreferences: {
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
      preload: PRELOAD_SCRIPT,
    },
  });
  window.once('ready-to-show', () => window.show());
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = null;
  });
  window.loadURL(RENDERER_ENTRY_URL).catch((error: unknown) => {
    console.error(`could not load the console from ${RENDERER_ENTRY_URL} (is dist/renderer built?):`, error);
  });
  return window;
}

/** IPC is answered only for our own renderer, never for a frame that somehow loaded foreign content. */
function assertTrustedSender(event: IpcMainInvokeEvent): void {
  const url = event.senderFrame?.url ?? '';
  if (!isTrustedRendererUrl(url)) {
    throw new Error(`IPC refused for untrusted sender ${url || '(unknown frame)'}`);
  }
}

function appInfo(): AppInfo {
  return {
    name: PRODUCT_NAME,
    version: app.getVersion(),
    electron: process.versions.electron ?? 'unknown',
    chrome: process.versions.chrome ?? 'unknown',
    platform: `${process.platform}-${process.arch}`,
  };
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  app
    .whenReady()
    .then(() => {
      denyPermissions(session.defaultSession);
      serveRendererOverAppProtocol(RENDERER_ROOT);
      ipcMain.handle(GET_APP_INFO, (event) => {
        assertTrustedSender(event);
        return appInfo();
      });
      mainWindow = createMainWindow();
      app.on('activate', () => {
        if (BrowserWindow.getAllWindows().length === 0) mainWindow = createMainWindow();
      });
    })
    .catch((error: unknown) => {
      console.error('Handlespace Console failed to start:', error);
      app.exit(1);
    });
}
