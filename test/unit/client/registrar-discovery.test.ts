/**
 * RegistrarDiscovery: announces heard over unicast UDP on 127.0.0.1 (and multicast where the host allows
 * joining a group), T7 expiry on a ManualClock, and the server hunt over a static list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { ManualClock } from '../../../core/clock.js';
import { RegistrarDiscovery, announcedAddresses, type IgnoredAnnounce, type KnownRegistrar } from '../../../core/client/registrar-discovery.js';
import { encodeMessage } from '../../../core/wire/encoder.js';
import type { AsapMessage } from '../../../core/wire/types.js';
import { ScriptedRegistrar, deadPort, once, sleep } from './scripted-registrar.js';

function announce(serverId: number, transports: AsapMessage extends infer M ? (M extends { type: 'serverAnnounce'; transports: infer T } ? T : never) : never): Uint8Array {
  return encodeMessage({ protocol: 'asap', type: 'serverAnnounce', serverId, transports });
}

async function sendUdp(bytes: Uint8Array, port: number, host = '127.0.0.1'): Promise<void> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => socket.send(bytes, port, host, (error) => (error ? reject(error) : resolve())));
  await new Promise<void>((resolve) => socket.close(() => resolve()));
}

async function listening(discovery: RegistrarDiscovery): Promise<number> {
  const bound = await discovery.listen({ host: '127.0.0.1', port: 0, multicastGroup: false });
  assert.ok(bound.ok, bound.ok ? '' : bound.error.message);
  return bound.value.port;
}

test('announce addresses: TCP transport as given, 0.0.0.0 / :: mean the source, none means source:3863, SCTP is skipped', () => {
  const base = { protocol: 'asap', type: 'serverAnnounce', serverId: 1 } as const;
  assert.deepStrictEqual(announcedAddresses({ ...base, transports: [{ kind: 'tcp', port: 4000, transportUse: 0, address: '10.1.1.1' }] }, '10.9.9.9'), [{ host: '10.1.1.1', port: 4000 }]);
  assert.deepStrictEqual(announcedAddresses({ ...base, transports: [{ kind: 'tcp', port: 4000, transportUse: 0, address: '0.0.0.0' }] }, '10.9.9.9'), [{ host: '10.9.9.9', port: 4000 }]);
  assert.deepStrictEqual(announcedAddresses({ ...base, transports: [{ kind: 'tcp', port: 4000, transportUse: 0, address: '::' }] }, 'fd00::5'), [{ host: 'fd00::5', port: 4000 }]);
  assert.deepStrictEqual(announcedAddresses({ ...base, transports: [] }, '10.9.9.9'), [{ host: '10.9.9.9', port: 3863 }]);
  assert.deepStrictEqual(announcedAddresses({ ...base, transports: [{ kind: 'sctp', port: 3863, transportUse: 0, addresses: ['10.1.1.1'] }] }, '10.9.9.9'), []);
});

test('static entries come in their order; bad text is a RangeError', () => {
  const discovery = new RegistrarDiscovery({ registrars: ['127.0.0.1:1001', { host: '127.0.0.1', port: 1002 }, 'registrar.lan'] });
  assert.deepStrictEqual(
    discovery.candidates().map((c) => c.address),
    [
      { host: '127.0.0.1', port: 1001 },
      { host: '127.0.0.1', port: 1002 },
      { host: 'registrar.lan', port: 3863 },
    ],
  );
  assert.throws(() => new RegistrarDiscovery({ registrars: ['host:0'] }), RangeError);
});

test('an announce over unicast UDP adds the registrar (unspecified address = datagram source); T7 = 5 s expiry on a ManualClock', async () => {
  const clock = new ManualClock();
  const discovery = new RegistrarDiscovery({ clock, registrars: ['127.0.0.1:9'] });
  try {
    const port = await listening(discovery);
    const added = once<KnownRegistrar>(discovery, 'added');
    await sendUdp(announce(0xabc, [{ kind: 'tcp', port: 4321, transportUse: 0, address: '0.0.0.0' }]), port);
    const registrar = await added;
    assert.deepStrictEqual(registrar.address, { host: '127.0.0.1', port: 4321 });
    assert.equal(registrar.serverId, 0xabc);
    assert.equal(discovery.serverIdOf({ host: '127.0.0.1', port: 4321 }), 0xabc);
    // Announced first, then the static list.
    assert.deepStrictEqual(discovery.candidates().map((c) => c.source), ['announce', 'static']);

    let expired = 0;
    discovery.on('expired', () => expired++);
    clock.advance(4000);
    // Heard again: the T7 timer restarts, no second 'added'.
    let addedAgain = 0;
    discovery.on('added', () => addedAgain++);
    const heard = new Promise<void>((resolve) => {
      const poll = (): void => {
        if ((discovery.candidates()[0]?.lastHeardAt ?? 0) === clock.now()) resolve();
        else setTimeout(poll, 5);
      };
      poll();
    });
    await sendUdp(announce(0xabc, [{ kind: 'tcp', port: 4321, transportUse: 0, address: '0.0.0.0' }]), port);
    await heard;
    clock.advance(4999);
    assert.equal(expired, 0);
    assert.equal(discovery.candidates().length, 2);
    clock.advance(1);
    assert.equal(expired, 1);
    assert.equal(addedAgain, 0);
    assert.deepStrictEqual(discovery.candidates().map((c) => c.source), ['static']);
  } finally {
    await discovery.close();
  }
});

test('datagrams that are not usable announces are ignored with a reason', async () => {
  const discovery = new RegistrarDiscovery();
  try {
    const port = await listening(discovery);
    const ignored: IgnoredAnnounce[] = [];
    discovery.on('ignored', (why) => ignored.push(why));
    await sendUdp(Uint8Array.from([1, 2, 3]), port);
    await sendUdp(encodeMessage({ protocol: 'asap', type: 'cookie', cookie: Uint8Array.from([1]) }), port);
    await sendUdp(announce(1, [{ kind: 'sctp', port: 3863, transportUse: 0, addresses: ['127.0.0.1'] }]), port);
    for (let i = 0; i < 100 && ignored.length < 3; i++) await sleep(5);
    assert.equal(ignored.length, 3);
    assert.equal(discovery.candidates().length, 0);
  } finally {
    await discovery.close();
  }
});

test('multicast: joining 239.0.0.50 and hearing an announce sent to the group (skipped where the host has no multicast route)', async (t) => {
  const discovery = new RegistrarDiscovery();
  try {
    const bound = await discovery.listen({ port: 0, multicastInterface: '127.0.0.1' });
    if (!bound.ok) {
      t.skip(`cannot join the group here: ${bound.error.message}`);
      return;
    }
    const added = once<KnownRegistrar>(discovery, 'added', 1000);
    const sender = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', () => resolve()));
      sender.setMulticastInterface('127.0.0.1');
      sender.setMulticastLoopback(true);
      const sent = await new Promise<Error | null>((resolve) => sender.send(announce(7, []), bound.value.port, '239.0.0.50', (error) => resolve(error)));
      if (sent) {
        t.skip(`cannot send to the group here: ${sent.message}`);
        return;
      }
      const registrar = await added.catch(() => undefined);
      if (!registrar) {
        t.skip('no multicast loopback delivery on this host');
        return;
      }
      assert.deepStrictEqual(registrar.address, { host: '127.0.0.1', port: 3863 });
    } finally {
      await new Promise<void>((resolve) => sender.close(() => resolve()));
    }
  } finally {
    await discovery.close();
  }
});

test('hunt: a dead first static entry is skipped, the live one wins (sequential and parallel)', async () => {
  const registrar = await ScriptedRegistrar.start();
  const dead = await deadPort();
  const discovery = new RegistrarDiscovery({ registrars: [`127.0.0.1:${dead}`, `127.0.0.1:${registrar.port}`] });
  try {
    for (const parallel of [1, 3]) {
      const hunted = await discovery.hunt({ parallel });
      assert.ok(hunted.ok);
      assert.deepStrictEqual(hunted.value.remote, registrar.address);
      await hunted.value.close();
    }
  } finally {
    await discovery.close();
    await registrar.stop();
  }
});

test('hunt: with nothing reachable it backs off until aborted, then reports the failures', async () => {
  const dead = await deadPort();
  const discovery = new RegistrarDiscovery({ registrars: [`127.0.0.1:${dead}`] });
  try {
    const controller = new AbortController();
    const hunting = discovery.hunt({ signal: controller.signal, retryDelayMs: 20 });
    await sleep(150);
    controller.abort();
    const result = await hunting;
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.error.code === 'aborted');
    assert.match(!result.ok ? result.error.failures.join(' ') : '', /ECONNREFUSED/);
  } finally {
    await discovery.close();
  }
});

test('hunt: a registrar that comes back on the same port is found on a later pass', async () => {
  const registrar = await ScriptedRegistrar.start();
  const port = registrar.port;
  await registrar.stop();
  const discovery = new RegistrarDiscovery({ registrars: [`127.0.0.1:${port}`] });
  try {
    const hunting = discovery.hunt({ retryDelayMs: 20 });
    await sleep(60);
    await registrar.listen(port);
    const result = await hunting;
    assert.ok(result.ok);
    await result.value.close();
  } finally {
    await discovery.close();
    await registrar.stop();
  }
});

test('hunt: an announce wakes a hunt that knows no registrar yet', async () => {
  const registrar = await ScriptedRegistrar.start();
  const discovery = new RegistrarDiscovery();
  try {
    const port = await listening(discovery);
    // A long pause: only the announce can end it within the test's time.
    const hunting = discovery.hunt({ retryDelayMs: 30_000 });
    await sleep(30);
    await sendUdp(announce(5, [{ kind: 'tcp', port: registrar.port, transportUse: 0, address: '127.0.0.1' }]), port);
    const result = await hunting;
    assert.ok(result.ok);
    assert.deepStrictEqual(result.value.remote, registrar.address);
    await result.value.close();
  } finally {
    await discovery.close();
    await registrar.stop();
  }
});
