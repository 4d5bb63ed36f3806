/**
 * One registrar with ENRP against raw ENRP peers speaking the wire (TCP on loopback): the handle table in
 * chunks of 128 with the M bit and the W bit, ENRP_LIST_RESPONSE, takeover of a silent peer — acknowledged,
 * contested (the RFC's rule: the higher identifier wins), aborted by the target's presence — and malformed
 * ENRP answered with ENRP_ERROR and, when it persists, a closed connection.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage } from '../../../core/wire/encoder.js';
import type { EnrpHandleUpdate, EnrpPresence, PoolElement } from '../../../core/wire/types.js';
import { handle } from '../../support/asap-test-peer.js';
import { element, EnrpTestPeer, freePort, homeOf, registerRaw, startNode, waitFor, type Node } from './enrp-support.js';

const X = 0x50000000;
const T = 0x40000000;

function presence(sender: number, replyRequired = false, checksum?: number): EnrpPresence {
  return {
    protocol: 'enrp',
    type: 'presence',
    senderServerId: sender,
    receiverServerId: 0,
    replyRequired,
    ...(checksum !== undefined ? { peChecksum: checksum } : {}),
    // A port nobody listens on: the registrar's dials fail, the fake talks over its own connection.
    serverInformation: { serverId: sender, transport: { kind: 'tcp', port: 9, transportUse: 0, address: '127.0.0.1' } },
  };
}

async function node(t: TestContext): Promise<Node> {
  const n = await startNode(t, { serverId: X, port: await freePort(), peers: [], settings: { takeoverGraceMs: 60_000 } });
  await waitFor('serving', () => n.enrp.serving);
  return n;
}

/** A fake peer that joined: it said hello and keeps sending presences (so it is never probed). */
async function joinedPeer(t: TestContext, n: Node, id: number, heartbeat = true): Promise<{ peer: EnrpTestPeer; stop: () => void }> {
  const peer = await EnrpTestPeer.connect(n.port);
  t.after(() => peer.close());
  peer.send(presence(id, true));
  await peer.next('presence', (m) => m.senderServerId === X);
  const timer = heartbeat ? setInterval(() => peer.send(presence(id)), 150) : undefined;
  const stop = (): void => clearInterval(timer);
  t.after(stop);
  return { peer, stop };
}

function addPe(sender: number, pool: string, pe: PoolElement): EnrpHandleUpdate {
  return { protocol: 'enrp', type: 'handleUpdate', senderServerId: sender, receiverServerId: 0, takeoverSuggested: false, updateAction: 0, poolHandle: handle(pool), poolElement: pe };
}

test('handle table: chunks of 128 with the M bit; W lists only the registrar\'s own elements; the peer list', async (t) => {
  const n = await node(t);
  await registerRaw(t, n, 'big', Array.from({ length: 300 }, (_, i) => i + 1));
  const { peer } = await joinedPeer(t, n, 0x20000000);
  peer.send(addPe(0x20000000, 'big', { ...element(1000), homeServerId: 0x20000000 }));
  await waitFor('the peer\'s element arrived', () => homeOf(n, 'big', 1000) === 0x20000000);

  const sizes: number[] = [];
  const flags: boolean[] = [];
  for (let i = 0; i < 5; i++) {
    const reply = peer.next('handleTableResponse');
    peer.send({ protocol: 'enrp', type: 'handleTableRequest', senderServerId: 0x20000000, receiverServerId: X, ownChildrenOnly: false });
    const chunk = await reply;
    sizes.push(chunk.pools.reduce((sum, p) => sum + p.poolElements.length, 0));
    flags.push(chunk.moreToSend);
    if (!chunk.moreToSend) break;
  }
  assert.deepEqual(sizes, [128, 128, 45]);
  assert.deepEqual(flags, [true, true, false]);

  let own = 0;
  for (let more = true; more; ) {
    const reply = peer.next('handleTableResponse');
    peer.send({ protocol: 'enrp', type: 'handleTableRequest', senderServerId: 0x20000000, receiverServerId: X, ownChildrenOnly: true });
    const chunk = await reply;
    for (const pool of chunk.pools) for (const pe of pool.poolElements) {
      assert.equal(pe.homeServerId, X, 'W: own children only');
      own++;
    }
    more = chunk.moreToSend;
  }
  assert.equal(own, 300);

  const list = peer.next('listResponse');
  peer.send({ protocol: 'enrp', type: 'listRequest', senderServerId: 0x20000000, receiverServerId: X });
  assert.equal((await list).reject, false);
});

