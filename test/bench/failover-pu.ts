/**
 * Pool users of the failover bench (failover.bench.ts), many per process, each a PoolUser of its own with
 * its own registrar connection (core/client):
 *
 *   forked with IPC: node --import tsx test/bench/failover-pu.ts '<PuParams JSON>'
 *
 * - fanout: pool users subscribed (S flag) to one pool; for every PE Status of the victim element each
 *   records when its PoolUser emitted 'pe-status' (shared clock, failover-shared.ts). Once every user of the
 *   process has a 'failed' status (by its sequence number) the process sends the receive times; likewise it
 *   says when every user has the victim's 'up' (registered again), so rounds do not overlap.
 * - failover: each pool user runs an application loop on a PoolSession (subscribed or standard mode): one
 *   request at a time to the session's current element over a kept TCP connection, the next after a short
 *   think time. A failure (no reply within the request timeout, the connection lost or refused) is counted
 *   and reported with session.reportFailure(), which moves the session; a pushed failover (subscribed mode)
 *   abandons a request in flight on the old element (counted as failed) and moves the connection. After any
 *   move the request goes out at once on the new element (RFC 5352 §3.8: the user resumes there at once,
 *   with its cookie). Both modes react the same way to what their TCP connection tells them; only the
 *   subscription differs.
 *
 * Every wait is bounded; the process exits on 'close', when the orchestrator goes away, or after
 * maxLifetimeMs.
 */
import net from 'node:net';
import { PoolUser } from '../../core/client/pool-user.js';
import type { FailoverEvent, PoolSession, SessionRequest } from '../../core/client/pool-session.js';
import { PeStatusCode } from '../../core/wire/types.js';
import {
  REPLY_BYTES,
  REQUEST_BYTES,
  sharedNow,
  wallClockOffset,
  type FailoverPuParams,
  type FailoverReport,
  type FailoverUserOutcome,
  type FanoutDelivery,
  type FanoutPuParams,
  type FromPu,
  type PuParams,
  type ToPu,
} from './failover-shared.js';

const params = JSON.parse(process.argv[2] ?? '{}') as PuParams;
/** Pool users opened at a time: a burst of thousands of SYNs would overflow the registrar's listen backlog. */
const OPEN_CONCURRENCY = 50;

function send(message: FromPu): void {
  if (process.connected) process.send?.(message);
}

function newPoolUser(): PoolUser {
  const user = new PoolUser({ registrars: [{ host: '127.0.0.1', port: params.registrarPort }], announces: false });
  user.on('error', () => undefined);
  return user;
}

async function openInBatches<T>(count: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const opened: T[] = [];
  for (let i = 0; i < count; i += OPEN_CONCURRENCY) {
    opened.push(...(await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count - i) }, (_, j) => open(i + j)))));
  }
  return opened;
}

// ---- fanout -------------------------------------------------------------------------------------------

interface Pending {
  readonly reason: number;
  readonly times: number[];
}

