/**
 * ENRP between three registrars in this process (real TCP on loopback, fast timers): convergence at start,
 * registrations and removals on one seen on all with the right home, admin state carried to every peer
 * and kept after the loss of the registrar where it was set, a partition (ENRP cut while the registrar
 * keeps serving and changing) healed by the checksum audit, and discovery by multicast presence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { handle } from '../../support/asap-test-peer.js';
import { converged, freePort, homeOf, registerRaw, startNode, startTrio, waitFor } from './enrp-support.js';

test('three registrars converge, and every change of a home registrar reaches the other two', async (t) => {
  const [a, b, c] = await startTrio(t);
  await waitFor('the peer tables agree', () => converged([a, b, c]));
  const peA = await registerRaw(t, a, 'echo', [11, 12]);
  await registerRaw(t, b, 'echo', [21]);
  await registerRaw(t, c, 'other', [31]);
  await waitFor('every registrar knows every element with its home', () =>
    [a, b, c].every((n) => homeOf(n, 'echo', 11) === a.registrar.serverId && homeOf(n, 'echo', 21) === b.registrar.serverId && homeOf(n, 'other', 31) === c.registrar.serverId),
  );
  // A resolution on C answers with A's and B's elements.
  const resolved = c.registrar.handlespace.resolve(handle('echo'), 10);
  assert.ok(resolved.ok);
  assert.deepEqual(resolved.value.elements.map((e) => e.id).sort(), [11, 12, 21]);
  await waitFor('checksums agree after the updates', () => converged([a, b, c]));

  // A re-registration with a new load (LU pools only; here a new transport port) and a deregistration.
  await peA.request({ protocol: 'asap', type: 'deregistration', poolHandle: handle('echo'), peId: 12 }, 'deregistrationResponse');
  await waitFor('DEL_PE reached B and C', () => homeOf(b, 'echo', 12) === undefined && homeOf(c, 'echo', 12) === undefined);
  // Closing A's element connection removes 11 at A, and A's DEL_PE removes it everywhere.
  await peA.close();
  await waitFor('connection loss propagated', () => [a, b, c].every((n) => homeOf(n, 'echo', 11) === undefined));
  await waitFor('checksums agree at the end', () => converged([a, b, c]));
  const rows = a.enrp.peers();
  assert.equal(rows[0]?.role, 'self');
  assert.equal(rows[0]?.elementsOwned, 0);
  assert.equal(rows.find((r) => r.serverId === b.registrar.serverId)?.elementsOwned, 1);
  assert.ok(rows.every((r) => typeof r.checksum.computed === 'number'));
  assert.equal(a.enrp.counters.get('decode.errors'), 0);
});

test('an operator drain on one registrar reaches all, and survives the loss of that registrar', async (t) => {
  const [a, b, c] = await startTrio(t);
  await waitFor('the peer tables agree', () => converged([a, b, c]));
  const pe = await registerRaw(t, a, 'echo', [7, 8]);
  await waitFor('element 7 known everywhere', () => homeOf(b, 'echo', 7) !== undefined && homeOf(c, 'echo', 7) !== undefined);

  // The operator acts on B, which is not the element's home.
  assert.ok(b.registrar.operate(handle('echo'), 7, 'drain', 'kernel upgrade').ok);
  const stateAt = (n: typeof a): string | undefined => n.registrar.handlespace.element(handle('echo'), 7)?.admin.state;
  await waitFor('draining on A (its home) and C', () => stateAt(a) === 'draining' && stateAt(c) === 'draining');
  assert.match(a.registrar.handlespace.element(handle('echo'), 7)?.admin.cause ?? '', /kernel upgrade/);
  const learned = c.enrp.adminStateOf(handle('echo'), 7);
  assert.equal(learned?.state, 'draining');

  // B is lost: nothing of the drain depends on it.
  await b.close();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(stateAt(a), 'draining');
  assert.equal(stateAt(c), 'draining');

  // The element leaves A (its connection drops) and registers anew at C: it comes back draining.
  await pe.close();
  await waitFor('gone everywhere', () => homeOf(a, 'echo', 7) === undefined && homeOf(c, 'echo', 7) === undefined);
  await registerRaw(t, c, 'echo', [7]);
  await waitFor('draining again at C, and at A by C\'s update', () => stateAt(c) === 'draining' && stateAt(a) === 'draining');
  assert.equal(c.registrar.handlespace.resolve(handle('echo'), 10).ok, true);

  // Ready again, set at A this time: the newer action wins everywhere.
  assert.ok(a.registrar.operate(handle('echo'), 7, 'ready', 'upgrade done').ok);
  await waitFor('ready at C', () => stateAt(c) === 'ready');
});

test('a partition (ENRP cut while A keeps serving) heals by the checksum audit, without losing A\'s elements', async (t) => {
  const [a, b, c] = await startTrio(t);
  await waitFor('the peer tables agree', () => converged([a, b, c]));
  const pe = await registerRaw(t, a, 'echo', [1, 2]);
  await registerRaw(t, b, 'echo', [5]);
  await waitFor('A\'s elements known everywhere', () => [b, c].every((n) => homeOf(n, 'echo', 1) === a.registrar.serverId && homeOf(n, 'echo', 2) === a.registrar.serverId));

  await a.cut();
  // B and C see A go silent and one of them takes its elements over (grace 1.5 s keeps them selectable).
  await waitFor('A taken over', () => [b, c].every((n) => homeOf(n, 'echo', 1) !== a.registrar.serverId && homeOf(n, 'echo', 1) !== undefined));
  const winner = homeOf(b, 'echo', 1);
  assert.ok(winner === b.registrar.serverId || winner === c.registrar.serverId);
  // Meanwhile A keeps serving its elements and changes them: 2 leaves, 3 arrives.
  await pe.request({ protocol: 'asap', type: 'deregistration', poolHandle: handle('echo'), peId: 2 }, 'deregistrationResponse');
  await registerRaw(t, a, 'echo', [3]);
  assert.equal(homeOf(b, 'echo', 3), undefined, 'cut off: B does not hear of 3');

  await a.heal();
  await waitFor('healed: B and C have exactly A\'s elements with A as home', () =>
    [b, c].every((n) => homeOf(n, 'echo', 1) === a.registrar.serverId && homeOf(n, 'echo', 2) === undefined && homeOf(n, 'echo', 3) === a.registrar.serverId && homeOf(n, 'echo', 5) === b.registrar.serverId),
  );
  await waitFor('checksums agree', () => converged([a, b, c]), 15_000);
  assert.equal(a.registrar.handlespace.element(handle('echo'), 1)?.connectionId !== undefined, true, 'A still serves element 1 over its connection');
  // The grace period passes: nothing A serves is removed by it.
  await new Promise((r) => setTimeout(r, 1800));
  assert.equal(homeOf(c, 'echo', 1), a.registrar.serverId);
  assert.equal(homeOf(b, 'echo', 3), a.registrar.serverId);
});

test('discovery: registrars with no --peer find each other by ENRP_PRESENCE over UDP multicast', async (t) => {
  // Multicast needs a route for 239.0.0.0/8 (loopback is enough); without one the discovery channel
  // cannot work at all, which is an environment limit, not ours.
  const probe = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const group = { host: '239.0.0.51', port: await freePort() };
  const multicast = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.bind(group.port, () => {
      try {
        probe.addMembership(group.host);
        resolve(true);
      } catch {
        resolve(false);
      }
    });
  });
  probe.close();
  if (!multicast) {
    t.skip('no multicast on this host');
    return;
  }
  const settings = { announce: group, peers: [] };
  const a = await startNode(t, { serverId: 0x0d000001, port: await freePort(), peers: [], settings });
  const b = await startNode(t, { serverId: 0x0d000002, port: await freePort(), peers: [], settings });
  await waitFor('they found each other', () => converged([a, b]));
  await registerRaw(t, a, 'found', [1]);
  await waitFor('and share the handlespace', () => homeOf(b, 'found', 1) === a.registrar.serverId);
});
