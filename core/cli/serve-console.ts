/**
 * `handlespace serve`'s LAN console: reading `--http HOST:PORT|off`, `--tls-cert`, `--tls-key`; opening the
 * token table of the history database; creating the start-up token (an operator token that lives as long
 * as the process, printed in the console URL like Jupyter's); starting the HTTP server; and saying at start
 * what an operator must know (the URL, and a warning when tokens would cross the network in clear text);
 * and what the registrar's announces say about it (our Console Endpoint parameter, docs/protocol.md).
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { DEFAULT_HTTP_PORT } from '../console/contract.js';
import type { ConsoleBackend } from '../console/console-backend.js';
import { consoleUrl, DESKTOP_ORIGIN, startConsoleServer, type ConsoleServer, type TlsFiles } from '../console/http-server.js';
import { chainVerifiers, MemoryTokenStore, SqliteTokenStore, type TokenVerifier } from '../history/token-store.js';
import { err, ok, type Result } from '../result.js';
import { ConsoleScheme, type ConsoleEndpoint } from '../wire/types.js';
import { parseHostPort } from './endpoint.js';

export const SERVE_CONSOLE_USAGE = `  --http HOST:PORT|off          the console's web interface and API (default 127.0.0.1:${DEFAULT_HTTP_PORT}); an
                                operator token for it is printed at start, in the console URL
  --tls-cert FILE               serve the console over HTTPS with this PEM certificate ...
  --tls-key FILE                ... and this PEM private key (both or neither)
  --allow-origin ORIGIN         pages of this origin may use the API with a token (CORS; repeatable;
                                the desktop app's ${DESKTOP_ORIGIN} is always allowed)
`;

/** The start-up token's holder, as audit rows name it. */
export const STARTUP_TOKEN_LABEL = 'local operator';

/**
 * How long the serving process waits for the history writer's lock when noting a token's last use: the
 * note is informational, and a wait would stall the registrar's event loop.
 */
const TOKEN_STORE_BUSY_TIMEOUT_MS = 50;

export type LanConsoleChoice =
  | { readonly kind: 'off' }
  | { readonly kind: 'on'; readonly host: string; readonly port: number; readonly explicit: boolean; readonly tls: TlsFiles | undefined; readonly allowedOrigins: readonly string[] };

