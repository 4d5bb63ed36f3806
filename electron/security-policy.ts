/**
 * The desktop shell's security decisions as plain functions (no Electron at run time), so they are unit
 * tested under Node: the Content-Security-Policy, which permissions web content gets, where navigation and
 * new windows may go. security.ts wires them into Electron's handlers.
 */
import { isTrustedRendererUrl, parseExternalUrl } from './trusted-url.js';

export type CspDirectives = Readonly<Record<string, readonly string[]>>;

/**
 * Only our own scripts, styles and images; no inline code, no eval, no remote hosts. The renderer talks to
 * the core through the preload bridge, so even same-origin fetches are limited to the app:// origin.
 */
export const RENDERER_CSP_DIRECTIVES: CspDirectives = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'"],
  'connect-src': ["'self'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
  'object-src': ["'none'"],
};

/** Sources a policy must never contain: they undo what the policy is for. */
const FORBIDDEN_SOURCES = new Set(["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'wasm-unsafe-eval'", '*', 'http:', 'https:', 'ws:', 'wss:', 'file:']);

/**
 * Joins directives into a header value. Throws (a programming error) on a malformed directive name, a
 * source that would split the header (";", ",", whitespace), or one that opens the policy up.
 */
export function buildContentSecurityPolicy(directives: CspDirectives): string {
  const parts: string[] = [];
  for (const [name, sources] of Object.entries(directives)) {
    if (!/^[a-z]+(?:-[a-z]+)*$/.test(name)) throw new RangeError(`bad CSP directive name ${JSON.stringify(name)}`);
    if (sources.length === 0) throw new RangeError(`CSP directive ${name} has no sources (use 'none')`);
    for (const source of sources) {
      if (source === '' || /[\s;,]/.test(source)) throw new RangeError(`bad CSP source ${JSON.stringify(source)} in ${name}`);
      if (FORBIDDEN_SOURCES.has(source.toLowerCase())) throw new RangeError(`CSP source ${source} in ${name} is not allowed`);
    }
    if (sources.includes("'none'") && sources.length > 1) throw new RangeError(`CSP directive ${name} mixes 'none' with sources`);
    parts.push(`${name} ${sources.join(' ')}`);
  }
  if (!('default-src' in directives)) throw new RangeError('a CSP needs default-src');
  return parts.join('; ');
}

export const CONTENT_SECURITY_POLICY = buildContentSecurityPolicy(RENDERER_CSP_DIRECTIVES);

/**
 * The policy with the remote consoles the operator attached (saved-connections.ts): the renderer may also
 * connect to exactly those origins and their WebSocket twins — never a whole scheme or a wildcard. Anything
 * that is not a plain http(s) origin is left out.
 */
export function rendererCspFor(remoteOrigins: readonly string[]): string {
  const extra: string[] = [];
  for (const text of remoteOrigins) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      continue;
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== text || url.username !== '' || url.password !== '') continue;
    extra.push(url.origin, `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}`);
  }
  if (extra.length === 0) return CONTENT_SECURITY_POLICY;
  return buildContentSecurityPolicy({ ...RENDERER_CSP_DIRECTIVES, 'connect-src': [...(RENDERER_CSP_DIRECTIVES['connect-src'] ?? ["'self'"]), ...new Set(extra)] });
}

/**
 * Permissions granted to web content. Only writing to the clipboard (the console's copy buttons), and only
 * for our own renderer; notifications come from the main process, never from the page.
 */
const GRANTED_TO_RENDERER: ReadonlySet<string> = new Set(['clipboard-sanitized-write']);

export function isPermissionGranted(permission: string, requestingUrl: string): boolean {
  return GRANTED_TO_RENDERER.has(permission) && isTrustedRendererUrl(requestingUrl);
}

export type NavigationDecision =
  | { readonly action: 'allow' }
  /** Stays in the app: refused; `external` is where the system browser may go instead (http(s) only). */
  | { readonly action: 'deny'; readonly external: URL | null };

/** In-app navigation stays on app://console; a plain web link goes to the system browser instead. */
export function decideNavigation(url: string): NavigationDecision {
  if (isTrustedRendererUrl(url)) return { action: 'allow' };
  return { action: 'deny', external: parseExternalUrl(url) };
}

/** The app never opens a second window; web links go to the system browser. */
export function decideWindowOpen(url: string): NavigationDecision & { readonly action: 'deny' } {
  return { action: 'deny', external: parseExternalUrl(url) };
}

/** The main frame of a page is ours only when it is app://console; a frame elsewhere gets no IPC. */
export function isTrustedIpcSender(frameUrl: string | null | undefined): boolean {
  return typeof frameUrl === 'string' && isTrustedRendererUrl(frameUrl);
}
