/**
 * A raw ASAP peer for integration tests: a real TCP connection that sends encoded (or hand-made) bytes and
 * waits for the registrar's messages, so tests see exactly what goes over the wire.
 */
import net from 'node:net';
import { decodeMessage } from '../../core/wire/decoder.js';
import { encodeMessage } from '../../core/wire/encoder.js';
import { TcpFramer } from '../../core/wire/tcp-framer.js';
import type { AsapMessage, Message } from '../../core/wire/types.js';

type Waiter = { match: (m: AsapMessage) => boolean; resolve: (m: AsapMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class AsapTestPeer {
  readonly received: AsapMessage[] = [];
  private readonly framer = new TcpFramer();
  private readonly waiters: Waiter[] = [];
  private endedFlag = false;
  readonly ended: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      for (const event of this.framer.push(chunk)) {
        if (event.kind !== 'message') continue;
        const decoded = decodeMessage('asap', event.bytes);
        if (!decoded.ok || decoded.value.protocol !== 'asap') continue;
        this.deliver(decoded.value);
      }
    });
    this.ended = new Promise((resolve) => {
      socket.on('close', () => {
        this.endedFlag = true;
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error('connection closed while waiting'));
        }
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  static connect(port: number, host = '127.0.0.1'): Promise<AsapTestPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host }, () => {
        socket.off('error', reject);
        resolve(new AsapTestPeer(socket));
      });
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.endedFlag;
  }

  private answersKeepAlives = false;

  /** From now on every ASAP_ENDPOINT_KEEP_ALIVE is answered with an ACK at once (like a live element). */
  answerKeepAlives(): this {
    this.answersKeepAlives = true;
    return this;
  }

  private deliver(message: AsapMessage): void {
    if (this.answersKeepAlives && message.type === 'endpointKeepAlive' && message.peId !== undefined) {
      this.send({ protocol: 'asap', type: 'endpointKeepAliveAck', poolHandle: message.poolHandle, peId: message.peId });
      return;
    }
    const index = this.waiters.findIndex((w) => w.match(message));
    if (index >= 0) {
      const [waiter] = this.waiters.splice(index, 1);
      if (waiter) {
        clearTimeout(waiter.timer);
        waiter.resolve(message);
        return;
      }
    }
    this.received.push(message);
  }

  send(message: Message | Uint8Array): void {
    this.socket.write(message instanceof Uint8Array ? message : encodeMessage(message));
  }

  /** The next message (already received or arriving) that matches; rejects after `timeoutMs`. */
  next<T extends AsapMessage['type']>(type: T, match: (m: Extract<AsapMessage, { type: T }>) => boolean = () => true, timeoutMs = 3000): Promise<Extract<AsapMessage, { type: T }>> {
    const test = (m: AsapMessage): m is Extract<AsapMessage, { type: T }> => m.type === type && match(m as Extract<AsapMessage, { type: T }>);
    const index = this.received.findIndex(test);
    if (index >= 0) {
      const [found] = this.received.splice(index, 1);
      return Promise.resolve(found as Extract<AsapMessage, { type: T }>);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no ${type} within ${timeoutMs} ms; received meanwhile: ${this.received.map((m) => m.type).join(', ') || 'nothing'}`));
      }, timeoutMs);
      const waiter: Waiter = { match: test, resolve: (m) => resolve(m as Extract<AsapMessage, { type: T }>), reject, timer };
      this.waiters.push(waiter);
    });
  }

  /** Sends and waits for the matching reply in one step. */
  async request<T extends AsapMessage['type']>(message: Message, type: T, match?: (m: Extract<AsapMessage, { type: T }>) => boolean): Promise<Extract<AsapMessage, { type: T }>> {
    const reply = this.next(type, match);
    this.send(message);
    return reply;
  }

  close(): Promise<void> {
    this.socket.end();
    this.socket.destroy();
    return this.ended;
  }
}

export const handle = (text: string): Uint8Array => new TextEncoder().encode(text);