function fanout(p: FanoutPuParams): { handle: (message: ToPu) => Promise<void>; close: () => Promise<void> } {
  const users: PoolUser[] = [];
  const failed = new Map<number, Pending>();
  const ups = new Map<number, number>();
  /** Sequence numbers already reported (complete, or collected after a round's time bound). */
  const done = new Set<number>();

  const attach = (user: PoolUser): void => {
    user.on('pe-status', (event) => {
      const at = sharedNow();
      const status = event.status;
      if (status.peId !== p.victimPeId) return;
      if (status.status === PeStatusCode.failed) {
        if (done.has(status.sequence)) return;
        let pending = failed.get(status.sequence);
        if (!pending) failed.set(status.sequence, (pending = { reason: status.reason, times: [] }));
        pending.times.push(at);
        if (pending.times.length === users.length) {
          failed.delete(status.sequence);
          done.add(status.sequence);
          send({ kind: 'delivered', delivery: { sequence: status.sequence, reason: pending.reason, times: pending.times } });
        }
      } else if (status.status === PeStatusCode.up) {
        const n = (ups.get(status.sequence) ?? 0) + 1;
        ups.set(status.sequence, n);
        if (n === users.length) {
          ups.delete(status.sequence);
          send({ kind: 'upDelivered', sequence: status.sequence });
        }
      }
    });
  };

  // The baseline: plain sockets that only count bytes (no ASAP, no SDK), as cheap as a receiver can be.
  let raw: { sockets: net.Socket[]; received: number[]; times: number[]; complete: number; bytes: number } | undefined;
  const openRaw = (port: number, total: number, bytes: number): Promise<number> => {
    const state = (raw ??= { sockets: [], received: [], times: [], complete: 0, bytes });
    return openInBatches(Math.max(0, total - state.sockets.length), () => {
      return new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port });
        const index = state.sockets.length;
        socket.once('error', reject);
        socket.once('connect', () => {
          socket.off('error', reject);
          socket.on('error', () => undefined);
          state.received[index] = 0;
          socket.on('data', (chunk: Buffer) => {
            const before = state.received[index] ?? 0;
            const after = before + chunk.length;
            state.received[index] = after;
            // A round is complete for this socket when it crossed the next multiple of `bytes`.
            if (Math.floor(after / state.bytes) > Math.floor(before / state.bytes)) {
              state.times.push(sharedNow());
              if (++state.complete === state.sockets.length) {
                const times = state.times;
                state.times = [];
                state.complete = 0;
                send({ kind: 'rawDelivered', times });
              }
            }
          });
          resolve(socket);
        });
        state.sockets.push(socket);
      });
    }).then(() => state.sockets.length);
  };

  return {
    handle: async (message) => {
      switch (message.cmd) {
        case 'rawOpen':
          send({ kind: 'rawOpened', sockets: await openRaw(message.port, message.total, message.bytes) });
          return;
        case 'rawClose':
          for (const socket of raw?.sockets ?? []) socket.destroy();
          raw = undefined;
          send({ kind: 'rawClosed' });
          return;
        case 'grow': {
          const t0 = sharedNow();
          let subscribed = 0;
          const opened = await openInBatches(Math.max(0, message.total - users.length), async () => {
            const user = newPoolUser();
            const resolved = await user.resolve(p.poolHandle, { subscribe: true });
            if (!resolved.ok) throw new Error(`subscription failed: ${resolved.error.message}`);
            if (resolved.value.subscribed) subscribed++;
            attach(user);
            return user;
          });
          users.push(...opened);
          send({ kind: 'grown', users: users.length, subscribed, ms: sharedNow() - t0 });
          return;
        }
        case 'collect': {
          const deliveries: FanoutDelivery[] = [...failed].map(([sequence, pending]) => ({ sequence, reason: pending.reason, times: pending.times }));
          for (const delivery of deliveries) done.add(delivery.sequence);
          failed.clear();
          ups.clear();
          send({ kind: 'collected', deliveries, users: users.length });
          return;
        }
        default:
          throw new Error(`fanout process: unexpected command ${message.cmd}`);
      }
    },
    close: async () => {
      for (const socket of raw?.sockets ?? []) socket.destroy();
      await Promise.all(users.map((user) => user.close()));
    },
  };
}

// ---- failover -----------------------------------------------------------------------------------------

type Trigger = FailoverUserOutcome['trigger'];

interface Connection {
  readonly socket: net.Socket;
  readonly peId: number;
  connected: boolean;
  pending: Buffer;
}

interface InFlight {
  readonly seq: number;
  readonly peId: number;
  readonly timer: NodeJS.Timeout;
  readonly request: SessionRequest;
}

/** The fault the process was told about (each user notes at the arm whether it is on that element). */
interface Armed {
  readonly peId: number;
}

class BenchUser {
  private connection: Connection | undefined;
  private inFlight: InFlight | undefined;
  private seq = 0;
  private thinkTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failing = false;
  private stopped = false;
  /** Per arm: */
  armed: Armed | undefined;
  affected = false;
  failed = 0;
  firstGoodAt: number | undefined;
  movedTo: number | undefined;
  detectedAt: number | undefined;
  resumedAt: number | undefined;
  trigger: Trigger = 'none';
  /** Whole run: */
  goodReplies = 0;
  totalFailed = 0;

  constructor(
    private readonly index: number,
    readonly user: PoolUser,
    readonly session: PoolSession,
    private readonly p: FailoverPuParams,
  ) {
    session.on('failover', (event) => this.onFailover(event));
    session.on('current', () => {
      if (!this.inFlight && !this.thinkTimer && !this.failing) this.sendNext();
    });
  }

