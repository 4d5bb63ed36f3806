/**
 * The ASAP messages that travel between a pool element and a pool user on their control channel
 * (RFC 5352 §3.8, §3.9): ASAP_COOKIE (PE → PU, session state), ASAP_COOKIE_ECHO (PU → new PE after a
 * failover, the last cookie unchanged) and ASAP_BUSINESS_CARD (the pool handle and a preferred failover
 * order). Over TCP the data and control channel share one connection (RFC 5355 §2.16); the application
 * demultiplexes and hands the ASAP messages here as bytes.
 */
import { err, ok, type Result } from '../result.js';
import { decodeMessage, type DecodeError } from '../wire/decoder.js';
import { encodeMessage } from '../wire/encoder.js';
import type { AsapBusinessCard, AsapCookie, AsapCookieEcho, AsapMessage, PoolElement as WirePoolElement } from '../wire/types.js';
import { toPoolHandle, type PoolHandleInput } from './pool-handle.js';

export type ControlMessage = AsapCookie | AsapCookieEcho | AsapBusinessCard;

export interface BusinessCard {
  readonly poolHandle: Uint8Array;
  /** The sender's preferred failover order, first choice first. */
  readonly failoverOrder: readonly WirePoolElement[];
}

export type ControlMessageError =
  | { readonly code: 'decode'; readonly error: DecodeError; readonly message: string }
  | { readonly code: 'notControl'; readonly type: AsapMessage['type'] | 'enrp'; readonly message: string };

/** ASAP_COOKIE carrying `cookie` (a PE sends it to its PU at any time). */
export function encodeCookie(cookie: Uint8Array): Uint8Array {
  return encodeMessage({ protocol: 'asap', type: 'cookie', cookie });
}

/** ASAP_COOKIE_ECHO carrying `cookie` unchanged (a PU's first control message to a new PE). */
export function encodeCookieEcho(cookie: Uint8Array): Uint8Array {
  return encodeMessage({ protocol: 'asap', type: 'cookieEcho', cookie });
}

/** ASAP_BUSINESS_CARD: the pool handle and the failover order (a PE sends it when a session starts). */
export function encodeBusinessCard(poolHandle: PoolHandleInput, failoverOrder: readonly WirePoolElement[]): Uint8Array {
  return encodeMessage({ protocol: 'asap', type: 'businessCard', poolHandle: toPoolHandle(poolHandle), poolElements: failoverOrder });
}

/** Decodes one control-channel message; anything but a cookie, cookie echo or business card is an error. */
export function parseControlMessage(bytes: Uint8Array): Result<ControlMessage, ControlMessageError> {
  const decoded = decodeMessage('asap', bytes);
  if (!decoded.ok) return err({ code: 'decode', error: decoded.error, message: `undecodable control message: ${decoded.error.reason}` });
  const message = decoded.value;
  if (message.protocol !== 'asap') return err({ code: 'notControl', type: 'enrp', message: 'an ENRP message is not a control-channel message' });
  if (message.type === 'cookie' || message.type === 'cookieEcho' || message.type === 'businessCard') return ok(message);
  return err({ code: 'notControl', type: message.type, message: `${message.type} is not a control-channel message` });
}

/** Reads an ASAP_BUSINESS_CARD into its pool handle and failover order. */
export function parseBusinessCard(bytes: Uint8Array): Result<BusinessCard, ControlMessageError> {
  const parsed = parseControlMessage(bytes);
  if (!parsed.ok) return parsed;
  if (parsed.value.type !== 'businessCard') return err({ code: 'notControl', type: parsed.value.type, message: `${parsed.value.type} is not an ASAP_BUSINESS_CARD` });
  return ok(businessCardOf(parsed.value));
}

export function businessCardOf(message: AsapBusinessCard): BusinessCard {
  return { poolHandle: message.poolHandle, failoverOrder: message.poolElements };
}
