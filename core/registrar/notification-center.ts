/**
 * Subscriptions and pushed status (docs/protocol.md, "Subscriptions and pushed status"): who is subscribed
 * to which pool, the per-pool sequence numbers, batching of changes per event-loop turn into one
 * ASAP_HANDLE_RESOLUTION_RESPONSE (A flag) per pool encoded once for all subscribers, load-change
 * coalescing, and per-subscriber bounded send queues that fall back to one snapshot on overflow.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { ElementRecord } from '../handlespace/handlespace.js';
import { Cause } from '../wire/constants.js';
import { encodeHandleResolutionResponse } from '../wire/encoder.js';
import { PeStatusCode, PeStatusReason, type PeStatus, type Policy, type PoolElement } from '../wire/types.js';
import type { MessageConnection, RemoteAddress } from './transport.js';

export type StatusName = keyof typeof PeStatusCode;
export type ReasonName = keyof typeof PeStatusReason;

/** One change of one element, as the registrar reports it. */
export interface ElementChange {
  readonly element: ElementRecord;
  readonly status: StatusName;
  readonly reason: ReasonName;
  /** The operator's reason or other detail for the PE Status reason text. */
  readonly reasonText?: string;
  /** The element is no longer selectable: name the policy's choice instead. */
  readonly takenAway: boolean;
}

export interface NotificationSettings {
  /** Most messages queued for one subscriber behind a full socket before it gets a snapshot instead. */
  readonly maxQueuedMessages: number;
  /**
   * Socket backlog (bytes) above which pushes wait in the subscriber's queue. Never below the socket's own
   * high-water mark (16 KiB), so a queued push always has a 'drain' event coming to release it.
   */
  readonly socketHighWaterBytes: number;
  /** At most one load-changed status per element per interval. */
  readonly loadChangeIntervalMs: number;
  /** Smallest load change (0..0xffffffff scale) that is pushed. */
  readonly loadChangeThreshold: number;
}

export const DEFAULT_NOTIFICATION_SETTINGS: NotificationSettings = {
  maxQueuedMessages: 256,
  socketHighWaterBytes: 256 * 1024,
  loadChangeIntervalMs: 1000,
  loadChangeThreshold: Math.round(0.05 * 0xffffffff),
};

/** What was sent to one subscriber in one push (the history and the console's feed consume these). */
export interface NotificationsSent {
  readonly connectionId: number;
  readonly remote: RemoteAddress;
  readonly poolHandle: Uint8Array;
  /** Empty for a snapshot. */
  readonly statuses: readonly PeStatus[];
  readonly snapshot: boolean;
  /**
   * When the push was handed to the connection; the bytes leave in the same turn's write, but behind a
   * large fan-out the kernel may take a while longer to put them on the wire.
   */
  readonly sentAt: number;
}

export interface SubscriberStats {
  readonly connectionId: number;
  readonly remote: RemoteAddress;
  readonly pools: number;
  readonly sent: number;
  readonly queued: number;
  readonly overflows: number;
  readonly maxQueued: number;
}

/** The current selection of a pool, or undefined when the pool does not exist. */
export type SelectionSource = (handle: Uint8Array, items: number) => { readonly overallPolicy: Policy; readonly elements: readonly PoolElement[] } | undefined;

interface QueuedPush {
  readonly poolKey: string;
  readonly bytes: Uint8Array;
  readonly statuses: readonly PeStatus[];
}

interface Subscriber {
  readonly connection: MessageConnection;
  /** Pool key → handle and the items the subscriber asked for. */
  readonly pools: Map<string, { readonly handle: Uint8Array; readonly items: number }>;
  queue: QueuedPush[];
  readonly needsSnapshot: Set<string>;
  sent: number;
  overflows: number;
  maxQueued: number;
}

interface PoolTopic {
  readonly key: string;
  readonly handle: Uint8Array;
  /** The most items any subscriber asked for (only grows while the topic lives; pushes carry that many). */
  maxItems: number;
  readonly subscribers: Set<Subscriber>;
  sequence: number;
  pending: PeStatus[];
}

interface LoadState {
  lastLoad: number;
  lastAt: number;
  timer: TimerHandle | undefined;
}