/** Reads the three options; problems are phrased like serve's other option errors. */
export function parseLanConsoleOptions(http: string | undefined, tlsCert: string | undefined, tlsKey: string | undefined, allowOrigins: readonly string[] = []): Result<LanConsoleChoice, string[]> {
  const problems: string[] = [];
  const allowedOrigins = [DESKTOP_ORIGIN];
  for (const text of allowOrigins) {
    let origin: string | undefined;
    try {
      origin = new URL(text).origin;
    } catch {
      origin = undefined;
    }
    // URL gives "null" for schemes without an origin (app:, file:); take those as written.
    if (origin === 'null' && /^[a-z][a-z0-9+.-]*:\/\/[^/?#]+$/i.test(text)) origin = text;
    if (origin === undefined || origin === 'null' || origin !== text.replace(/\/$/, '')) problems.push(`--allow-origin ${JSON.stringify(text)} is not an origin (scheme://host[:port], nothing after)`);
    else allowedOrigins.push(origin);
  }
  if ((tlsCert === undefined) !== (tlsKey === undefined)) problems.push('--tls-cert and --tls-key go together');
  if (http === 'off') {
    if (tlsCert !== undefined || tlsKey !== undefined) problems.push('--tls-cert and --tls-key need the console (--http is off)');
    return problems.length > 0 ? err(problems) : ok({ kind: 'off' });
  }
  let host = '127.0.0.1';
  let port = DEFAULT_HTTP_PORT;
  if (http !== undefined) {
    const parsed = parseHostPort(http, '127.0.0.1', DEFAULT_HTTP_PORT);
    if (parsed.ok) ({ host, port } = parsed.value);
    else problems.push(`--http ${parsed.error}`);
  }
  if (problems.length > 0) return err(problems);
  const tls = tlsCert !== undefined && tlsKey !== undefined ? { certFile: tlsCert, keyFile: tlsKey } : undefined;
  return ok({ kind: 'on', host, port, explicit: http !== undefined, tls, allowedOrigins });
}

export interface LanConsole {
  readonly server: ConsoleServer;
  /** The start-up operator token (valid until the process ends). */
  readonly startupToken: string;
  close(): Promise<void>;
}

export interface StartLanConsoleOptions {
  readonly choice: Extract<LanConsoleChoice, { kind: 'on' }>;
  readonly backend: ConsoleBackend;
  /**
   * The history database whose api_tokens table holds the tokens `handlespace token create` made; undefined
   * for a run without one (or with a temporary one no other process can reach): only the start-up token.
   */
  readonly tokenDatabase: string | undefined;
  /** One line for standard output (the URL) and one for standard error (warnings). */
  readonly print: (line: string) => void;
  readonly warn: (line: string) => void;
  readonly log: (line: string) => void;
}

/**
 * Starts the console server. A default address that is taken (another serve, most likely) is a warning and
 * no console, not a failed start: the registrar is what was asked for. An explicit --http that cannot be
 * served, or unusable TLS files, fail the start.
 */
export async function startLanConsole(options: StartLanConsoleOptions): Promise<Result<LanConsole | undefined, string>> {
  const { choice } = options;
  const memory = new MemoryTokenStore();
  const startupToken = memory.create('operator', STARTUP_TOKEN_LABEL);
  let stored: SqliteTokenStore | undefined;
  if (options.tokenDatabase !== undefined) {
    const opened = SqliteTokenStore.open(options.tokenDatabase, { busyTimeoutMs: TOKEN_STORE_BUSY_TIMEOUT_MS });
    if (opened.ok) stored = opened.value;
    else options.warn(`console: the tokens of ${options.tokenDatabase} cannot be read (${opened.error.message}); only the start-up token works`);
  }
  const tokens: TokenVerifier = stored ? chainVerifiers(memory, stored) : memory;
  const started = await startConsoleServer({ backend: options.backend, tokens, host: choice.host, port: choice.port, tls: choice.tls, log: options.log, allowedOrigins: choice.allowedOrigins });
  if (!started.ok) {
    stored?.close();
    if (started.error.code === 'listenFailed' && !choice.explicit) {
      options.warn(`console: ${started.error.message}; the console is off for this run`);
      return ok(undefined);
    }
    return err(started.error.message);
  }
  const server = started.value;
  options.print(`console: ${consoleUrl(server, startupToken)}`);
  if (server.exposed && !server.secure) {
    options.warn(
      `console: WARNING: listening on ${choice.host}:${server.address.port}, reachable from other machines, without TLS: tokens and everything the console shows cross the network in clear text. Use --tls-cert and --tls-key, or bind to 127.0.0.1.`,
    );
  }
  if (server.rendererDir === null) options.warn('console: the web interface is not built (npm run build); the API works without it');
  return ok({
    server,
    startupToken,
    close: async () => {
      await server.close();
      stored?.close();
    },
  });
}

/**
 * What the registrar's announces say about a running console: scheme, bound port, the certificate's SHA-256
 * fingerprint (so a client can pin it, also for a self-signed certificate), and the bound host unless the
 * console listens on every address (then the announce's source address is the one to use). A certificate
 * that cannot be read again is announced without a fingerprint, with a warning.
 */
export function announcedConsoleEndpoint(server: LanConsole['server'], tls: TlsFiles | undefined, warn: (line: string) => void): ConsoleEndpoint {
  const { host, port } = server.address;
  const wildcard = host === '0.0.0.0' || host === '::' || host === '';
  let tlsFingerprint: Uint8Array | undefined;
  if (server.secure && tls) {
    try {
      // fingerprint256 is "AB:CD:…" over the DER bytes of the first (leaf) certificate in the file.
      const text = new X509Certificate(fs.readFileSync(tls.certFile)).fingerprint256;
      tlsFingerprint = Uint8Array.from(Buffer.from(text.replaceAll(':', ''), 'hex'));
    } catch (e) {
      warn(`console: the announces carry no TLS fingerprint: ${tls.certFile} cannot be read as a certificate (${(e as Error).message})`);
    }
  }
  return {
    scheme: server.secure ? ConsoleScheme.https : ConsoleScheme.http,
    port,
    ...(tlsFingerprint ? { tlsFingerprint } : {}),
    ...(wildcard ? {} : { host }),
  };
}
