/**
 * HOST:PORT arguments: `127.0.0.1:3863`, `[::1]:3863`, `:3863` (all addresses), a bare port, or `off`
 * where the option allows it.
 */
import net from 'node:net';
import { err, ok, type Result } from '../result.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function parseHostPort(text: string, defaultHost = '0.0.0.0', defaultPort?: number): Result<HostPort, string> {
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2] ?? '';
  } else if (/^\d+$/.test(text)) {
    host = defaultHost;
    portText = text;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0 && text.indexOf(':') !== colon) return err(`${JSON.stringify(text)}: write IPv6 addresses in brackets, e.g. [::1]:3863`);
    host = colon >= 0 ? text.slice(0, colon) || defaultHost : text;
    portText = colon >= 0 ? text.slice(colon + 1) : '';
  }
  if (portText === '' && defaultPort === undefined) return err(`${JSON.stringify(text)}: a port is required (HOST:PORT)`);
  const port = portText === '' ? (defaultPort ?? 0) : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return err(`${JSON.stringify(text)}: port must be 0-65535`);
  if (host !== 'localhost' && net.isIP(host) === 0) return err(`${JSON.stringify(text)}: ${JSON.stringify(host)} is not an IP address`);
  return ok({ host: host === 'localhost' ? '127.0.0.1' : host, port });
}

export function parseInteger(text: string, name: string): Result<number, string> {
  const value = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) return err(`--${name}: ${JSON.stringify(text)} is not an integer`);
  return ok(value);
}
