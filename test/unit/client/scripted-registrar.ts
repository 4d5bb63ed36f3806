/**
 * A scripted registrar for the client SDK tests: a raw TCP server on 127.0.0.1 that speaks the codec
 * (TcpFramer + decodeMessage / encodeMessage) and nothing more. By default it accepts every registration
 * and deregistration and answers handle resolutions from `pools`; a test replaces `respond` to script
 * other answers, reads what arrived with `next()`, and pushes anything with `send()` / `sendRaw()`.
 * It can stop and start again on the same port (a registrar restart).
 */
import net from 'node:net';
import { decodeMessage } from '../../../core/wire/decoder.js';
import { encodeMessage } from '../../../core/wire/encoder.js';
import { TcpFramer } from '../../../core/wire/tcp-framer.js';
import type { AsapMessage, Policy, PoolElement } from '../../../core/wire/types.js';

export interface ScriptedPool {
  readonly overallPolicy?: Policy;
  readonly elements: readonly PoolElement[];
}

export interface Received {
  readonly message: AsapMessage;
  readonly peer: net.Socket;
}

/** What to send back for one message: messages, raw bytes, or nothing. */
export type Responder = (message: AsapMessage, peer: net.Socket) => readonly (AsapMessage | Uint8Array)[];

const handleText = (handle: Uint8Array): string => Buffer.from(handle).toString('latin1');

export class ScriptedRegistrar {
  readonly pools = new Map<string, ScriptedPool>();
  readonly sockets = new Set<net.Socket>();
  /** Every message received, in order (never consumed). */
  readonly log: Received[] = [];
  private readonly unread: Received[] = [];
  private readonly waiting: { predicate: (m: AsapMessage) => boolean; resolve: (r: Received) => void }[] = [];
  private server: net.Server | undefined;
  private portValue = 0;
  respond: Responder = (message) => this.defaultAnswer(message);

  static async start(port = 0): Promise<ScriptedRegistrar> {
    const registrar = new ScriptedRegistrar();
    await registrar.listen(port);
    return registrar;
  }

  get port(): number {
    return this.portValue;
  }

  get address(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.portValue };
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  async listen(port = this.portValue): Promise<void> {
    const server = net.createServer((socket) => this.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    this.portValue = address.port;
    this.server = server;
  }

  /** Closes the listener and destroys every connection (a crash, as the clients see it). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Sends to every connected client. */
  send(message: AsapMessage | Uint8Array): void {
    const bytes = message instanceof Uint8Array ? message : encodeMessage(message);
    for (const socket of this.sockets) socket.write(bytes);
  }

  /** The next received message matching `predicate` not yet returned by next(); waits up to `timeoutMs`. */
  next(predicate: (message: AsapMessage) => boolean = () => true, timeoutMs = 3000): Promise<Received> {
    const at = this.unread.findIndex((received) => predicate(received.message));
    if (at >= 0) {
      const [found] = this.unread.splice(at, 1);
      if (found) return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (received: Received) => {
          clearTimeout(timer);
          resolve(received);
        },
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(new Error(`scripted registrar: no matching message within ${timeoutMs} ms; got ${this.log.map((r) => r.message.type).join(', ')}`));
      }, timeoutMs);
      this.waiting.push(waiter);
    });
  }

  /** Messages of one type received so far. */
  count(type: AsapMessage['type']): number {
    return this.log.filter((received) => received.message.type === type).length;
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    const framer = new TcpFramer();
    socket.on('data', (chunk: Buffer) => {
      for (const event of framer.push(new Uint8Array(chunk))) {
        if (event.kind === 'error') {
          socket.destroy();
          return;
        }
        const decoded = decodeMessage('asap', event.bytes);
        if (!decoded.ok || decoded.value.protocol !== 'asap') continue;
        this.received({ message: decoded.value, peer: socket });
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private received(received: Received): void {
    this.log.push(received);
    for (const answer of this.respond(received.message, received.peer)) {
      if (!received.peer.destroyed) received.peer.write(answer instanceof Uint8Array ? answer : encodeMessage(answer));
    }
    const at = this.waiting.findIndex((waiter) => waiter.predicate(received.message));
    const waiter = at >= 0 ? this.waiting.splice(at, 1)[0] : undefined;
    if (waiter) waiter.resolve(received);
    else this.unread.push(received);
  }

  defaultAnswer(message: AsapMessage): AsapMessage[] {
    switch (message.type) {
      case 'registration':
        return [{ protocol: 'asap', type: 'registrationResponse', reject: false, poolHandle: message.poolHandle, peId: message.poolElement.id }];
      case 'deregistration':
        return [{ protocol: 'asap', type: 'deregistrationResponse', poolHandle: message.poolHandle, peId: message.peId }];
      case 'handleResolution': {
        const pool = this.pools.get(handleText(message.poolHandle));
        if (!pool || pool.elements.length === 0) {
          return [{ protocol: 'asap', type: 'handleResolutionResponse', accepted: false, poolHandle: message.poolHandle, poolElements: [], error: [{ code: 0x9 }], peStatus: [] }];
        }
        return [
          {
            protocol: 'asap',
            type: 'handleResolutionResponse',
            accepted: message.subscribe,
            poolHandle: message.poolHandle,
            ...(pool.overallPolicy ? { overallPolicy: pool.overallPolicy } : {}),
            poolElements: pool.elements,
            peStatus: [],
          },
        ];
      }
      default:
        return [];
    }
  }
}

/** A wire Pool Element as a registrar would list it. */
export function element(id: number, port: number, policy: Policy = { type: 1 }): PoolElement {
  return { id, homeServerId: 0x11, registrationLife: 30000, userTransport: { kind: 'tcp', port, transportUse: 0, address: '127.0.0.1' }, policy };
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Resolves once `emitter` emitted `event` (first argument), or rejects after `timeoutMs`. */
export function once<T>(emitter: { once(event: string, listener: (value: T) => void): unknown }, event: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' event within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP port on 127.0.0.1 with nothing listening (bound, then closed). */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}
