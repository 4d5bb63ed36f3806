/**
 * The console's live model: the last snapshot with every event since applied in sequence order. Events
 * at or below the model's sequence are repeats and skipped; a gap makes the model resubscribe from its
 * position (the server fills the gap or answers with a resync); a resync replaces the model.
 *
 * Element data lives in plain Maps, not deep Svelte state: with 10,000 elements and 100 events/s, views
 * follow small `revision` counters and read the maps, so one update costs one row, not a re-proxied pool.
 */
import {
  API_VERSION,
  type AuditView,
  type ConsoleApi,
  type ConsoleEvent,
  type ElementView,
  type EventStreamMessage,
  type Identity,
  type PoolCounts,
  type PoolUserView,
  type PoolView,
  type RegistrarInfo,
  type RegistrarPeerView,
  type ComponentView,
  type Snapshot,
} from '../../../core/console/contract.js';
import type { ConnectionState, ConnectionWatch } from '../api/connection-state.js';
import { countElement, emptyCounts } from './element-order.js';
import { RateWindow } from './rate-window.js';

/** How many notification rows and audit entries the model keeps for the live views. */
export const FEED_LIMIT = 5000;
export const AUDIT_LIMIT = 200;
/** Change-log entries a pool keeps for the table's incremental re-ordering. */
const CHANGE_LOG_LIMIT = 4096;

