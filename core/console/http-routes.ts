/**
 * The LAN API's surface as data: which paths exist (matchRoute), how their path segments, query strings and
 * command bodies are read and checked (strictly: an unknown field, a wrong type, a repeated parameter is a
 * 400 naming the field), the shapes of the answers that are not ConsoleApi types already, and which HTTP
 * status each ConsoleErrorCode maps to. Pure functions: the server (http-server.ts) does the I/O.
 */
import { err, ok, type Result } from '../result.js';
import {
  API_PREFIX,
  OPERATOR_COMMANDS,
  type CommandOptions,
  type ConsoleError,
  type ConsoleErrorCode,
  type ExportFormatName,
  type ExportQuery,
  type HistoryKindName,
  type HistoryQuery,
  type Identity,
  type MetricQuery,
  type OperatorCommand,
  type PoolView,
  type RegistrarInfo,
  type StreamPosition,
} from './contract.js';

// ---- answers ------------------------------------------------------------------------------------------

/** GET /api/v1/status. */
export interface StatusView {
  /** Who the token belongs to, as the audit names it, and its role. */
  readonly identity: Identity;
  /** The run's event-stream epoch and the sequence the figures below include. */
  readonly epoch: string;
  readonly sequence: number;
  readonly registrar: RegistrarInfo;
  readonly pools: number;
  readonly elements: number;
  readonly poolUsers: number;
}

/** A pool in GET /api/v1/pools: its counts and policy, without the element list (GET /pools/{handle} has it). */
export type PoolSummaryView = Omit<PoolView, 'elements'>;

export interface PoolListView {
  readonly sequence: number;
  readonly pools: readonly PoolSummaryView[];
}

// ---- status codes -------------------------------------------------------------------------------------

const STATUS_BY_CODE: Record<ConsoleErrorCode, number> = {
  badRequest: 400,
  unauthorized: 401,
  forbidden: 403,
  notFound: 404,
  lastReadyElement: 409,
  conflict: 409,
  tooLarge: 413,
  rateLimited: 429,
  internal: 500,
  unavailable: 503,
};

export function httpStatusFor(code: ConsoleErrorCode): number {
  return STATUS_BY_CODE[code] ?? 500;
}

export function consoleError(code: ConsoleErrorCode, message: string, field?: string): ConsoleError {
  return field === undefined ? { code, message } : { code, message, field };
}

function badRequest(field: string, message: string): ConsoleError {
  return consoleError('badRequest', message, field);
}

// ---- routes -------------------------------------------------------------------------------------------

export type ApiRoute =
  | { readonly name: 'identity' }
  | { readonly name: 'status' }
  | { readonly name: 'snapshot' }
  | { readonly name: 'pools' }
  | { readonly name: 'pool'; readonly pool: string }
  | { readonly name: 'element'; readonly pool: string; readonly peId: number }
  | { readonly name: 'command'; readonly pool: string; readonly peId: number; readonly command: OperatorCommand }
  | { readonly name: 'history' }
  | { readonly name: 'metrics' }
  | { readonly name: 'components' }
  | { readonly name: 'heardRegistrars' }
  | { readonly name: 'export' }
  | { readonly name: 'events' };

export interface RouteProblem {
  readonly status: number;
  readonly error: ConsoleError;
  /** For 405: the methods the path takes. */
  readonly allow?: string;
}

const FIXED_GET_ROUTES: Readonly<Record<string, ApiRoute>> = {
  identity: { name: 'identity' },
  status: { name: 'status' },
  snapshot: { name: 'snapshot' },
  pools: { name: 'pools' },
  history: { name: 'history' },
  metrics: { name: 'metrics' },
  components: { name: 'components' },
  export: { name: 'export' },
  events: { name: 'events' },
};

/** Longest pool handle text accepted in a URL (the registrar's own limit is lower: 32 bytes by default). */
export const MAX_POOL_TEXT_LENGTH = 512;

/**
 * A pool handle path segment: percent-encoded UTF-8 text, or `0x` and the hex of the handle's bytes. The
 * backend reads both forms, so the decoded text is passed on unchanged.
 */
export function parsePoolSegment(segment: string): Result<string, ConsoleError> {
  let text: string;
  try {
    text = decodeURIComponent(segment);
  } catch {
    return err(badRequest('pool', 'the pool handle is not valid percent-encoded UTF-8'));
  }
  if (text === '') return err(badRequest('pool', 'the pool handle is empty'));
  if (text.length > MAX_POOL_TEXT_LENGTH) return err(badRequest('pool', `the pool handle is longer than ${MAX_POOL_TEXT_LENGTH} characters`));
  return ok(text);
}

