/**
 * The baseline of the registrar bench: the cheapest server Node can be for the same traffic. It runs as its
 * own process, like the registrar, and for every `requestBytes` bytes received (one handle resolution
 * request; requests all have that size) it writes a canned reply: a real, encoded handle resolution
 * response with 3 elements of the size the registrar sends, so the load client frames, decodes and checks
 * exactly what it would from the registrar. No decoding, no state: what is left is Node's TCP cost.
 *
 *   node --import tsx test/bench/echo-server.ts '{"requestBytes":28,"responseHex":"...","maxLifetimeMs":60000}'
 *
 * Prints one JSON line `{"port":N,"pid":N}` once listening on 127.0.0.1 (an ephemeral port); exits when
 * its stdin ends, on SIGTERM, or after maxLifetimeMs at the latest.
 */
import net from 'node:net';

interface EchoParams {
  readonly requestBytes: number;
  readonly responseHex: string;
  readonly maxLifetimeMs: number;
}

const params = JSON.parse(process.argv[2] ?? '{}') as EchoParams;
const response = Buffer.from(params.responseHex, 'hex');
if (!(params.requestBytes > 0) || response.length === 0) {
  console.error('echo-server: requestBytes and responseHex are required');
  process.exit(2);
}
/** replies[n]: n responses in one buffer, built on first use (one read can complete several requests). */
const replies: Buffer[] = [];
const replyOf = (n: number): Buffer => (replies[n] ??= Buffer.concat(Array.from({ length: n }, () => response)));

const sockets = new Set<net.Socket>();
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.setNoDelay(true);
  let pending = 0;
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.length;
    const n = Math.floor(pending / params.requestBytes);
    if (n === 0) return;
    pending -= n * params.requestBytes;
    socket.write(replyOf(n));
  });
  socket.on('error', () => undefined);
  socket.on('close', () => sockets.delete(socket));
});

const shutdown = (): void => {
  for (const socket of sockets) socket.destroy();
  server.close();
  process.stdin.destroy();
  clearTimeout(lifetime);
};
const lifetime = setTimeout(shutdown, params.maxLifetimeMs);
process.on('SIGTERM', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', () => undefined);
process.stdin.resume();

server.listen({ host: '127.0.0.1', port: 0 }, () => {
  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
});
