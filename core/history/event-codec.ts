/**
 * How a batch of events crosses from the registrar's thread to the writer thread: one flat array of
 * numbers and strings per batch instead of an array of event objects. Structured cloning writes every
 * property name of every object and rebuilds the objects one property at a time on the other side: for
 * the registrar's events that cost about 2 µs per event to send and 6 µs to receive (on the writer
 * thread, the history's bottleneck); flat primitives cost a fraction of that, and rebuilding the events
 * from them with fixed shapes is cheap.
 *
 * Element events also arrive prepared: the element's values as its row stores them (transports and
 * policy formatted) and the details as JSON text, all done when the event is recorded. (No cache of the
 * formatted text per transport object: a WeakMap of every element's transports costs more in garbage
 * collection, and in rehashing as it grows, than formatting costs.) Rare kinds (audit, metrics, runs, pool
 * users closing, admin states) travel as the event object itself.
 */
import type { Policy } from '../wire/types.js';
import type { ElementEvent, ElementValues, HistoryEvent, JsonObject, PoolKey } from './history-event.js';
import { formatTransport, policyToJson } from './row-format.js';

/** An element's values as its pool_elements row stores them. */
export interface ElementRow {
  readonly homeServerId: number;
  readonly registrationLife: number;
  /** formatTransport of the user transport. */
  readonly addresses: string;
  /** formatTransport of the ASAP transport ('' without one). */
  readonly asapAddress: string;
  /** The policy without its load, as JSON text (policyToJson). */
  readonly policy: string;
}

/** An element event with its values and details already formatted (what the writer thread receives). */
export interface PreparedElementEvent {
  readonly prepared: true;
  readonly kind: ElementEvent['kind'];
  readonly time: number;
  readonly poolKey: PoolKey;
  readonly peId: number;
  readonly cause: string;
  /** The details as JSON text, or null. */
  readonly detailsJson: string | null;
  /** health / admin: the state entered; null otherwise. */
  readonly state: string | null;
  /** registered / reregistered: the element's values; null otherwise. */
  readonly row: ElementRow | null;
  /** See ElementRegisteredEvent.valuesChanged (false only when the event said so). */
  readonly valuesChanged: boolean;
}

/** What BatchWriter writes: events as recorded, or element events prepared by the codec. */
export type WriterEvent = HistoryEvent | PreparedElementEvent;

/** One batch in flat form (numbers, strings, undefined, and the rare kinds' event objects). */
export type EncodedBatch = unknown[];

const REGISTERED = 0;
const REREGISTERED = 1;
const HEALTH = 2;
const ADMIN = 3;
const REMOVED = 4;
const SEEN = 5;
const NOTIFICATION = 6;
const OBJECT = 7;

export function detailsJson(details: JsonObject | undefined): string | null {
  return details === undefined || details === null ? null : JSON.stringify(details);
}

export function policyJson(policy: Policy): string {
  return JSON.stringify(policyToJson(policy, { withoutLoad: true }));
}

/** The row values of `values`, formatted without caches (the direct path: tests, BatchWriter.writeBatch). */
export function elementRow(values: ElementValues): ElementRow {
  return {
    homeServerId: values.homeServerId,
    registrationLife: values.registrationLife,
    addresses: formatTransport(values.userTransport),
    asapAddress: formatTransport(values.asapTransport),
    policy: policyJson(values.policy),
  };
}

/**
 * Appends one event to a batch in flat form (on the registrar's thread, when the event is recorded: the
 * hand-over of a batch then only copies it). Throws what JSON.stringify throws for details that are not
 * JSON; `out` may then hold part of the event (the caller truncates it).
 */