/** Node's default writable high-water mark for sockets: above it, write() returns false and 'drain' follows. */
const SOCKET_HIGH_WATER_MARK = 16 * 1024;

const keyOf = (handle: Uint8Array): string => Buffer.from(handle.buffer, handle.byteOffset, handle.byteLength).toString('latin1');

export class NotificationCenter {
  private readonly subscribers = new Map<number, Subscriber>();
  private readonly topics = new Map<string, PoolTopic>();
  private readonly dirty = new Set<PoolTopic>();
  private readonly loads = new WeakMap<ElementRecord, LoadState>();
  private flushScheduled = false;
  private pushes = 0;

  private readonly settings: NotificationSettings;

  constructor(
    private readonly clock: Clock,
    settings: NotificationSettings,
    private readonly defaultItems: number,
    private readonly selection: SelectionSource,
    private readonly onSent: (sent: NotificationsSent) => void,
    /** The element's Pool Element parameter bytes (the registrar caches them per element). */
    private readonly encodeElement: (pe: PoolElement) => Uint8Array,
  ) {
    this.settings = { ...settings, socketHighWaterBytes: Math.max(SOCKET_HIGH_WATER_MARK, settings.socketHighWaterBytes) };
  }

  get subscriptionCount(): number {
    let count = 0;
    for (const s of this.subscribers.values()) count += s.pools.size;
    return count;
  }

  get pushCount(): number {
    return this.pushes;
  }

  subscribersOf(handle: Uint8Array): number {
    return this.topics.get(keyOf(handle))?.subscribers.size ?? 0;
  }

  stats(): SubscriberStats[] {
    return [...this.subscribers.values()].map((s) => ({
      connectionId: s.connection.id,
      remote: s.connection.remote,
      pools: s.pools.size,
      sent: s.sent,
      queued: s.queue.length,
      overflows: s.overflows,
      maxQueued: s.maxQueued,
    }));
  }

  /** The sequence number the next PE Status of this pool will carry minus one (0 before any). */
  sequenceOf(handle: Uint8Array): number {
    return this.topics.get(keyOf(handle))?.sequence ?? 0;
  }

  subscribe(connection: MessageConnection, handle: Uint8Array, items: number): void {
    let subscriber = this.subscribers.get(connection.id);
    if (!subscriber) {
      const created: Subscriber = { connection, pools: new Map(), queue: [], needsSnapshot: new Set(), sent: 0, overflows: 0, maxQueued: 0 };
      subscriber = created;
      this.subscribers.set(connection.id, created);
      connection.onDrain(() => this.drain(created));
    }
    const key = keyOf(handle);
    subscriber.pools.set(key, { handle, items });
    const topic = this.topic(key, handle);
    topic.subscribers.add(subscriber);
    topic.maxItems = Math.max(topic.maxItems, items);
  }

  unsubscribe(connectionId: number, handle: Uint8Array): void {
    const subscriber = this.subscribers.get(connectionId);
    if (!subscriber) return;
    const key = keyOf(handle);
    subscriber.pools.delete(key);
    subscriber.needsSnapshot.delete(key);
    const topic = this.topics.get(key);
    topic?.subscribers.delete(subscriber);
    if (topic) this.dropTopicIfIdle(key, topic);
    if (subscriber.pools.size === 0) this.subscribers.delete(connectionId);
  }

  isSubscribed(connectionId: number, handle: Uint8Array): boolean {
    // Most resolutions come from connections without subscriptions: answer those without building a key.
    const subscriber = this.subscribers.get(connectionId);
    return subscriber !== undefined && subscriber.pools.has(keyOf(handle));
  }

  /** A connection closed: all its subscriptions end and nothing of it stays behind. */
  connectionClosed(connectionId: number): void {
    const subscriber = this.subscribers.get(connectionId);
    if (!subscriber) return;
    this.subscribers.delete(connectionId);
    for (const key of subscriber.pools.keys()) {
      const topic = this.topics.get(key);
      topic?.subscribers.delete(subscriber);
      if (topic) this.dropTopicIfIdle(key, topic);
    }
    subscriber.queue = [];
  }

