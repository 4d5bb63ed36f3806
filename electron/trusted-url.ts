/**
 * URL decisions of the desktop shell, kept free of Electron so they can be tested in plain Node: which URLs
 * are our renderer, which file an app:// request may read, and which links may leave for the system browser.
 */
import path from 'node:path';
import { err, ok, type Result } from '../core/result.js';

/** The renderer is served from app://console/ (a privileged standard scheme, see security.ts). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'console';
export const RENDERER_ENTRY_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

function parseUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/** True only for pages of our own renderer; everything else is foreign content. */
export function isTrustedRendererUrl(text: string): boolean {
  const url = parseUrl(text);
  return url !== null && url.protocol === `${APP_SCHEME}:` && url.host === APP_HOST && url.username === '' && url.password === '';
}

export interface AssetRefusal {
  readonly status: 400 | 403 | 404;
  readonly reason: string;
}

/**
 * Maps an app:// request URL to a file inside rendererRoot. Refuses other hosts, undecodable or NUL-bearing
 * paths, backslashes, and anything that would resolve outside the root.
 */
export function resolveAppAsset(requestUrl: string, rendererRoot: string): Result<string, AssetRefusal> {
  const url = parseUrl(requestUrl);
  if (url === null || url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) {
    return err({ status: 403, reason: `not a renderer URL: ${requestUrl}` });
  }
  let relativePath: string;
  try {
    relativePath = decodeURIComponent(url.pathname);
  } catch {
    return err({ status: 400, reason: `undecodable path: ${url.pathname}` });
  }
  if (relativePath.includes('\0') || relativePath.includes('\\')) {
    return err({ status: 400, reason: `forbidden character in path: ${url.pathname}` });
  }
  if (relativePath === '/' || relativePath === '') {
    relativePath = '/index.html';
  }
  const root = path.resolve(rendererRoot);
  const filePath = path.resolve(root, `.${relativePath}`);
  const fromRoot = path.relative(root, filePath);
  if (fromRoot === '' || fromRoot.startsWith('..') || path.isAbsolute(fromRoot)) {
    return err({ status: 404, reason: `outside the renderer: ${url.pathname}` });
  }
  return ok(filePath);
}

/** Links the user may open in the system browser: plain http(s) without embedded credentials. */
export function parseExternalUrl(text: string): URL | null {
  const url = parseUrl(text);
  if (url === null) return null;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  if (url.username !== '' || url.password !== '') return null;
  return url;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentTypeFor(filePath: string): string {
  return CONTENT_TYPES[path.extname(filePath).toLowerCase()] ?? 'application/octet-stream';
}