/** An element identifier: `0x` and 1-8 hex digits, or decimal; 32-bit. */
export function parseElementId(text: string, field = 'peId'): Result<number, ConsoleError> {
  let value: number;
  if (/^0x[0-9a-f]{1,8}$/i.test(text)) value = Number.parseInt(text.slice(2), 16);
  else if (/^\d{1,10}$/.test(text)) value = Number(text);
  else return err(badRequest(field, `${JSON.stringify(text)} is not an element identifier (0xHEX or decimal, 32-bit)`));
  if (value > 0xffffffff) return err(badRequest(field, `${text} does not fit in 32 bits`));
  return ok(value);
}

/** Each route takes one method (no HEAD: an API answer is computed, not a file with a length to tell). */
function allow(expected: 'GET' | 'POST'): (method: string) => RouteProblem | undefined {
  return (method) =>
    method === expected ? undefined : { status: 405, error: consoleError('badRequest', `${method} is not allowed here (allowed: ${expected})`), allow: expected };
}

/** Which API route a method and raw (still percent-encoded) path name, or why none does. */
export function matchRoute(method: string, rawPath: string): Result<ApiRoute, RouteProblem> {
  const notFound: RouteProblem = { status: 404, error: consoleError('notFound', `no such route: ${rawPath.slice(0, 200)}`) };
  if (!rawPath.startsWith(`${API_PREFIX}/`)) return err(notFound);
  const segments = rawPath.slice(API_PREFIX.length + 1).split('/');
  if (segments.some((s) => s === '')) return err(notFound);
  const [first, pool, elements, peId, command, ...rest] = segments;
  if (first === undefined) return err(notFound);
  if (segments.length === 1) {
    const fixed = FIXED_GET_ROUTES[first];
    if (!fixed) return err(notFound);
    const refused = allow('GET')(method);
    return refused ? err(refused) : ok(fixed);
  }
  if (first === 'registrars' && pool === 'heard' && segments.length === 2) {
    // GET /registrars/heard: registrars heard announcing on the LAN (discovery).
    const refused = allow('GET')(method);
    return refused ? err(refused) : ok({ name: 'heardRegistrars' });
  }
  if (first !== 'pools' || pool === undefined || rest.length > 0) return err(notFound);
  if (elements !== undefined && (elements !== 'elements' || peId === undefined)) return err(notFound);
  if (command !== undefined && !(OPERATOR_COMMANDS as readonly string[]).includes(command)) return err(notFound);
  const refused = allow(command === undefined ? 'GET' : 'POST')(method);
  if (refused) return err(refused);
  const poolText = parsePoolSegment(pool);
  if (!poolText.ok) return err({ status: 400, error: poolText.error });
  if (peId === undefined) return ok({ name: 'pool', pool: poolText.value });
  const id = parseElementId(peId);
  if (!id.ok) return err({ status: 400, error: id.error });
  if (command === undefined) return ok({ name: 'element', pool: poolText.value, peId: id.value });
  return ok({ name: 'command', pool: poolText.value, peId: id.value, command: command as OperatorCommand });
}

// ---- query strings ------------------------------------------------------------------------------------

/** The query parameters, each at most once, none but `allowed`. */
export function readQuery(params: URLSearchParams, allowed: readonly string[]): Result<ReadonlyMap<string, string>, ConsoleError> {
  const values = new Map<string, string>();
  for (const [name, value] of params) {
    if (!allowed.includes(name)) {
      return err(badRequest(name, `unknown query parameter ${JSON.stringify(name)}${allowed.length > 0 ? ` (known: ${allowed.join(', ')})` : ' (this route takes none)'}`));
    }
    if (values.has(name)) return err(badRequest(name, `query parameter ${JSON.stringify(name)} given more than once`));
    values.set(name, value);
  }
  return ok(values);
}

/** A time: milliseconds since the epoch, or ISO-8601 (a date-time without a zone is UTC). */
export function parseTime(text: string, field: string): Result<number, ConsoleError> {
  if (/^\d{1,15}$/.test(text)) return ok(Number(text));
  const withZone = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text) ? `${text}Z` : text;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(withZone) ? Date.parse(withZone) : NaN;
  if (!Number.isFinite(ms)) return err(badRequest(field, `${JSON.stringify(text)} is not a time (ISO-8601 such as 2026-11-27T10:00:00Z, or milliseconds since 1970)`));
  return ok(ms);
}

/** Every kind the history knows; a Record so the compiler notices a kind added to the contract. */
const HISTORY_KIND_SET: Record<HistoryKindName, true> = {
  registered: true,
  reregistered: true,
  health: true,
  admin: true,
  removed: true,
  notification: true,
  audit: true,
  deployment: true,
};
export const HISTORY_KIND_NAMES = Object.keys(HISTORY_KIND_SET) as HistoryKindName[];