  /** Records a change; it is pushed at the end of this event-loop turn with the other changes of the pool. */
  changed(change: ElementChange): void {
    const element = change.element;
    if (change.status === 'loadChanged') {
      this.loadChanged(element);
      return;
    }
    // Any other status also reports the current load, so the next load change is measured from it.
    const load = this.loads.get(element);
    if (load) {
      this.clock.clearTimeout(load.timer);
      if (change.takenAway) this.loads.delete(element);
      else {
        load.timer = undefined;
        load.lastLoad = element.policy.load ?? 0;
      }
    }
    this.record(element, PeStatusCode[change.status], PeStatusReason[change.reason], change.reasonText, change.takenAway);
  }

  private loadChanged(element: ElementRecord): void {
    // Nobody listening to this pool: no coalescing state either (it would cost memory per element).
    if (!this.topics.get(element.poolKey)?.subscribers.size) return;
    const now = this.clock.now();
    const current = element.policy.load ?? 0;
    let state = this.loads.get(element);
    if (!state) {
      state = { lastLoad: 0, lastAt: -Infinity, timer: undefined };
      this.loads.set(element, state);
    }
    if (state.timer) return; // a coalesced push is already due and will read the load then
    if (Math.abs(current - state.lastLoad) < this.settings.loadChangeThreshold) return;
    const wait = state.lastAt + this.settings.loadChangeIntervalMs - now;
    if (wait <= 0) {
      this.pushLoad(element, state);
      return;
    }
    const pending = state;
    pending.timer = this.clock.setTimeout(() => {
      pending.timer = undefined;
      if (Math.abs((element.policy.load ?? 0) - pending.lastLoad) >= this.settings.loadChangeThreshold) this.pushLoad(element, pending);
    }, wait);
  }

  private pushLoad(element: ElementRecord, state: LoadState): void {
    state.lastLoad = element.policy.load ?? 0;
    state.lastAt = this.clock.now();
    this.record(element, PeStatusCode.loadChanged, PeStatusReason.loadChanged, undefined, false, state.lastLoad);
  }

  /** Forgets load-coalescing state of an element that left (its pending load push is cancelled). */
  forget(element: ElementRecord): void {
    const state = this.loads.get(element);
    if (state) this.clock.clearTimeout(state.timer);
    this.loads.delete(element);
  }

  private record(element: ElementRecord, status: number, reason: number, reasonText: string | undefined, takenAway: boolean, load?: number): void {
    const key = element.poolKey;
    const existing = this.topics.get(key);
    // Sequence numbers run per pool while it has subscribers; with none, nothing is pushed or counted.
    if (!existing || existing.subscribers.size === 0) return;
    existing.sequence = (existing.sequence + 1) >>> 0;
    const peStatus: { -readonly [K in keyof PeStatus]: PeStatus[K] } = {
      peId: element.id,
      status,
      reason,
      sequence: existing.sequence,
      eventTimeMs: this.clock.now(),
    };
    if (load !== undefined) peStatus.load = load;
    if (reasonText) peStatus.reasonText = reasonText.slice(0, 512);
    // The replacement is filled in at flush time, when the pool's new selection is known.
    if (takenAway) peStatus.replacementPeId = 0;
    existing.pending.push(peStatus);
    this.dirty.add(existing);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends every pool's pending changes: one message per pool, encoded once, to each subscriber. */
  flush(): void {
    const topics = [...this.dirty];
    this.dirty.clear();
    for (const topic of topics) {
      const statuses = topic.pending;
      topic.pending = [];
      if (statuses.length === 0 || topic.subscribers.size === 0) continue;
      const { bytes, finalStatuses } = this.encodePush(topic, statuses);
      this.pushes++;
      const push: QueuedPush = { poolKey: topic.key, bytes, statuses: finalStatuses };
      for (const subscriber of topic.subscribers) this.deliver(subscriber, push);
    }
  }

