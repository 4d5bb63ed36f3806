/**
 * The Admin State extension parameter (0x8c03): what is written reads back the same, it survives the codec
 * inside ENRP_HANDLE_UPDATE and ENRP_HANDLE_TABLE_RESPONSE as a skipped (action bits 10) parameter, and
 * bad bytes give an error value, never an exception. Versions order by time, then by server identifier.
 * The Removal Cause parameter (0x8c04) likewise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { adminStateParameter, adminStatesOf, isNewer, readAdminState, type AdminStateNotice } from '../../../core/enrp/admin-state-parameter.js';
import { readRemovalCause, removalCauseOf, removalCauseParameter } from '../../../core/enrp/removal-cause-parameter.js';
import { decodeMessage } from '../../../core/wire/decoder.js';
import { encodeMessage } from '../../../core/wire/encoder.js';
import type { PoolElement } from '../../../core/wire/types.js';

const handle = (s: string): Uint8Array => new TextEncoder().encode(s);
const notice: AdminStateNotice = { poolHandle: handle('echo'), peId: 0xdeadbeef, action: 'drain', since: 1_790_000_000_123, setBy: 0xabc, reasonText: 'kernel upgrade — rack 4' };
const element: PoolElement = {
  id: 0xdeadbeef,
  homeServerId: 0x111,
  registrationLife: 90_000,
  userTransport: { kind: 'tcp', port: 7001, transportUse: 0, address: '127.0.0.1' },
  policy: { type: 1 },
  asapTransport: { kind: 'tcp', port: 40000, transportUse: 0, address: '127.0.0.1' },
};

test('a notice reads back as written, for any handle, action, time and reason', () => {
  const arbitrary = fc.record({
    poolHandle: fc.uint8Array({ minLength: 1, maxLength: 32 }),
    peId: fc.integer({ min: 0, max: 0xffffffff }),
    action: fc.constantFrom('drain' as const, 'ready' as const, 'maintenance' as const, 'failover' as const, 'deregister' as const),
    since: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    setBy: fc.integer({ min: 1, max: 0xffffffff }),
    reasonText: fc.string({ maxLength: 200 }),
  });
  fc.assert(
    fc.property(arbitrary, (n) => {
      const read = readAdminState(adminStateParameter(n).value);
      assert.ok(read.ok);
      assert.deepEqual({ ...read.value, poolHandle: [...read.value.poolHandle] }, { ...n, poolHandle: [...n.poolHandle] });
    }),
  );
});

test('it rides through the codec in ENRP_HANDLE_UPDATE and ENRP_HANDLE_TABLE_RESPONSE, skipped as unknown', () => {
  const update = encodeMessage({
    protocol: 'enrp',
    type: 'handleUpdate',
    senderServerId: 0xabc,
    receiverServerId: 0,
    takeoverSuggested: false,
    updateAction: 0,
    poolHandle: handle('echo'),
    poolElement: element,
    unrecognized: [adminStateParameter(notice)],
  });
  const decoded = decodeMessage('enrp', update);
  assert.ok(decoded.ok && decoded.value.protocol === 'enrp' && decoded.value.type === 'handleUpdate');
  assert.equal(decoded.value.poolElement.id, element.id, 'the standard part is untouched');
  const { notices, malformed } = adminStatesOf(decoded.value.unrecognized);
  assert.deepEqual(malformed, []);
  assert.equal(notices.length, 1);
  assert.equal(notices[0]?.reasonText, notice.reasonText);

  const table = encodeMessage({
    protocol: 'enrp',
    type: 'handleTableResponse',
    senderServerId: 0xabc,
    receiverServerId: 0x111,
    moreToSend: true,
    reject: false,
    pools: [{ poolHandle: handle('echo'), poolElements: [element, { ...element, id: 2 }] }],
    unrecognized: [adminStateParameter(notice), adminStateParameter({ ...notice, peId: 2, action: 'maintenance' })],
  });
  const tableDecoded = decodeMessage('enrp', table);
  assert.ok(tableDecoded.ok && tableDecoded.value.protocol === 'enrp' && tableDecoded.value.type === 'handleTableResponse');
  assert.equal(tableDecoded.value.pools[0]?.poolElements.length, 2);
  assert.deepEqual(adminStatesOf(tableDecoded.value.unrecognized).notices.map((n) => [n.peId, n.action]), [[0xdeadbeef, 'drain'], [2, 'maintenance']]);
});

test('bad values are error values, never exceptions', () => {
  const good = adminStateParameter(notice).value;
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['shorter than the fixed part', good.slice(0, 19)],
    ['unknown action', Object.assign(good.slice(), { 4: 9 })],
    ['action 0', Object.assign(good.slice(), { 4: 0 })],
    ['handle length 0', Object.assign(good.slice(), { 6: 0, 7: 0 })],
    ['handle past the end', Object.assign(good.slice(), { 6: 0, 7: 200 })],
    ['time beyond 2^53', Object.assign(good.slice(), { 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff })],
    ['reason not UTF-8', new Uint8Array([...good.slice(0, 24), 0xff, 0xfe])],
  ];
  for (const [what, bytes] of cases) {
    const read = readAdminState(bytes);
    assert.equal(read.ok, false, what);
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => void readAdminState(bytes)));
  const mixed = adminStatesOf([
    { type: 0x8c03, value: new Uint8Array(3), nested: false },
    adminStateParameter(notice),
    { type: 0x8c03, value: good, nested: true },
    { type: 0x8c09, value: good, nested: false },
  ]);
  assert.equal(mixed.notices.length, 1, 'nested copies and other types are not notices');
  assert.equal(mixed.malformed.length, 1);
});

test('versions: the later action wins; at the same millisecond the higher server identifier', () => {
  assert.ok(isNewer({ since: 2, setBy: 1 }, { since: 1, setBy: 9 }));
  assert.ok(!isNewer({ since: 1, setBy: 9 }, { since: 2, setBy: 1 }));
  assert.ok(isNewer({ since: 5, setBy: 0xf0000000 }, { since: 5, setBy: 0x10 }));
  assert.ok(!isNewer({ since: 5, setBy: 0x10 }, { since: 5, setBy: 0x10 }), 'the same version is not newer (no echo loops)');
  assert.ok(isNewer({ since: 0, setBy: 1 }, undefined));
});

test('Removal Cause (0x8c04): reads back; unknown codes and statuses that remove nothing are errors', () => {
  const param = removalCauseParameter({ peId: 7, status: 'failed', reason: 'takeover' });
  assert.equal(param.type, 0x8c04);
  assert.deepEqual(removalCauseOf([param], 7), { peId: 7, status: 'failed', reason: 'takeover' });
  assert.equal(removalCauseOf([param], 8), undefined, 'for another element');
  assert.equal(readRemovalCause(new Uint8Array(7)).ok, false);
  assert.equal(readRemovalCause(Uint8Array.from([0, 0, 0, 7, 99, 1, 0, 0])).ok, false, 'unknown status');
  assert.equal(readRemovalCause(Uint8Array.from([0, 0, 0, 7, 1, 1, 0, 0])).ok, false, 'up removes nothing');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 16 }), (bytes) => void readRemovalCause(bytes)));
});
