/**
 * What the transports (the LAN HTTP/WebSocket server, the Electron core host) need from the console: the
 * ConsoleApi's capabilities with the caller's identity made explicit. `ConsoleService` implements it; the
 * transports authenticate the caller, then call these.
 */
import type { Writable } from 'node:stream';
import type {
  CommandOptions,
  ComponentsSnapshot,
  CommandOutcome,
  ConsoleResult,
  ElementTarget,
  EventStreamMessage,
  ExportQuery,
  HeardRegistrarView,
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

export interface AccessAttempt {
  /** Where it came from ("127.0.0.1:53122", "electron"). */
  readonly source: string;
  /** What was asked ("POST /api/v1/pools/echo/elements/0x1/drain"). */
  readonly request: string;
  /** 'unauthorized' (no or wrong token) or 'forbidden' (a viewer asked for a command). */
  readonly result: 'unauthorized' | 'forbidden';
  /** The identity when known (forbidden), else undefined. */
  readonly identity?: Identity | undefined;
}

export interface ConsoleBackend {
  /** Identifies this run of the server: a stream position from another epoch resyncs. */
  readonly epoch: string;
  snapshot(): Snapshot;
  pool(pool: string): ConsoleResult<PoolView>;
  history(query: HistoryQuery): ConsoleResult<HistoryPageView>;
  metrics(query: MetricQuery): ConsoleResult<MetricSeriesView>;
  components(): ConsoleResult<ComponentsSnapshot>;
  /** Registrars heard announcing on the LAN, most recently heard first; 'unavailable' when discovery is off. */
  heardRegistrars(): ConsoleResult<readonly HeardRegistrarView[]>;
  /** Streams the export to `out` (which it ends); rows and bytes written. */
  exportHistory(query: ExportQuery, out: Writable): Promise<ConsoleResult<{ readonly rows: number; readonly bytes: number }>>;
  /**
   * Runs an operator command. Validates (reason, state, last-ready guard), audits (also refusals), and
   * answers only once the audit row and the admin state are durable. A viewer gets 'forbidden'.
   */
  command(identity: Identity, command: OperatorCommand, target: ElementTarget, options: CommandOptions): Promise<ConsoleResult<CommandOutcome>>;
  /** Audits a refused access (wrong token, viewer command) so an operator can see who knocked. */
  auditAccess(attempt: AccessAttempt): void;
  /** See ConsoleApi.subscribe; `identity` is echoed in the hello message. */
  subscribe(identity: Identity, position: StreamPosition | undefined, listener: (message: EventStreamMessage) => void): () => void;
}