  private encodePush(topic: PoolTopic, statuses: readonly PeStatus[]): { bytes: Uint8Array; finalStatuses: readonly PeStatus[] } {
    const current = this.selection(topic.handle, topic.maxItems);
    const elements = current?.elements ?? [];
    const finalStatuses = statuses.map((s) => {
      if (s.replacementPeId === undefined) return s;
      const replacement = elements.find((e) => e.id !== s.peId);
      if (replacement) return { ...s, replacementPeId: replacement.id };
      const { replacementPeId: _none, ...withoutReplacement } = s;
      return withoutReplacement;
    });
    return { bytes: this.encodePushMessage(topic.handle, current, finalStatuses), finalStatuses };
  }

  private encodePushMessage(handle: Uint8Array, current: ReturnType<SelectionSource>, statuses: readonly PeStatus[]): Uint8Array {
    const elements = current?.elements ?? [];
    return encodeHandleResolutionResponse(
      {
        accepted: true,
        poolHandle: handle,
        ...(current && current.overallPolicy.type !== 0x1 ? { overallPolicy: current.overallPolicy } : {}),
        // No selectable element left: cause 0x9 with the A flag (docs/protocol.md).
        ...(elements.length === 0 ? { error: [{ code: Cause.unknownPoolHandle }] } : {}),
        peStatus: statuses,
      },
      elements.map(this.encodeElement),
    );
  }

  private deliver(subscriber: Subscriber, push: QueuedPush): void {
    if (subscriber.connection.closed) return;
    if (subscriber.needsSnapshot.has(push.poolKey)) return; // a snapshot will cover it
    if (subscriber.queue.length === 0 && subscriber.connection.bufferedBytes < this.settings.socketHighWaterBytes) {
      this.write(subscriber, push);
      return;
    }
    subscriber.queue.push(push);
    subscriber.maxQueued = Math.max(subscriber.maxQueued, subscriber.queue.length);
    if (subscriber.queue.length > this.settings.maxQueuedMessages) {
      // Overflow: drop the missed deltas; once the socket drains the subscriber gets one snapshot per pool.
      subscriber.overflows++;
      for (const queued of subscriber.queue) subscriber.needsSnapshot.add(queued.poolKey);
      subscriber.queue = [];
    }
  }

  private write(subscriber: Subscriber, push: QueuedPush): void {
    subscriber.connection.send(push.bytes);
    subscriber.sent++;
    const pool = subscriber.pools.get(push.poolKey);
    this.onSent({
      connectionId: subscriber.connection.id,
      remote: subscriber.connection.remote,
      poolHandle: pool?.handle ?? new Uint8Array(0),
      statuses: push.statuses,
      snapshot: push.statuses.length === 0,
      sentAt: this.clock.now(),
    });
  }

  private drain(subscriber: Subscriber): void {
    while (subscriber.queue.length > 0 && subscriber.connection.bufferedBytes < this.settings.socketHighWaterBytes) {
      const next = subscriber.queue.shift();
      if (next) this.write(subscriber, next);
    }
    if (subscriber.queue.length > 0) return;
    for (const key of [...subscriber.needsSnapshot]) {
      if (subscriber.connection.bufferedBytes >= this.settings.socketHighWaterBytes) return;
      subscriber.needsSnapshot.delete(key);
      const pool = subscriber.pools.get(key);
      if (pool) this.write(subscriber, { poolKey: key, bytes: this.snapshot(pool.handle, pool.items), statuses: [] });
    }
  }

  /** The whole current state of a pool for one subscriber: a push with the A flag and no PE Status. */
  snapshot(handle: Uint8Array, items: number): Uint8Array {
    return this.encodePushMessage(handle, this.selection(handle, items), []);
  }

  private topic(key: string, handle: Uint8Array): PoolTopic {
    let topic = this.topics.get(key);
    if (!topic) {
      topic = { key, handle, maxItems: this.defaultItems, subscribers: new Set(), sequence: 0, pending: [] };
      this.topics.set(key, topic);
    }
    return topic;
  }

  /** A topic without subscribers is forgotten (its sequence restarts if someone subscribes again). */
  private dropTopicIfIdle(key: string, topic: PoolTopic): void {
    if (topic.subscribers.size === 0) {
      this.topics.delete(key);
      this.dirty.delete(topic);
    }
  }

  close(): void {
    for (const state of this.subscribers.values()) state.queue = [];
    this.subscribers.clear();
    this.topics.clear();
    this.dirty.clear();
  }
}