export function encodeEvent(out: unknown[], e: HistoryEvent): void {
  switch (e.kind) {
    case 'registered':
    case 'reregistered': {
      const v = e.element;
      out.push(e.kind === 'registered' ? REGISTERED : REREGISTERED, e.time, e.poolKey, e.peId, e.cause, detailsJson(e.details), e.valuesChanged === false ? 0 : 1);
      out.push(v.homeServerId, v.registrationLife, formatTransport(v.userTransport), formatTransport(v.asapTransport), policyJson(v.policy));
      return;
    }
    case 'health':
    case 'admin':
      out.push(e.kind === 'health' ? HEALTH : ADMIN, e.time, e.poolKey, e.peId, e.cause, detailsJson(e.details), e.state);
      return;
    case 'removed':
      out.push(REMOVED, e.time, e.poolKey, e.peId, e.cause, detailsJson(e.details));
      return;
    case 'seen':
      out.push(SEEN, e.time, e.poolKey, e.peId);
      return;
    case 'notification':
      out.push(NOTIFICATION, e.time, e.poolKey, e.connectionId, e.address, e.statuses.length);
      for (const s of e.statuses) out.push(s.peId, s.status, s.reason, s.sequence, s.eventTimeMs, s.replacementPeId, s.load, s.reasonText);
      return;
    default:
      out.push(OBJECT, e);
  }
}

/** Events in flat form (tests, and whoever has a whole batch at hand). */
export function encodeEvents(events: readonly HistoryEvent[]): EncodedBatch {
  const out: unknown[] = [];
  for (const e of events) encodeEvent(out, e);
  return out;
}

/** The events of an encoded batch (on the writer thread), in order. */
export function decodeBatch(a: EncodedBatch): WriterEvent[] {
  const events: WriterEvent[] = [];
  let i = 0;
  while (i < a.length) {
    const code = a[i] as number;
    if (code === OBJECT) {
      events.push(a[i + 1] as HistoryEvent);
      i += 2;
      continue;
    }
    const time = a[i + 1] as number;
    const poolKey = a[i + 2] as PoolKey;
    switch (code) {
      case REGISTERED:
      case REREGISTERED:
        events.push({
          prepared: true,
          kind: code === REGISTERED ? 'registered' : 'reregistered',
          time,
          poolKey,
          peId: a[i + 3] as number,
          cause: a[i + 4] as string,
          detailsJson: a[i + 5] as string | null,
          state: null,
          valuesChanged: a[i + 6] === 1,
          row: {
            homeServerId: a[i + 7] as number,
            registrationLife: a[i + 8] as number,
            addresses: a[i + 9] as string,
            asapAddress: a[i + 10] as string,
            policy: a[i + 11] as string,
          },
        });
        i += 12;
        break;
      case HEALTH:
      case ADMIN:
        events.push({
          prepared: true,
          kind: code === HEALTH ? 'health' : 'admin',
          time,
          poolKey,
          peId: a[i + 3] as number,
          cause: a[i + 4] as string,
          detailsJson: a[i + 5] as string | null,
          state: a[i + 6] as string,
          row: null,
          valuesChanged: false,
        });
        i += 7;
        break;
      case REMOVED:
        events.push({ prepared: true, kind: 'removed', time, poolKey, peId: a[i + 3] as number, cause: a[i + 4] as string, detailsJson: a[i + 5] as string | null, state: 'removed', row: null, valuesChanged: false });
        i += 6;
        break;
      case SEEN:
        events.push({ kind: 'seen', time, poolKey, peId: a[i + 3] as number });
        i += 4;
        break;
      case NOTIFICATION: {
        const count = a[i + 5] as number;
        const connectionId = a[i + 3] as number;
        const address = a[i + 4] as string;
        i += 6;
        const statuses = new Array<NotificationStatus>(count);
        for (let k = 0; k < count; k++, i += 8) {
          statuses[k] = {
            peId: a[i] as number,
            status: a[i + 1] as number,
            reason: a[i + 2] as number,
            sequence: a[i + 3] as number,
            eventTimeMs: a[i + 4] as number,
            replacementPeId: a[i + 5] as number | undefined,
            load: a[i + 6] as number | undefined,
            reasonText: a[i + 7] as string | undefined,
          };
        }
        events.push({ kind: 'notification', time, poolKey, connectionId, address, statuses });
        break;
      }
      default:
        throw new Error(`history batch: unknown event code ${String(code)} at ${i}`);
    }
  }
  return events;
}

type NotificationStatus = Extract<HistoryEvent, { kind: 'notification' }>['statuses'][number];