  start(): void {
    this.sendNext();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.thinkTimer);
    clearTimeout(this.retryTimer);
    if (this.inFlight) clearTimeout(this.inFlight.timer);
    this.dropConnection();
  }

  arm(armed: Armed): void {
    this.armed = armed;
    this.affected = this.session.current()?.id === armed.peId;
    this.failed = 0;
    this.firstGoodAt = undefined;
    this.movedTo = undefined;
    this.detectedAt = undefined;
    this.resumedAt = undefined;
    this.trigger = 'none';
  }

  get waitingForRecovery(): boolean {
    return this.affected && this.firstGoodAt === undefined;
  }

  private sendNext(): void {
    clearTimeout(this.thinkTimer);
    this.thinkTimer = undefined;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.stopped || this.inFlight || this.failing) return;
    const element = this.session.current();
    if (!element) {
      // No element now: ask again in a while ('current' also wakes the loop when one appears).
      this.retryTimer = setTimeout(() => {
        void this.session.acquire().then(() => this.sendNext());
      }, 100);
      return;
    }
    if (element.userTransport.kind !== 'tcp') throw new Error(`element 0x${element.id.toString(16)} has no TCP user transport`);
    if (this.connection?.peId !== element.id) {
      this.dropConnection();
      this.connection = this.connect(element.id, element.userTransport.address, element.userTransport.port);
    }
    const begun = this.session.begin();
    if (!begun.ok) {
      this.retryTimer = setTimeout(() => this.sendNext(), 100);
      return;
    }
    const seq = ++this.seq >>> 0;
    const request = Buffer.alloc(REQUEST_BYTES);
    request.writeUInt32BE(this.index >>> 0, 0);
    request.writeUInt32BE(seq, 4);
    const peId = element.id;
    this.inFlight = { seq, peId, request: begun.value, timer: setTimeout(() => this.fail('timeout', peId), this.p.requestTimeoutMs) };
    if (this.affected && this.armed && peId !== this.armed.peId) this.resumedAt ??= sharedNow();
    this.connection.socket.write(request);
  }

  private connect(peId: number, host: string, port: number): Connection {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    const connection: Connection = { socket, peId, connected: false, pending: Buffer.alloc(0) };
    socket.on('connect', () => {
      connection.connected = true;
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.connection !== connection) return;
      connection.pending = connection.pending.length === 0 ? chunk : Buffer.concat([connection.pending, chunk]);
      while (connection.pending.length >= REPLY_BYTES) {
        const seq = connection.pending.readUInt32BE(4);
        const from = connection.pending.readUInt32BE(REQUEST_BYTES);
        connection.pending = connection.pending.subarray(REPLY_BYTES);
        this.onReply(seq, from);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.connection !== connection) return;
      this.connection = undefined;
      // Both modes: what the TCP connection says is known to the application at once.
      this.fail(connection.connected ? 'connectionLost' : 'refused', peId);
    });
    return connection;
  }

  private dropConnection(): void {
    const connection = this.connection;
    this.connection = undefined;
    connection?.socket.destroy();
  }

  private onReply(seq: number, from: number): void {
    const inFlight = this.inFlight;
    if (!inFlight || inFlight.seq !== seq) return;
    clearTimeout(inFlight.timer);
    inFlight.request.end();
    this.inFlight = undefined;
    this.goodReplies++;
    if (this.affected && this.armed && from !== this.armed.peId && this.firstGoodAt === undefined) {
      this.firstGoodAt = sharedNow();
      this.movedTo = from;
    }
    this.thinkTimer = setTimeout(() => {
      this.thinkTimer = undefined;
      this.sendNext();
    }, this.p.thinkMs);
  }

  private countFailure(): void {
    this.failed++;
    this.totalFailed++;
  }

  /** The application found `peId` failed: count the request, report it, and go on with the session's next element. */
  private fail(reason: 'timeout' | 'connectionLost' | 'refused', peId: number): void {
    if (this.stopped) return;
    if (this.inFlight?.peId === peId) {
      clearTimeout(this.inFlight.timer);
      this.inFlight.request.end();
      this.inFlight = undefined;
      this.countFailure();
    }
    if (this.connection?.peId === peId) this.dropConnection();
    if (this.affected && this.armed?.peId === peId && this.trigger === 'none' && this.session.current()?.id === peId) {
      this.trigger = reason;
      this.detectedAt = sharedNow();
    }
    if (this.session.current()?.id !== peId) {
      // The session already left it (a push came first): just go on.
      if (!this.thinkTimer) this.sendNext();
      return;
    }
    this.failing = true;
    void this.session.reportFailure({ reason: reason === 'timeout' ? 'timeout' : 'unreachable', element: peId }).then(() => {
      this.failing = false;
      this.sendNext();
    });
  }

  private onFailover(event: FailoverEvent): void {
    // reportFailure() emits 'failover' too; only a pushed status is handled here (its reason is the PE Status).
    if (typeof event.reason !== 'object' || this.stopped) return;
    const from = event.from.id;
    if (this.affected && this.armed?.peId === from && this.trigger === 'none') {
      this.trigger = 'push';
      this.detectedAt = sharedNow();
    }
    if (this.inFlight?.peId === from) {
      // The request on the failed element is abandoned (it would never be answered) and sent again below.
      clearTimeout(this.inFlight.timer);
      this.inFlight.request.end();
      this.inFlight = undefined;
      this.countFailure();
    }
    if (this.connection?.peId === from) this.dropConnection();
    if (!this.failing) this.sendNext();
  }
}

