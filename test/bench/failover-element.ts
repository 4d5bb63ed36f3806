/**
 * One pool element of the failover bench (failover.bench.ts), in a process of its own so that SIGKILL and
 * SIGSTOP hit a real process: a PoolElement (core/client) registered with the bench's registrar, and the
 * TCP echo service it advertises as its user transport.
 *
 *   forked with IPC: node --import tsx test/bench/failover-element.ts '<ElementParams JSON>'
 *
 * Echo protocol (failover-shared.ts): every REQUEST_BYTES bytes received are answered with those bytes and
 * the element's PE identifier (REPLY_BYTES). IPC: 'drop' closes the element's registrar connection (its
 * link is closed, so the registrar sees the connection lost and the element does not come back by itself),
 * 'register' registers the same PE identifier again on a new link, 'close' deregisters and exits. The
 * process also exits when the orchestrator goes away (IPC disconnect) or after maxLifetimeMs.
 */
import net from 'node:net';
import { PoolElement } from '../../core/client/pool-element.js';
import { RegistrarLink } from '../../core/client/registrar-link.js';
import { REPLY_BYTES, REQUEST_BYTES, sharedNow, wallClockOffset, type ElementParams, type FromElement, type ToElement } from './failover-shared.js';

const params = JSON.parse(process.argv[2] ?? '{}') as ElementParams;

function send(message: FromElement): void {
  if (process.connected) process.send?.(message);
}

const sockets = new Set<net.Socket>();
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.setNoDelay(true);
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const n = Math.floor(pending.length / REQUEST_BYTES);
    if (n === 0) return;
    const reply = Buffer.allocUnsafe(n * REPLY_BYTES);
    for (let i = 0; i < n; i++) {
      pending.copy(reply, i * REPLY_BYTES, i * REQUEST_BYTES, (i + 1) * REQUEST_BYTES);
      reply.writeUInt32BE(params.peId, i * REPLY_BYTES + REQUEST_BYTES);
    }
    pending = pending.subarray(n * REQUEST_BYTES);
    socket.write(reply);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => sockets.delete(socket));
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 });
await new Promise<void>((resolve) => server.once('listening', () => resolve()));
const address = server.address();
const port = address !== null && typeof address === 'object' ? address.port : 0;

interface Registration {
  readonly link: RegistrarLink;
  readonly element: PoolElement;
}

async function registerOnce(): Promise<Registration> {
  const link = new RegistrarLink({ registrars: [{ host: '127.0.0.1', port: params.registrarPort }], announces: false });
  const element = new PoolElement({ poolHandle: params.poolHandle, identifier: params.peId, userTransport: { host: '127.0.0.1', port }, link });
  element.on('error', () => undefined);
  element.on('registrationFailed', () => undefined);
  await element.register();
  return { link, element };
}

let current: Registration | undefined;
let exiting = false;
async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  clearTimeout(lifetime);
  for (const socket of sockets) socket.destroy();
  server.close();
  const registration = current;
  if (registration) await Promise.race([registration.element.close().then(() => registration.link.close()), new Promise((r) => setTimeout(r, 2000))]);
  send({ kind: 'closed' });
  process.exit(code);
}
const lifetime = setTimeout(() => void exit(0), params.maxLifetimeMs);
process.on('disconnect', () => void exit(0));
process.on('SIGTERM', () => void exit(0));

process.on('message', (raw: unknown) => {
  const message = raw as ToElement;
  switch (message.cmd) {
    case 'drop': {
      const registration = current;
      if (!registration?.link.connection) {
        send({ kind: 'failed', error: 'drop: no registrar connection' });
        return;
      }
      current = undefined;
      const at = sharedNow();
      // Closing the link closes its connection (the registrar sees it go) and stops the element for good.
      void registration.link.close().then(() => registration.element.close());
      send({ kind: 'dropped', at });
      return;
    }
    case 'register':
      registerOnce().then(
        (registration) => {
          current = registration;
          send({ kind: 'registered', at: sharedNow() });
        },
        (e: unknown) => send({ kind: 'failed', error: `register: ${e instanceof Error ? e.message : String(e)}` }),
      );
      return;
    case 'close':
      void exit(0);
      return;
  }
});

try {
  current = await registerOnce();
  send({ kind: 'ready', pid: process.pid, peId: params.peId, port, clockOffset: wallClockOffset() });
} catch (e) {
  send({ kind: 'failed', error: e instanceof Error ? e.message : String(e) });
  await exit(1);
}
