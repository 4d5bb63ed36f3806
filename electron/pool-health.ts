/**
 * What the tray and the desktop notifications show, computed from the console's event stream with no
 * Electron at run time: per pool, which elements are ready; the tray's tooltip; alerts when an element
 * fails or a pool loses its last ready element; and a rate limit so a flapping pool cannot flood the
 * desktop with notifications.
 */
import type { Clock } from '../core/clock.js';
import type { ElementView, EventStreamMessage, Snapshot } from '../core/console/contract.js';
import type { CoreHostStatus } from '../renderer/src/desktop-bridge.js';

export interface PoolHealthSummary {
  readonly pools: number;
  /** Pools with elements none of which is ready (admin ready and not failed). */
  readonly withoutReady: number;
  readonly poolsWithoutReady: readonly string[];
}

export type HealthAlert =
  | { readonly kind: 'elementFailed'; readonly pool: string; readonly peIdHex: string; readonly addresses: readonly string[]; readonly cause: string }
  | { readonly kind: 'poolWithoutReady'; readonly pool: string; readonly elements: number; readonly cause: string };

/** As the snapshot's PoolCounts count it: admin ready and health not failed (suspect still serves). */
export function isReadyElement(element: Pick<ElementView, 'admin' | 'health'>): boolean {
  return element.admin.state === 'ready' && element.health.state !== 'failed';
}

type PoolElements = Map<number, ElementView>;

export class PoolHealthModel {
  private pools = new Map<string, PoolElements>();
  /** The run (epoch) the pools were last synced from, and the one the latest hello announced. */
  private syncedEpoch: string | undefined;
  private announcedEpoch: string | undefined;

  /** Applies one stream message; returns the alerts it raises (none for the first snapshot). */
  apply(message: EventStreamMessage): HealthAlert[] {
    switch (message.kind) {
      case 'hello':
        this.announcedEpoch = message.epoch;
        return [];
      case 'resync':
        return this.resync(message.snapshot);
      case 'events': {
        const alerts: HealthAlert[] = [];
        for (const event of message.events) {
          if (event.type === 'elementUpdated') {
            const { element } = event;
            const before = this.readyCount(element.pool);
            const pool = this.pools.get(element.pool) ?? new Map<number, ElementView>();
            const previous = pool.get(element.peId);
            pool.set(element.peId, element);
            this.pools.set(element.pool, pool);
            if (element.health.state === 'failed' && previous?.health.state !== 'failed') {
              alerts.push({ kind: 'elementFailed', pool: element.pool, peIdHex: element.peIdHex, addresses: element.addresses, cause: element.health.cause });
            }
            const cause = event.change === 'admin' ? `${element.peIdHex} is ${element.admin.state}: ${element.admin.cause}` : `${element.peIdHex} ${element.health.state}: ${element.health.cause}`;
            this.checkLostReady(element.pool, before, cause, alerts);
          } else if (event.type === 'elementRemoved') {
            const before = this.readyCount(event.pool);
            const pool = this.pools.get(event.pool);
            pool?.delete(event.peId);
            if (pool && pool.size === 0) this.pools.delete(event.pool);
            const detail = event.detail ? ` (${event.detail})` : '';
            this.checkLostReady(event.pool, before, `0x${event.peId.toString(16).padStart(8, '0')} removed: ${event.reason}${detail}`, alerts);
          }
        }
        return alerts;
      }
    }
  }

  summary(): PoolHealthSummary {
    const poolsWithoutReady = [...this.pools.keys()].filter((pool) => this.readyCount(pool) === 0).sort();
    return { pools: this.pools.size, withoutReady: poolsWithoutReady.length, poolsWithoutReady };
  }

  private resync(snapshot: Snapshot): HealthAlert[] {
    const before = new Map([...this.pools.keys()].map((pool) => [pool, this.readyCount(pool)]));
    this.pools = new Map(snapshot.pools.map((pool) => [pool.name, new Map(pool.elements.map((element) => [element.peId, element]))]));
    const alerts: HealthAlert[] = [];
    // A resync after a gap in the same run may hide the events themselves: compare the outcome. A new run
    // (the core restarted) starts with no elements until they re-register; that is not their failure.
    if (this.syncedEpoch !== undefined && this.syncedEpoch === this.announcedEpoch) {
      for (const [pool, ready] of before) this.checkLostReady(pool, ready, 'seen after the console resynchronized', alerts);
    }
    this.syncedEpoch = this.announcedEpoch;
    return alerts;
  }

