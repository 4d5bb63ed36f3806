/**
 * The messages between the Electron main process and the core host (ipc-host.ts: an Electron
 * utilityProcess, or a forked Node child in tests), and the validators for everything either side receives.
 *
 * Trust: the renderer is untrusted, so the main process runs `parseCapabilityCall` / `parseExportQuery` on
 * the renderer's arguments before anything reaches the host, and the host runs the same checks again on
 * every message (one validator, two gates). Validators build fresh objects from known fields only: unknown
 * fields, wrong types, out-of-range numbers and over-long strings are a `badRequest` naming the field.
 *
 * Wire shape: main → host `{ type: 'call', id, method, args }` is answered by `{ type: 'result', id, result }`
 * (a ConsoleResult); `subscribe` opens an event stream answered by `{ type: 'event', subscription, message }`;
 * `export` has the host stream the history into a file the main process chose with a save dialog.
 */
import { OPERATOR_COMMANDS } from './contract.js';
import type {
  CommandOptions,
  ComponentsSnapshot,
  HeardRegistrarView,
  CommandOutcome,
  ConsoleError,
  ConsoleResult,
  ElementTarget,
  EventStreamMessage,
  ExportFormatName,
  ExportQuery,
  HistoryKindName,
  HistoryPageView,
  HistoryQuery,
  Identity,
  MetricQuery,
  MetricSeriesView,
  OperatorCommand,
  PoolView,
  Snapshot,
  StreamPosition,
} from './contract.js';
import { err, ok, type Result } from '../result.js';

// ---- limits -------------------------------------------------------------------------------------------

/** Upper bounds on what a message may carry; anything beyond is refused before any work is done. */
export const IPC_LIMITS = {
  /** A pool name: ≤ 32 handle bytes as text, or `0x` + 64 hex digits; generous for multi-byte UTF-8. */
  poolNameChars: 256,
  /** Operator reasons: the contract allows 500 characters (the service checks); more than this is abuse. */
  reasonChars: 2000,
  historyCursorChars: 1024,
  epochChars: 128,
  filePathChars: 4096,
  /** Arguments of one call (commands take two). */
  callArgs: 2,
  /** Open event streams per host (every window and the tray share one host). */
  subscriptions: 256,
  /** Operator-readable texts the host sends up (log lines, errors). */
  textChars: 16_384,
} as const;

const HISTORY_KINDS: readonly HistoryKindName[] = ['registered', 'reregistered', 'health', 'admin', 'removed', 'notification', 'audit', 'deployment'];
const EXPORT_FORMATS: readonly ExportFormatName[] = ['csv', 'jsonl'];
const METRIC_INTERVALS: readonly number[] = [1000, 60_000, 3_600_000];
const MAX_TIME_MS = 8_640_000_000_000_000; // the largest Date
const MAX_PE_ID = 0xffffffff;
const MAX_HISTORY_PAGE = 1000;

// ---- calls --------------------------------------------------------------------------------------------

/** The ConsoleApi capabilities the host answers with one result (export and subscribe have own messages). */
export const QUERY_METHODS = ['identity', 'snapshot', 'pool', 'history', 'metrics', 'components', 'heardRegistrars'] as const;
export type QueryMethod = (typeof QUERY_METHODS)[number];
export type CallMethod = QueryMethod | OperatorCommand;
export const CALL_METHODS: readonly CallMethod[] = [...QUERY_METHODS, ...OPERATOR_COMMANDS];

/** A call whose arguments passed validation. */
export type CapabilityCall =
  | { readonly method: 'identity' }
  | { readonly method: 'snapshot' }
  | { readonly method: 'components' }
  | { readonly method: 'heardRegistrars' }
  | { readonly method: 'pool'; readonly pool: string }
  | { readonly method: 'history'; readonly query: HistoryQuery }
  | { readonly method: 'metrics'; readonly query: MetricQuery }
  | { readonly method: OperatorCommand; readonly target: ElementTarget; readonly options: CommandOptions };