function failover(p: FailoverPuParams): { start: () => Promise<number>; handle: (message: ToPu) => Promise<void>; close: () => Promise<void> } {
  let users: BenchUser[] = [];
  let goodAtArm = 0;
  const goodReplies = (): number => users.reduce((n, u) => n + u.goodReplies, 0);
  return {
    start: async () => {
      users = await openInBatches(p.users, async (i) => {
        const user = newPoolUser();
        const opened = await user.session(p.poolHandle, { subscribe: p.subscribe });
        if (!opened.ok) throw new Error(`session failed: ${opened.error.message}`);
        if (p.subscribe && !opened.value.subscribed) throw new Error('the registrar did not accept the subscription');
        return new BenchUser(p.firstUser + i, user, opened.value, p);
      });
      for (const user of users) user.start();
      return users.length;
    },
    handle: async (message) => {
      switch (message.cmd) {
        case 'census': {
          const byElement: Record<string, number> = {};
          let idle = 0;
          for (const user of users) {
            const id = user.session.current()?.id;
            if (id === undefined) idle++;
            else byElement[`0x${id.toString(16)}`] = (byElement[`0x${id.toString(16)}`] ?? 0) + 1;
          }
          send({ kind: 'census', byElement, goodReplies: goodReplies(), failed: users.reduce((n, u) => n + u.totalFailed, 0), idle });
          return;
        }
        case 'arm': {
          for (const user of users) user.arm({ peId: message.peId });
          goodAtArm = goodReplies();
          send({ kind: 'armed', affected: users.filter((u) => u.affected).length });
          return;
        }
        case 'report': {
          const deadline = message.at + message.waitMs;
          while (users.some((u) => u.waitingForRecovery) && sharedNow() < deadline) await new Promise((r) => setTimeout(r, 20));
          const affected = users.filter((u) => u.affected);
          const others = users.filter((u) => !u.affected);
          const report: FailoverReport = {
            affected: affected.map((u) => ({
              failoverMs: u.firstGoodAt === undefined ? null : u.firstGoodAt - message.at,
              detectedMs: u.detectedAt === undefined ? null : u.detectedAt - message.at,
              resumedMs: u.resumedAt === undefined ? null : u.resumedAt - message.at,
              movedTo: u.movedTo ?? null,
              failed: u.failed,
              trigger: u.trigger,
            })),
            unaffectedFailed: others.reduce((n, u) => n + u.failed, 0),
            unaffectedUsers: others.length,
            goodReplies: goodReplies() - goodAtArm,
          };
          send({ kind: 'report', report });
          return;
        }
        default:
          throw new Error(`failover process: unexpected command ${message.cmd}`);
      }
    },
    close: async () => {
      for (const user of users) user.stop();
      await Promise.all(users.map((u) => u.user.close()));
    },
  };
}

// ---- main ---------------------------------------------------------------------------------------------

let closing = false;
async function exit(close: () => Promise<void>, code: number): Promise<void> {
  if (closing) return;
  closing = true;
  await Promise.race([close(), new Promise((r) => setTimeout(r, 3000))]);
  send({ kind: 'closed' });
  process.exit(code);
}

const role = params.mode === 'fanout' ? { ...fanout(params), start: async () => 0 } : failover(params);
const lifetime = setTimeout(() => void exit(role.close, 0), params.maxLifetimeMs);
lifetime.unref();
process.on('disconnect', () => void exit(role.close, 0));
process.on('message', (raw: unknown) => {
  const message = raw as ToPu;
  if (message.cmd === 'close') {
    void exit(role.close, 0);
    return;
  }
  role.handle(message).catch((e: unknown) => send({ kind: 'failed', error: e instanceof Error ? e.message : String(e) }));
});
try {
  const users = await role.start();
  send({ kind: 'ready', pid: process.pid, users, clockOffset: wallClockOffset() });
} catch (e) {
  send({ kind: 'failed', error: e instanceof Error ? e.message : String(e) });
  await exit(role.close, 1);
}
