/**
 * The table of components heard over CSP, as cspmonitor keeps it but with events: it owns arrival, update
 * and departure of components, the purge rule (a component that has not reported for min(30 s, 10 × its
 * report interval) is gone; a final report removes it at once), the bound on its size, and the counters of
 * accepted and rejected datagrams by reason. It knows no sockets: the receiver feeds it datagrams, tests
 * feed it bytes and move a ManualClock.
 */
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../clock.js';
import {
  componentGroupOf,
  componentObjectOf,
  componentRoleOf,
  CSP_REJECT_REASONS,
  decodeCspReport,
  isFinalReport,
  workloadFromWire,
  type ComponentRole,
  type CspAssociation,
  type CspRejectReason,
} from './csp-codec.js';

/** cspmonitor's default purge interval: nobody waits longer than this for a silent component. */
export const CSP_DEFAULT_MAX_SILENCE_MS = 30_000;
/** Report intervals are multiplied by this to get a component's allowed silence (cspmonitor's rule). */
export const CSP_SILENCE_INTERVALS = 10;
export const CSP_DEFAULT_MAX_COMPONENTS = 10_000;
/** Purge sweeps run at most this often, however the deadlines fall. */
const MIN_SWEEP_GAP_MS = 100;

export interface DatagramSource {
  readonly address: string;
  readonly port: number;
}

/** A component as last reported, plus what the table knows about it. Immutable: each report makes a new one. */
export interface CspComponent {
  readonly id: bigint;
  readonly group: number;
  /** Undefined for a group RSPLIB does not define (shown by its group number). */
  readonly role: ComponentRole | undefined;
  readonly object: bigint;
  readonly location: string;
  readonly status: string;
  /** 0..1, or undefined when the component reports its workload as unknown. */
  readonly workload: number | undefined;
  /** The sender's uptime as of its last report, in microseconds. */
  readonly uptimeMicros: bigint;
  readonly reportIntervalMs: number;
  readonly associations: readonly CspAssociation[];
  /** Where the last report came from. */
  readonly source: DatagramSource;
  /** Clock milliseconds of the first and the last report. */
  readonly firstReportAt: number;
  readonly lastReportAt: number;
  readonly reports: number;
  /** Clock milliseconds when the component is purged unless it reports again. */
  readonly purgeAt: number;
}

export type DepartureReason = 'final' | 'silent';

export interface CspTableEvents {
  componentArrived: [component: CspComponent];
  componentUpdated: [component: CspComponent, previous: CspComponent];
  componentDeparted: [component: CspComponent, reason: DepartureReason];
}

/** Datagrams not taken into the table: the decoder's reasons, plus a full table. */
export type CspTableRejectReason = CspRejectReason | 'tableFull';

export interface CspTableCounters {
  readonly datagrams: number;
  readonly reports: number;
  readonly finalReports: number;
  /** Final reports from components the table did not know (nothing to remove). */
  readonly finalUnknown: number;
  readonly arrivals: number;
  readonly departures: { readonly final: number; readonly silent: number };
  readonly rejected: Readonly<Record<CspTableRejectReason, number>>;
}

export interface CspTableOptions {
  readonly clock: Clock;
  /** The longest silence allowed to any component (default 30,000 ms, cspmonitor's -purgeinterval). */
  readonly maxSilenceMs?: number;
  /** New components beyond this are refused and counted as `tableFull` (default 10,000). */
  readonly maxComponents?: number;
  /** Problems worth a line (the first rejection of each reason, a full table). */
  readonly log?: (line: string) => void;
}

/**
 * How long a component may stay silent: min(maxSilence, 10 × its interval). An interval of 0 says nothing
 * about when to expect the next report, so it gets the maximum (cspmonitor would purge it at once).
 */
export function allowedSilenceMs(reportIntervalMs: number, maxSilenceMs = CSP_DEFAULT_MAX_SILENCE_MS): number {
  if (reportIntervalMs <= 0) return maxSilenceMs;
  return Math.min(maxSilenceMs, CSP_SILENCE_INTERVALS * reportIntervalMs);
}

export const formatComponentId = (id: bigint): string => `0x${id.toString(16).padStart(16, '0')}`;

export class CspComponentTable extends EventEmitter<CspTableEvents> {
  private readonly components = new Map<bigint, CspComponent>();
  private readonly clock: Clock;
  private readonly maxSilenceMs: number;
  private readonly maxComponents: number;
  private readonly log: (line: string) => void;
  private sweepTimer: TimerHandle | undefined;
  private sweepDue = Infinity;
  private lastSweepAt = -Infinity;
  private closed = false;
  private counts = { datagrams: 0, reports: 0, finalReports: 0, finalUnknown: 0, arrivals: 0, departedFinal: 0, departedSilent: 0 };
  private readonly rejected: Record<CspTableRejectReason, number>;
  private readonly loggedReasons = new Set<CspTableRejectReason>();

