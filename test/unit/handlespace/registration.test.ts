/**
 * Registration rules (RFC 5352 §3.1 server side): pool creation by the first element, the consistency
 * causes 0x5/0x7/0x8, 0x4 for a foreign PE identifier, 0x3 for unsupported policies and invalid values,
 * 0x6 for both limits; re-registration in place with `changed`; deregistration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cause } from '../../../core/wire/constants.js';
import { handle, mustRegister, pe, PolicyType, setup, tcp } from './fixtures.js';

const h = handle('pool-a');

test('the first element creates the pool and fixes its policy type, transport kind and use', () => {
  const { hs, clock } = setup();
  const outcome = mustRegister(hs, h, pe(1, { type: PolicyType.leastUsed, load: 5 }), 7, 0xabc);
  assert.equal(outcome.kind, 'registered');
  assert.deepEqual(outcome.changed, []);
  const record = outcome.element;
  assert.equal(record.id, 1);
  assert.equal(record.poolKey, 'pool-a');
  assert.deepEqual([...record.poolHandle], [...h]);
  assert.equal(record.connectionId, 7);
  assert.equal(record.homeServerId, 0xabc);
  assert.equal(record.registeredAt, clock.now());
  assert.equal(record.lastRegistrationAt, clock.now());
  assert.equal(record.expiresAt, clock.now() + 30_000);
  assert.deepEqual(record.admin, { state: 'ready', since: clock.now(), cause: 'registered' });
  assert.deepEqual(record.health, { state: 'up', since: clock.now(), cause: 'registered' });
  assert.equal(record.degradation, 0);
  assert.equal(record.unreachableReports, 0);
  const pool = hs.pool(h);
  assert.ok(pool);
  assert.equal(pool.key, 'pool-a');
  assert.equal(pool.policyType, PolicyType.leastUsed);
  assert.deepEqual(pool.overallPolicy, { type: PolicyType.leastUsed });
  assert.equal(pool.transportKind, 'tcp');
  assert.equal(pool.transportUse, 0);
  assert.equal(pool.size, 1);
  assert.deepEqual([...pool.elements()].map((e) => e.id), [1]);
  // Both iterables can be walked more than once.
  const elements = pool.elements();
  assert.equal([...elements].length, 1);
  assert.equal([...elements].length, 1);
  const pools = hs.pools();
  assert.equal([...pools].length, 1);
  assert.equal([...pools].length, 1);
  assert.equal(hs.poolCount, 1);
  assert.equal(hs.elementCount, 1);
  assert.equal(hs.element(h, 1), record);
  // The pool keeps its own copy of the handle.
  const mutable = handle('pool-b');
  mustRegister(hs, mutable, pe(2));
  mutable[0] = 0x41;
  assert.ok(hs.pool(handle('pool-b')));
});

test('a record is plain data: it serializes and clones without internal links', () => {
  const { hs } = setup();
  const { element } = mustRegister(hs, h, pe(1));
  const json = JSON.parse(JSON.stringify(element)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json).sort(), [
    'admin', 'connectionId', 'degradation', 'expiresAt', 'health', 'homeServerId', 'id', 'lastRegistrationAt', 'policy',
    'poolHandle', 'poolKey', 'registeredAt', 'registrationLife', 'unreachableReports', 'userTransport',
  ].sort());
  assert.equal(structuredClone(element).id, 1);
  const view = hs.pool(h);
  assert.ok(view);
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(view)) as object).sort(), ['handle', 'key', 'overallPolicy', 'policyType', 'transportKind', 'transportUse']);
});

test('pool keys are the latin-1 text of the handle bytes, so handles differing in any byte are distinct pools', () => {
  const { hs } = setup();
  mustRegister(hs, new Uint8Array([0x80, 0xff, 0x00]), pe(1));
  mustRegister(hs, new Uint8Array([0x80, 0xff]), pe(1));
  mustRegister(hs, new Uint8Array([0x81, 0xff, 0x00]), pe(1));
  assert.equal(hs.poolCount, 3);
  assert.equal(hs.pool(new Uint8Array([0x80, 0xff, 0x00]))?.key, '\u0080\u00ff\u0000');
});

test('0x5: a new element with another policy type is rejected with the pool policy', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, { type: PolicyType.leastUsed, load: 1 }));
  const result = hs.register(h, pe(2, { type: PolicyType.roundRobin }), 1, 1);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.error.cause, Cause.inconsistentPoolingPolicy);
  assert.deepEqual(result.error.policy, { type: PolicyType.leastUsed });
  assert.match(result.error.reason, /Round Robin.*Least Used/);
  assert.equal(hs.elementCount, 1);
});

test('0x7: another transport kind is rejected with a transport of the pool kind', () => {
  const { hs } = setup();
  const first = pe(1);
  mustRegister(hs, h, first);
  const result = hs.register(h, pe(2, undefined, { userTransport: { kind: 'udp', port: 1, reserved: 0, address: '10.0.0.9' } }), 1, 1);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.error.cause, Cause.inconsistentTransportType);
  assert.equal(result.error.transport?.kind, 'tcp');
  assert.deepEqual(result.error.transport, first.userTransport);
  assert.equal(hs.element(h, 2), undefined);
});

test('0x8: another data/control use is rejected; non-SCTP/TCP kinds are data only', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, undefined, { userTransport: { kind: 'sctp', port: 9, transportUse: 1, addresses: ['10.0.0.1', '::1'] } }));
  assert.equal(hs.pool(h)?.transportUse, 1);
  const result = hs.register(h, pe(2, undefined, { userTransport: { kind: 'sctp', port: 9, transportUse: 0, addresses: ['10.0.0.2'] } }), 1, 1);
  assert.equal(result.ok, false);
  if (!result.ok) assert.equal(result.error.cause, Cause.inconsistentDataControlConfiguration);

  const u = handle('udp-pool');
  mustRegister(hs, u, pe(1, undefined, { userTransport: { kind: 'udp', port: 9, reserved: 5, address: '10.0.0.1' } }));
  assert.equal(hs.pool(u)?.transportUse, 0);
  assert.equal(hs.pool(u)?.transportKind, 'udp');
});

test('the same checks apply to a re-registration', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, { type: PolicyType.weightedRandom, weight: 1 }), 1);
  mustRegister(hs, h, pe(2, { type: PolicyType.weightedRandom, weight: 1 }), 1);
  const policy = hs.register(h, pe(1, { type: PolicyType.random }), 1, 1);
  assert.equal(!policy.ok && policy.error.cause, Cause.inconsistentPoolingPolicy);
  const transport = hs.register(h, pe(1, { type: PolicyType.weightedRandom, weight: 1 }, { userTransport: { kind: 'opaque', data: new Uint8Array([1]) } }), 1, 1);
  assert.equal(!transport.ok && transport.error.cause, Cause.inconsistentTransportType);
  const use = hs.register(h, pe(1, { type: PolicyType.weightedRandom, weight: 1 }, { userTransport: tcp(1, '10.0.0.1', 1) }), 1, 1);
  assert.equal(!use.ok && use.error.cause, Cause.inconsistentDataControlConfiguration);
  // Nothing was changed by the rejected attempts.
  assert.deepEqual(hs.element(h, 1)?.policy, { type: PolicyType.weightedRandom, weight: 1 });
});

test('0x4: the same PE identifier from another connection is rejected; a peer cannot take a local element', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1), 1);
  const other = hs.register(h, pe(1), 2, 1);
  assert.equal(other.ok, false);
  if (!other.ok) {
    assert.equal(other.error.cause, Cause.nonUniquePeIdentifier);
    assert.match(other.error.reason, /0x00000001.*connection 1/);
  }
  const peer = hs.register(h, pe(1), undefined, 1);
  assert.equal(!peer.ok && peer.error.cause, Cause.nonUniquePeIdentifier);
  assert.equal(hs.element(h, 1)?.connectionId, 1);
  // The same identifier in another pool is a different element.
  mustRegister(hs, handle('other'), pe(1), 2);
});

test('elements learned from a peer are updated by the peer and can be claimed by a direct registration', () => {
  const { hs } = setup();
  const learned = mustRegister(hs, h, pe(1, { type: PolicyType.roundRobin }, { registrationLife: 1000 }), 'peer', 0x99);
  assert.equal(learned.element.connectionId, undefined);
  assert.deepEqual(hs.elementsOfConnection(5), []);
  const update = mustRegister(hs, h, pe(1, undefined, { registrationLife: 2000 }), 'peer', 0x99);
  assert.equal(update.kind, 'reregistered');
  assert.deepEqual(update.changed, ['lifetime']);
  const claim = mustRegister(hs, h, pe(1, undefined, { registrationLife: 2000 }), 5, 0x11);
  assert.equal(claim.kind, 'reregistered');
  assert.deepEqual(claim.changed, ['connection']);
  assert.equal(claim.element, learned.element);
  assert.equal(claim.element.connectionId, 5);
  assert.equal(claim.element.homeServerId, 0x11);
  assert.deepEqual(hs.elementsOfConnection(5).map((e) => e.id), [1]);
  // Now owned locally: the peer can no longer overwrite it.
  const peer = hs.register(h, pe(1), undefined, 0x99);
  assert.equal(!peer.ok && peer.error.cause, Cause.nonUniquePeIdentifier);
});

test('re-registration updates in place, reports what changed and resets the degradation counter', () => {
  const { hs, clock } = setup();
  const first = mustRegister(hs, h, pe(1, { type: PolicyType.leastUsedDegradation, load: 10, loadDegradation: 5 }), 3, 0x1);
  const record = first.element;
  hs.resolve(h, 1);
  hs.resolve(h, 1);
  assert.equal(record.degradation, 2);
  hs.setAdminState(h, 1, 'draining', 'operator');
  hs.countUnreachableReport(h, 1);
  const registeredAt = record.registeredAt;
  clock.advance(5000);

  const same = mustRegister(hs, h, pe(1, { type: PolicyType.leastUsedDegradation, load: 10, loadDegradation: 5 }), 3, 0x1);
  assert.equal(same.kind, 'reregistered');
  assert.equal(same.element, record);
  assert.deepEqual(same.changed, []);
  assert.equal(record.degradation, 0);
  assert.equal(record.lastRegistrationAt, clock.now());
  assert.equal(record.registeredAt, registeredAt);
  assert.equal(record.expiresAt, clock.now() + 30_000);
  // Admin state, health and unreachable reports survive a renewal.
  assert.equal(record.admin.state, 'draining');
  assert.equal(record.unreachableReports, 1);

  const load = mustRegister(hs, h, pe(1, { type: PolicyType.leastUsedDegradation, load: 11, loadDegradation: 5 }), 3, 0x1);
  assert.deepEqual(load.changed, ['load']);
  assert.equal(record.policy.load, 11);
  const both = mustRegister(hs, h, pe(1, { type: PolicyType.leastUsedDegradation, load: 12, loadDegradation: 6 }), 3, 0x1);
  assert.deepEqual(both.changed, ['policy', 'load']);
  const transport = mustRegister(hs, h, pe(1, { type: PolicyType.leastUsedDegradation, load: 12, loadDegradation: 6 }, { userTransport: tcp(9999, '10.9.9.9') }), 3, 0x1);
  assert.deepEqual(transport.changed, ['transport']);
  assert.equal(record.userTransport.kind === 'tcp' && record.userTransport.port, 9999);
  const asap = mustRegister(hs, h, pe(1, { type: PolicyType.leastUsedDegradation, load: 12, loadDegradation: 6 }, { userTransport: tcp(9999, '10.9.9.9'), asapTransport: { kind: 'tcp', port: 1, transportUse: 0, address: '10.1.1.1' } }), 3, 0x1);
  assert.deepEqual(asap.changed, ['transport']);
  const all = mustRegister(hs, h, pe(1, { type: PolicyType.leastUsedDegradation, load: 1, loadDegradation: 6 }, { registrationLife: -1, userTransport: tcp(1, '10.9.9.9') }), 3, 0x2);
  assert.deepEqual(all.changed, ['load', 'transport', 'lifetime', 'connection']);
  assert.equal(record.expiresAt, Infinity);
  assert.equal(record.homeServerId, 0x2);
  assert.equal(hs.elementCount, 1);
});

test('equal transports compare by value, not identity', () => {
  const { hs } = setup();
  mustRegister(hs, h, pe(1, undefined, { userTransport: { kind: 'sctp', port: 1, transportUse: 0, addresses: ['10.0.0.1', '::1'] } }));
  const same = mustRegister(hs, h, pe(1, undefined, { userTransport: { kind: 'sctp', port: 1, transportUse: 0, addresses: ['10.0.0.1', '::1'] } }));
  assert.deepEqual(same.changed, []);
  const more = mustRegister(hs, h, pe(1, undefined, { userTransport: { kind: 'sctp', port: 1, transportUse: 0, addresses: ['10.0.0.1'] } }));
  assert.deepEqual(more.changed, ['transport']);
  const o = handle('opaque');
  mustRegister(hs, o, pe(1, undefined, { userTransport: { kind: 'opaque', data: new Uint8Array([1, 2]) } }));
  assert.deepEqual(mustRegister(hs, o, pe(1, undefined, { userTransport: { kind: 'opaque', data: new Uint8Array([1, 2]) } })).changed, []);
  assert.deepEqual(mustRegister(hs, o, pe(1, undefined, { userTransport: { kind: 'opaque', data: new Uint8Array([1, 3]) } })).changed, ['transport']);
});

test('0x3: RSPLIB policies, unknown and invalid policy types are refused with a reason naming them', () => {
  const { hs } = setup();
  const cases: [number, RegExp][] = [
    [PolicyType.randomizedPriorityLeastUsed, /^RSPLIB's experimental policy Randomized Priority Least Used \(0xb0001001\) is not supported by this registrar$/],
    [PolicyType.weightedRandomDpf, /^RSPLIB's experimental policy Weighted Random with Delay Penalty Factor \(0xb0002001\)/],
    [PolicyType.priorityLeastUsedDegradationDpf, /RSPLIB's experimental policy .*0xb0002005/],
    [0x12345678, /^unknown policy type 0x12345678$/],
    [0xb0003000, /^unknown policy type 0xb0003000$/],
    [0x00000000, /0x00000000 is reserved as invalid/],
    [0x40000000, /0x40000000 is reserved as invalid/],
  ];
  for (const [type, reason] of cases) {
    const result = hs.register(h, pe(1, { type, load: 1, weight: 1 }), 1, 1);
    assert.equal(result.ok, false, `type 0x${type.toString(16)}`);
    if (result.ok) continue;
    assert.equal(result.error.cause, Cause.invalidValues);
    assert.match(result.error.reason, reason);
  }
  assert.equal(hs.poolCount, 0);
});

test('0x3: invalid registration values', () => {
  const { hs } = setup();
  const rejected = (h2: Uint8Array, element: ReturnType<typeof pe>, pattern: RegExp): void => {
    const result = hs.register(h2, element, 1, 1);
    assert.equal(result.ok, false, pattern.source);
    if (result.ok) return;
    assert.equal(result.error.cause, Cause.invalidValues);
    assert.match(result.error.reason, pattern);
  };
  rejected(h, pe(1, undefined, { registrationLife: 0 }), /registration life 0 ms/);
  rejected(h, pe(1, undefined, { registrationLife: -2 }), /registration life -2/);
  rejected(h, pe(1, undefined, { registrationLife: 1.5 }), /registration life 1.5/);
  rejected(new Uint8Array(0), pe(1), /pool handle is empty/);
  rejected(h, pe(-1), /PE identifier -1/);
  rejected(h, pe(2 ** 32), /PE identifier/);
  rejected(h, pe(1, { type: PolicyType.weightedRandom }), /Weighted Random weight is missing/);
  rejected(h, pe(1, { type: PolicyType.leastUsed, load: 2 ** 32 }), /Least Used load 4294967296 is not a 32-bit number/);
  rejected(h, pe(1, { type: PolicyType.priority, priority: -1 }), /priority -1/);
  rejected(h, pe(1, undefined, { userTransport: tcp(1, '10.0.0.1', 2) }), /transport use 2/);
  assert.equal(hs.poolCount, 0);
  // The extremes are fine.
  mustRegister(hs, h, pe(0xffffffff, undefined, { registrationLife: 0x7fffffff }));
  mustRegister(hs, h, pe(0, undefined, { registrationLife: 1 }));
});

test('0x6: maxPools is checked when a pool would be created, maxElementsPerPool when an element is added', () => {
  const { hs } = setup({ limits: { maxPools: 2, maxElementsPerPool: 3 } });
  mustRegister(hs, handle('a'), pe(1));
  mustRegister(hs, handle('b'), pe(1));
  const third = hs.register(handle('c'), pe(1), 1, 1);
  assert.equal(third.ok, false);
  if (!third.ok) {
    assert.equal(third.error.cause, Cause.lackOfResources);
    assert.match(third.error.reason, /2 pools \(limit 2\)/);
  }
  // Existing pools still accept elements.
  mustRegister(hs, handle('a'), pe(2));
  mustRegister(hs, handle('a'), pe(3));
  const full = hs.register(handle('a'), pe(4), 1, 1);
  assert.equal(full.ok, false);
  if (!full.ok) {
    assert.equal(full.error.cause, Cause.lackOfResources);
    assert.match(full.error.reason, /3 elements \(limit 3\)/);
  }
  // A renewal in a full pool is not an addition.
  assert.equal(mustRegister(hs, handle('a'), pe(3)).kind, 'reregistered');
  // Freeing a pool makes room for a new one.
  hs.deregister(handle('b'), 1);
  mustRegister(hs, handle('c'), pe(1));
  assert.equal(hs.poolCount, 2);
});

test('default limits are 10,000 pools and 100,000 elements per pool', () => {
  const { hs } = setup();
  assert.deepEqual(hs.limits, { maxPools: 10_000, maxElementsPerPool: 100_000 });
});

test('deregistration removes the element, then the emptied pool; unknown elements give undefined', () => {
  const { hs } = setup();
  const one = mustRegister(hs, h, pe(1), 4).element;
  mustRegister(hs, h, pe(2), 4);
  assert.equal(hs.deregister(h, 3), undefined);
  assert.equal(hs.deregister(handle('nope'), 1), undefined);
  assert.equal(hs.deregister(h, 1), one);
  assert.equal(hs.element(h, 1), undefined);
  assert.equal(hs.pool(h)?.size, 1);
  assert.deepEqual(hs.elementsOfConnection(4).map((e) => e.id), [2]);
  assert.ok(hs.deregister(h, 2));
  assert.equal(hs.pool(h), undefined);
  assert.equal(hs.poolCount, 0);
  assert.equal(hs.elementCount, 0);
  assert.deepEqual(hs.elementsOfConnection(4), []);
  const resolved = hs.resolve(h, 3);
  assert.deepEqual(resolved, { ok: false, error: 'unknownPool' });
  // The pool can be re-created with another policy once it is gone.
  mustRegister(hs, h, pe(1, { type: PolicyType.random }));
  assert.equal(hs.pool(h)?.policyType, PolicyType.random);
});

test('elementsOfConnection lists the elements of one connection across pools, safe to deregister while walking', () => {
  const { hs } = setup();
  mustRegister(hs, handle('a'), pe(1), 1);
  mustRegister(hs, handle('b'), pe(2), 1);
  mustRegister(hs, handle('a'), pe(3), 2);
  mustRegister(hs, handle('c'), pe(4), 1);
  assert.deepEqual(hs.elementsOfConnection(1).map((e) => e.id).sort(), [1, 2, 4]);
  for (const element of hs.elementsOfConnection(1)) hs.deregister(element.poolHandle, element.id);
  assert.deepEqual(hs.elementsOfConnection(1), []);
  assert.deepEqual(hs.elementsOfConnection(2).map((e) => e.id), [3]);
  assert.equal(hs.poolCount, 1);
  assert.deepEqual([...hs.pools()].map((p) => p.key), ['a']);
});
