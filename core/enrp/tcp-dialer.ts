/**
 * Outgoing ENRP connections over TCP (DESIGN.md §3: ENRP runs over TCP, framed by the message header):
 * connects with a bounded timeout and hands back the same MessageConnection the registrar's listener gives
 * for incoming ones, so the ENRP server treats both directions alike. Messages of one event-loop turn leave
 * in one write.
 */
import net from 'node:net';
import { err, ok, type Result } from '../result.js';
import { TcpConnection } from '../registrar/tcp-transport.js';
import type { ConnectionHandlers, MessageConnection } from '../registrar/transport.js';

/** Connects to `host:port`; fails (as a value) on refusal, error or after `timeoutMs`. */
export function dialTcp(host: string, port: number, maxMessageSize: number, timeoutMs: number, handlers: Omit<ConnectionHandlers, 'onOpen'>): Promise<Result<MessageConnection, string>> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(err(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    socket.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(ok(new TcpConnection(socket, maxMessageSize, handlers, { outgoing: true, keepAliveMs: 10_000 })));
    });
    socket.once('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(err(e.message));
    });
  });
}
