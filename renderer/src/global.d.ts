import type { DesktopBridge } from './desktop-bridge.js';

declare global {
  interface Window {
    /** Present only inside the Electron app (exposed by electron/preload.cts). */
    readonly handlespaceDesktop?: DesktopBridge;
  }
}

export {};
