/**
 * One RegistrarLink shared by two pool elements and a pool user: a single TCP connection carries all of
 * them, each keep-alive is answered by the element it names, one element closing does not disturb the
 * others, and after a registrar restart every element re-registers over the one new connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolElement } from '../../../core/client/pool-element.js';
import { PoolUser } from '../../../core/client/pool-user.js';
import { RegistrarLink } from '../../../core/client/registrar-link.js';
import type { AsapRegistration } from '../../../core/wire/types.js';
import { ScriptedRegistrar, deadPort, element, sleep, text } from './scripted-registrar.js';

test('two elements and a user share one connection; keep-alives reach the element they name', async () => {
  const registrar = await ScriptedRegistrar.start();
  const link = new RegistrarLink({ registrars: [`127.0.0.1:${registrar.port}`], hunt: { retryDelayMs: 20 } });
  const a = new PoolElement({ link, poolHandle: 'echo', identifier: 0xa, userTransport: { host: '127.0.0.1', port: 7001 }, reregistrationIntervalMs: 60_000 });
  const b = new PoolElement({ link, poolHandle: 'echo', identifier: 0xb, userTransport: { host: '127.0.0.1', port: 7002 }, reregistrationIntervalMs: 60_000 });
  const pu = new PoolUser({ link });
  try {
    await Promise.all([a.register(), b.register()]);
    registrar.pools.set('echo', { elements: [element(0xa, 7001), element(0xb, 7002)] });
    assert.ok((await pu.resolve('echo')).ok);
    assert.equal(registrar.sockets.size, 1);

    registrar.send({ protocol: 'asap', type: 'endpointKeepAlive', home: false, serverId: 1, poolHandle: text('echo'), peId: 0xb });
    const ack = await registrar.next((m) => m.type === 'endpointKeepAliveAck');
    assert.ok(ack.message.type === 'endpointKeepAliveAck' && ack.message.peId === 0xb);
    await sleep(50);
    assert.equal(registrar.count('endpointKeepAliveAck'), 1);

    // Closing one element deregisters it only; the connection stays for the others.
    await a.close();
    const dereg = await registrar.next((m) => m.type === 'deregistration');
    assert.ok(dereg.message.type === 'deregistration' && dereg.message.peId === 0xa);
    assert.equal(registrar.sockets.size, 1);
    assert.equal(b.state, 'registered');

    // Restart: the remaining element re-registers over one new connection.
    const port = registrar.port;
    await registrar.stop();
    await sleep(30);
    await registrar.listen(port);
    const again = await registrar.next((m) => m.type === 'registration' && (m as AsapRegistration).poolElement.id === 0xb, 5000);
    assert.ok(again);
    for (let i = 0; i < 50 && b.state !== 'registered'; i++) await sleep(10);
    assert.equal(b.state, 'registered');
    assert.equal(registrar.sockets.size, 1);
  } finally {
    await a.close();
    await b.close();
    await pu.close();
    await link.close();
    await registrar.stop();
  }
});

test('link: a hunt nobody waits for any more stops; a closed link refuses', async () => {
  const dead = await deadPort();
  const link = new RegistrarLink({ registrars: [`127.0.0.1:${dead}`], hunt: { retryDelayMs: 20 } });
  const controller = new AbortController();
  const acquiring = link.acquire(controller.signal);
  await sleep(50);
  controller.abort();
  const result = await acquiring;
  assert.ok(!result.ok && result.error.code === 'aborted');
  await link.close();
  const refused = await link.acquire();
  assert.ok(!refused.ok && refused.error.code === 'closed');
});
