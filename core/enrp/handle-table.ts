/**
 * ENRP_HANDLE_TABLE_RESPONSE in chunks (RFC 5353 §3.3): per requesting peer and W flag, a snapshot of the
 * elements to send (all of them, or with W only those this registrar is home of) and a cursor; each request
 * takes the next chunk of at most `chunkSize` elements and the M bit says whether more follow. Elements
 * that left since the snapshot are skipped (their DEL_PE reaches the peer on its own); elements that
 * arrived since reach it as ADD_PE. A session left idle expires, and the next request starts afresh.
 */
import type { ElementRecord, Handlespace } from '../handlespace/handlespace.js';
import type { PoolElement, PoolEntry } from '../wire/types.js';

export interface TableChunk {
  readonly pools: PoolEntry[];
  readonly elements: ElementRecord[];
  readonly moreToSend: boolean;
}

interface Session {
  readonly items: readonly ElementRecord[];
  cursor: number;
  lastActivity: number;
}

export function toPoolElement(element: ElementRecord): PoolElement {
  const pe: PoolElement = {
    id: element.id,
    homeServerId: element.homeServerId,
    registrationLife: element.registrationLife,
    userTransport: element.userTransport,
    policy: element.policy,
  };
  return element.asapTransport ? { ...pe, asapTransport: element.asapTransport } : pe;
}

export class HandleTableServer {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly handlespace: Handlespace,
    private readonly chunkSize: number,
    private readonly maxSessions: number,
    private readonly idleMs: number,
  ) {}

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The next chunk for `peerId`, or undefined when too many sessions run (answer with R=1). */
  next(peerId: number, ownChildrenOnly: boolean, ownId: number, now: number): TableChunk | undefined {
    const key = `${peerId}|${ownChildrenOnly ? 1 : 0}`;
    let session = this.sessions.get(key);
    if (session && now - session.lastActivity > this.idleMs) {
      this.sessions.delete(key);
      session = undefined;
    }
    if (!session) {
      if (this.sessions.size >= this.maxSessions) return undefined;
      session = { items: this.snapshot(ownChildrenOnly ? ownId : undefined), cursor: 0, lastActivity: now };
      this.sessions.set(key, session);
    }
    session.lastActivity = now;
    const pools: PoolEntry[] = [];
    const elements: ElementRecord[] = [];
    let current: { poolHandle: Uint8Array; poolElements: PoolElement[] } | undefined;
    while (session.cursor < session.items.length && elements.length < this.chunkSize) {
      const element = session.items[session.cursor++] as ElementRecord;
      // Still the same element (a removed record keeps its last values; a re-registered one is the same object).
      if (this.handlespace.element(element.poolHandle, element.id) !== element) continue;
      if (ownChildrenOnly && element.homeServerId !== ownId) continue;
      if (!current || current.poolHandle !== element.poolHandle) {
        current = { poolHandle: element.poolHandle, poolElements: [] };
        pools.push(current);
      }
      current.poolElements.push(toPoolElement(element));
      elements.push(element);
    }
    const moreToSend = session.cursor < session.items.length;
    if (!moreToSend) this.sessions.delete(key);
    return { pools, elements, moreToSend };
  }

  /** Drops sessions idle longer than the limit. */
  expire(now: number): void {
    for (const [key, session] of this.sessions) if (now - session.lastActivity > this.idleMs) this.sessions.delete(key);
  }

  forgetPeer(peerId: number): void {
    this.sessions.delete(`${peerId}|0`);
    this.sessions.delete(`${peerId}|1`);
  }

  private snapshot(owner: number | undefined): ElementRecord[] {
    const items: ElementRecord[] = [];
    for (const pool of this.handlespace.pools()) {
      for (const element of pool.elements()) if (owner === undefined || element.homeServerId === owner) items.push(element);
    }
    return items;
  }
}
