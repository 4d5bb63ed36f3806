/**
 * Failover choice under many users: in a round-robin (or random) pool every user of a failed element would
 * otherwise move to the same "next" element at the same moment; `spread` picks uniformly instead. In a
 * least-used pool the registrar's suggestion carries load information and is kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolUser } from '../../../core/client/pool-user.js';
import { PolicyType } from '../../../core/wire/policy.js';
import type { Policy } from '../../../core/wire/types.js';
import { handle } from '../../support/asap-test-peer.js';
import { connect, startRegistrar } from '../../support/registrar-fixture.js';

async function poolOf(t: Parameters<typeof startRegistrar>[0], policy: Policy): Promise<string> {
  const registrar = await startRegistrar(t);
  const pe = await connect(t, registrar);
  for (let id = 1; id <= 5; id++) {
    await pe.request(
      { protocol: 'asap', type: 'registration', poolHandle: handle('spread'), poolElement: { id, homeServerId: 0, registrationLife: 60_000, userTransport: { kind: 'tcp', port: 7000 + id, transportUse: 0, address: '127.0.0.1' }, policy: policy.type === PolicyType.leastUsed ? { ...policy, load: id * 1000 } : policy } },
      'registrationResponse',
      (m) => m.peId === id,
    );
  }
  return `127.0.0.1:${registrar.asapAddress.port}`;
}

test('round robin: failover choices of many users spread over the remaining elements', async (t) => {
  const registrar = await poolOf(t, { type: PolicyType.roundRobin });
  let n = 0;
  const user = new PoolUser({ registrars: [registrar], items: 5, random: () => ((n++ * 0.37) % 1) });
  t.after(() => user.close());
  assert.ok((await user.resolve('spread')).ok);
  const chosen = new Map<number, number>();
  for (let i = 0; i < 400; i++) {
    const r = user.select('spread', { exclude: [1], prefer: 2, spread: true });
    assert.ok(r.ok);
    assert.notEqual(r.value.id, 1);
    chosen.set(r.value.id, (chosen.get(r.value.id) ?? 0) + 1);
  }
  assert.deepStrictEqual([...chosen.keys()].sort(), [2, 3, 4, 5]);
  for (const count of chosen.values()) assert.ok(count >= 60, `uneven: ${JSON.stringify([...chosen])}`);
});

test('least used: the registrar\'s suggested replacement is kept', async (t) => {
  const registrar = await poolOf(t, { type: PolicyType.leastUsed, load: 0 });
  const user = new PoolUser({ registrars: [registrar], items: 5 });
  t.after(() => user.close());
  assert.ok((await user.resolve('spread')).ok);
  for (let i = 0; i < 20; i++) {
    const r = user.select('spread', { exclude: [1], prefer: 4, spread: true });
    assert.ok(r.ok && r.value.id === 4);
  }
});