export function parseKinds(text: string): Result<HistoryKindName[], ConsoleError> {
  const kinds = text.split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (kinds.length === 0) return err(badRequest('kind', 'kind is empty'));
  const unknown = kinds.filter((k) => !Object.hasOwn(HISTORY_KIND_SET, k));
  if (unknown.length > 0) return err(badRequest('kind', `unknown kind ${unknown.join(', ')} (known: ${HISTORY_KIND_NAMES.join(', ')})`));
  return ok(kinds as HistoryKindName[]);
}

interface RowFilter {
  from?: number;
  to?: number;
  pool?: string;
  peId?: number;
  kinds?: HistoryKindName[];
}

const FILTER_PARAMS = ['from', 'to', 'pool', 'pe', 'kind'] as const;

function readFilter(values: ReadonlyMap<string, string>): Result<RowFilter, ConsoleError> {
  const filter: RowFilter = {};
  for (const field of ['from', 'to'] as const) {
    const text = values.get(field);
    if (text === undefined) continue;
    const time = parseTime(text, field);
    if (!time.ok) return time;
    filter[field] = time.value;
  }
  if (filter.from !== undefined && filter.to !== undefined && filter.from > filter.to) return err(badRequest('to', '"to" is before "from"'));
  const pool = values.get('pool');
  if (pool !== undefined) {
    if (pool === '') return err(badRequest('pool', 'pool is empty'));
    filter.pool = pool;
  }
  const pe = values.get('pe');
  if (pe !== undefined) {
    const id = parseElementId(pe, 'pe');
    if (!id.ok) return id;
    filter.peId = id.value;
  }
  const kind = values.get('kind');
  if (kind !== undefined) {
    const kinds = parseKinds(kind);
    if (!kinds.ok) return kinds;
    filter.kinds = kinds.value;
  }
  return ok(filter);
}

export const MAX_HISTORY_PAGE = 1000;

/** GET /api/v1/history?from=&to=&pool=&pe=&kind=a,b&cursor=&limit= */
export function parseHistoryQuery(params: URLSearchParams): Result<HistoryQuery, ConsoleError> {
  const values = readQuery(params, [...FILTER_PARAMS, 'cursor', 'limit']);
  if (!values.ok) return values;
  const filter = readFilter(values.value);
  if (!filter.ok) return filter;
  const query: RowFilter & { cursor?: string; limit?: number } = { ...filter.value };
  const cursor = values.value.get('cursor');
  if (cursor !== undefined) {
    if (cursor === '' || cursor.length > 1000) return err(badRequest('cursor', 'cursor must be the "next" value of the previous page'));
    query.cursor = cursor;
  }
  const limit = values.value.get('limit');
  if (limit !== undefined) {
    const n = /^\d{1,4}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= MAX_HISTORY_PAGE)) return err(badRequest('limit', `limit must be an integer 1..${MAX_HISTORY_PAGE}`));
    query.limit = n;
  }
  return ok(query);
}

const INTERVALS: Readonly<Record<string, number>> = { '1s': 1000, '1000': 1000, '1m': 60_000, '60000': 60_000, '1h': 3_600_000, '3600000': 3_600_000 };
/** Without from/to, a metric series covers the last hour. */
export const DEFAULT_METRIC_RANGE_MS = 3_600_000;

/** GET /api/v1/metrics?pool=&from=&to=&interval=1s|1m|1h (or 1000, 60000, 3600000) */
export function parseMetricQuery(params: URLSearchParams, now: number): Result<MetricQuery, ConsoleError> {
  const values = readQuery(params, ['pool', 'from', 'to', 'interval']);
  if (!values.ok) return values;
  const pool = values.value.get('pool');
  if (pool === undefined || pool === '') return err(badRequest('pool', 'pool is required'));
  let to = now;
  const toText = values.value.get('to');
  if (toText !== undefined) {
    const parsed = parseTime(toText, 'to');
    if (!parsed.ok) return parsed;
    to = parsed.value;
  }
  let from = to - DEFAULT_METRIC_RANGE_MS;
  const fromText = values.value.get('from');
  if (fromText !== undefined) {
    const parsed = parseTime(fromText, 'from');
    if (!parsed.ok) return parsed;
    from = parsed.value;
  }
  if (from >= to) return err(badRequest('to', '"to" must be after "from"'));
  const intervalText = values.value.get('interval');
  if (intervalText === undefined) return ok({ pool, from, to });
  const intervalMs = INTERVALS[intervalText];
  if (intervalMs === undefined) return err(badRequest('interval', 'interval must be 1s, 1m or 1h (or 1000, 60000, 3600000)'));
  return ok({ pool, from, to, intervalMs });
}

