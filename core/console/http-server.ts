/**
 * The console's LAN server (`handlespace serve --http`): the JSON API under /api/v1 (routes in
 * http-routes.ts), the live event stream over WebSocket at /api/v1/events (event-stream-socket.ts), and the
 * built renderer at `/` (static-files.ts), over HTTP or, with a certificate, HTTPS. It owns the transport
 * concerns only: authentication (access-control.ts), the role check for commands, per-client rate limits
 * and body size (request-limits.ts), timeouts, security headers, and the mapping of ConsoleResult errors to
 * HTTP statuses. What the answers say is the backend's (ConsoleBackend).
 *
 * Every /api request needs a token; refusals (401, and 403 for a viewer's command) are audited through the
 * backend. CORS only for the origins the operator allowed (`allowedOrigins`: --allow-origin and the
 * desktop app's app://console), so a console can watch several servers; every other origin's requests get
 * no CORS answer and its WebSocket upgrades are refused. The renderer's files need no token: the page must
 * load before it can read its token from the URL fragment.
 */
import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';
import { WebSocketServer } from 'ws';
import { systemClock, type Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import type { TokenVerifier } from '../history/token-store.js';
import { authenticate, EVENTS_SUBPROTOCOL, offeredSubprotocols, peerAddress } from './access-control.js';
import type { ConsoleBackend } from './console-backend.js';
import { API_PREFIX, API_VERSION, type ConsoleError, type ConsoleResult, type ExportQuery, type Identity } from './contract.js';
import { CLOSE_UNAUTHORIZED, DEFAULT_EVENT_SOCKET_SETTINGS, EventSockets, type EventSocketSettings } from './event-stream-socket.js';
import {
  consoleError,
  httpStatusFor,
  matchRoute,
  parseCommandBody,
  parseExportQuery,
  parseHistoryQuery,
  parseMetricQuery,
  parseStreamPosition,
  readQuery,
  type ApiRoute,
  type PoolListView,
  type StatusView,
} from './http-routes.js';
import { DEFAULT_RATE_LIMIT, RateLimiter, readBody, type RateLimitSettings } from './request-limits.js';
import { findRendererDir, NOT_BUILT_PAGE, resolveStaticFile } from './static-files.js';

export interface ConsoleServerLimits {
  /** Largest request body (commands carry a reason of at most 500 characters). */
  readonly maxBodyBytes: number;
  readonly rate: RateLimitSettings;
  /** Time a client may take to send its request headers (slowloris). */
  readonly headersTimeoutMs: number;
  /** Time a client may take to send a whole request. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** A connection with no traffic either way (a stalled download) is closed after this. */
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  /** Event-stream sockets open at once. */
  readonly maxEventSockets: number;
  readonly events: EventSocketSettings;
}

export const DEFAULT_SERVER_LIMITS: ConsoleServerLimits = {
  maxBodyBytes: 16 * 1024,
  rate: DEFAULT_RATE_LIMIT,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxConnections: 1000,
  maxEventSockets: 200,
  events: DEFAULT_EVENT_SOCKET_SETTINGS,
};

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface ConsoleServerOptions {
  readonly backend: ConsoleBackend;
  readonly tokens: TokenVerifier;
  readonly host: string;
  /** 0 picks a free port (see ConsoleServer.address). */
  readonly port: number;
  readonly tls?: TlsFiles | undefined;
  /** The built renderer; default: found beside this module (findRendererDir); null: none. */
  readonly rendererDir?: string | null;
  readonly limits?: Partial<ConsoleServerLimits>;
  readonly clock?: Clock;
  /** Problems worth an operator's attention (5xx, dropped sockets); default: none. */
  readonly log?: (line: string) => void;
  /**
   * Other origins whose pages may call the API and open the event stream (CORS), e.g. the desktop app's
   * `app://console` watching this server remotely, or another server's console page. Exact origins
   * ("https://ops.example:8347"); a token is still required for every request.
   */
  readonly allowedOrigins?: readonly string[];
}

/** The desktop app's renderer origin (electron/trusted-url.ts): allowed by default so it can attach. */
export const DESKTOP_ORIGIN = 'app://console';

export interface ConsoleServer {
  readonly address: { readonly host: string; readonly port: number };
  readonly secure: boolean;
  /** The base URL to open (a wildcard bind shows the loopback address), ending in '/'. */
  readonly url: string;
  /** Bound to an address other machines can reach (not loopback). */
  readonly exposed: boolean;
  readonly rendererDir: string | null;
  close(): Promise<void>;
}

export type ConsoleServerErrorCode = 'tlsUnreadable' | 'tlsInvalid' | 'listenFailed';

export interface ConsoleServerError {
  readonly code: ConsoleServerErrorCode;
  readonly message: string;
}

/**
 * Same policy as the desktop shell's (electron/security.ts): our own scripts, styles, images and fonts, no
 * inline code, no framing; connect-src 'self' covers the same-origin WebSocket.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
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

/**
 * The page's policy when other consoles are allowed (--allow-origin): our page may also connect to those
 * origins (and their WebSocket twins), so one console can watch several servers that allow each other.
 */
export function contentSecurityPolicyFor(allowedOrigins: readonly string[]): string {
  const remote = allowedOrigins.filter((o) => /^https?:\/\//.test(o)).flatMap((o) => [o, o.replace(/^http/, 'ws')]);
  if (remote.length === 0) return CONTENT_SECURITY_POLICY;
  return CONTENT_SECURITY_POLICY.replace("connect-src 'self'", `connect-src 'self' ${remote.join(' ')}`);
}

/** Carries API_VERSION on every /api answer and WebSocket handshake (README: Discovery on the LAN). */
export const API_VERSION_HEADER = 'X-Handlespace-Api';

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host.toLowerCase().startsWith('::ffff:127.');
}

/** The URL to open for a bound address: a wildcard address shows as loopback; IPv6 in brackets. */
export function baseUrl(host: string, port: number, secure: boolean): string {
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${secure ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`;
}

/** The start-up URL: the token travels in the fragment, which browsers never send to the server. */
export function consoleUrl(server: Pick<ConsoleServer, 'url'>, token: string): string {
  return `${server.url}#token=${token}`;
}

function loadTls(files: TlsFiles): Result<{ cert: Buffer; key: Buffer }, ConsoleServerError> {
  const read = (file: string, option: string): Result<Buffer, ConsoleServerError> => {
    try {
      return ok(fs.readFileSync(file));
    } catch (e) {
      return err({ code: 'tlsUnreadable', message: `cannot read ${option} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    }
  };
  const cert = read(files.certFile, '--tls-cert');
  if (!cert.ok) return cert;
  const key = read(files.keyFile, '--tls-key');
  if (!key.ok) return key;
  return ok({ cert: cert.value, key: key.value });
}

function sendJson<T>(res: ServerResponse, status: number, body: ConsoleResult<T>, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...extraHeaders,
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: ConsoleError, status = httpStatusFor(error.code), extraHeaders: Record<string, string> = {}): void {
  sendJson(res, status, { ok: false, error }, extraHeaders);
}

function sendResult<T>(res: ServerResponse, result: ConsoleResult<T>): void {
  if (result.ok) sendJson(res, 200, result);
  else sendError(res, result.error);
}

/** An HTTP answer written straight to a socket that asked for an upgrade we refuse. */
function refuseUpgrade(socket: Duplex, status: number, error: ConsoleError, extraHeaders: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ ok: false, error });
  const headers = {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    [API_VERSION_HEADER]: String(API_VERSION),
    Connection: 'close',
    ...extraHeaders,
  };
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** ISO time without separators, for download file names ("20261127T100000Z"). */
function fileStamp(time: number): string {
  return new Date(time).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Starts the server; resolves once it listens (or with why it cannot). */
export async function startConsoleServer(options: ConsoleServerOptions): Promise<Result<ConsoleServer, ConsoleServerError>> {
  const limits: ConsoleServerLimits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => undefined);
  const { backend, tokens } = options;
  const rendererDir = options.rendererDir === undefined ? (findRendererDir() ?? null) : options.rendererDir;
  const limiter = new RateLimiter(limits.rate, clock);
  const events = new EventSockets(backend, limits.events, log);
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    // The stream is one-way: a client has nothing larger than a ping to send.
    maxPayload: 4096,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(EVENTS_SUBPROTOCOL) ? EVENTS_SUBPROTOCOL : false),
  });
  wss.on('headers', (headers) => headers.push(`${API_VERSION_HEADER}: ${API_VERSION}`));

  const rateLimited = (source: string): { retryAfter: number } | undefined => {
    const decision = limiter.take(source);
    return decision.allowed ? undefined : { retryAfter: decision.retryAfterSeconds };
  };

  const allowedOrigins = new Set(options.allowedOrigins ?? [DESKTOP_ORIGIN]);
  const pageCsp = contentSecurityPolicyFor([...allowedOrigins]);
  const handleRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    res.setHeader('Content-Security-Policy', pageCsp);
    // Every API answer names the contract version (also a 401 or 429), so a client can tell an
    // incompatible server before it trusts any body.
    if (req.url === '/api' || req.url?.startsWith('/api/') === true) res.setHeader(API_VERSION_HEADER, String(API_VERSION));
    const remote = req.socket.remoteAddress ?? 'unknown';
    const limited = rateLimited(remote);
    if (limited) {
      req.resume();
      sendError(res, consoleError('rateLimited', `too many requests from ${remote}; retry in ${limited.retryAfter} s`), 429, { 'Retry-After': String(limited.retryAfter) });
      return;
    }
    const target = req.url ?? '/';
    if (!target.startsWith('/')) {
      req.resume();
      sendError(res, consoleError('badRequest', 'the request target must be a path'));
      return;
    }
    const queryAt = target.indexOf('?');
    const rawPath = queryAt < 0 ? target : target.slice(0, queryAt);
    const params = new URLSearchParams(queryAt < 0 ? '' : target.slice(queryAt + 1));
    if (rawPath === '/api' || rawPath.startsWith('/api/')) {
      await handleApi(req, res, rawPath, params);
      return;
    }
    req.resume();
    serveStatic(req, res, rawPath);
  };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, rawPath: string, params: URLSearchParams): Promise<void> => {
    const method = req.method ?? 'GET';
    const origin = req.headers.origin;
    if (origin !== undefined && allowedOrigins.has(origin)) {
      // CORS for an allowed origin: bearer tokens are never sent by the browser on its own, so this
      // lets a page that holds a token use it, nothing more.
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', 'Content-Disposition, X-Handlespace-Api, Retry-After');
      if (method === 'OPTIONS') {
        req.resume();
        res.writeHead(204, {
          'Access-Control-Allow-Methods': 'GET, POST',
          'Access-Control-Allow-Headers': 'Authorization, Content-Type',
          'Access-Control-Max-Age': '600',
          ...SECURITY_HEADERS,
        });
        res.end();
        return;
      }
    }
    const source = peerAddress(req.socket.remoteAddress, req.socket.remotePort);
    const request = `${method} ${rawPath.slice(0, 300)}`;
    const auth = authenticate(req.headers, tokens, false);
    if (!auth.ok) {
      req.resume();
      backend.auditAccess({ source, request, result: 'unauthorized' });
      sendError(res, consoleError('unauthorized', auth.message), 401, { 'WWW-Authenticate': 'Bearer realm="handlespace"' });
      return;
    }
    const identity = auth.identity;
    const route = matchRoute(method, rawPath);
    if (!route.ok) {
      req.resume();
      sendError(res, route.error.error, route.error.status, route.error.allow ? { Allow: route.error.allow } : {});
      return;
    }
    if (route.value.name !== 'command') req.resume();
    await answer(req, res, route.value, params, identity, source, request);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, route: ApiRoute, params: URLSearchParams, identity: Identity, source: string, request: string): Promise<void> => {
    const noQuery = (): boolean => {
      const read = readQuery(params, []);
      if (!read.ok) sendError(res, read.error);
      return read.ok;
    };
    switch (route.name) {
      case 'identity':
        if (noQuery()) sendJson(res, 200, { ok: true, value: identity });
        return;
      case 'status': {
        if (!noQuery()) return;
        const snapshot = backend.snapshot();
        const status: StatusView = {
          identity,
          epoch: backend.epoch,
          sequence: snapshot.sequence,
          registrar: snapshot.registrar,
          pools: snapshot.pools.length,
          elements: snapshot.pools.reduce((sum, pool) => sum + pool.elements.length, 0),
          poolUsers: snapshot.poolUsers.length,
        };
        sendJson(res, 200, { ok: true, value: status });
        return;
      }
      case 'snapshot':
        if (noQuery()) sendJson(res, 200, { ok: true, value: backend.snapshot() });
        return;
      case 'pools': {
        if (!noQuery()) return;
        const snapshot = backend.snapshot();
        const list: PoolListView = { sequence: snapshot.sequence, pools: snapshot.pools.map(({ elements: _elements, ...summary }) => summary) };
        sendJson(res, 200, { ok: true, value: list });
        return;
      }
      case 'pool':
        if (noQuery()) sendResult(res, backend.pool(route.pool));
        return;
      case 'element': {
        if (!noQuery()) return;
        const pool = backend.pool(route.pool);
        if (!pool.ok) return sendResult(res, pool);
        const element = pool.value.elements.find((e) => e.peId === route.peId);
        if (!element) return sendError(res, consoleError('notFound', `pool ${pool.value.name} has no element 0x${route.peId.toString(16).padStart(8, '0')}`));
        sendJson(res, 200, { ok: true, value: element });
        return;
      }
      case 'history': {
        const query = parseHistoryQuery(params);
        if (!query.ok) return sendError(res, query.error);
        sendResult(res, backend.history(query.value));
        return;
      }
      case 'metrics': {
        const query = parseMetricQuery(params, clock.now());
        if (!query.ok) return sendError(res, query.error);
        sendResult(res, backend.metrics(query.value));
        return;
      }
      case 'components':
        if (noQuery()) sendResult(res, backend.components());
        return;
      case 'heardRegistrars':
        if (noQuery()) sendResult(res, backend.heardRegistrars());
        return;
      case 'export': {
        const query = parseExportQuery(params);
        if (!query.ok) return sendError(res, query.error);
        await streamExport(res, query.value);
        return;
      }
      case 'events':
        sendError(res, consoleError('badRequest', `${API_PREFIX}/events is a WebSocket: send an Upgrade request`), 426, { Upgrade: 'websocket', Connection: 'Upgrade' });
        return;
      case 'command': {
        if (identity.role !== 'operator') {
          req.resume();
          backend.auditAccess({ source, request, result: 'forbidden', identity });
          sendError(res, consoleError('forbidden', `${identity.actor} is a viewer: commands need an operator token`), 403);
          return;
        }
        if (!noQuery()) {
          req.resume();
          return;
        }
        if (mediaType(req.headers['content-type']) !== 'application/json') {
          req.resume();
          sendError(res, consoleError('badRequest', 'the body must be JSON (Content-Type: application/json)', 'content-type'), 415);
          return;
        }
        const body = await readBody(req, limits.maxBodyBytes);
        if (!body.ok) {
          if (body.error.code === 'tooLarge') {
            sendError(res, consoleError('tooLarge', `the body is larger than ${body.error.limit} bytes`), 413, { Connection: 'close' });
          } else {
            res.destroy();
          }
          return;
        }
        let text: string;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(body.value);
        } catch {
          sendError(res, consoleError('badRequest', 'the body is not valid UTF-8', 'body'));
          return;
        }
        const commandOptions = parseCommandBody(route.command, text);
        if (!commandOptions.ok) return sendError(res, commandOptions.error);
        const outcome = await backend.command(identity, route.command, { pool: route.pool, peId: route.peId }, commandOptions.value);
        if (res.destroyed) return;
        sendResult(res, outcome);
        return;
      }
    }
  };

  /**
   * Streams an export as a download. The status line waits for the first byte: an export that fails before
   * writing anything (no history) still answers with a proper error; one that fails midway cuts the
   * connection, so the client sees a broken transfer, never a complete-looking truncated file.
   */
  const streamExport = async (res: ServerResponse, query: ExportQuery): Promise<void> => {
    let started = false;
    const start = (): void => {
      if (started) return;
      started = true;
      const csv = query.format === 'csv';
      res.writeHead(200, {
        'Content-Type': csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        'Content-Disposition': `attachment; filename="handlespace-history-${fileStamp(clock.now())}.${csv ? 'csv' : 'jsonl'}"`,
        'Cache-Control': 'no-store',
      });
    };
    const sink = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        start();
        if (res.write(chunk)) callback();
        else res.once('drain', () => callback());
      },
      // The response ends only once the backend's result says the export is complete.
      final(callback) {
        callback();
      },
    });
    const onClientGone = (): void => {
      if (!res.writableFinished) sink.destroy(new Error('the client closed the download'));
    };
    res.once('close', onClientGone);
    let result: Awaited<ReturnType<ConsoleBackend['exportHistory']>>;
    try {
      result = await backend.exportHistory(query, sink);
    } catch (e) {
      result = { ok: false, error: consoleError('internal', `export failed: ${(e as Error).message}`) };
    }
    if (res.destroyed) return;
    if (result.ok) {
      start();
      res.end();
      return;
    }
    log(`console: export failed: ${result.error.message}`);
    if (started) res.destroy();
    else sendError(res, result.error);
  };

  const serveStatic = (req: IncomingMessage, res: ServerResponse, rawPath: string): void => {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    if (rendererDir === null) {
      const status = rawPath === '/' || rawPath === '/index.html' ? 503 : 404;
      res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(status === 503 ? NOT_BUILT_PAGE : 'not found\n');
      return;
    }
    const found = resolveStaticFile(rawPath, rendererDir);
    if (!found.ok) {
      res.writeHead(found.error.status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(found.error.status === 404 ? 'not found\n' : 'bad request\n');
      return;
    }
    const file = found.value;
    res.writeHead(200, { 'Content-Type': file.contentType, 'Content-Length': file.size, 'Cache-Control': file.cacheControl });
    if (method === 'HEAD') {
      res.end();
      return;
    }
    const stream = fs.createReadStream(file.file);
    stream.on('error', (e) => {
      log(`console: reading ${file.file} failed: ${e.message}`);
      res.destroy();
    });
    stream.pipe(res);
  };

  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    const netSocket = socket as Socket;
    const remote = netSocket.remoteAddress ?? 'unknown';
    const source = peerAddress(netSocket.remoteAddress, netSocket.remotePort);
    const limited = rateLimited(remote);
    if (limited) return refuseUpgrade(socket, 429, consoleError('rateLimited', `too many requests from ${remote}`), { 'Retry-After': String(limited.retryAfter) });
    const target = req.url ?? '/';
    const queryAt = target.indexOf('?');
    const rawPath = queryAt < 0 ? target : target.slice(0, queryAt);
    const params = new URLSearchParams(queryAt < 0 ? '' : target.slice(queryAt + 1));
    const request = `GET ${rawPath.slice(0, 300)} (WebSocket)`;
    if (rawPath !== `${API_PREFIX}/events`) return refuseUpgrade(socket, 404, consoleError('notFound', 'WebSocket is served at /api/v1/events only'));
    // Browsers let any page open a WebSocket anywhere; only our own page may open this one.
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let originHost: string | undefined;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = undefined;
      }
      if ((originHost === undefined || originHost !== req.headers.host) && !allowedOrigins.has(origin)) {
        return refuseUpgrade(socket, 403, consoleError('forbidden', `WebSocket from a foreign origin (${origin.slice(0, 100)}) refused`));
      }
    }
    const offered = offeredSubprotocols(typeof req.headers['sec-websocket-protocol'] === 'string' ? req.headers['sec-websocket-protocol'] : undefined);
    const auth = authenticate(req.headers, tokens, true);
    if (!auth.ok) {
      backend.auditAccess({ source, request, result: 'unauthorized' });
      if (offered.includes(EVENTS_SUBPROTOCOL)) {
        // A browser sees a refused upgrade only as close code 1006, which it would retry for ever: complete
        // the handshake and close with a code that says why. Nothing is sent before the close.
        wss.handleUpgrade(req, socket, head, (ws) => events.refuse(ws, CLOSE_UNAUTHORIZED, `unauthorized: ${auth.message}`));
        return;
      }
      return refuseUpgrade(socket, 401, consoleError('unauthorized', auth.message), { 'WWW-Authenticate': 'Bearer realm="handlespace"' });
    }
    if (offered.length > 0 && !offered.includes(EVENTS_SUBPROTOCOL)) {
      return refuseUpgrade(socket, 400, consoleError('badRequest', `offer the subprotocol ${EVENTS_SUBPROTOCOL} (with the token)`, 'sec-websocket-protocol'));
    }
    const position = parseStreamPosition(params);
    if (!position.ok) return refuseUpgrade(socket, 400, position.error);
    if (events.size >= limits.maxEventSockets) {
      return refuseUpgrade(socket, 503, consoleError('unavailable', `too many event streams open (${limits.maxEventSockets}); try again later`), { 'Retry-After': '5' });
    }
    wss.handleUpgrade(req, socket, head, (ws) => events.attach(ws, auth.identity, position.value, source));
  };

  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (options.tls) {
    const loaded = loadTls(options.tls);
    if (!loaded.ok) return loaded;
    tls = loaded.value;
  }
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handleRequest(req, res).catch((e: unknown) => {
      log(`console: ${req.method ?? '?'} ${(req.url ?? '').slice(0, 200)} failed: ${(e as Error).stack ?? String(e)}`);
      sendError(res, consoleError('internal', 'internal error; the server log has the details'));
    });
  };
  let server: http.Server | https.Server;
  try {
    server = tls ? https.createServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, onRequest) : http.createServer(onRequest);
  } catch (e) {
    return err({ code: 'tlsInvalid', message: `the TLS certificate or key is not usable (--tls-cert ${options.tls?.certFile}, --tls-key ${options.tls?.keyFile}): ${(e as Error).message}` });
  }
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());
  server.on('upgrade', handleUpgrade);
  server.on('clientError', (e: NodeJS.ErrnoException, socket: Duplex) => {
    // Malformed requests, header timeouts, TLS handshakes that fail: answer if possible, never crash.
    if (e.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = e.code === 'HPE_HEADER_OVERFLOW' ? 431 : e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  const listening = await new Promise<Error | undefined>((resolve) => {
    const onError = (e: Error): void => resolve(e);
    server.once('error', onError);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', onError);
      resolve(undefined);
    });
  });
  if (listening) {
    await events.closeAll();
    const code = (listening as NodeJS.ErrnoException).code;
    return err({ code: 'listenFailed', message: `cannot listen on ${options.host}:${options.port} (${code ?? listening.message})${code === 'EADDRINUSE' ? ': the port is in use; choose another with --http HOST:PORT' : ''}` });
  }
  server.on('error', (e) => log(`console: server error: ${e.message}`));
  const bound = server.address();
  const port = bound !== null && typeof bound === 'object' ? bound.port : options.port;
  const secure = tls !== undefined;
  let closing: Promise<void> | undefined;
  return ok({
    address: { host: options.host, port },
    secure,
    url: baseUrl(options.host, port, secure),
    exposed: !isLoopback(options.host),
    rendererDir,
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await events.closeAll();
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  });
}