function handleHexOf(name: string): string {
  if (/^0x[0-9a-f]*$/i.test(name)) return name.toLowerCase();
  return `0x${Array.from(new TextEncoder().encode(name), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Why this console cannot command a server, or null when it can: a server speaking another ConsoleApi
 * version (or none: older than the version contract) may mean something else by the same request.
 */
export function apiIncompatibility(registrar: Pick<RegistrarInfo, 'apiVersion' | 'version'>): string | null {
  const theirs: unknown = registrar.apiVersion;
  if (theirs === API_VERSION) return null;
  const said = typeof theirs === 'number' ? `API version ${theirs}` : 'no API version (older than the version contract)';
  return `the server (handlespace ${registrar.version}) speaks ${said}, this console speaks API version ${API_VERSION}: commands are refused, update the older side`;
}

export class PoolModel {
  readonly name: string;
  handleHex: string;
  policy: string;
  readonly elements = new Map<number, ElementView>();
  readonly counts = emptyCounts();
  subscribers = $state(0);
  readonly notifications = new RateWindow();
  /** Bumps on every element change: views that show elements depend on it. */
  revision = $state(0);
  /** Element ids changed in order; `changeBase` is the cursor of changeLog[0]. */
  private changeLog: number[] = [];
  private changeBase = 0;
  /** Bumps when elements are added or removed: the table re-orders in full. */
  private structure = 0;

  constructor(name: string, handleHex: string, policy: string) {
    this.name = name;
    this.handleHex = handleHex;
    this.policy = policy;
  }

  /** The current change cursor, to pass to changesSince later. */
  get changeCursor(): { readonly log: number; readonly structure: number } {
    return { log: this.changeBase + this.changeLog.length, structure: this.structure };
  }

  /** Element ids changed since `cursor`, or 'all' when elements came or went or the log no longer reaches back. */
  changesSince(cursor: { readonly log: number; readonly structure: number }): readonly number[] | 'all' {
    if (cursor.structure !== this.structure || cursor.log < this.changeBase) return 'all';
    return this.changeLog.slice(cursor.log - this.changeBase);
  }

  private logChange(peId: number): void {
    this.changeLog.push(peId);
    if (this.changeLog.length > CHANGE_LOG_LIMIT) {
      const drop = this.changeLog.length - CHANGE_LOG_LIMIT / 2;
      this.changeLog = this.changeLog.slice(drop);
      this.changeBase += drop;
    }
  }

  upsert(element: ElementView): void {
    const previous = this.elements.get(element.peId);
    if (previous) countElement(this.counts, previous, -1);
    else this.structure += 1;
    this.elements.set(element.peId, element);
    countElement(this.counts, element, 1);
    if (!this.policy) this.policy = element.policy;
    this.logChange(element.peId);
  }

  remove(peId: number): boolean {
    const previous = this.elements.get(peId);
    if (!previous) return false;
    countElement(this.counts, previous, -1);
    this.elements.delete(peId);
    this.structure += 1;
    this.logChange(peId);
    return true;
  }

  touch(): void {
    this.revision += 1;
  }

  /** Counts as a fresh object (reading it makes the caller depend on the pool's revision). */
  get countsView(): PoolCounts {
    void this.revision;
    return { ...this.counts };
  }
}

/** One row of the notification feed: one PE Status a pool user was sent (or one snapshot push). */
export interface FeedRow {
  /** Unique, increasing: the feed's key. */
  readonly key: number;
  readonly seq: number;
  readonly time: number;
  readonly pool: string;
  readonly puConnection: number;
  readonly puAddress: string;
  /** null for a snapshot push (the PU replaced its whole list). */
  readonly peId: number | null;
  readonly status: string;
  readonly reason: string;
  readonly reasonText: string | null;
  readonly replacementPeId: number | null;
}

export interface PuCount {
  readonly connection: number;
  readonly address: string;
  readonly count: number;
}

export class LiveModel {
  readonly api: ConsoleApi;
  connection = $state<ConnectionState>('connecting');
  connectionDetail = $state('');
  identity = $state.raw<Identity | null>(null);
  registrar = $state.raw<RegistrarInfo | null>(null);
  /** Why the server's API version is not ours (commands are refused then); null when compatible. */
  incompatible = $state<string | null>(null);
  /** Server clock minus local clock at the last snapshot, so uptime reads the server's clock. */
  clockOffset = 0;
  epoch = $state('');
  sequence = $state(0);
  /** Bumps when pools come or go or a resync replaces everything. */
  poolsRevision = $state(0);
  readonly pools = new Map<string, PoolModel>();
  readonly poolUsers = new Map<number, PoolUserView>();
  poolUsersRevision = $state(0);
  /** Newest first. */
  feed = $state.raw<readonly FeedRow[]>([]);
  feedTotal = $state(0);
  private feedKey = 0;
  readonly feedCountsByPu = new Map<number, PuCount>();
  audit = $state.raw<readonly AuditView[]>([]);
  /** The ENRP deployment (this registrar first); empty when ENRP is off. */
  registrars = $state.raw<readonly RegistrarPeerView[]>([]);
  /** What last changed among the registrars ("peerDown: {...}"). */
  registrarsLastChange = $state('');
  /** CSP components by id, kept live by componentChanged events once the Components view loaded them. */
  readonly components = new Map<string, ComponentView>();
  componentsRevision = $state(0);
  /** Times the stream was replaced by a snapshot (for the e2e tests and the header's tooltip). */
  resyncs = $state(0);
  lastEventAt = $state(0);

  private unsubscribe: (() => void) | undefined;
  private stopWatching: (() => void) | undefined;
  private pendingFeed: FeedRow[] = [];

  constructor(api: ConsoleApi, connection?: ConnectionWatch) {
    this.api = api;
    if (connection) {
      this.connection = connection.state;
      this.stopWatching = connection.watch((state, detail) => {
        this.connection = state;
        this.connectionDetail = detail;
      });
    }
  }

  get role(): 'viewer' | 'operator' | null {
    return this.identity?.role ?? null;
  }

  get canCommand(): boolean {
    return this.identity?.role === 'operator' && this.incompatible === null;
  }

  start(): void {
    this.subscribeFrom(undefined);
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.stopWatching?.();
  }

  private subscribeFrom(position: { epoch: string; sequence: number } | undefined): void {
    this.unsubscribe?.();
    this.unsubscribe = this.api.subscribe(position, (message) => this.receive(message));
  }

  /** Applies one stream message. Public for tests and the benchmark harness. */
  receive(message: EventStreamMessage): void {
    switch (message.kind) {
      case 'hello':
        this.identity = message.identity;
        if (this.epoch !== '' && this.epoch !== message.epoch) this.sequence = 0;
        this.epoch = message.epoch;
        this.connection = 'live';
        this.connectionDetail = '';
        return;
      case 'resync':
        this.replace(message.snapshot);
        return;
      case 'events':
        this.applyEvents(message.events);
        return;
    }
  }

  /** Replaces everything with a snapshot (first load and every resync). */
  replace(snapshot: Snapshot): void {
    this.registrar = snapshot.registrar;
    this.incompatible = apiIncompatibility(snapshot.registrar);
    this.clockOffset = snapshot.registrar.now - Date.now();
    this.pools.clear();
    for (const view of snapshot.pools) this.pools.set(view.name, this.poolFrom(view, snapshot.registrar.now));
    this.poolUsers.clear();
    for (const user of snapshot.poolUsers) this.poolUsers.set(user.connectionId, user);
    this.registrars = snapshot.registrars;
    this.recountSubscribers();
    this.sequence = snapshot.sequence;
    this.resyncs += 1;
    this.poolsRevision += 1;
    this.poolUsersRevision += 1;
  }

  private poolFrom(view: PoolView, now: number): PoolModel {
    const pool = new PoolModel(view.name, view.handleHex, view.policy);
    for (const element of view.elements) pool.upsert(element);
    pool.subscribers = view.subscribers;
    pool.notifications.seedLastMinute(view.notificationsLastMinute, now - this.clockOffset);
    return pool;
  }

  private applyEvents(events: readonly ConsoleEvent[]): void {
    const touched = new Set<PoolModel>();
    let poolsChanged = false;
    let usersChanged = false;
    for (const event of events) {
      if (event.seq <= this.sequence) continue;
      if (this.sequence !== 0 && event.seq !== this.sequence + 1) {
        // Missed events: ask again from where the model is; the server fills the gap or resyncs.
        this.subscribeFrom({ epoch: this.epoch, sequence: this.sequence });
        break;
      }
      this.sequence = event.seq;
      this.lastEventAt = event.time;
      switch (event.type) {
        case 'elementUpdated': {
          let pool = this.pools.get(event.element.pool);
          if (!pool) {
            pool = new PoolModel(event.element.pool, handleHexOf(event.element.pool), event.element.policy);
            this.pools.set(pool.name, pool);
            poolsChanged = true;
          }
          pool.upsert(event.element);
          touched.add(pool);
          break;
        }
        case 'elementRemoved': {
          const pool = this.pools.get(event.pool);
          if (pool?.remove(event.peId)) touched.add(pool);
          break;
        }
        case 'notification':
          this.addNotification(event);
          break;
        case 'poolUserUpdated':
          this.poolUsers.set(event.poolUser.connectionId, event.poolUser);
          usersChanged = true;
          break;
        case 'poolUserClosed':
          usersChanged = this.poolUsers.delete(event.connectionId) || usersChanged;
          break;
        case 'audit':
          this.audit = [event.entry, ...this.audit].slice(0, AUDIT_LIMIT);
          break;
        case 'registrarsChanged':
          this.registrars = event.registrars;
          this.registrarsLastChange = event.what;
          break;
        case 'componentChanged':
          if (event.change === 'departed') this.components.delete(event.component.id);
          else this.components.set(event.component.id, event.component);
          this.componentsRevision += 1;
          break;
      }
    }
    for (const pool of touched) pool.touch();
    if (usersChanged) {
      this.recountSubscribers();
      this.poolUsersRevision += 1;
    }
    if (this.pendingFeed.length > 0) {
      const added = this.pendingFeed.reverse();
      this.pendingFeed = [];
      this.feed = added.length >= FEED_LIMIT ? added.slice(0, FEED_LIMIT) : [...added, ...this.feed.slice(0, FEED_LIMIT - added.length)];
      this.feedTotal += added.length;
    }
    if (poolsChanged || touched.size > 0) this.poolsRevision += 1;
  }

  private addNotification(event: Extract<ConsoleEvent, { type: 'notification' }>): void {
    const pool = this.pools.get(event.pool);
    // Counted as the server counts notificationsLastMinute: a snapshot push (no statuses) counts once.
    pool?.notifications.add(Math.max(1, event.statuses.length), event.time - this.clockOffset);
    const base = { seq: event.seq, time: event.time, pool: event.pool, puConnection: event.puConnection, puAddress: event.puAddress };
    const rows: FeedRow[] =
      event.statuses.length === 0
        ? [{ ...base, key: ++this.feedKey, peId: null, status: 'snapshot', reason: 'full list', reasonText: null, replacementPeId: null }]
        : event.statuses.map((s) => ({ ...base, key: ++this.feedKey, peId: s.peId, status: s.status, reason: s.reason, reasonText: s.reasonText, replacementPeId: s.replacementPeId }));
    this.pendingFeed.push(...rows);
    const previous = this.feedCountsByPu.get(event.puConnection);
    this.feedCountsByPu.set(event.puConnection, { connection: event.puConnection, address: event.puAddress, count: (previous?.count ?? 0) + rows.length });
  }

  private recountSubscribers(): void {
    const counts = new Map<string, number>();
    for (const user of this.poolUsers.values()) {
      for (const pool of user.subscriptions) counts.set(pool, (counts.get(pool) ?? 0) + 1);
    }
    for (const pool of this.pools.values()) pool.subscribers = counts.get(pool.name) ?? 0;
  }

  /** Pools sorted by name (reading it makes the caller follow pool arrivals and departures). */
  get poolList(): PoolModel[] {
    void this.poolsRevision;
    return [...this.pools.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get poolUserCount(): number {
    void this.poolUsersRevision;
    return this.poolUsers.size;
  }

  /** The server's clock now, as far as the local clock can tell. */
  serverNow(localNow = Date.now()): number {
    return localNow + this.clockOffset;
  }
}