/** What each call answers with. */
export interface CallValues {
  identity: Identity;
  snapshot: Snapshot;
  pool: PoolView;
  history: HistoryPageView;
  metrics: MetricSeriesView;
  components: ComponentsSnapshot;
  heardRegistrars: readonly HeardRegistrarView[];
  drain: CommandOutcome;
  ready: CommandOutcome;
  maintenance: CommandOutcome;
  failover: CommandOutcome;
  deregister: CommandOutcome;
}

/** What the host reports of a finished export (the main process adds where it was saved). */
export interface ExportWritten {
  readonly rows: number;
  readonly bytes: number;
}

export function isCallMethod(value: unknown): value is CallMethod {
  return typeof value === 'string' && (CALL_METHODS as readonly string[]).includes(value);
}

export function isOperatorCommand(value: unknown): value is OperatorCommand {
  return typeof value === 'string' && (OPERATOR_COMMANDS as readonly string[]).includes(value);
}

// ---- host start options -------------------------------------------------------------------------------

export interface HostEndpoint {
  readonly host: string;
  readonly port: number;
}

export type HostHistoryOption = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'temporary' } | { readonly kind: 'none' };

/** The part of the registrar's settings the desktop app chooses (the rest keeps the registrar's defaults). */
export interface HostRegistrarOptions {
  readonly asap?: HostEndpoint;
  readonly announce?: HostEndpoint | 'off';
}

export interface HostStartOptions {
  readonly history: HostHistoryOption;
  readonly registrar?: HostRegistrarOptions;
  /** The app's version, shown in the snapshot's registrar info. */
  readonly version?: string;
}

// ---- messages -----------------------------------------------------------------------------------------

/** Main process → core host. The first message is `start`; nothing else is served before it. */
export type MainToHostMessage =
  | { readonly type: 'start'; readonly options: HostStartOptions }
  | { readonly type: 'call'; readonly id: number; readonly method: CallMethod; readonly args: readonly unknown[] }
  | { readonly type: 'export'; readonly id: number; readonly query: ExportQuery; readonly file: string }
  | { readonly type: 'subscribe'; readonly subscription: number; readonly position: StreamPosition | null }
  | { readonly type: 'unsubscribe'; readonly subscription: number }
  | { readonly type: 'shutdown'; readonly reason: string };

/** A MainToHostMessage after the host validated it (calls carry their checked arguments). */
export type HostInstruction =
  | { readonly type: 'start'; readonly options: HostStartOptions }
  | { readonly type: 'call'; readonly id: number; readonly call: CapabilityCall }
  | { readonly type: 'export'; readonly id: number; readonly query: ExportQuery; readonly file: string }
  | { readonly type: 'subscribe'; readonly subscription: number; readonly position: StreamPosition | undefined }
  | { readonly type: 'unsubscribe'; readonly subscription: number }
  | { readonly type: 'shutdown'; readonly reason: string };

export interface HostReadyInfo {
  readonly identity: Identity;
  readonly epoch: string;
  /** Where ASAP listens, "HOST:PORT". */
  readonly asap: string;
  readonly history: { readonly file: string; readonly temporary: boolean } | null;
}

/** Core host → main process. */
export type HostToMainMessage =
  | ({ readonly type: 'ready' } & HostReadyInfo)
  | { readonly type: 'startFailed'; readonly error: string }
  | { readonly type: 'result'; readonly id: number; readonly result: ConsoleResult<unknown> }
  | { readonly type: 'event'; readonly subscription: number; readonly message: EventStreamMessage }
  /** A message the host could not accept at all (no usable id, unknown type); `id` when it had one. */
  | { readonly type: 'rejected'; readonly id: number | null; readonly reason: string }
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'stopped'; readonly reason: string };

// ---- validation machinery -----------------------------------------------------------------------------

/**
 * Thrown only inside this module by the field readers below and caught by `validate`, so the parsers read
 * as straight-line code; callers always get a Result.
 */
class BadField {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {}
}

function validate<T>(read: () => T): Result<T, ConsoleError> {
  try {
    return ok(read());
  } catch (e) {
    if (e instanceof BadField) return err(badRequest(e.field, e.problem));
    throw e;
  }
}

