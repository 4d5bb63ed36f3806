/**
 * Electron main process: one window showing the console from app://console (locked down by security.ts),
 * the core (registrar, history, console service) in a utility process (core-host.ts), the application
 * menu, a tray icon with pool health, and desktop notifications when an element fails or a pool loses its
 * last ready element. Pure decisions live in modules without Electron (security-policy, window-state,
 * pool-health, export-file, app-menu) and are unit tested; this file wires them to Electron.
 */
import path from 'node:path';
import process from 'node:process';
import { app, BrowserWindow, dialog, ipcMain, Menu, Notification, safeStorage, screen, session, shell, type WebContents } from 'electron';
import type { ExportFormatName, ExportQuery } from '../core/console/contract.js';
import { HISTORY_FILE, PRODUCT_FOLDER } from '../core/console/data-dir.js';
import type { AppInfo, CoreHostStatus, DesktopChannel } from '../renderer/src/desktop-bridge.js';
import { applicationMenuTemplate } from './app-menu.js';
import { registerConsoleIpc } from './console-ipc.js';
import { CONNECTIONS_FILE, loadConnections, saveConnections } from './saved-connections.js';
import { startCoreHost } from './core-host.js';
import type { CoreHostClient } from './core-host-client.js';
import { EXPORT_FILTERS, exportTarget, suggestedExportName } from './export-file.js';
import { AlertLimiter, describeAlert, PoolHealthModel, type HealthAlert } from './pool-health.js';
import { assertTrustedSender, denyPermissions, lockDownWebContents, registerAppSchemePrivileges, serveRendererOverAppProtocol } from './security.js';
import { StatusTray } from './status-tray.js';
import { RENDERER_ENTRY_URL } from './trusted-url.js';
import { loadWindowState, MIN_WINDOW_SIZE, placeWindow, saveWindowState, WINDOW_STATE_FILE, type WindowState } from './window-state.js';

const PRODUCT_NAME = 'Handlespace Console';
const CHANNEL = {
  appInfo: 'desktop:get-app-info',
  coreStatus: 'desktop:core-status',
  coreStatusChanged: 'desktop:core-status-changed',
  loadConnections: 'desktop:load-connections',
  saveConnections: 'desktop:save-connections',
} as const satisfies Record<string, DesktopChannel>;
/** Compiled layout: dist/electron/main.js beside dist/renderer/ (vite) and dist/electron/preload.cjs. */
const RENDERER_ROOT = path.join(import.meta.dirname, '..', 'renderer');
const PRELOAD_SCRIPT = path.join(import.meta.dirname, 'preload.cjs');
const WINDOW_STATE_SAVE_DELAY_MS = 500;

// The same data folder `handlespace serve` uses (core/console/data-dir.ts), whatever package.json's name
// says; HANDLESPACE_DATA_DIR moves it (tests, several instances). Must be set before anything reads it.
app.setName(PRODUCT_NAME);
app.setPath('userData', process.env['HANDLESPACE_DATA_DIR'] ? path.resolve(process.env['HANDLESPACE_DATA_DIR']) : path.join(app.getPath('appData'), PRODUCT_FOLDER));

registerAppSchemePrivileges();
app.enableSandbox();
app.on('web-contents-created', (_event, contents) => lockDownWebContents(contents));

let mainWindow: BrowserWindow | null = null;
let coreHost: CoreHostClient | null = null;
let tray: StatusTray | null = null;
let pendingWindowStateSave: Promise<void> = Promise.resolve();
const health = new PoolHealthModel();
const alertLimiter = new AlertLimiter({ now: () => Date.now() });

function dataPath(file: string): string {
  return path.join(app.getPath('userData'), file);
}

async function createMainWindow(): Promise<BrowserWindow> {
  const stateFile = dataPath(WINDOW_STATE_FILE);
  const saved = await loadWindowState(stateFile);
  if (saved.problem) console.warn(saved.problem);
  const placement = placeWindow(saved.state, screen.getAllDisplays().map((display) => display.workArea));
  const window = new BrowserWindow({
    title: PRODUCT_NAME,
    width: placement.width,
    height: placement.height,
    ...(placement.x !== undefined && placement.y !== undefined ? { x: placement.x, y: placement.y } : {}),
    minWidth: MIN_WINDOW_SIZE.width,
    minHeight: MIN_WINDOW_SIZE.height,
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
  window.once('ready-to-show', () => {
    if (placement.maximized) window.maximize();
    window.show();
  });
  trackWindowState(window, stateFile);
  window.webContents.on('render-process-gone', (_event, details) => {
    console.error(`the console page ended (${details.reason}, exit code ${details.exitCode}); reloading it`);
    if (details.reason !== 'clean-exit' && !window.isDestroyed()) window.reload();
  });
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = null;
  });
  window.loadURL(RENDERER_ENTRY_URL).catch((error: unknown) => {
    console.error(`could not load the console from ${RENDERER_ENTRY_URL} (is dist/renderer built?):`, error);
  });
  return window;
}

