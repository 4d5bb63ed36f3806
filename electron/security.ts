/**
 * The desktop shell's lock-down, in one place: the app:// protocol that serves the renderer with a strict
 * Content-Security-Policy, and default-deny handlers for navigation, new windows, <webview> and permissions.
 * Whatever is not explicitly ours is refused and logged.
 */
import { readFile } from 'node:fs/promises';
import { protocol, shell, type IpcMainInvokeEvent, type Session, type WebContents } from 'electron';
import { CONTENT_SECURITY_POLICY, rendererCspFor, decideNavigation, decideWindowOpen, isPermissionGranted, isTrustedIpcSender } from './security-policy.js';
import { APP_SCHEME, contentTypeFor, parseExternalUrl, resolveAppAsset } from './trusted-url.js';

export { CONTENT_SECURITY_POLICY };

function responseHeaders(contentType: string, csp: string = CONTENT_SECURITY_POLICY): Headers {
  return new Headers({
    'Content-Type': contentType,
    'Content-Security-Policy': csp,
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

/**
 * Serves the built renderer (dist/renderer) on app://console/ for the default session. `remoteOrigins`
 * gives the attached remote consoles at the time a page loads (its CSP lets the page reach exactly those).
 */
export function serveRendererOverAppProtocol(rendererRoot: string, remoteOrigins: () => readonly string[] = () => []): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const asset = resolveAppAsset(request.url, rendererRoot);
    if (!asset.ok) {
      console.warn(`app:// refused ${request.url}: ${asset.error.reason}`);
      return new Response(asset.error.reason, { status: asset.error.status, headers: responseHeaders('text/plain; charset=utf-8') });
    }
    try {
      const body = await readFile(asset.value);
      return new Response(new Uint8Array(body), { status: 200, headers: responseHeaders(contentTypeFor(asset.value), rendererCspFor(remoteOrigins())) });
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

/**
 * Permissions (camera, notifications, geolocation, …) are refused unless security-policy.ts grants them;
 * every refusal of a request is logged.
 */
export function denyPermissions(session: Session): void {
  session.setPermissionRequestHandler((contents, permission, callback, details) => {
    const granted = isPermissionGranted(permission, details.requestingUrl);
    if (!granted) console.warn(`denied permission request '${permission}' from ${details.requestingUrl || contents.getURL()}`);
    callback(granted);
  });
  session.setPermissionCheckHandler((_contents, permission, requestingOrigin, details) =>
    isPermissionGranted(permission, details.requestingUrl ?? requestingOrigin),
  );
}

/** Applied to every web contents the app creates: stay on app://console, no popups, no <webview>. */
export function lockDownWebContents(contents: WebContents): void {
  const guard = (event: Electron.Event, url: string, kind: string, openOutside: boolean): void => {
    const decision = decideNavigation(url);
    if (decision.action === 'allow') return;
    event.preventDefault();
    console.warn(`blocked ${kind} to ${url}`);
    if (openOutside && decision.external) openInBrowser(decision.external);
  };
  contents.on('will-navigate', (event) => guard(event, event.url, 'navigation', true));
  contents.on('will-frame-navigate', (event) => guard(event, event.url, 'frame navigation', false));
  contents.on('will-redirect', (event) => guard(event, event.url, 'redirect', false));
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    console.warn('blocked <webview> attach');
  });
  contents.setWindowOpenHandler(({ url }) => {
    // Links meant for the web go to the system browser; the app itself never opens a second window.
    const decision = decideWindowOpen(url);
    if (decision.external) openInBrowser(decision.external);
    else console.warn(`blocked window.open of ${url}`);
    return { action: 'deny' };
  });
}

function openInBrowser(url: URL): void {
  shell.openExternal(url.href).catch((error: unknown) => console.error(`opening ${url.href} failed:`, error));
}

/** IPC is answered only for our own renderer, never for a frame that somehow loaded foreign content. */
export function assertTrustedSender(event: IpcMainInvokeEvent): void {
  const url = event.senderFrame?.url;
  if (!isTrustedIpcSender(url)) {
    throw new Error(`IPC refused for untrusted sender ${url || '(unknown frame)'}`);
  }
}
