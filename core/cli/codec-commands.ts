/**
 * `handlespace decode` and `handlespace encode`: the codec as an operator's debugging tool. decode prints a
 * message as JSON (or the decoder's error with its byte offset and RFC cause, exiting 1); encode reads that
 * JSON back and prints hex, so `encode(decode(x))` gives x back.
 */
import { parseArgs } from 'node:util';
import { Cause, nameOf } from '../wire/constants.js';
import { decodeMessage, type DecodeError } from '../wire/decoder.js';
import { encodeMessage } from '../wire/encoder.js';
import { messageFromJson, messageToJson, type Json } from '../wire/json.js';
import { TcpFramer } from '../wire/tcp-framer.js';
import type { Protocol } from '../wire/types.js';
import type { CliIo } from './io.js';

export const DECODE_USAGE = `Usage: handlespace decode [--asap | --enrp] [--stream] [HEX]

Decodes one ASAP (default) or ENRP message given as hex (spaces, colons and a 0x prefix are ignored) in
the argument or on standard input, and prints it as JSON. With --stream the hex is a TCP byte stream of
several messages, framed by their length fields; each message is printed as one JSON line.
Bad bytes print the decoder's error (byte offset, rule, Operation Error cause) and exit with status 1.
`;

export const ENCODE_USAGE = `Usage: handlespace encode [JSON]

Reads a message in the JSON form that \`handlespace decode\` prints (argument or standard input) and prints
its wire bytes as hex. The JSON's "protocol" field says ASAP or ENRP. Exits with status 1 on invalid JSON.
`;

function parseHexInput(text: string): Uint8Array | string {
  const cleaned = text.replace(/0x/gi, '').replace(/[\s:,-]/g, '');
  if (cleaned.length === 0) return 'no hex input';
  if (!/^[0-9a-fA-F]*$/.test(cleaned)) return 'input is not hex';
  if (cleaned.length % 2 !== 0) return `odd number of hex digits (${cleaned.length})`;
  return new Uint8Array(Buffer.from(cleaned, 'hex'));
}

export function decodeErrorToJson(e: DecodeError): Json {
  const out: { [key: string]: Json } = {
    protocol: e.protocol,
    offset: e.offset,
    reason: e.reason,
    rule: e.rule,
    action: e.action,
  };
  if (e.messageType !== undefined) out['messageType'] = `0x${e.messageType.toString(16).padStart(2, '0')}`;
  if (e.cause) {
    out['cause'] = {
      code: `0x${e.cause.code.toString(16)}`,
      causeName: (nameOf(Cause, e.cause.code) as string | undefined) ?? 'unknown',
      ...(e.cause.data ? { data: { hex: Buffer.from(e.cause.data).toString('hex') } } : {}),
    };
  }
  return { error: out };
}

async function inputText(positionals: string[], io: CliIo): Promise<string | undefined> {
  if (positionals.length > 0) return positionals.join(' ');
  return io.readStdin();
}

export async function decodeCommand(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { asap: { type: 'boolean' }, enrp: { type: 'boolean' }, stream: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    io.stderr(`handlespace decode: ${(e as Error).message}\n${DECODE_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(DECODE_USAGE);
    return 0;
  }
  if (values.asap && values.enrp) {
    io.stderr('handlespace decode: choose one of --asap and --enrp\n');
    return 2;
  }
  const protocol: Protocol = values.enrp ? 'enrp' : 'asap';
  const text = await inputText(positionals, io);
  if (text === undefined) {
    io.stderr(`handlespace decode: no input\n${DECODE_USAGE}`);
    return 2;
  }
  const bytes = parseHexInput(text);
  if (typeof bytes === 'string') {
    io.stderr(`handlespace decode: ${bytes}\n`);
    return 2;
  }
  const messages: Uint8Array[] = [];
  if (values.stream) {
    const framer = new TcpFramer();
    for (const event of framer.push(bytes)) {
      if (event.kind === 'error') {
        io.stdout(`${JSON.stringify({ error: { streamOffset: event.error.streamOffset, length: event.error.length, reason: event.error.reason, rule: 'RFC 5354 §4 (message length); the stream must be closed' } })}\n`);
        return 1;
      }
      messages.push(event.bytes);
    }
    if (framer.buffered > 0) {
      io.stdout(`${JSON.stringify({ error: { reason: `${framer.buffered} bytes at the end of the stream do not complete a message` } })}\n`);
      return 1;
    }
  } else messages.push(bytes);
  let status = 0;
  for (const message of messages) {
    const result = decodeMessage(protocol, message);
    const json = result.ok ? messageToJson(result.value) : decodeErrorToJson(result.error);
    io.stdout(`${values.stream ? JSON.stringify(json) : JSON.stringify(json, null, 2)}\n`);
    if (!result.ok) {
      io.stderr(`handlespace decode: ${result.error.reason} at byte ${result.error.offset} (${result.error.rule})\n`);
      status = 1;
    }
  }
  return status;
}

export async function encodeCommand(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    io.stderr(`handlespace encode: ${(e as Error).message}\n${ENCODE_USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout(ENCODE_USAGE);
    return 0;
  }
  const text = await inputText(parsed.positionals, io);
  if (text === undefined) {
    io.stderr(`handlespace encode: no input\n${ENCODE_USAGE}`);
    return 2;
  }
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (e) {
    io.stderr(`handlespace encode: not JSON: ${(e as Error).message}\n`);
    return 1;
  }
  const message = messageFromJson(json);
  if (!message.ok) {
    io.stderr(`handlespace encode: ${message.error}\n`);
    return 1;
  }
  io.stdout(`${Buffer.from(encodeMessage(message.value)).toString('hex')}\n`);
  return 0;
}
