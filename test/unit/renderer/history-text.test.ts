/**
 * History rows in words (renderer/src/model/history-text.ts): states and details stored as JSON text read
 * as an operator reads them, and one line per row for each kind (element events, audit, notification,
 * deployment).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeDetails, describeRow, describeState } from '../../../renderer/src/model/history-text.js';
import { historyRow } from './fixtures.js';

test('describeState: admin with a non-up health in brackets, either alone, text as text', () => {
  assert.equal(describeState('{"admin":"ready","health":"up"}'), 'ready');
  assert.equal(describeState('{"admin":"draining","health":"failed"}'), 'draining (failed)');
  assert.equal(describeState('{"health":"suspect"}'), 'suspect');
  assert.equal(describeState('{"admin":"maintenance"}'), 'maintenance');
  assert.equal(describeState('"draining"'), 'draining', 'a JSON string');
  assert.equal(describeState('draining'), 'draining', 'not JSON at all');
  assert.equal(describeState('7'), '7');
  assert.equal(describeState('{"other":1}'), '{"other":1}', 'an object without admin or health stays JSON');
  assert.equal(describeState('{"admin":3,"health":"up"}'), 'up', 'non-string fields are ignored');
  assert.equal(describeState(null), '?');
  assert.equal(describeState(''), '?');
  assert.equal(describeState('null'), '?');
});

test('describeDetails: load as a percentage of 0xffffffff, flags by name, machine-only fields left out', () => {
  assert.equal(describeDetails(JSON.stringify({ load: 0xffffffff / 2, weight: 3 })), 'load 50 %, weight 3');
  assert.equal(describeDetails(JSON.stringify({ load: 0 })), 'load 0 %');
  assert.equal(describeDetails(JSON.stringify({ load: 0xffffffff })), 'load 100 %');
  assert.equal(describeDetails(JSON.stringify({ force: true, afterDrain: false, note: null })), 'force');
  assert.equal(describeDetails(JSON.stringify({ connectionId: 4, changed: ['load'], source: 'asap', detail: 'timeout' })), 'detail timeout');
  assert.equal(describeDetails(JSON.stringify({ values: { weight: 1 } })), 'values {"weight":1}');
  assert.equal(describeDetails(JSON.stringify({ load: 'high' })), 'load high', 'a non-numeric load stays as it is');
});

test('describeDetails: nothing worth saying is null; non-objects read as text', () => {
  assert.equal(describeDetails(null), null);
  assert.equal(describeDetails(''), null);
  assert.equal(describeDetails('{}'), null);
  assert.equal(describeDetails(JSON.stringify({ connectionId: 1, source: 'x' })), null);
  assert.equal(describeDetails('plain words'), 'plain words');
  assert.equal(describeDetails('42'), '42');
  assert.equal(describeDetails('"quoted"'), 'quoted');
});

test('describeRow: an audit row names actor, role, action, the change, reason, a failed result and details', () => {
  const row = historyRow({
    kind: 'audit',
    actor: 'token 3 (ops laptop)',
    role: 'operator',
    action: 'drain',
    before: '{"admin":"ready","health":"up"}',
    after: '{"admin":"draining","health":"up"}',
    reason: 'kernel upgrade',
    result: 'lastReadyElement',
    details: JSON.stringify({ force: true }),
  });
  assert.equal(describeRow(row), 'token 3 (ops laptop) (operator): drain ready → draining — “kernel upgrade” [lastReadyElement] (force)');
});

test('describeRow: an audit row with result ok, no change and no reason says only who did what', () => {
  assert.equal(describeRow(historyRow({ kind: 'audit', actor: 'electron', role: 'operator', action: 'export', result: 'ok' })), 'electron (operator): export');
  // Half a change still shows both sides ("?" for the missing one).
  assert.equal(describeRow(historyRow({ kind: 'audit', actor: 'a', role: 'viewer', action: 'deregister', before: '"ready"', result: 'forbidden' })), 'a (viewer): deregister ready → ? [forbidden]');
  // Missing fields do not print "null".
  const bare = describeRow(historyRow({ kind: 'audit' }));
  assert.equal(bare, 'someone (?): ');
  assert.doesNotMatch(bare, /null|undefined/);
});

test('describeRow: a notification row names the pool user, the state, cause, reason and sequence', () => {
  assert.equal(
    describeRow(historyRow({ kind: 'notification', puAddress: '192.0.2.5:4000', state: 'draining', cause: 'admin', reason: 'kernel upgrade', sequence: 12 })),
    'to 192.0.2.5:4000: draining (admin) — “kernel upgrade” #12',
  );
  assert.equal(describeRow(historyRow({ kind: 'notification', state: 'up', sequence: 0 })), 'to ?: up #0', 'sequence 0 is still a sequence');
  assert.equal(describeRow(historyRow({ kind: 'notification' })), 'to ?: ');
});

test('describeRow: element events join state, a cause that differs, the reason and the details with " · "', () => {
  assert.equal(describeRow(historyRow({ kind: 'health', state: 'failed', cause: 'probe timeout', details: JSON.stringify({ unreachableReports: 3 }) })), 'failed · probe timeout · unreachableReports 3');
  assert.equal(describeRow(historyRow({ kind: 'admin', state: 'draining', cause: 'draining', reason: 'upgrade' })), 'draining · “upgrade”', 'a cause equal to the state is said once');
  assert.equal(describeRow(historyRow({ kind: 'registered', state: 'up', cause: '', details: JSON.stringify({ connectionId: 2 }) })), 'up');
  assert.equal(describeRow(historyRow({ kind: 'reregistered', state: 'up', details: JSON.stringify({ load: 0xffffffff / 4 }) })), 'up · load 25 %');
  assert.equal(describeRow(historyRow({ kind: 'removed', state: null, cause: 'deregistered' })), 'deregistered');
  assert.equal(describeRow(historyRow({ kind: 'removed' })), '');
});

test('describeRow: a deployment row (state = event, cause = source) reads like an element event', () => {
  const row = historyRow({ kind: 'deployment', state: 'peerDown', cause: 'enrp', target: '0x0000beef', details: JSON.stringify({ address: '192.0.2.9:9901' }) });
  assert.equal(describeRow(row), 'peerDown · enrp · address 192.0.2.9:9901');
  assert.equal(describeRow(historyRow({ kind: 'deployment', state: 'componentArrived', cause: 'csp' })), 'componentArrived · csp');
});
