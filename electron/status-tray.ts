/**
 * The tray icon: pool health at a glance (tooltip "N pools, M without a ready element", a warning icon
 * when a pool has no ready element or the core is down), and a menu to show the window or quit. Some Linux
 * desktops have no tray; then the app runs without one and says so once.
 */
import path from 'node:path';
import { Menu, nativeImage, Tray } from 'electron';
import type { CoreHostStatus } from '../renderer/src/desktop-bridge.js';
import { trayLook, type PoolHealthSummary, type TrayLook } from './pool-health.js';

export interface StatusTrayActions {
  showWindow(): void;
  quit(): void;
}

export class StatusTray {
  private readonly tray: Tray;
  private look: TrayLook | undefined;

  private constructor(
    private readonly iconDir: string,
    private readonly productName: string,
    actions: StatusTrayActions,
  ) {
    this.tray = new Tray(this.icon('down'));
    this.tray.setContextMenu(
      Menu.buildFromTemplate([
        { label: `Show ${productName}`, click: () => actions.showWindow() },
        { type: 'separator' },
        { label: 'Quit', click: () => actions.quit() },
      ]),
    );
    this.tray.on('click', () => actions.showWindow());
  }

  /** The tray, or null where the desktop has none (the failure is logged). */
  static create(iconDir: string, productName: string, actions: StatusTrayActions): StatusTray | null {
    try {
      return new StatusTray(iconDir, productName, actions);
    } catch (error) {
      console.warn('no tray icon (this desktop may have no system tray):', error);
      return null;
    }
  }

  update(status: CoreHostStatus, summary: PoolHealthSummary): void {
    const { tooltip, look } = trayLook(this.productName, status, summary);
    this.tray.setToolTip(tooltip);
    if (look !== this.look) {
      this.look = look;
      this.tray.setImage(this.icon(look));
    }
  }

  destroy(): void {
    this.tray.destroy();
  }

  private icon(look: TrayLook): Electron.NativeImage {
    // tray-LOOK.png with a tray-LOOK@2x.png beside it for high-density displays (nativeImage picks it up).
    const image = nativeImage.createFromPath(path.join(this.iconDir, `tray-${look}.png`));
    if (image.isEmpty()) console.warn(`tray icon ${look} not found in ${this.iconDir}`);
    return image;
  }
}
