/**
 * The desktop app's connection list (remote `handlespace serve` consoles it watches, and whether it watches
 * its embedded registrar): a small JSON file in the user data folder. Tokens are encrypted one by one with
 * the OS keychain (Electron's safeStorage, passed in so this module runs under Node in tests); when
 * encryption is unavailable the list is kept without tokens, never with tokens in plain text. Everything
 * the renderer sends is validated here, and a damaged or hand-edited file is ignored, never trusted.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import type { ConsoleResult } from '../core/console/contract.js';
import type { SavedConnection, SavedConnections, SavedConnectionsState } from '../renderer/src/desktop-bridge.js';

export const CONNECTIONS_FILE = 'connections.json';
const FORMAT_VERSION = 1;
const MAX_FILE_BYTES = 256 * 1024;
export const MAX_REMOTES = 32;
const MAX_LABEL = 100;
const MAX_TOKEN = 512;
const MAX_URL = 2048;

/** What main.ts passes in: Electron's safeStorage. */
export interface TokenCipher {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
}

const DEFAULT: SavedConnections = { embedded: true, remotes: [] };
const NO_ENCRYPTION_NOTE = 'The OS keychain is not available (safeStorage): connections are kept without their tokens, which are asked for again after a restart.';

function invalid<T>(message: string, field: string): ConsoleResult<T> {
  return { ok: false, error: { code: 'badRequest', message, field } };
}

/** "http://host:port/anything" → "http://host:port"; null for anything but a plain http(s) origin. */
export function consoleOrigin(text: unknown): string | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_URL) return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username !== '' || url.password !== '') return null;
  return url.origin;
}

function isToken(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TOKEN && /^[\x21-\x7e]+$/.test(value);
}

function isLabel(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_LABEL && ![...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}

/** The renderer's list, checked field by field (unknown fields dropped). */
export function validateConnections(input: unknown): ConsoleResult<SavedConnections> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return invalid('the connection list must be an object', 'list');
  const record = input as Record<string, unknown>;
  if (typeof record['embedded'] !== 'boolean') return invalid('embedded must be true or false', 'embedded');
  const remotes = record['remotes'];
  if (!Array.isArray(remotes)) return invalid('remotes must be a list', 'remotes');
  if (remotes.length > MAX_REMOTES) return invalid(`at most ${MAX_REMOTES} remote connections`, 'remotes');
  const out: SavedConnection[] = [];
  for (const [index, item] of remotes.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return invalid(`remote ${index} must be an object`, `remotes[${index}]`);
    const remote = item as Record<string, unknown>;
    const url = consoleOrigin(remote['url']);
    if (url === null) return invalid(`remote ${index}: url must be an http(s) origin`, `remotes[${index}].url`);
    if (!isLabel(remote['label'])) return invalid(`remote ${index}: label must be text of at most ${MAX_LABEL} characters`, `remotes[${index}].label`);
    const token = remote['token'];
    if (token !== null && !isToken(token)) return invalid(`remote ${index}: token must be null or 1..${MAX_TOKEN} printable characters`, `remotes[${index}].token`);
    if (out.some((other) => other.url === url)) return invalid(`remote ${index}: ${url} is listed twice`, `remotes[${index}].url`);
    out.push({ url, label: remote['label'], token });
  }
  return { ok: true, value: { embedded: record['embedded'], remotes: out } };
}

/** The file's text for a list: tokens encrypted (base64), or left out when encryption is unavailable. */
export function encodeConnections(list: SavedConnections, cipher: TokenCipher): { readonly text: string; readonly tokensKept: boolean } {
  const tokensKept = cipher.isEncryptionAvailable();
  const remotes = list.remotes.map((remote) => ({
    url: remote.url,
    label: remote.label,
    token: tokensKept && remote.token !== null ? cipher.encryptString(remote.token).toString('base64') : null,
  }));
  return { text: `${JSON.stringify({ version: FORMAT_VERSION, embedded: list.embedded, remotes }, null, 2)}\n`, tokensKept };
}

/** The list a file holds, tokens decrypted; a token that cannot be decrypted comes back as null. */
export function decodeConnections(text: string, cipher: TokenCipher): SavedConnectionsState {
  const tokensKept = cipher.isEncryptionAvailable();
  const fallback = (note: string): SavedConnectionsState => ({ ...DEFAULT, tokensKept, note });
  if (text.length > MAX_FILE_BYTES) return fallback(`${CONNECTIONS_FILE} is too large and was ignored.`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fallback(`${CONNECTIONS_FILE} is damaged and was ignored.`);
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as Record<string, unknown>)['version'] !== FORMAT_VERSION) {
    return fallback(`${CONNECTIONS_FILE} has an unknown format and was ignored.`);
  }
  const raw = parsed as Record<string, unknown>;
  const remotes = Array.isArray(raw['remotes']) ? raw['remotes'] : [];
  let lost = 0;
  const withTokens = remotes.map((item: unknown) => {
    if (typeof item !== 'object' || item === null) return item;
    const remote = item as Record<string, unknown>;
    const sealed = remote['token'];
    let token: string | null = null;
    if (typeof sealed === 'string' && tokensKept) {
      try {
        token = cipher.decryptString(Buffer.from(sealed, 'base64'));
      } catch {
        lost += 1;
      }
    } else if (typeof sealed === 'string') {
      lost += 1;
    }
    return { ...remote, token: token !== null && isToken(token) ? token : null };
  });
  const checked = validateConnections({ embedded: raw['embedded'], remotes: withTokens });
  if (!checked.ok) return fallback(`${CONNECTIONS_FILE} does not hold a valid list (${checked.error.message}) and was ignored.`);
  const notes = [...(tokensKept ? [] : [NO_ENCRYPTION_NOTE]), ...(lost > 0 ? [`${lost} saved token(s) could not be decrypted; give them again.`] : [])];
  return { ...checked.value, tokensKept, note: notes.length > 0 ? notes.join(' ') : null };
}

export async function loadConnections(file: string, cipher: TokenCipher): Promise<SavedConnectionsState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    return { ...DEFAULT, tokensKept: cipher.isEncryptionAvailable(), note: missing ? (cipher.isEncryptionAvailable() ? null : NO_ENCRYPTION_NOTE) : `${file} cannot be read: ${(error as Error).message}` };
  }
  return decodeConnections(text, cipher);
}

/** Validates and writes the list (atomically: a temporary file renamed over the old one). */
export async function saveConnections(file: string, input: unknown, cipher: TokenCipher): Promise<ConsoleResult<SavedConnectionsState>> {
  const checked = validateConnections(input);
  if (!checked.ok) return checked;
  const { text, tokensKept } = encodeConnections(checked.value, cipher);
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, text, { encoding: 'utf8', mode: 0o600 });
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    return { ok: false, error: { code: 'internal', message: `cannot save the connections: ${(error as Error).message}` } };
  }
  const value = tokensKept ? checked.value : { ...checked.value, remotes: checked.value.remotes.map((remote) => ({ ...remote, token: null })) };
  return { ok: true, value: { ...value, tokensKept, note: tokensKept ? null : NO_ENCRYPTION_NOTE } };
}
