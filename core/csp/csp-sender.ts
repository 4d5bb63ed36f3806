/**
 * The CSP reporter (`--csp-report HOST:PORT --csp-interval MS` on serve, pe and pu): sends one report at
 * start and then every interval to a monitor (RSPLIB's cspmonitor or our own receiver), and a final report
 * (F flag) on stop, as RSPLIB's componentstatusreporter does. It owns the timer, the UDP socket, the uptime
 * (sender timestamp) and the interval range; the caller supplies the status each time one is due.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { err, ok, type Result } from '../result.js';
import {
  componentId,
  CSP_FLAG_FINAL,
  CSP_MAX_ASSOCIATIONS,
  ComponentGroup,
  encodeCspReport,
  workloadToWire,
  type ComponentRole,
  type CspAssociation,
} from './csp-codec.js';
import { formatHostPort } from './csp-receiver.js';

/** RSPLIB's CSP_INTERVAL floor; the ceiling keeps the interval in the 32-bit microsecond field (and sane). */
export const CSP_INTERVAL_RANGE = { min: 250, max: 3_600_000 } as const;
export const CSP_DEFAULT_INTERVAL_MS = 1000;
/** How long stop() waits for the final report to leave. */
const FINAL_SEND_TIMEOUT_MS = 1000;

/** What a component says about itself in one report. */
export interface CspStatus {
  readonly location: string;
  readonly status: string;
  /** 0 idle .. 1 full; undefined = unknown. */
  readonly workload?: number | undefined;
  /** Cut to CSP_MAX_ASSOCIATIONS. */
  readonly associations?: readonly CspAssociation[];
}

export interface CspSenderOptions {
  readonly target: { readonly host: string; readonly port: number };
  readonly role: ComponentRole;
  /** The component's own id within its role (registrar id, PE id, a PU's random id); 56 bits are sent. */
  readonly objectId: bigint | number;
  /** Clamped to CSP_INTERVAL_RANGE (use clampCspInterval first to tell the user). */
  readonly intervalMs: number;
  /** Called for every report; an exception is logged and that report skipped. */
  readonly status: () => CspStatus;
  readonly clock?: Clock;
  readonly log?: (line: string) => void;
}

export function clampCspInterval(ms: number): { readonly value: number; readonly problem?: string } {
  const value = Math.min(CSP_INTERVAL_RANGE.max, Math.max(CSP_INTERVAL_RANGE.min, Math.round(ms)));
  if (value === ms) return { value };
  return { value, problem: `CSP report interval ${ms} ms is outside ${CSP_INTERVAL_RANGE.min}-${CSP_INTERVAL_RANGE.max} ms; using ${value} ms` };
}

export class CspSender {
  private timer: TimerHandle | undefined;
  private readonly startedAt: number;
  private readonly senderId: bigint;
  private readonly intervalMs: number;
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private sent = 0;
  private failures = 0;
  private readonly warned = new Set<string>();
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly options: CspSenderOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => {});
    this.startedAt = this.clock.now();
    this.senderId = componentId(ComponentGroup[options.role], options.objectId);
    this.intervalMs = clampCspInterval(options.intervalMs).value;
  }

  /** Opens the socket and sends the first report at once. */
  static async start(options: CspSenderOptions): Promise<Result<CspSender, string>> {
    const socket = dgram.createSocket({ type: net.isIPv6(options.target.host) ? 'udp6' : 'udp4' });
    const bound = await new Promise<Error | undefined>((resolve) => {
      socket.once('error', resolve);
      socket.bind(0, () => {
        socket.off('error', resolve);
        resolve(undefined);
      });
    });
    if (bound) {
      socket.close();
      return err(`cannot open a UDP socket for CSP reports to ${formatHostPort(options.target)}: ${bound.message}`);
    }
    socket.on('error', (e) => options.log?.(`csp: report socket error: ${e.message}`));
    // The reporter never keeps a process alive on its own.
    socket.unref();
    const sender = new CspSender(socket, options);
    sender.tick();
    return ok(sender);
  }

  get id(): bigint {
    return this.senderId;
  }

  get reportsSent(): number {
    return this.sent;
  }

  get sendFailures(): number {
    return this.failures;
  }

  /** Sends a report now (the periodic schedule is unchanged). */
  sendNow(): Promise<boolean> {
    return this.send(false);
  }

  /** Stops the schedule, sends the final report (waiting at most 1 s for it to leave) and closes the socket. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      await this.send(true);
      await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    })();
    return this.stopping;
  }

  private tick(): void {
    void this.send(false);
    this.timer = this.clock.setTimeout(() => this.tick(), this.intervalMs);
  }

  private send(final: boolean): Promise<boolean> {
    if (this.stopping && !final) return Promise.resolve(false);
    let status: CspStatus;
    try {
      status = this.options.status();
    } catch (e) {
      this.warn(`status`, `csp: cannot build a status report: ${(e as Error).message}`);
      if (!final) return Promise.resolve(false);
      // The final report must still go out: it is what tells the monitor we are gone.
      status = { location: '', status: '' };
    }
    const encoded = encodeCspReport({
      flags: final ? CSP_FLAG_FINAL : 0,
      senderId: this.senderId,
      senderTimestampMicros: BigInt(Math.max(0, this.clock.now() - this.startedAt)) * 1000n,
      reportIntervalMicros: this.intervalMs * 1000,
      location: status.location,
      status: status.status,
      workload: workloadToWire(status.workload),
      // A final report lists no associations, as RSPLIB's does.
      associations: final ? [] : (status.associations ?? []).slice(0, CSP_MAX_ASSOCIATIONS),
    });
    if (!encoded.ok) {
      this.failures++;
      this.warn(`encode:${encoded.error.reason}`, `csp: cannot encode the status report: ${encoded.error.message}`);
      return Promise.resolve(false);
    }
    const { host, port } = this.options.target;
    return new Promise<boolean>((resolve) => {
      const bound = setTimeout(() => resolve(false), FINAL_SEND_TIMEOUT_MS);
      bound.unref();
      this.socket.send(encoded.value, port, host, (error) => {
        clearTimeout(bound);
        if (error) {
          this.failures++;
          this.warn(`send:${error.message}`, `csp: cannot send a report to ${formatHostPort(this.options.target)}: ${error.message}`);
          resolve(false);
          return;
        }
        this.sent++;
        resolve(true);
      });
    });
  }

  /** One log line per kind of problem, not one per interval. */
  private warn(key: string, line: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log(line);
  }
}
