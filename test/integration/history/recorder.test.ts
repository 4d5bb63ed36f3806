/**
 * HistoryRecorder on a real registrar over loopback TCP: every registrar event becomes its history row —
 * the run, registrations, a re-registration that changed a value (and none for a plain renewal), the
 * operator's drain, removals with their cause, each notification sent to each pool user, the pool user and
 * its subscription, and the per-second metric sample.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ManualClock } from '../../../core/clock.js';
import { HistoryRecorder } from '../../../core/history/history-recorder.js';
import { History } from '../../../core/history/history.js';
import { PolicyType } from '../../../core/wire/policy.js';
import type { PoolElement } from '../../../core/wire/types.js';
import { handle, type AsapTestPeer } from '../../support/asap-test-peer.js';
import { connect, startRegistrar } from '../../support/registrar-fixture.js';
import { tempDir } from '../../unit/history/helpers.js';

const element = (id: number, port = 7000 + id, load?: number): PoolElement => ({
  id,
  homeServerId: 0,
  registrationLife: 600_000,
  userTransport: { kind: 'tcp', port, transportUse: 0, address: '127.0.0.1' },
  policy: load === undefined ? { type: PolicyType.leastUsed, load: 0 } : { type: PolicyType.leastUsed, load },
});

async function register(peer: AsapTestPeer, pe: PoolElement): Promise<void> {
  const answer = await peer.request({ protocol: 'asap', type: 'registration', poolHandle: handle('echo'), poolElement: pe }, 'registrationResponse', (m) => m.peId === pe.id);
  assert.equal(answer.reject, false);
}

const settle = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('every registrar event of a session is in the history with its cause', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 10, 27, 12, 0, 0));
  const opened = await History.open({ path: path.join(tempDir(t), 'history.db'), maintenanceIntervalMs: 0 });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const history = opened.value;
  t.after(() => history.close());
  const registrar = await startRegistrar(t, { clock, keepAliveIntervalMs: 300_000, random: () => 0.5 });
  const recorder = HistoryRecorder.attach(registrar, history, { clock, appVersion: 'test' });

  const pe = await connect(t, registrar);
  const pu = await connect(t, registrar);
  await register(pe, element(1));
  await register(pe, element(2));
  const subscribed = await pu.request({ protocol: 'asap', type: 'handleResolution', subscribe: true, poolHandle: handle('echo') }, 'handleResolutionResponse');
  assert.equal(subscribed.accepted, true);
  await register(pe, element(2)); // a renewal that changed nothing: no event row
  await register(pe, element(2, 7002, 0x40000000)); // load changed
  assert.ok(registrar.operate(handle('echo'), 2, 'drain', 'kernel update').ok);
  await pe.request({ protocol: 'asap', type: 'deregistration', poolHandle: handle('echo'), peId: 1 }, 'deregistrationResponse');
  await settle();
  clock.advance(1000); // one metric sample
  const puPort = pu.socket.localPort;
  await pu.close();
  await settle();
  recorder.detach('test over');
  await history.barrier();

  const page = history.queries.page({}, { limit: 1000 });
  assert.ok(page.ok);
  const rows = page.value.rows;
  const elementRows = rows.filter((r) => r.source === 'element').map((r) => [r.kind, r.peId, r.state, r.cause]);
  assert.deepEqual(elementRows, [
    ['registered', 1, null, 'registered'],
    ['registered', 2, null, 'registered'],
    ['reregistered', 2, null, 'load'],
    ['admin', 2, 'draining', 'drain'],
    ['removed', 1, 'removed', 'deregistered'],
  ]);
  const admin = rows.find((r) => r.kind === 'admin');
  assert.deepEqual(JSON.parse(admin?.details ?? '{}'), { before: 'ready', after: 'draining', reason: 'kernel update' });

  const notifications = rows.filter((r) => r.source === 'notification');
  assert.deepEqual(
    notifications.map((r) => [r.peId, r.state, r.cause]),
    [
      [2, 'loadChanged', 'loadChanged'],
      [2, 'draining', 'operatorDrain'],
      [1, 'deregistered', 'deregisteredByElement'],
    ],
  );
  for (const n of notifications) {
    assert.equal(n.puAddress, `127.0.0.1:${puPort}`);
    assert.equal(n.pool, 'echo');
    assert.ok(n.sequence !== null && n.eventTime !== null);
  }
  assert.equal(JSON.parse(notifications[1]?.details ?? '{}').reasonText, 'kernel update');

  const [user] = history.queries.poolUsers();
  assert.ok(user);
  assert.equal(user.address, `127.0.0.1:${puPort}`);
  assert.ok(user.closedAt !== null, 'the pool user left');
  assert.deepEqual(
    user.subscriptions.map((s) => [s.pool, s.notifications]),
    [['echo', 3]],
  );

  const elements = history.queries.elements('echo');
  assert.deepEqual(
    elements.map((e) => [e.peId, e.addresses]),
    [
      [1, 'tcp 127.0.0.1:7001'],
      [2, 'tcp 127.0.0.1:7002'],
    ],
  );
  assert.deepEqual(JSON.parse(elements[1]?.policy ?? '{}'), { type: '0x40000001', policyName: 'Least Used' }, 'the row keeps the policy without the load');
  const loadChange = rows.find((r) => r.kind === 'reregistered');
  assert.equal(JSON.parse(loadChange?.details ?? '{}').load, 0x40000000, 'the load is in the event');

  const series = history.queries.metricSeries('echo', clock.now() - 5000, clock.now());
  assert.ok(series.ok);
  assert.equal(series.value.intervalMs, 1000);
  assert.equal(series.value.points.length, 1);
  const point = series.value.points[0];
  assert.ok(point);
  assert.equal(point.up, 0, 'element 1 left, element 2 drains');
  assert.equal(point.draining, 1);
  assert.equal(point.notifications, 3);
  assert.equal(point.resolutions, 1);
  assert.ok(Math.abs((point.loadMean ?? 0) - 0x40000000 / 0xffffffff) < 1e-9);

  const [run] = history.queries.runs();
  assert.ok(run);
  assert.equal(run.serverId, registrar.serverId);
  assert.equal(run.appVersion, 'test');
  assert.equal(run.stopReason, 'test over');
  assert.equal(JSON.parse(run.settings).asap.port, registrar.asapAddress.port);
  for (const row of rows) assert.equal(row.runId, run.id);
});

test('together(): an operator action and its audit row are one transaction, durable before the answer', async (t) => {
  const opened = await History.open({ path: path.join(tempDir(t), 'history.db'), maintenanceIntervalMs: 0, log: () => {} });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const history = opened.value;
  t.after(() => history.close());
  const registrar = await startRegistrar(t, { keepAliveIntervalMs: 300_000 });
  const recorder = HistoryRecorder.attach(registrar, history, { sampleIntervalMs: 0 });
  const pe = await connect(t, registrar);
  await register(pe, element(1));
  await register(pe, element(2));
  const audit = (action: string, ok: boolean, actor: string | null = 'alice') => ({
    kind: 'audit' as const,
    time: Date.now(),
    actor: actor as string,
    role: 'operator',
    action,
    target: 'pool echo / PE 0x00000001',
    poolKey: 'echo',
    peId: 1,
    reason: 'kernel update',
    before: { admin: 'ready' },
    after: { admin: action === 'drain' ? 'draining' : 'maintenance' },
    result: ok ? 'ok' : 'error',
  });
  const drained = recorder.together(() => registrar.operate(handle('echo'), 1, 'drain', 'kernel update'), (r) => audit('drain', r.ok));
  assert.ok(drained.result.ok);
  await drained.durable;
  const rows = () => {
    const page = history.queries.page({ kinds: ['admin', 'audit'] }, { limit: 100 });
    assert.ok(page.ok);
    return page.value.rows.map((r) => `${r.kind}:${r.kind === 'audit' ? r.action : r.cause}`).sort();
  };
  assert.deepEqual(rows(), ['admin:drain', 'audit:drain']);
  // A broken audit row takes the change's row down with it: nothing half-recorded, and the caller knows.
  const broken = recorder.together(() => registrar.operate(handle('echo'), 2, 'maintenance', 'disk'), () => audit('maintenance', true, null));
  await assert.rejects(broken.durable);
  assert.deepEqual(rows(), ['admin:drain', 'audit:drain']);
});
