/**
 * Helpers for the ENRP tests: registrars with ENRP in this process (fast timers, loopback, no multicast),
 * a raw ENRP peer that speaks the wire directly, elements registered over raw ASAP, and a bounded poll.
 */
import net from 'node:net';
import type { TestContext } from 'node:test';
import { EnrpServer } from '../../../core/enrp/enrp-server.js';
import type { EnrpSettings } from '../../../core/enrp/settings.js';
import { Registrar } from '../../../core/registrar/registrar.js';
import { decodeMessage } from '../../../core/wire/decoder.js';
import { encodeMessage } from '../../../core/wire/encoder.js';
import { TcpFramer } from '../../../core/wire/tcp-framer.js';
import type { EnrpMessage, Message, PoolElement } from '../../../core/wire/types.js';
import { AsapTestPeer, handle } from '../../support/asap-test-peer.js';
import { freePort } from '../../support/free-port.js';

export { freePort };

/** Timers short enough for tests, long enough for a loaded CI machine. */
export const FAST_TIMERS: Partial<EnrpSettings> = {
  peerHeartbeatCycleMs: 200,
  maxTimeLastHeardMs: 600,
  maxTimeNoResponseMs: 600,
  mentorDiscoveryTimeoutMs: 600,
  takeoverExpiryMs: 800,
  takeoverGraceMs: 1500,
  announce: 'off',
};

export interface Node {
  readonly registrar: Registrar;
  enrp: EnrpServer;
  readonly port: number;
  /** Stops ENRP only (the registrar keeps serving): a partition seen from the peers. */
  cut(): Promise<void>;
  /** Starts ENRP again on the same port. */
  heal(): Promise<void>;
  close(): Promise<void>;
}


export async function startNode(t: TestContext, options: { serverId: number; port: number; peers: number[]; settings?: Partial<EnrpSettings> }): Promise<Node> {
  const registrar = await Registrar.start({ asap: { host: '127.0.0.1', port: 0 }, announce: 'off', serverId: options.serverId, keepAliveIntervalMs: 60_000, keepAliveTimeoutMs: 60_000 });
  const settings: Partial<EnrpSettings> = {
    ...FAST_TIMERS,
    listen: { host: '127.0.0.1', port: options.port },
    peers: options.peers.map((port) => ({ host: '127.0.0.1', port })),
    ...options.settings,
  };
  const start = async (): Promise<EnrpServer> => {
    const started = await EnrpServer.start(registrar, settings);
    if (!started.ok) throw new Error(started.error);
    return started.value;
  };
  let closed = false;
  const node: Node = {
    registrar,
    enrp: await start(),
    port: options.port,
    cut: async () => {
      await node.enrp.close();
    },
    heal: async () => {
      node.enrp = await start();
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await node.enrp.close();
      await registrar.close();
    },
  };
  t.after(() => node.close());
  return node;
}

/** Three registrars that know each other by configuration. */
export async function startTrio(t: TestContext, settings: Partial<EnrpSettings> = {}, ids: [number, number, number] = [0x1000000a, 0x2000000b, 0x3000000c]): Promise<[Node, Node, Node]> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const nodes = await Promise.all(ids.map((serverId, i) => startNode(t, { serverId, port: ports[i] as number, peers: ports.filter((_, j) => j !== i), settings })));
  return nodes as [Node, Node, Node];
}

/** Polls `check` every 20 ms until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every node lists the other two as active and agrees with their PE checksums. */
export function converged(nodes: readonly Node[]): boolean {
  for (const node of nodes) {
    const rows = node.enrp.peers().filter((p) => p.role !== 'self');
    for (const other of nodes) {
      if (other === node) continue;
      const row = rows.find((r) => r.serverId === other.registrar.serverId);
      if (!row || row.state !== 'active' || row.checksum.state !== 'agree') return false;
    }
  }
  return nodes.every((n) => n.enrp.serving);
}

export function element(id: number, port = 7000 + (id % 1000)): PoolElement {
  return { id, homeServerId: 0, registrationLife: 600_000, userTransport: { kind: 'tcp', port, transportUse: 0, address: '127.0.0.1' }, policy: { type: 1 } };
}

/** A raw element connection that registers `ids` in `pool` and answers keep-alives. */
export async function registerRaw(t: TestContext, node: Node, pool: string, ids: number[]): Promise<AsapTestPeer> {
  const pe = (await AsapTestPeer.connect(node.registrar.asapAddress.port)).answerKeepAlives();
  t.after(() => pe.close());
  for (const id of ids) {
    const answer = await pe.request({ protocol: 'asap', type: 'registration', poolHandle: handle(pool), poolElement: element(id) }, 'registrationResponse', (m) => m.peId === id);
    if (answer.reject) throw new Error(`registration of ${id} refused`);
  }
  return pe;
}

/** The element's home as `node` sees it (undefined when it does not know the element). */
export function homeOf(node: Node, pool: string, id: number): number | undefined {
  return node.registrar.handlespace.element(handle(pool), id)?.homeServerId;
}

type Waiter = { match: (m: EnrpMessage) => boolean; resolve: (m: EnrpMessage) => void; timer: NodeJS.Timeout; reject: (e: Error) => void };

/** A raw ENRP peer over TCP: sends typed messages or bytes, waits for what comes back. */
export class EnrpTestPeer {
  readonly received: EnrpMessage[] = [];
  private readonly framer = new TcpFramer();
  private readonly waiters: Waiter[] = [];
  readonly ended: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      for (const event of this.framer.push(chunk)) {
        if (event.kind !== 'message') continue;
        const decoded = decodeMessage('enrp', event.bytes);
        if (!decoded.ok || decoded.value.protocol !== 'enrp') continue;
        this.deliver(decoded.value);
      }
    });
    socket.on('error', () => {});
    this.ended = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static connect(port: number): Promise<EnrpTestPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(new EnrpTestPeer(socket)));
      socket.once('error', reject);
    });
  }

  private deliver(m: EnrpMessage): void {
    const i = this.waiters.findIndex((w) => w.match(m));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      if (w) {
        clearTimeout(w.timer);
        w.resolve(m);
        return;
      }
    }
    this.received.push(m);
  }

  send(message: Message | Uint8Array): void {
    this.socket.write(message instanceof Uint8Array ? message : encodeMessage(message));
  }

  next<T extends EnrpMessage['type']>(type: T, match: (m: Extract<EnrpMessage, { type: T }>) => boolean = () => true, timeoutMs = 5000): Promise<Extract<EnrpMessage, { type: T }>> {
    const test = (m: EnrpMessage): m is Extract<EnrpMessage, { type: T }> => m.type === type && match(m as Extract<EnrpMessage, { type: T }>);
    const index = this.received.findIndex(test);
    if (index >= 0) return Promise.resolve(this.received.splice(index, 1)[0] as Extract<EnrpMessage, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no ENRP ${type} within ${timeoutMs} ms; got meanwhile: ${this.received.map((m) => m.type).join(', ') || 'nothing'}`));
      }, timeoutMs);
      const waiter: Waiter = { match: test, resolve: (m) => resolve(m as Extract<EnrpMessage, { type: T }>), reject, timer };
      this.waiters.push(waiter);
    });
  }

  /** Whether a matching message arrived (now or within `ms`). */
  async sees<T extends EnrpMessage['type']>(type: T, match: (m: Extract<EnrpMessage, { type: T }>) => boolean, ms: number): Promise<boolean> {
    try {
      await this.next(type, match, ms);
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.ended;
  }
}