test('takeover of a silent peer: acknowledged by the others, then ENRP_TAKEOVER_SERVER; its elements change home', async (t) => {
  const n = await node(t);
  const target = await joinedPeer(t, n, T, false);
  target.peer.send(addPe(T, 'echo', { ...element(1), homeServerId: T }));
  await waitFor('T\'s element known', () => homeOf(n, 'echo', 1) === T);
  const other = await joinedPeer(t, n, 0x30000000); // lower than X
  // T is silent from now on: probe, then INIT_TAKEOVER to everyone.
  const probe = await target.peer.next('presence', (m) => m.replyRequired, 5000);
  assert.equal(probe.receiverServerId, T);
  const init = await other.peer.next('initTakeover', (m) => m.targetServerId === T, 5000);
  assert.equal(init.senderServerId, X);
  other.peer.send({ protocol: 'enrp', type: 'initTakeoverAck', senderServerId: 0x30000000, receiverServerId: X, targetServerId: T });
  const done = await other.peer.next('takeoverServer', (m) => m.targetServerId === T, 5000);
  assert.equal(done.senderServerId, X);
  await waitFor('X is home of T\'s element', () => homeOf(n, 'echo', 1) === X);
  assert.equal(n.enrp.peers().find((p) => p.serverId === T)?.state, 'down');
  assert.equal(n.enrp.counters.get('takeover.completed'), 1);
});

test('contested takeover: a higher initiator wins (X aborts and acknowledges); a lower one is ignored', async (t) => {
  const n = await node(t);
  const target = await joinedPeer(t, n, T, false);
  target.peer.send(addPe(T, 'echo', { ...element(1), homeServerId: T }));
  await waitFor('T\'s element known', () => homeOf(n, 'echo', 1) === T);
  const low = await joinedPeer(t, n, 0x30000000);
  const high = await joinedPeer(t, n, 0x60000000);
  await low.peer.next('initTakeover', (m) => m.targetServerId === T, 5000);
  await high.peer.next('initTakeover', (m) => m.targetServerId === T, 5000);
  // The lower one contests: ignored (no acknowledgement).
  low.peer.send({ protocol: 'enrp', type: 'initTakeover', senderServerId: 0x30000000, receiverServerId: 0, targetServerId: T });
  assert.equal(await low.peer.sees('initTakeoverAck', (m) => m.targetServerId === T, 500), false);
  // The higher one contests: X gives way and acknowledges it.
  high.peer.send({ protocol: 'enrp', type: 'initTakeover', senderServerId: 0x60000000, receiverServerId: 0, targetServerId: T });
  const ack = await high.peer.next('initTakeoverAck', (m) => m.targetServerId === T, 3000);
  assert.equal(ack.senderServerId, X);
  high.peer.send({ protocol: 'enrp', type: 'takeoverServer', senderServerId: 0x60000000, receiverServerId: 0, targetServerId: T });
  await waitFor('the winner is home', () => homeOf(n, 'echo', 1) === 0x60000000);
  assert.equal(n.enrp.counters.get('takeover.completed'), 0);
  assert.equal(await low.peer.sees('takeoverServer', (m) => m.senderServerId === X, 300), false, 'X never completed its own');
});

test('a presence from the target aborts the takeover; its elements stay its own', async (t) => {
  const n = await node(t);
  const target = await joinedPeer(t, n, T, false);
  target.peer.send(addPe(T, 'echo', { ...element(1), homeServerId: T }));
  await waitFor('T\'s element known', () => homeOf(n, 'echo', 1) === T);
  const other = await joinedPeer(t, n, 0x30000000);
  await target.peer.next('initTakeover', (m) => m.targetServerId === T, 5000);
  target.peer.send(presence(T));
  await waitFor('aborted', () => n.enrp.counters.get('takeover.aborted') === 1);
  other.peer.send({ protocol: 'enrp', type: 'initTakeoverAck', senderServerId: 0x30000000, receiverServerId: X, targetServerId: T });
  assert.equal(await other.peer.sees('takeoverServer', () => true, 400), false);
  assert.equal(homeOf(n, 'echo', 1), T);
  assert.equal(n.enrp.peers().find((p) => p.serverId === T)?.state, 'active');
});

test('malformed ENRP: ENRP_ERROR with the cause, and the connection closed after 8 in a row', async (t) => {
  const n = await node(t);
  const { peer, stop } = await joinedPeer(t, n, 0x20000000);
  stop();
  // An ENRP_HANDLE_UPDATE with update action 7 (neither ADD_PE nor DEL_PE).
  const bad = encodeMessage(addPe(0x20000000, 'echo', { ...element(1), homeServerId: 0x20000000 }));
  bad[13] = 7;
  peer.send(bad);
  const error = await peer.next('error');
  assert.equal(error.error[0]?.code, 0x3);
  for (let i = 0; i < 8; i++) peer.send(bad);
  await peer.ended;
  assert.ok(n.enrp.counters.get('decode.errors') >= 8);
  assert.ok(n.enrp.counters.get('connections.closedForErrors') >= 1);
  // The registrar still serves other peers.
  const { peer: fresh } = await joinedPeer(t, n, 0x21000000);
  assert.ok(fresh);
});
