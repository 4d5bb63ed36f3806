/**
 * The ConsoleApi over the LAN server's HTTP JSON routes and its WebSocket event stream (core/console's
 * http-server). Every answer is a ConsoleResult envelope; a network failure becomes the error value
 * `unavailable` instead of a thrown exception. The event stream reconnects by itself with back-off and
 * resumes from the last position it delivered (the server fills the gap or sends a resync), so the
 * listener sees one continuous stream; the connection state tells the header what is going on.
 */
import {
  type ComponentsSnapshot,
  API_PREFIX,
  type CommandOptions,
  type CommandOutcome,
  type ConsoleApi,
  type ConsoleErrorCode,
  type ConsoleResult,
  type ElementTarget,
  type EventStreamMessage,
  type ExportOutcome,
  type ExportQuery,
  type HeardRegistrarView,
  type HistoryPageView,
  type HistoryQuery,
  type Identity,
  type MetricQuery,
  type MetricSeriesView,
  type OperatorCommand,
  type PoolView,
  type Snapshot,
  type StreamPosition,
} from '../../../core/console/contract.js';
import { ConnectionStatus, type ConnectionWatch } from './connection-state.js';

/** Reconnect back-off: first retry after this, doubling up to the maximum. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5000;
/** WebSocket close codes the server uses for a refused token (RFC 6455 policy violation, or 4000 + HTTP 401/403). */
const REFUSED_CLOSE_CODES = new Set([1008, 4401, 4403]);

/** The WebSocket subprotocol that carries the token (browsers cannot set headers on a WebSocket). */
export const TOKEN_SUBPROTOCOL_PREFIX = 'handlespace.token.';
export const EVENTS_SUBPROTOCOL = 'handlespace.v1';

export interface LanTransportOptions {
  /** Origin of the console server, e.g. "http://127.0.0.1:8347"; default the page's own origin. */
  readonly origin?: string;
  readonly token: string;
  /** For tests and for the benchmark; default the browser's. */
  readonly fetch?: typeof fetch;
  readonly WebSocket?: typeof WebSocket;
  /** Starts the browser download of an export (default: an object URL and an <a download>). */
  readonly saveDownload?: (blob: Blob, fileName: string) => void;
}

function failure<T>(code: ConsoleErrorCode, message: string): ConsoleResult<T> {
  return { ok: false, error: { code, message } };
}

function isResult(value: unknown): value is ConsoleResult<unknown> {
  return typeof value === 'object' && value !== null && 'ok' in value && typeof (value as { ok: unknown }).ok === 'boolean';
}

/** "echo" → "echo"; the path segment for a pool handle (UTF-8 text percent-encoded, `0x` hex as is). */
export function poolSegment(pool: string): string {
  return encodeURIComponent(pool);
}

function downloadInBrowser(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
  // The browser has taken the blob once click() returns; release it after the current task.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function fileNameFrom(disposition: string | null, fallback: string): string {
  const match = disposition ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition) : null;
  return match?.[1] ? decodeURIComponent(match[1]) : fallback;
}

export class LanConsoleApi implements ConsoleApi {
  private readonly origin: string;
  private readonly token: string;
  private readonly fetchImpl: typeof fetch;
  private readonly WebSocketImpl: typeof WebSocket;
  private readonly saveDownload: (blob: Blob, fileName: string) => void;
  private readonly status = new ConnectionStatus();

  constructor(options: LanTransportOptions) {
    this.origin = options.origin ?? window.location.origin;
    this.token = options.token;
    this.fetchImpl = options.fetch ?? window.fetch.bind(window);
    this.WebSocketImpl = options.WebSocket ?? window.WebSocket;
    this.saveDownload = options.saveDownload ?? downloadInBrowser;
  }

  get connection(): ConnectionWatch {
    return this.status;
  }

  private url(path: string, params?: URLSearchParams): string {
    const query = params && [...params.keys()].length > 0 ? `?${params.toString()}` : '';
    return `${this.origin}${API_PREFIX}${path}${query}`;
  }

