/**
 * The desktop shell's lock-down, in one place: the app:// protocol that serves the renderer with a strict
 * Content-Security-Policy, and default-deny handlers for navigation, new windows, <webview> and permissions.
 * Whatever is not explicitly ours is refused and logged.
 */
import { readFile } from 'node:fs/promises';
import { protocol, shell, type Session, type WebContents } from 'electron';
import { APP_SCHEME, contentTypeFor, isTrustedRendererUrl, parseExternalUrl, resolveAppAsset } from './trusted-url.js';

/**
 * Only our own scripts, styles and images; no inline code, no eval, no remote hosts. Talking to the core
 * goes through the preload bridge, so even same-origin fetches are limited to the app:// origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

function responseHeaders(contentType: string): Headers {
  return new Headers({
    'Content-Type': contentType,
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Referrer-Policy': 'no-referrer',
  });
}

/** Must run before the app is ready: app:// behaves like https (secure context, fetch, relative URLs). */
export function registerAppSchemePrivileges(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

/** Serves the built renderer (dist/renderer) on app://console/ for the default session. */
export function serveRendererOverAppProtocol(rendererRoot: string): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const asset = resolveAppAsset(request.url, rendererRoot);
    if (!asset.ok) {
      console.warn(`app:// refused ${request.url}: ${asset.error.reason}`);
      return new Response(asset.error.reason, { status: asset.error.status, headers: responseHeaders('text/plain; charset=utf-8') });
    }
    try {
      const body = await readFile(asset.value);
      return new Response(new Uint8Array(body), { status: 200, headers: responseHeaders(contentTypeFor(asset.value)) });
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      if (!missing) console.error(`app:// could not read ${asset.value}:`, error);
      return new Response(missing ? 'not found' : 'read error', {
        status: missing ? 404 : 500,
        headers: responseHeaders('text/plain; charset=utf-8'),
      });
    }
  });
}

/** Opens a link in the system browser if it is plain http(s); anything else is refused and logged. */
export async function safeOpenExternal(text: string): Promise<boolean> {
  const url = parseExternalUrl(text);
  if (url === null) {
    console.warn(`refused to open external URL: ${text}`);
    return false;
  }
  await shell.openExternal(url.href);
  return true;
}

/** No permission (camera, notifications, geolocation, …) is granted to web content unless added here. */
export function denyPermissions(session: Session): void {
  session.setPermissionRequestHandler((contents, permission, callback) => {
    console.warn(`denied permission request '${permission}' from ${contents.getURL()}`);
    callback(false);
  });
  session.setPermissionCheckHandler(() => false);
}

/** Applied to every web contents the app creates: stay on app://console, no popups, no <webview>. */
export function lockDownWebContents(contents: WebContents): void {
  const refuseForeignNavigation = (event: Electron.Event, url: string, kind: string): void => {
    if (isTrustedRendererUrl(url)) return;
    event.preventDefault();
    console.warn(`blocked ${kind} to ${url}`);
  };
  contents.on('will-navigate', (event) => refuseForeignNavigation(event, event.url, 'navigation'));
  contents.on('will-frame-navigate', (event) => refuseForeignNavigation(event, event.url, 'frame navigation'));
  contents.on('will-redirect', (event) => refuseForeignNavigation(event, event.url, 'redirect'));
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    console.warn('blocked <webview> attach');
  });
  contents.setWindowOpenHandler(({ url }) => {
    // Links meant for the web go to the system browser; the app itself never opens a second window.
    void safeOpenExternal(url).catch((error: unknown) => console.error(`opening ${url} failed:`, error));
    return { action: 'deny' };
  });
}
