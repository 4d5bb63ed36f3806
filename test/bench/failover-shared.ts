/**
 * What the processes of the failover bench (failover.bench.ts) share: the clock they all read, the IPC
 * messages between the orchestrator and its children, the echo protocol of the element processes, and a
 * few /proc readers.
 *
 * The shared clock is CLOCK_MONOTONIC (process.hrtime), read in milliseconds with microsecond resolution.
 * On Linux it is one kernel clock for every process, so a time taken in one process can be subtracted from
 * one taken in another with no offset to correct. (`performance.timeOrigin + performance.now()` is a wall
 * clock with the same resolution, but each process fixes its own origin when it starts; every child reports
 * how far that clock sits from the monotonic one, so the bench can show the skew it avoided.)
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** The shared clock: milliseconds of CLOCK_MONOTONIC (fractional, µs resolution). */
export function sharedNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** (timeOrigin + now) − sharedNow() in this process: compared across processes it is the skew of the per-process wall clock. */
export function wallClockOffset(): number {
  return performance.timeOrigin + performance.now() - sharedNow();
}

// ---- the echo protocol of the element processes ----------------------------------------------------

/** A request: u32 pool-user index, u32 sequence number, u64 payload (zero). */
export const REQUEST_BYTES = 16;
/** A reply: the request, then the u32 PE identifier of the element that answered. */
export const REPLY_BYTES = 20;

// ---- the element process (failover-element.ts) -------------------------------------------------------

export interface ElementParams {
  readonly registrarPort: number;
  readonly poolHandle: string;
  readonly peId: number;
  /** Upper bound on the process's life: it exits by itself after this long. */
  readonly maxLifetimeMs: number;
}

/**
 * drop: close the element's registrar connection (its link is closed, so the element stays unregistered);
 * register: register again on a new link (the same PE identifier); close: deregister and exit.
 */
export type ToElement = { readonly cmd: 'drop' } | { readonly cmd: 'register' } | { readonly cmd: 'close' };

export type FromElement =
  | { readonly kind: 'ready'; readonly pid: number; readonly peId: number; readonly port: number; readonly clockOffset: number }
  /** The registrar connection was closed by 'drop' at `at` (shared clock). */
  | { readonly kind: 'dropped'; readonly at: number }
  /** Registered again after 'register'. */
  | { readonly kind: 'registered'; readonly at: number }
  | { readonly kind: 'closed' }
  | { readonly kind: 'failed'; readonly error: string };

// ---- the pool-user processes (failover-pu.ts) ------------------------------------------------------------

export interface FanoutPuParams {
  readonly mode: 'fanout';
  readonly registrarPort: number;
  readonly poolHandle: string;
  /** The element whose 'failed' statuses are timed. */
  readonly victimPeId: number;
  readonly maxLifetimeMs: number;
}

export interface FailoverPuParams {
  readonly mode: 'failover';
  readonly registrarPort: number;
  readonly poolHandle: string;
  readonly users: number;
  /** Index of this process's first pool user (for request contents only). */
  readonly firstUser: number;
  /** Subscribed mode (S flag, pushed PE Status) or standard mode (request timeout → reportFailure). */
  readonly subscribe: boolean;
  /** Application request timeout (RSPLIB: 3 s). */
  readonly requestTimeoutMs: number;
  /** Pause between a reply and the next request of one pool user. */
  readonly thinkMs: number;
  readonly maxLifetimeMs: number;
}

export type PuParams = FanoutPuParams | FailoverPuParams;

export type ToPu =
  /** fanout: open pool users until there are `total` in this process, each subscribed to the pool. */
  | { readonly cmd: 'grow'; readonly total: number }
  /** fanout: report (and forget) the 'failed' statuses of the victim that did not reach every pool user yet. */
  | { readonly cmd: 'collect' }
  /** fanout baseline: open plain TCP connections to a plain fan-out server until there are `total`; each expects `bytes` per round. */
  | { readonly cmd: 'rawOpen'; readonly port: number; readonly total: number; readonly bytes: number }
  /** fanout baseline: close the plain connections. */
  | { readonly cmd: 'rawClose' }
  /** failover: the element that is about to be faulted; remember which pool users are on it now. */
  | { readonly cmd: 'arm'; readonly peId: number }
  /** failover: the fault happened at `at` (shared clock); report once every armed user recovered or `waitMs` passed. */
  | { readonly cmd: 'report'; readonly at: number; readonly waitMs: number }
  /** failover: how many pool users are on each element now. */
  | { readonly cmd: 'census' }
  | { readonly cmd: 'close' };

/** One 'failed' status of the victim as one fan-out process saw it: the receive time of each of its pool users. */
export interface FanoutDelivery {
  readonly sequence: number;
  readonly reason: number;
  /** Shared-clock receive times, one per pool user that got it. */
  readonly times: readonly number[];
}

export interface FailoverUserOutcome {
  /** Fault → first good reply from another element (ms); null when none came within the wait. */
  readonly failoverMs: number | null;
  /** Requests of this user that failed (timeout, connection lost, refused, abandoned on a failover) after the arm. */
  readonly failed: number;
  /** Fault → the application learned the element failed (the push, a timeout, the connection lost or refused). */
  readonly detectedMs: number | null;
  /** Fault → its first request to another element went out. */
  readonly resumedMs: number | null;
  /** The element of that first good reply. */
  readonly movedTo: number | null;
  /** What moved the user off the faulted element first. */
  readonly trigger: 'push' | 'timeout' | 'connectionLost' | 'refused' | 'none';
}

export interface FailoverReport {
  /** Users that were on the faulted element when armed. */
  readonly affected: readonly FailoverUserOutcome[];
  /** Users on other elements: their failed requests between the arm and the report (should be 0). */
  readonly unaffectedFailed: number;
  readonly unaffectedUsers: number;
  /** Good replies in this process between the arm and the report. */
  readonly goodReplies: number;
}

export type FromPu =
  | { readonly kind: 'ready'; readonly pid: number; readonly users: number; readonly clockOffset: number }
  | { readonly kind: 'grown'; readonly users: number; readonly subscribed: number; readonly ms: number }
  /** fanout: every pool user of this process has the victim's 'failed' status with this sequence number. */
  | { readonly kind: 'delivered'; readonly delivery: FanoutDelivery }
  /** fanout: every pool user of this process has the victim's 'up' status (it registered again). */
  | { readonly kind: 'upDelivered'; readonly sequence: number }
  /** fanout: the 'failed' statuses not yet delivered to every pool user, as far as they got. */
  | { readonly kind: 'collected'; readonly deliveries: readonly FanoutDelivery[]; readonly users: number }
  | { readonly kind: 'rawOpened'; readonly sockets: number }
  /** fanout baseline: every plain connection of this process has the round's bytes; when each got them (shared clock). */
  | { readonly kind: 'rawDelivered'; readonly times: readonly number[] }
  | { readonly kind: 'rawClosed' }
  | { readonly kind: 'armed'; readonly affected: number }
  | { readonly kind: 'report'; readonly report: FailoverReport }
  | { readonly kind: 'census'; readonly byElement: Readonly<Record<string, number>>; readonly goodReplies: number; readonly failed: number; readonly idle: number }
  | { readonly kind: 'closed' }
  | { readonly kind: 'failed'; readonly error: string };

// ---- /proc ------------------------------------------------------------------------------------------------

/** User + system CPU seconds of a process (clock ticks of 1/100 s); null where /proc is not readable. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / 100 : null;
  } catch {
    return null;
  }
}