  private readyCount(pool: string): number {
    let ready = 0;
    for (const element of this.pools.get(pool)?.values() ?? []) if (isReadyElement(element)) ready++;
    return ready;
  }

  private checkLostReady(pool: string, readyBefore: number, cause: string, alerts: HealthAlert[]): void {
    if (readyBefore > 0 && this.readyCount(pool) === 0) {
      alerts.push({ kind: 'poolWithoutReady', pool, elements: this.pools.get(pool)?.size ?? 0, cause });
    }
  }
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** The tray's tooltip: "N pools, M without a ready element". */
export function trayTooltip(summary: PoolHealthSummary): string {
  return `${plural(summary.pools, 'pool')}, ${summary.withoutReady} without a ready element`;
}

export type TrayLook = 'ok' | 'warning' | 'down';

/** The tray's tooltip and icon for a state of the core and its pools. */
export function trayLook(productName: string, status: CoreHostStatus, summary: PoolHealthSummary): { tooltip: string; look: TrayLook } {
  switch (status.state) {
    case 'running':
      return { tooltip: `${productName}: ${trayTooltip(summary)}`, look: summary.withoutReady > 0 ? 'warning' : 'ok' };
    case 'starting':
      return { tooltip: `${productName}: starting the registrar`, look: 'down' };
    case 'restarting':
      return { tooltip: `${productName}: the core stopped (${status.reason}); restart ${status.attempt} in ${Math.ceil(status.retryInMs / 1000)} s`, look: 'down' };
    case 'stopped':
      return { tooltip: `${productName}: stopped`, look: 'down' };
  }
}

/** Title and body of the desktop notification for an alert. */
export function describeAlert(alert: HealthAlert): { title: string; body: string } {
  switch (alert.kind) {
    case 'elementFailed': {
      const where = alert.addresses.length > 0 ? ` (${alert.addresses.join(', ')})` : '';
      return { title: `Element failed in pool ${alert.pool}`, body: `PE ${alert.peIdHex}${where}: ${alert.cause}` };
    }
    case 'poolWithoutReady':
      return {
        title: `Pool ${alert.pool} has no ready element`,
        body: alert.elements === 0 ? `Its last element is gone: ${alert.cause}` : `${plural(alert.elements, 'element')}, none ready. Last change: ${alert.cause}`,
      };
  }
}

export interface AlertRateLimit {
  /** At most this many notifications per window... */
  readonly maxPerWindow: number;
  readonly windowMs: number;
  /** ...and the same pool (or element) at most once this often. */
  readonly perSubjectMs: number;
}

export const DEFAULT_ALERT_RATE_LIMIT: AlertRateLimit = { maxPerWindow: 5, windowMs: 60_000, perSubjectMs: 30_000 };

export type AlertAdmission = { readonly show: true; readonly suppressedBefore: number } | { readonly show: false };

/** Decides which alerts reach the desktop; the ones held back are counted and mentioned in the next one. */
export class AlertLimiter {
  private shownAt: number[] = [];
  private readonly lastBySubject = new Map<string, number>();
  private suppressed = 0;

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly limit: AlertRateLimit = DEFAULT_ALERT_RATE_LIMIT,
  ) {}

  admit(alert: HealthAlert): AlertAdmission {
    const now = this.clock.now();
    this.shownAt = this.shownAt.filter((time) => now - time < this.limit.windowMs);
    const subject = alert.kind === 'elementFailed' ? `${alert.kind} ${alert.pool} ${alert.peIdHex}` : `${alert.kind} ${alert.pool}`;
    const last = this.lastBySubject.get(subject);
    if (this.shownAt.length >= this.limit.maxPerWindow || (last !== undefined && now - last < this.limit.perSubjectMs)) {
      this.suppressed++;
      return { show: false };
    }
    this.shownAt.push(now);
    this.lastBySubject.set(subject, now);
    for (const [key, time] of this.lastBySubject) if (now - time >= this.limit.perSubjectMs) this.lastBySubject.delete(key);
    const suppressedBefore = this.suppressed;
    this.suppressed = 0;
    return { show: true, suppressedBefore };
  }
}