  /** The origin this transport talks to ("http://host:port"). */
  get serverOrigin(): string {
    return this.origin;
  }

  private async request<T>(method: 'GET' | 'POST', path: string, params?: URLSearchParams, body?: unknown): Promise<ConsoleResult<T>> {
    // A refused token stays refused: no request leaves until the user gives another token (a new transport),
    // so a wrong token cannot turn into a stream of 401s.
    if (this.status.state === 'unauthorized') return failure('unauthorized', 'the server refused the token; give another one');
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path, params), {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        cache: 'no-store',
      });
    } catch (error) {
      return failure('unavailable', `cannot reach the console server: ${error instanceof Error ? error.message : String(error)}`);
    }
    const payload: unknown = await response.json().catch(() => undefined);
    if (response.status === 401) this.status.set('unauthorized', 'the server refused the token');
    if (isResult(payload)) return payload as ConsoleResult<T>;
    return failure(response.status === 401 ? 'unauthorized' : 'internal', `unexpected answer from the console server (HTTP ${response.status})`);
  }

  identity(): Promise<ConsoleResult<Identity>> {
    return this.request<Identity>('GET', '/identity');
  }

  snapshot(): Promise<ConsoleResult<Snapshot>> {
    return this.request<Snapshot>('GET', '/snapshot');
  }

  pool(pool: string): Promise<ConsoleResult<PoolView>> {
    return this.request<PoolView>('GET', `/pools/${poolSegment(pool)}`);
  }

  history(query: HistoryQuery): Promise<ConsoleResult<HistoryPageView>> {
    return this.request<HistoryPageView>('GET', '/history', historyParams(query));
  }

  metrics(query: MetricQuery): Promise<ConsoleResult<MetricSeriesView>> {
    const params = new URLSearchParams({ pool: query.pool, from: String(query.from), to: String(query.to) });
    if (query.intervalMs !== undefined) params.set('interval', String(query.intervalMs));
    return this.request<MetricSeriesView>('GET', '/metrics', params);
  }

  components(): Promise<ConsoleResult<ComponentsSnapshot>> {
    return this.request<ComponentsSnapshot>('GET', '/components');
  }

  heardRegistrars(): Promise<ConsoleResult<readonly HeardRegistrarView[]>> {
    return this.request<readonly HeardRegistrarView[]>('GET', '/registrars/heard');
  }

  async exportHistory(query: ExportQuery): Promise<ConsoleResult<ExportOutcome>> {
    const params = historyParams(query);
    params.set('format', query.format);
    let response: Response;
    try {
      response = await this.fetchImpl(this.url('/export', params), { headers: { authorization: `Bearer ${this.token}` }, cache: 'no-store' });
    } catch (error) {
      return failure('unavailable', `cannot reach the console server: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!response.ok) {
      const payload: unknown = await response.json().catch(() => undefined);
      if (isResult(payload) && !payload.ok) return payload as ConsoleResult<ExportOutcome>;
      return failure('internal', `export failed (HTTP ${response.status})`);
    }
    const blob = await response.blob();
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const fileName = fileNameFrom(response.headers.get('content-disposition'), `handlespace-history-${stamp}.${query.format}`);
    const text = await blob.text();
    const rowsHeader = response.headers.get('x-export-rows');
    const rows = rowsHeader !== null && /^\d+$/.test(rowsHeader) ? Number(rowsHeader) : countRecords(text, query.format);
    this.saveDownload(blob, fileName);
    return { ok: true, value: { rows, bytes: blob.size, savedAs: fileName } };
  }

  private command(command: OperatorCommand, target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>> {
    const body = {
      reason: options.reason,
      ...(options.force === undefined ? {} : { force: options.force }),
      ...(options.afterDrainTimeoutMs === undefined ? {} : { afterDrainTimeoutMs: options.afterDrainTimeoutMs }),
    };
    return this.request<CommandOutcome>('POST', `/pools/${poolSegment(target.pool)}/elements/${target.peId}/${command}`, undefined, body);
  }

  drain(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>> {
    return this.command('drain', target, options);
  }

  ready(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>> {
    return this.command('ready', target, options);
  }

  maintenance(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>> {
    return this.command('maintenance', target, options);
  }

  failover(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>> {
    return this.command('failover', target, options);
  }

  deregister(target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>> {
    return this.command('deregister', target, options);
  }

  subscribe(position: StreamPosition | undefined, listener: (message: EventStreamMessage) => void): () => void {
    let resumeFrom = position;
    let socket: WebSocket | undefined;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let ended = false;

    const open = (): void => {
      if (this.status.state === 'unauthorized') return;
      const url = new URL(this.url('/events'));
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      if (resumeFrom) {
        url.searchParams.set('epoch', resumeFrom.epoch);
        url.searchParams.set('since', String(resumeFrom.sequence));
      }
      const ws = new this.WebSocketImpl(url.toString(), [EVENTS_SUBPROTOCOL, `${TOKEN_SUBPROTOCOL_PREFIX}${this.token}`]);
      socket = ws;
      ws.onmessage = (event: MessageEvent) => {
        if (ended || typeof event.data !== 'string') return;
        let message: EventStreamMessage;
        try {
          message = JSON.parse(event.data) as EventStreamMessage;
        } catch {
          return;
        }
        if (message.kind === 'hello') {
          attempt = 0;
          resumeFrom = { epoch: message.epoch, sequence: resumeFrom?.epoch === message.epoch ? resumeFrom.sequence : message.sequence };
          this.status.set('live');
        } else if (message.kind === 'resync' && resumeFrom) {
          resumeFrom = { epoch: resumeFrom.epoch, sequence: message.snapshot.sequence };
        } else if (message.kind === 'events' && resumeFrom) {
          const last = message.events[message.events.length - 1];
          if (last) resumeFrom = { epoch: resumeFrom.epoch, sequence: last.seq };
        }
        listener(message);
      };
      ws.onclose = (event: CloseEvent) => {
        if (ended || socket !== ws) return;
        if (REFUSED_CLOSE_CODES.has(event.code)) {
          this.status.set('unauthorized', event.reason || 'the server refused the token');
          return;
        }
        const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt);
        attempt += 1;
        this.status.set('reconnecting', `retrying in ${Math.round(delay / 100) / 10} s`);
        retryTimer = setTimeout(open, delay);
      };
    };
    open();
    return () => {
      ended = true;
      clearTimeout(retryTimer);
      socket?.close(1000, 'unsubscribed');
    };
  }
}

function historyParams(query: HistoryQuery | ExportQuery): URLSearchParams {
  const params = new URLSearchParams();
  if (query.from !== undefined) params.set('from', String(query.from));
  if (query.to !== undefined) params.set('to', String(query.to));
  if (query.pool !== undefined && query.pool !== '') params.set('pool', query.pool);
  if (query.peId !== undefined) params.set('pe', String(query.peId));
  if (query.kinds !== undefined && query.kinds.length > 0) params.set('kind', query.kinds.join(','));
  if ('cursor' in query && query.cursor !== undefined) params.set('cursor', query.cursor);
  if ('limit' in query && query.limit !== undefined) params.set('limit', String(query.limit));
  return params;
}

/** Records in an export body when the server does not say: JSON lines, or CSV lines after the header. */
function countRecords(text: string, format: ExportQuery['format']): number {
  if (text === '') return 0;
  if (format === 'jsonl') return text.split('\n').filter((line) => line.trim() !== '').length;
  // RFC 4180 records may contain quoted line breaks: count record ends outside quotes.
  let records = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === '\n' && !quoted) records += 1;
  }
  if (!text.endsWith('\n')) records += 1;
  return Math.max(0, records - 1);
}
