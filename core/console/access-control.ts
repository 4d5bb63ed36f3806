/**
 * Who is asking: the LAN server's authentication (a bearer token, from the Authorization header or, for
 * browser WebSockets, from the offered subprotocols) and the identity a verified token stands for, as the
 * audit names it. Roles decide nothing here; the routes and the backend do.
 *
 * Browsers cannot set headers on a WebSocket, so the event stream also takes the token as one of the
 * subprotocols the client offers: `new WebSocket(url, ['handlespace.v1', 'handlespace.token.' + token])`.
 * The server answers with `handlespace.v1`, never echoing the token. A token in the URL (`?token=`) is not
 * accepted anywhere: URLs end up in proxy logs and browser history. The start-up URL carries its token
 * after `#`, which browsers never send to the server.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { TokenVerifier, VerifiedToken } from '../history/token-store.js';
import type { Identity } from './contract.js';

/** The subprotocol the event stream speaks; a browser client must offer it alongside its token. */
export const EVENTS_SUBPROTOCOL = 'handlespace.v1';
/** An offered subprotocol that carries the token: this prefix and the token. */
export const TOKEN_SUBPROTOCOL_PREFIX = 'handlespace.token.';

export type Credential =
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly problem: string }
  | { readonly kind: 'token'; readonly token: string; readonly from: 'authorization' | 'subprotocol' };

/** Splits a Sec-WebSocket-Protocol header into the offered subprotocols. */
export function offeredSubprotocols(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}


/**
 * The credential a request presents. The Authorization header wins; the subprotocol form is read only when
 * `allowSubprotocol` (the WebSocket upgrade).
 */
export function credentialOf(headers: IncomingHttpHeaders, allowSubprotocol: boolean): Credential {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!match?.[1]) return { kind: 'malformed', problem: 'the Authorization header is not "Bearer TOKEN"' };
    return { kind: 'token', token: match[1], from: 'authorization' };
  }
  if (allowSubprotocol) {
    const header = headers['sec-websocket-protocol'];
    const tokens = offeredSubprotocols(typeof header === 'string' ? header : undefined).filter((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
    if (tokens.length > 1) return { kind: 'malformed', problem: 'more than one token among the offered subprotocols' };
    if (tokens[0] !== undefined) return { kind: 'token', token: tokens[0].slice(TOKEN_SUBPROTOCOL_PREFIX.length), from: 'subprotocol' };
  }
  return { kind: 'none' };
}

/** How the audit names a token's holder: "token 3 (ops laptop)", or an in-memory token's own label. */
export function identityOf(token: VerifiedToken): Identity {
  if (token.id === null) return { actor: token.label, role: token.role };
  return { actor: token.label === '' ? `token ${token.id}` : `token ${token.id} (${token.label})`, role: token.role };
}

export type Authentication = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly message: string };

export function authenticate(headers: IncomingHttpHeaders, verifier: TokenVerifier, allowSubprotocol: boolean): Authentication {
  const credential = credentialOf(headers, allowSubprotocol);
  switch (credential.kind) {
    case 'none':
      return {
        ok: false,
        message: allowSubprotocol
          ? `a token is required: "Authorization: Bearer TOKEN", or offer the subprotocols "${EVENTS_SUBPROTOCOL}" and "${TOKEN_SUBPROTOCOL_PREFIX}TOKEN"`
          : 'a token is required: "Authorization: Bearer TOKEN"',
      };
    case 'malformed':
      return { ok: false, message: credential.problem };
    case 'token': {
      const verified = verifier.verify(credential.token);
      // One message for unknown, revoked and mistyped tokens alike: the answer must not help guessing.
      if (!verified) return { ok: false, message: 'the token is not valid (unknown or revoked)' };
      return { ok: true, identity: identityOf(verified) };
    }
  }
}

/** "HOST:PORT" of the peer, IPv6 in brackets, as audit rows and logs show it. */
export function peerAddress(remoteAddress: string | undefined, remotePort: number | undefined): string {
  const host = remoteAddress ?? 'unknown';
  const shown = host.includes(':') ? `[${host}]` : host;
  return remotePort === undefined ? shown : `${shown}:${remotePort}`;
}