  constructor(options: CspTableOptions) {
    super();
    this.clock = options.clock;
    this.maxSilenceMs = options.maxSilenceMs ?? CSP_DEFAULT_MAX_SILENCE_MS;
    this.maxComponents = options.maxComponents ?? CSP_DEFAULT_MAX_COMPONENTS;
    this.log = options.log ?? (() => {});
    this.rejected = Object.fromEntries([...CSP_REJECT_REASONS, 'tableFull'].map((r) => [r, 0])) as Record<CspTableRejectReason, number>;
  }

  get size(): number {
    return this.components.size;
  }

  get(id: bigint): CspComponent | undefined {
    return this.components.get(id);
  }

  /** Every component, ordered as cspmonitor orders them: by group, then location, then id. */
  list(): CspComponent[] {
    return [...this.components.values()].sort(
      (a, b) => a.group - b.group || (a.location < b.location ? -1 : a.location > b.location ? 1 : 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }

  counters(): CspTableCounters {
    const c = this.counts;
    return {
      datagrams: c.datagrams,
      reports: c.reports,
      finalReports: c.finalReports,
      finalUnknown: c.finalUnknown,
      arrivals: c.arrivals,
      departures: { final: c.departedFinal, silent: c.departedSilent },
      rejected: { ...this.rejected },
    };
  }

  /** Takes one datagram: a report updates the table (and emits), anything else is counted and dropped. */
  receive(bytes: Uint8Array, source: DatagramSource): void {
    if (this.closed) return;
    this.counts.datagrams++;
    const decoded = decodeCspReport(bytes);
    if (!decoded.ok) {
      this.count(decoded.error.reason, `${decoded.error.message} (from ${formatSource(source)})`);
      return;
    }
    const report = decoded.value;
    const previous = this.components.get(report.senderId);
    if (isFinalReport(report)) {
      this.counts.finalReports++;
      if (!previous) {
        this.counts.finalUnknown++;
        return;
      }
      this.depart(previous, 'final');
      return;
    }
    if (!previous && this.components.size >= this.maxComponents) {
      this.count('tableFull', `component table full (${this.maxComponents}); ignoring new component ${formatComponentId(report.senderId)} from ${formatSource(source)}`);
      return;
    }
    this.counts.reports++;
    const now = this.clock.now();
    const reportIntervalMs = report.reportIntervalMicros / 1000;
    const component: CspComponent = {
      id: report.senderId,
      group: componentGroupOf(report.senderId),
      role: componentRoleOf(report.senderId),
      object: componentObjectOf(report.senderId),
      location: report.location,
      status: report.status,
      workload: workloadFromWire(report.workload),
      uptimeMicros: report.senderTimestampMicros,
      reportIntervalMs,
      associations: report.associations,
      source: { address: source.address, port: source.port },
      firstReportAt: previous?.firstReportAt ?? now,
      lastReportAt: now,
      reports: (previous?.reports ?? 0) + 1,
      purgeAt: now + allowedSilenceMs(reportIntervalMs, this.maxSilenceMs),
    };
    this.components.set(component.id, component);
    this.armSweep(component.purgeAt);
    if (previous) this.emit('componentUpdated', component, previous);
    else {
      this.counts.arrivals++;
      this.emit('componentArrived', component);
    }
  }

  /** Stops the purge timer; the table stays readable but takes no more datagrams and emits nothing. */
  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sweepDue = Infinity;
  }

  private count(reason: CspTableRejectReason, detail: string): void {
    this.rejected[reason]++;
    // One line per reason: a flood of junk must not flood the log too.
    if (!this.loggedReasons.has(reason)) {
      this.loggedReasons.add(reason);
      this.log(`csp: rejected a datagram (${reason}): ${detail}; further ones are only counted`);
    }
  }

  private depart(component: CspComponent, reason: DepartureReason): void {
    this.components.delete(component.id);
    if (reason === 'final') this.counts.departedFinal++;
    else this.counts.departedSilent++;
    this.emit('componentDeparted', component, reason);
  }

  private armSweep(due: number): void {
    if (this.closed) return;
    const at = Math.max(due, this.lastSweepAt + MIN_SWEEP_GAP_MS);
    if (at >= this.sweepDue) return;
    this.clock.clearTimeout(this.sweepTimer);
    this.sweepDue = at;
    this.sweepTimer = this.clock.setTimeout(() => this.sweep(), at - this.clock.now());
  }

  private sweep(): void {
    this.sweepTimer = undefined;
    this.sweepDue = Infinity;
    const now = this.clock.now();
    this.lastSweepAt = now;
    let next = Infinity;
    const due: CspComponent[] = [];
    for (const component of this.components.values()) {
      if (component.purgeAt <= now) due.push(component);
      else next = Math.min(next, component.purgeAt);
    }
    for (const component of due) this.depart(component, 'silent');
    if (next < Infinity) this.armSweep(next);
  }
}

function formatSource(source: DatagramSource): string {
  return source.address.includes(':') ? `[${source.address}]:${source.port}` : `${source.address}:${source.port}`;
}
