/**
 * The JSON form of a message, for `handlespace decode` / `encode` and for logs: message and cause types by
 * name and number, identifiers as 0x hex, pool handles as text when printable, other bytes as {"hex": ...}.
 * `messageToJson` then `messageFromJson` gives back the same message, so decode ∘ encode is the identity.
 */
import { err, ok, type Result } from '../result.js';
import { AsapType, Cause, EnrpType, nameOf } from './constants.js';
import { encodeMessage } from './encoder.js';
import { policyDefinition } from './policy.js';
import { ConsoleScheme, PeStatusCode, PeStatusReason, type Message } from './types.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const HEX_ID_KEYS = new Set(['id', 'homeServerId', 'peId', 'serverId', 'senderServerId', 'receiverServerId', 'targetServerId', 'replacementPeId']);
const POLICY_KEYS = new Set(['policy', 'overallPolicy']);
const DERIVED_KEYS = new Set(['typeCode', 'typeName', 'name', 'statusName', 'reasonName', 'policyName', 'causeName', 'schemeName']);

export function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function isPrintable(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  for (const b of bytes) if (b < 0x20 || b > 0x7e) return false;
  // Edge spaces, or a leading "0x" (our hex form), would make the text ambiguous: such handles show as hex.
  const startsLikeHex = bytes[0] === 0x30 && (bytes[1] === 0x78 || bytes[1] === 0x58);
  return bytes[0] !== 0x20 && bytes[bytes.length - 1] !== 0x20 && !startsLikeHex;
}

/** A pool handle as an operator reads it: text when printable ASCII, else 0x hex. */
export function poolHandleToText(handle: Uint8Array): string {
  return isPrintable(handle) ? Buffer.from(handle).toString('latin1') : `0x${bytesToHex(handle)}`;
}

function toJson(value: unknown, key: string): Json {
  if (value instanceof Uint8Array) {
    if (key === 'poolHandle') return poolHandleToText(value);
    return { hex: bytesToHex(value) };
  }
  if (Array.isArray(value)) return value.map((item) => toJson(item, key));
  if (typeof value === 'number') return HEX_ID_KEYS.has(key) ? hex32(value) : value;
  if (value === null || typeof value !== 'object') return (value ?? null) as Json;
  const record = value as Record<string, unknown>;
  const out: { [k: string]: Json } = {};
  if (POLICY_KEYS.has(key) || key === 'cause.policy') {
    const type = Number(record['type']);
    out['type'] = hex32(type);
    out['policyName'] = policyDefinition(type)?.name ?? 'unknown';
    for (const [k, v] of Object.entries(record)) if (k !== 'type') out[k] = toJson(v, k);
    return out;
  }
  if (key === 'error') {
    const code = Number(record['code']);
    out['code'] = `0x${code.toString(16)}`;
    out['causeName'] = (nameOf(Cause, code) as string | undefined) ?? 'unknown';
    for (const [k, v] of Object.entries(record)) if (k !== 'code') out[k] = toJson(v, k === 'policy' ? 'cause.policy' : k);
    return out;
  }
  if (key === 'peStatus') {
    for (const [k, v] of Object.entries(record)) out[k] = toJson(v, k);
    out['statusName'] = (nameOf(PeStatusCode, Number(record['status'])) as string | undefined) ?? 'unknown';
    out['reasonName'] = (nameOf(PeStatusReason, Number(record['reason'])) as string | undefined) ?? 'unknown';
    return out;
  }
  if (key === 'consoleEndpoint') {
    for (const [k, v] of Object.entries(record)) out[k] = toJson(v, k);
    out['schemeName'] = (nameOf(ConsoleScheme, Number(record['scheme'])) as string | undefined) ?? 'unknown';
    return out;
  }
  for (const [k, v] of Object.entries(record)) out[k] = toJson(v, k);
  return out;
}

/** The RFC's name of a message type, e.g. ASAP_ENDPOINT_KEEP_ALIVE_ACK. */
export function rfcMessageName(message: Pick<Message, 'protocol' | 'type'>): string {
  return `${message.protocol.toUpperCase()}_${message.type.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export function messageToJson(message: Message): Json {
  const table: Record<string, number> = message.protocol === 'asap' ? AsapType : EnrpType;
  const code = table[message.type] ?? 0;
  const body = toJson(message, '') as { [k: string]: Json };
  const { protocol, type, ...rest } = body;
  return { protocol: protocol ?? null, type: type ?? null, typeCode: `0x${code.toString(16).padStart(2, '0')}`, typeName: rfcMessageName(message), ...rest };
}

class JsonShapeError extends Error {}

function parseNumber(value: Json, path: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^(0x[0-9a-fA-F]+|-?\d+)$/.test(value)) return Number(value);
  throw new JsonShapeError(`${path}: expected a number or 0x hex string, got ${JSON.stringify(value)}`);
}

function parseHex(text: Json, path: string): Uint8Array {
  if (typeof text !== 'string' || !/^(0x)?([0-9a-fA-F]{2})*$/.test(text)) throw new JsonShapeError(`${path}: expected hex bytes, got ${JSON.stringify(text)}`);
  return new Uint8Array(Buffer.from(text.replace(/^0x/, ''), 'hex'));
}

function fromJson(value: Json, key: string, path: string): unknown {
  if (Array.isArray(value)) return value.map((item, i) => fromJson(item, key, `${path}[${i}]`));
  if (key === 'poolHandle' && typeof value === 'string') {
    return value.startsWith('0x') ? parseHex(value, path) : new Uint8Array(Buffer.from(value, 'utf8'));
  }
  if (HEX_ID_KEYS.has(key) || key === 'code' || (key === 'type' && path.endsWith('olicy.type'))) return parseNumber(value, path);
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === 'hex') return parseHex(value['hex'] ?? null, `${path}.hex`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (DERIVED_KEYS.has(k)) continue;
    out[k] = fromJson(v, k, `${path}.${k}`);
  }
  return out;
}

/**
 * Reads the JSON form back into a message. Shape errors and values the encoder refuses become error values
 * (with the JSON path where possible); the message is proven encodable before it is returned.
 */
export function messageFromJson(json: Json): Result<Message, string> {
  try {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return err('expected a JSON object');
    const protocol = json['protocol'];
    const type = json['type'];
    if (protocol !== 'asap' && protocol !== 'enrp') return err(`protocol must be "asap" or "enrp", got ${JSON.stringify(protocol)}`);
    const table: Record<string, number> = protocol === 'asap' ? AsapType : EnrpType;
    if (typeof type !== 'string' || !(type in table)) return err(`unknown ${protocol} message type ${JSON.stringify(type)}; known: ${Object.keys(table).join(', ')}`);
    const message = fromJson(json, '', '$') as Record<string, unknown>;
    if (type === 'handleResolutionResponse') {
      message['poolElements'] ??= [];
      message['peStatus'] ??= [];
    }
    if (type === 'businessCard') message['poolElements'] ??= [];
    if (type === 'serverAnnounce') message['transports'] ??= [];
    if (type === 'listResponse') message['servers'] ??= [];
    if (type === 'handleTableResponse') message['pools'] ??= [];
    encodeMessage(message as unknown as Message);
    return ok(message as unknown as Message);
  } catch (e) {
    return err(e instanceof Error ? e.message : String(e));
  }
}