/** Saves bounds and maximized state shortly after they change, and once more when the window closes. */
function trackWindowState(window: BrowserWindow, file: string): void {
  let timer: NodeJS.Timeout | undefined;
  const save = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (window.isDestroyed()) return;
    const state: WindowState = { bounds: window.getNormalBounds(), maximized: window.isMaximized() };
    pendingWindowStateSave = pendingWindowStateSave
      .then(() => saveWindowState(file, state))
      .catch((error: unknown) => console.warn(`could not save the window state to ${file}:`, error));
  };
  const saveSoon = (): void => {
    clearTimeout(timer);
    timer = setTimeout(save, WINDOW_STATE_SAVE_DELAY_MS);
  };
  window.on('resize', saveSoon);
  window.on('move', saveSoon);
  window.on('maximize', save);
  window.on('unmaximize', save);
  window.on('close', save);
}

function showMainWindow(): void {
  if (!mainWindow) {
    void createMainWindow().then((window) => (mainWindow = window));
    return;
  }
  if (mainWindow.isMinimized()) mainWindow.restore();
  mainWindow.show();
  mainWindow.focus();
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

// ---- core status, tray and notifications -----------------------------------------------------------------

function coreStatusChanged(status: CoreHostStatus): void {
  for (const window of BrowserWindow.getAllWindows()) {
    if (!window.isDestroyed()) window.webContents.send(CHANNEL.coreStatusChanged, status);
  }
  tray?.update(status, health.summary());
}

function notify(alert: HealthAlert): void {
  const admission = alertLimiter.admit(alert);
  if (!admission.show || !Notification.isSupported()) return;
  const { title, body } = describeAlert(alert);
  const held = admission.suppressedBefore > 0 ? `\n(${admission.suppressedBefore} earlier alerts were not shown)` : '';
  const notification = new Notification({ title, body: `${body}${held}` });
  notification.on('click', showMainWindow);
  notification.show();
}

/** The main process's own event stream: keeps the tray current and raises the desktop notifications. */
function watchPoolHealth(host: CoreHostClient): void {
  host.subscribe(undefined, (message) => {
    for (const alert of health.apply(message)) notify(alert);
    tray?.update(host.status, health.summary());
  });
}

// ---- export ----------------------------------------------------------------------------------------------

async function askForExportFile(parent: BrowserWindow | null, format: ExportFormatName, choosableFormat: boolean): Promise<string | null> {
  const filters = EXPORT_FILTERS.filter((filter) => choosableFormat || filter.format === format).map(({ name, extensions }) => ({ name, extensions }));
  const options: Electron.SaveDialogOptions = {
    title: 'Export history',
    defaultPath: path.join(app.getPath('documents'), suggestedExportName(format, new Date())),
    filters,
    properties: ['createDirectory', 'showOverwriteConfirmation'],
  };
  const chosen = parent ? await dialog.showSaveDialog(parent, options) : await dialog.showSaveDialog(options);
  return chosen.canceled || !chosen.filePath ? null : chosen.filePath;
}

/** The renderer's exportHistory(query): the format is the query's; the file is the user's choice. */
async function chooseExportFile(sender: WebContents, query: ExportQuery): Promise<string | null> {
  const chosen = await askForExportFile(BrowserWindow.fromWebContents(sender), query.format, false);
  return chosen === null ? null : exportTarget(chosen, query.format).file;
}

/** File → Export history…: everything, as CSV or JSON lines by the chosen file's extension. */
async function exportFromMenu(host: CoreHostClient): Promise<void> {
  const chosen = await askForExportFile(mainWindow, 'csv', true);
  if (chosen === null) return;
  const target = exportTarget(chosen, 'csv');
  const written = await host.exportTo({ format: target.format }, target.file);
  const message = written.ok
    ? { type: 'info' as const, message: `Exported ${written.value.rows} rows (${written.value.bytes} bytes)`, detail: target.file }
    : { type: 'error' as const, message: 'The export failed', detail: written.error.message };
  const options = { ...message, title: 'Export history', buttons: ['OK'] };
  await (mainWindow ? dialog.showMessageBox(mainWindow, options) : dialog.showMessageBox(options));
}

function showAbout(host: CoreHostClient): void {
  const info = appInfo();
  const status = host.status;
  const core = status.state === 'running' ? `ASAP on ${status.asap}; history ${status.history?.file ?? 'off'}` : `core ${status.state}`;
  const options: Electron.MessageBoxOptions = {
    type: 'info',
    title: `About ${PRODUCT_NAME}`,
    message: `${PRODUCT_NAME} ${info.version}`,
    detail: [
      'An RSerPool registrar that pushes pool-element status to pool users, with an operations console.',
      '',
      `Electron ${info.electron}, Chrome ${info.chrome}, Node ${process.versions.node}, ${info.platform}`,
      `Data folder: ${app.getPath('userData')}`,
      core,
    ].join('\n'),
    buttons: ['OK'],
  };
  void (mainWindow ? dialog.showMessageBox(mainWindow, options) : dialog.showMessageBox(options));
}

function openDataFolder(): void {
  void shell.openPath(app.getPath('userData')).then((problem) => {
    if (problem) dialog.showErrorBox('Open data folder', `${app.getPath('userData')}: ${problem}`);
  });
}

// ---- start and quit --------------------------------------------------------------------------------------

async function start(): Promise<void> {
  denyPermissions(session.defaultSession);
  // The page's CSP names the attached remote consoles; it is fixed when the page loads, so a change of that
  // list reloads the window (the renderer reads the saved list again at start).
  let remoteOrigins: readonly string[] = [];
  const saved = await loadConnections(dataPath(CONNECTIONS_FILE), safeStorage);
  remoteOrigins = saved.remotes.map((remote) => remote.url);
  serveRendererOverAppProtocol(RENDERER_ROOT, () => remoteOrigins);
  const host = startCoreHost({
    start: { history: { kind: 'file', path: dataPath(HISTORY_FILE) }, version: app.getVersion() },
    onStatus: coreStatusChanged,
    log: (line) => console.log(line),
  });
  coreHost = host;
  registerConsoleIpc({ host, chooseExportFile });
  ipcMain.handle(CHANNEL.appInfo, (event) => {
    assertTrustedSender(event);
    return appInfo();
  });
  ipcMain.handle(CHANNEL.coreStatus, (event) => {
    assertTrustedSender(event);
    return host.status;
  });
  // Remote consoles and their tokens: encrypted with the OS keychain, validated in saved-connections.ts.
  ipcMain.handle(CHANNEL.loadConnections, async (event) => {
    assertTrustedSender(event);
    return { ok: true, value: await loadConnections(dataPath(CONNECTIONS_FILE), safeStorage) };
  });
  ipcMain.handle(CHANNEL.saveConnections, async (event, list: unknown) => {
    assertTrustedSender(event);
    const result = await saveConnections(dataPath(CONNECTIONS_FILE), list, safeStorage);
    if (result.ok) {
      const next = result.value.remotes.map((remote) => remote.url);
      const changed = next.length !== remoteOrigins.length || next.some((url) => !remoteOrigins.includes(url));
      remoteOrigins = next;
      // After the answer reaches the renderer: reload so the new CSP lets it reach the attached consoles.
      if (changed) setTimeout(() => event.sender.reload(), 50);
    }
    return result;
  });
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      applicationMenuTemplate(
        { exportHistory: () => void exportFromMenu(host), openDataFolder, showAbout: () => showAbout(host) },
        { productName: PRODUCT_NAME, platform: process.platform, developerTools: !app.isPackaged },
      ),
    ),
  );
  tray = StatusTray.create(path.join(app.getAppPath(), 'build', 'icons'), PRODUCT_NAME, { showWindow: showMainWindow, quit: () => app.quit() });
  tray?.update(host.status, health.summary());
  watchPoolHealth(host);
  mainWindow = await createMainWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) showMainWindow();
  });
}

if (!app.requestSingleInstanceLock()) {
  // Another instance runs (and owns the registrar's port and the history): it shows its window instead.
  app.quit();
} else {
  app.on('second-instance', showMainWindow);

  app.on('window-all-closed', () => {
    // Closing the window quits (and stops the registrar): some Linux desktops show no tray icon, and a
    // registrar nobody can see or stop would be a surprise. macOS keeps apps running by convention.
    if (process.platform !== 'darwin') app.quit();
  });

  let quitting = false;
  app.on('before-quit', (event) => {
    if (quitting || !coreHost) return;
    // Close the core cleanly first: the history flushes and pool elements see their registrar go away.
    event.preventDefault();
    quitting = true;
    const host = coreHost;
    void Promise.all([host.stop('the app is quitting'), pendingWindowStateSave]).finally(() => {
      tray?.destroy();
      app.quit();
    });
  });

  app
    .whenReady()
    .then(start)
    .catch((error: unknown) => {
      console.error(`${PRODUCT_NAME} failed to start:`, error);
      app.exit(1);
    });
}