/** GET /api/v1/export?format=csv|jsonl&from=&to=&pool=&pe=&kind= */
export function parseExportQuery(params: URLSearchParams): Result<ExportQuery, ConsoleError> {
  const values = readQuery(params, ['format', ...FILTER_PARAMS]);
  if (!values.ok) return values;
  const format = values.value.get('format');
  if (format !== 'csv' && format !== 'jsonl') return err(badRequest('format', 'format must be csv or jsonl'));
  const filter = readFilter(values.value);
  if (!filter.ok) return filter;
  return ok({ format: format satisfies ExportFormatName, ...filter.value });
}

/** WebSocket /api/v1/events?epoch=E&since=N: both to resume, neither to start from now. */
export function parseStreamPosition(params: URLSearchParams): Result<StreamPosition | undefined, ConsoleError> {
  const values = readQuery(params, ['epoch', 'since']);
  if (!values.ok) return values;
  const epoch = values.value.get('epoch');
  const since = values.value.get('since');
  if (epoch === undefined && since === undefined) return ok(undefined);
  if (epoch === undefined || epoch === '' || epoch.length > 200) return err(badRequest('epoch', 'to resume, give both epoch (from the hello message) and since'));
  const sequence = since !== undefined && /^\d{1,15}$/.test(since) ? Number(since) : NaN;
  if (!Number.isSafeInteger(sequence)) return err(badRequest('since', 'since must be the last event sequence received (an integer >= 0)'));
  return ok({ epoch, sequence });
}

// ---- command bodies -----------------------------------------------------------------------------------

export const MAX_REASON_LENGTH = 500;
export const MIN_AFTER_DRAIN_TIMEOUT_MS = 1000;
export const MAX_AFTER_DRAIN_TIMEOUT_MS = 86_400_000;
const COMMAND_FIELDS = ['reason', 'force', 'afterDrainTimeoutMs'];

/** The JSON body of POST .../elements/{peId}/{command}: `{ reason, force?, afterDrainTimeoutMs? }`. */
export function parseCommandBody(command: OperatorCommand, body: string): Result<CommandOptions, ConsoleError> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body) as unknown;
  } catch (e) {
    return err(badRequest('body', `the body is not JSON: ${(e as Error).message}`));
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return err(badRequest('body', 'the body must be a JSON object'));
  const fields = parsed as Record<string, unknown>;
  const unknownField = Object.keys(fields).find((k) => !COMMAND_FIELDS.includes(k));
  if (unknownField !== undefined) return err(badRequest(unknownField, `unknown field ${JSON.stringify(unknownField)} (known: ${COMMAND_FIELDS.join(', ')})`));
  const { reason, force, afterDrainTimeoutMs } = fields;
  if (reason === undefined) return err(badRequest('reason', 'reason is required: the audit and the pool users are told why'));
  if (typeof reason !== 'string') return err(badRequest('reason', 'reason must be a string'));
  if (reason.trim() === '') return err(badRequest('reason', 'reason is empty'));
  if (reason.length > MAX_REASON_LENGTH) return err(badRequest('reason', `reason is longer than ${MAX_REASON_LENGTH} characters`));
  if (force !== undefined && typeof force !== 'boolean') return err(badRequest('force', 'force must be true or false'));
  const options: { reason: string; force?: boolean; afterDrainTimeoutMs?: number } = { reason };
  if (force !== undefined) options.force = force;
  if (afterDrainTimeoutMs !== undefined) {
    if (command !== 'maintenance') return err(badRequest('afterDrainTimeoutMs', 'afterDrainTimeoutMs applies to maintenance only'));
    if (typeof afterDrainTimeoutMs !== 'number' || !Number.isInteger(afterDrainTimeoutMs)) return err(badRequest('afterDrainTimeoutMs', 'afterDrainTimeoutMs must be an integer (milliseconds)'));
    if (afterDrainTimeoutMs < MIN_AFTER_DRAIN_TIMEOUT_MS || afterDrainTimeoutMs > MAX_AFTER_DRAIN_TIMEOUT_MS) {
      return err(badRequest('afterDrainTimeoutMs', `afterDrainTimeoutMs must be ${MIN_AFTER_DRAIN_TIMEOUT_MS}..${MAX_AFTER_DRAIN_TIMEOUT_MS} ms (1 s .. 24 h)`));
    }
    options.afterDrainTimeoutMs = afterDrainTimeoutMs;
  }
  return ok(options);
}
