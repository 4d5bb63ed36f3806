/**
 * UDP helpers for the discovery tests: whether multicast works on this host's loopback (route, membership,
 * loop-back of our own datagrams), and one datagram sent and done.
 */
import dgram from 'node:dgram';

/** Whether a datagram sent to `group` comes back on loopback within a second. */
export async function multicastWorks(group: string, port: number): Promise<boolean> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000);
      socket.once('error', () => resolve(false));
      socket.on('message', (data) => {
        if (data.toString() === 'probe') {
          clearTimeout(timer);
          resolve(true);
        }
      });
      socket.bind(port, () => {
        try {
          socket.addMembership(group);
          socket.setMulticastLoopback(true);
          socket.send('probe', port, group, (e) => {
            if (e) resolve(false);
          });
        } catch {
          resolve(false);
        }
      });
    });
  } finally {
    socket.close();
  }
}

/** Sends one datagram from a fresh socket and closes it. */
export function sendDatagram(bytes: Uint8Array, host: string, port: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) =>
    socket.send(bytes, port, host, (e) => {
      socket.close();
      if (e) reject(e);
      else resolve();
    }),
  );
}
