/**
 * The application menu as data (Electron is imported for its types only, so the template is tested under
 * plain Node): File — Export history…, Open data folder, Quit; Edit and View with the usual roles; Help —
 * About. main.ts supplies the actions.
 */
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  exportHistory(): void;
  openDataFolder(): void;
  showAbout(): void;
}

export interface MenuOptions {
  readonly productName: string;
  readonly platform: NodeJS.Platform;
  /** Reload and developer tools: only when running unpackaged. */
  readonly developerTools: boolean;
}

export function applicationMenuTemplate(actions: MenuActions, options: MenuOptions): MenuItemConstructorOptions[] {
  const mac = options.platform === 'darwin';
  const file: MenuItemConstructorOptions = {
    label: '&File',
    submenu: [
      { id: 'export-history', label: 'Export history…', accelerator: 'CmdOrCtrl+E', click: () => actions.exportHistory() },
      { id: 'open-data-folder', label: 'Open data folder', click: () => actions.openDataFolder() },
      { type: 'separator' },
      mac ? { role: 'close' } : { id: 'quit', role: 'quit', label: 'Quit' },
    ],
  };
  const view: MenuItemConstructorOptions = {
    label: '&View',
    submenu: [
      ...(options.developerTools ? ([{ role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' }] as const) : []),
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      { type: 'separator' },
      { role: 'togglefullscreen' },
    ],
  };
  const help: MenuItemConstructorOptions = {
    role: 'help',
    label: '&Help',
    submenu: [{ id: 'about', label: `About ${options.productName}`, click: () => actions.showAbout() }],
  };
  return [...(mac ? [{ role: 'appMenu' } as const] : []), file, { role: 'editMenu' }, view, { role: 'windowMenu' }, help];
}