export function badRequest(field: string, problem: string): ConsoleError {
  return { code: 'badRequest', message: `${field}: ${problem}`, field };
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string of ${value.length} characters`;
    case 'number':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

/** A bounded rendering of an unexpected value for error messages (never calls the value's own methods). */
function preview(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : describe(value);
}

/** A plain object with no fields but `allowed` (prototype-less objects from structured clone included). */
function readObject(value: unknown, field: string, allowed: readonly string[]): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadField(field, `must be an object, not ${describe(value)}`);
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) throw new BadField(field, 'must be a plain object');
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new BadField(field, `unknown field ${JSON.stringify(key.slice(0, 64))}`);
  }
  return value as Readonly<Record<string, unknown>>;
}

function readString(value: unknown, field: string, maxChars: number, minChars = 0): string {
  if (typeof value !== 'string') throw new BadField(field, `must be a string, not ${describe(value)}`);
  if (value.length > maxChars) throw new BadField(field, `is longer than ${maxChars} characters`);
  if (value.length < minChars) throw new BadField(field, minChars === 1 ? 'must not be empty' : `must have at least ${minChars} characters`);
  return value;
}

function readInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new BadField(field, `must be an integer, not ${describe(value)}`);
  if (value < min || value > max) throw new BadField(field, `must be between ${min} and ${max}`);
  return value;
}

function readBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new BadField(field, `must be true or false, not ${describe(value)}`);
  return value;
}

function readOneOf<T extends string | number>(value: unknown, field: string, choices: readonly T[]): T {
  if (!(choices as readonly unknown[]).includes(value)) {
    throw new BadField(field, `must be one of ${choices.map((choice) => JSON.stringify(choice)).join(', ')}`);
  }
  return value as T;
}

/** Optional fields are absent or undefined; null is not "absent" (a client that sends it is confused). */
function optional<T>(value: unknown, read: (value: unknown) => T): T | undefined {
  return value === undefined ? undefined : read(value);
}

function readArgs(args: unknown, field: string, count: number): readonly unknown[] {
  if (!Array.isArray(args)) throw new BadField(field, `must be an argument list, not ${describe(args)}`);
  if (args.length > count) throw new BadField(field, `takes ${count} argument${count === 1 ? '' : 's'}, not ${args.length}`);
  return args;
}

function readPoolName(value: unknown, field: string): string {
  const text = readString(value, field, IPC_LIMITS.poolNameChars, 1);
  if (text.includes('\0')) throw new BadField(field, 'must not contain NUL');
  return text;
}

function readTime(value: unknown, field: string): number {
  return readInteger(value, field, 0, MAX_TIME_MS);
}

function readPeId(value: unknown, field: string): number {
  return readInteger(value, field, 0, MAX_PE_ID);
}

function readKinds(value: unknown, field: string): readonly HistoryKindName[] {
  if (!Array.isArray(value)) throw new BadField(field, `must be a list of kinds, not ${describe(value)}`);
  if (value.length > HISTORY_KINDS.length) throw new BadField(field, `lists more than ${HISTORY_KINDS.length} kinds`);
  const kinds = value.map((kind, index) => readOneOf(kind, `${field}[${index}]`, HISTORY_KINDS));
  if (new Set(kinds).size !== kinds.length) throw new BadField(field, 'lists a kind twice');
  return kinds;
}

function checkRange(from: number | undefined, to: number | undefined, field: string): void {
  if (from !== undefined && to !== undefined && from > to) throw new BadField(field, '"from" is after "to"');
}

/** Drops undefined fields, so a validated query compares and serializes like the caller's. */
function compact<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;
}

// ---- argument parsers ---------------------------------------------------------------------------------

function readHistoryQuery(value: unknown, field: string): HistoryQuery {
  const q = readObject(value, field, ['from', 'to', 'pool', 'peId', 'kinds', 'cursor', 'limit']);
  const from = optional(q['from'], (v) => readTime(v, `${field}.from`));
  const to = optional(q['to'], (v) => readTime(v, `${field}.to`));
  checkRange(from, to, field);
  return compact({
    from,
    to,
    pool: optional(q['pool'], (v) => readPoolName(v, `${field}.pool`)),
    peId: optional(q['peId'], (v) => readPeId(v, `${field}.peId`)),
    kinds: optional(q['kinds'], (v) => readKinds(v, `${field}.kinds`)),
    cursor: optional(q['cursor'], (v) => readString(v, `${field}.cursor`, IPC_LIMITS.historyCursorChars, 1)),
    limit: optional(q['limit'], (v) => readInteger(v, `${field}.limit`, 1, MAX_HISTORY_PAGE)),
  });
}

function readMetricQuery(value: unknown, field: string): MetricQuery {
  const q = readObject(value, field, ['pool', 'from', 'to', 'intervalMs']);
  const from = readTime(q['from'], `${field}.from`);
  const to = readTime(q['to'], `${field}.to`);
  checkRange(from, to, field);
  return compact({
    pool: readPoolName(q['pool'], `${field}.pool`),
    from,
    to,
    intervalMs: optional(q['intervalMs'], (v) => readOneOf(v, `${field}.intervalMs`, METRIC_INTERVALS)),
  });
}

function readExportQuery(value: unknown, field: string): ExportQuery {
  const q = readObject(value, field, ['format', 'from', 'to', 'pool', 'peId', 'kinds']);
  const from = optional(q['from'], (v) => readTime(v, `${field}.from`));
  const to = optional(q['to'], (v) => readTime(v, `${field}.to`));
  checkRange(from, to, field);
  return compact({
    format: readOneOf(q['format'], `${field}.format`, EXPORT_FORMATS),
    from,
    to,
    pool: optional(q['pool'], (v) => readPoolName(v, `${field}.pool`)),
    peId: optional(q['peId'], (v) => readPeId(v, `${field}.peId`)),
    kinds: optional(q['kinds'], (v) => readKinds(v, `${field}.kinds`)),
  });
}

function readTarget(value: unknown, field: string): ElementTarget {
  const t = readObject(value, field, ['pool', 'peId']);
  return { pool: readPoolName(t['pool'], `${field}.pool`), peId: readPeId(t['peId'], `${field}.peId`) };
}

/**
 * Shapes and hard bounds only: the reason's 1..500 characters and the drain timeout's range are the
 * service's rules, checked (and refusals audited) there, so an operator's mistake shows in the audit.
 */
function readCommandOptions(value: unknown, field: string): CommandOptions {
  const o = readObject(value, field, ['reason', 'force', 'afterDrainTimeoutMs']);
  return compact({
    reason: readString(o['reason'], `${field}.reason`, IPC_LIMITS.reasonChars),
    force: optional(o['force'], (v) => readBoolean(v, `${field}.force`)),
    afterDrainTimeoutMs: optional(o['afterDrainTimeoutMs'], (v) => readInteger(v, `${field}.afterDrainTimeoutMs`, 0, Number.MAX_SAFE_INTEGER)),
  });
}

function readPosition(value: unknown, field: string): StreamPosition | undefined {
  if (value === undefined || value === null) return undefined;
  const p = readObject(value, field, ['epoch', 'sequence']);
  return {
    epoch: readString(p['epoch'], `${field}.epoch`, IPC_LIMITS.epochChars, 1),
    sequence: readInteger(p['sequence'], `${field}.sequence`, 0, Number.MAX_SAFE_INTEGER),
  };
}

/**
 * Checks a ConsoleApi call's arguments (as the renderer passed them, in the ConsoleApi's order) and returns
 * a fresh, typed call. `method` itself is checked too: it may come from the wire.
 */
export function parseCapabilityCall(method: unknown, args: unknown): Result<CapabilityCall, ConsoleError> {
  return validate(() => readCall(method, args));
}

function readCall(method: unknown, args: unknown): CapabilityCall {
  if (!isCallMethod(method)) throw new BadField('method', `unknown capability ${preview(method)}`);
  switch (method) {
    case 'identity':
    case 'snapshot':
    case 'components':
    case 'heardRegistrars':
      readArgs(args, 'args', 0);
      return { method };
    case 'pool': {
      const [pool] = readArgs(args, 'args', 1);
      return { method, pool: readPoolName(pool, 'pool') };
    }
    case 'history': {
      const [query] = readArgs(args, 'args', 1);
      return { method, query: readHistoryQuery(query === undefined ? {} : query, 'query') };
    }
    case 'metrics': {
      const [query] = readArgs(args, 'args', 1);
      return { method, query: readMetricQuery(query, 'query') };
    }
    default: {
      const [target, options] = readArgs(args, 'args', 2);
      return { method, target: readTarget(target, 'target'), options: readCommandOptions(options, 'options') };
    }
  }
}

/** Checks exportHistory's query (the renderer's only argument to it). */
export function parseExportQuery(query: unknown): Result<ExportQuery, ConsoleError> {
  return validate(() => readExportQuery(query, 'query'));
}

/** Checks a subscribe position: undefined / null (from now) or `{ epoch, sequence }`. */
export function parseStreamPosition(position: unknown): Result<StreamPosition | undefined, ConsoleError> {
  return validate(() => readPosition(position, 'position'));
}

/** The arguments a call message carries for a validated call (the inverse of parseCapabilityCall). */
export function callArguments(call: CapabilityCall): readonly unknown[] {
  switch (call.method) {
    case 'identity':
    case 'snapshot':
    case 'components':
    case 'heardRegistrars':
      return [];
    case 'pool':
      return [call.pool];
    case 'history':
    case 'metrics':
      return [call.query];
    default:
      return [call.target, call.options];
  }
}

// ---- message parsers ----------------------------------------------------------------------------------

function readId(value: unknown, field: string): number {
  return readInteger(value, field, 0, Number.MAX_SAFE_INTEGER);
}

function readEndpoint(value: unknown, field: string): HostEndpoint {
  const e = readObject(value, field, ['host', 'port']);
  return { host: readString(e['host'], `${field}.host`, 255, 1), port: readInteger(e['port'], `${field}.port`, 0, 65535) };
}

function readFilePath(value: unknown, field: string): string {
  const file = readString(value, field, IPC_LIMITS.filePathChars, 1);
  if (file.includes('\0')) throw new BadField(field, 'must not contain NUL');
  // Absolute on either platform family: the main process always hands over a dialog's absolute path.
  if (!file.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(file) && !file.startsWith('\\\\')) {
    throw new BadField(field, 'must be an absolute path');
  }
  return file;
}

function readStartOptions(value: unknown, field: string): HostStartOptions {
  const o = readObject(value, field, ['history', 'registrar', 'version']);
  const h = readObject(o['history'], `${field}.history`, ['kind', 'path']);
  const kind = readOneOf(h['kind'], `${field}.history.kind`, ['file', 'temporary', 'none'] as const);
  if (kind !== 'file' && h['path'] !== undefined) throw new BadField(`${field}.history.path`, `is only for kind "file"`);
  const history: HostHistoryOption = kind === 'file' ? { kind, path: readFilePath(h['path'], `${field}.history.path`) } : { kind };
  const registrar = optional(o['registrar'], (v) => {
    const r = readObject(v, `${field}.registrar`, ['asap', 'announce']);
    return compact({
      asap: optional(r['asap'], (a) => readEndpoint(a, `${field}.registrar.asap`)),
      announce: optional(r['announce'], (a) => (a === 'off' ? ('off' as const) : readEndpoint(a, `${field}.registrar.announce`))),
    });
  });
  return compact({ history, registrar, version: optional(o['version'], (v) => readString(v, `${field}.version`, 64, 1)) });
}

export interface RefusedMessage {
  /** The request id when the message had a usable one, so the refusal can answer it. */
  readonly id: number | null;
  readonly error: ConsoleError;
}

/** The host's gate: every message from the main process goes through here before it is acted on. */
export function parseMainToHostMessage(raw: unknown): Result<HostInstruction, RefusedMessage> {
  const fields = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const type = fields['type'];
  // A request whose envelope is wrong still gets its answer when its id is usable.
  const candidateId = fields['id'];
  const id = (type === 'call' || type === 'export') && typeof candidateId === 'number' && Number.isSafeInteger(candidateId) && candidateId >= 0 ? candidateId : null;
  const parsed = validate((): HostInstruction => {
    switch (type) {
      case 'start': {
        const m = readObject(raw, 'message', ['type', 'options']);
        return { type, options: readStartOptions(m['options'], 'options') };
      }
      case 'call': {
        const m = readObject(raw, 'message', ['type', 'id', 'method', 'args']);
        return { type, id: readId(m['id'], 'id'), call: readCall(m['method'], m['args']) };
      }
      case 'export': {
        const m = readObject(raw, 'message', ['type', 'id', 'query', 'file']);
        return { type, id: readId(m['id'], 'id'), query: readExportQuery(m['query'], 'query'), file: readFilePath(m['file'], 'file') };
      }
      case 'subscribe': {
        const m = readObject(raw, 'message', ['type', 'subscription', 'position']);
        return { type, subscription: readId(m['subscription'], 'subscription'), position: readPosition(m['position'], 'position') };
      }
      case 'unsubscribe': {
        const m = readObject(raw, 'message', ['type', 'subscription']);
        return { type, subscription: readId(m['subscription'], 'subscription') };
      }
      case 'shutdown': {
        const m = readObject(raw, 'message', ['type', 'reason']);
        return { type, reason: readString(m['reason'], 'reason', IPC_LIMITS.textChars) };
      }
      default:
        throw new BadField('type', `unknown message type ${preview(type)}`);
    }
  });
  return parsed.ok ? parsed : err({ id, error: parsed.error });
}

const HOST_MESSAGE_TYPES: readonly HostToMainMessage['type'][] = ['ready', 'startFailed', 'result', 'event', 'rejected', 'log', 'stopped'];

/**
 * The main process's gate for host messages. The host is our own code, so this checks the envelope (type,
 * ids, result shape) that routing depends on, not every field of a snapshot.
 */
export function parseHostToMainMessage(raw: unknown): Result<HostToMainMessage, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return err(`not an object: ${describe(raw)}`);
  const m = raw as Record<string, unknown>;
  const type = m['type'];
  if (!(HOST_MESSAGE_TYPES as readonly unknown[]).includes(type)) return err(`unknown message type ${preview(type)}`);
  const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  const isText = (value: unknown): value is string => typeof value === 'string';
  switch (type) {
    case 'ready':
      return isText(m['epoch']) && isText(m['asap']) && typeof m['identity'] === 'object' && m['identity'] !== null
        ? ok(raw as HostToMainMessage)
        : err('ready: missing epoch, asap or identity');
    case 'startFailed':
      return isText(m['error']) ? ok(raw as HostToMainMessage) : err('startFailed: missing error');
    case 'result': {
      const result = m['result'] as Record<string, unknown> | null | undefined;
      const resultOk = typeof result === 'object' && result !== null && (result['ok'] === true || (result['ok'] === false && typeof result['error'] === 'object'));
      return isId(m['id']) && resultOk ? ok(raw as HostToMainMessage) : err('result: bad id or result');
    }
    case 'event': {
      const message = m['message'] as Record<string, unknown> | null | undefined;
      const kindOk = typeof message === 'object' && message !== null && ['hello', 'events', 'resync'].includes(message['kind'] as string);
      return isId(m['subscription']) && kindOk ? ok(raw as HostToMainMessage) : err('event: bad subscription or message');
    }
    case 'rejected':
      return (m['id'] === null || isId(m['id'])) && isText(m['reason']) ? ok(raw as HostToMainMessage) : err('rejected: bad id or reason');
    case 'log':
      return isText(m['line']) ? ok(raw as HostToMainMessage) : err('log: missing line');
    default:
      return isText(m['reason']) ? ok(raw as HostToMainMessage) : err('stopped: missing reason');
  }
}

/** The error a caller gets when the host cannot answer (stopped, restarting, timed out). */
export function unavailable(message: string): ConsoleResult<never> {
  return { ok: false, error: { code: 'unavailable', message } };
}
