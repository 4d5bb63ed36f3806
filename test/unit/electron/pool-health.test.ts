/**
 * Tray and notification logic (electron/pool-health.ts) fed with event-stream messages: the tooltip
 * counts, alerts when an element fails or a pool loses its last ready element (and only then), and the
 * rate limit that keeps a flapping pool from flooding the desktop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../core/clock.js';
import type { AdminStateName, ConsoleEvent, ElementView, EventStreamMessage, HealthName, PoolView, Snapshot } from '../../../core/console/contract.js';
import { AlertLimiter, describeAlert, isReadyElement, PoolHealthModel, trayLook, trayTooltip, type HealthAlert } from '../../../electron/pool-health.js';

function element(pool: string, peId: number, admin: AdminStateName = 'ready', health: HealthName = 'up', cause = ''): ElementView {
  return {
    pool,
    peId,
    peIdHex: `0x${peId.toString(16).padStart(8, '0')}`,
    addresses: [`10.0.0.${peId}:7000`],
    transport: 'tcp',
    admin: { state: admin, since: 0, cause: admin === 'ready' ? '' : cause },
    health: { state: health, since: 0, cause: health === 'up' ? '' : cause },
    load: null,
    policy: 'Round Robin',
    policyValues: {},
    registrationLifeMs: 90_000,
    registeredAt: 0,
    lastRegistrationAt: 0,
    lastHeardAt: 0,
    homeServerId: '0x00000001',
    asapAddress: null,
    unreachableReports: 0,
    pendingMaintenance: null,
  };
}

function snapshot(elements: ElementView[]): EventStreamMessage {
  const pools = new Map<string, ElementView[]>();
  for (const e of elements) pools.set(e.pool, [...(pools.get(e.pool) ?? []), e]);
  const views = [...pools].map(([name, list]) => ({ name, elements: list }) as unknown as PoolView);
  return { kind: 'resync', snapshot: { sequence: 0, pools: views } as unknown as Snapshot };
}

let seq = 0;
function updated(e: ElementView, change: 'registered' | 'health' | 'admin' = 'health'): ConsoleEvent {
  return { type: 'elementUpdated', seq: ++seq, time: 0, change, element: e };
}
function removed(pool: string, peId: number, reason = 'deregistered'): ConsoleEvent {
  return { type: 'elementRemoved', seq: ++seq, time: 0, pool, peId, reason, detail: '' };
}
const events = (...list: ConsoleEvent[]): EventStreamMessage => ({ kind: 'events', events: list });

test('ready means admin ready and not failed (a suspect element still serves)', () => {
  assert.equal(isReadyElement(element('p', 1)), true);
  assert.equal(isReadyElement(element('p', 1, 'ready', 'suspect')), true);
  assert.equal(isReadyElement(element('p', 1, 'ready', 'failed')), false);
  assert.equal(isReadyElement(element('p', 1, 'draining')), false);
  assert.equal(isReadyElement(element('p', 1, 'maintenance')), false);
});

test('the tooltip counts pools and those without a ready element', () => {
  const model = new PoolHealthModel();
  assert.deepEqual(model.apply({ kind: 'hello', epoch: 'e', identity: { actor: 'a', role: 'operator' }, sequence: 0 }), []);
  assert.deepEqual(model.apply(snapshot([element('echo', 1), element('echo', 2, 'draining'), element('db', 3, 'maintenance'), element('web', 4, 'ready', 'failed')])), [], 'the first snapshot raises nothing');
  assert.deepEqual(model.summary(), { pools: 3, withoutReady: 2, poolsWithoutReady: ['db', 'web'] });
  assert.equal(trayTooltip(model.summary()), '3 pools, 2 without a ready element');
  assert.equal(trayTooltip({ pools: 1, withoutReady: 0, poolsWithoutReady: [] }), '1 pool, 0 without a ready element');
});

test('an element failing raises one alert; losing the last ready element raises another', () => {
  const model = new PoolHealthModel();
  model.apply(snapshot([element('echo', 1), element('echo', 2)]));
  const first = model.apply(events(updated(element('echo', 1, 'ready', 'failed', 'keep-alive timeout'))));
  assert.deepEqual(first, [{ kind: 'elementFailed', pool: 'echo', peIdHex: '0x00000001', addresses: ['10.0.0.1:7000'], cause: 'keep-alive timeout' }]);
  assert.deepEqual(model.apply(events(updated(element('echo', 1, 'ready', 'failed', 'keep-alive timeout')))), [], 'still failed: no second alert');
  const last = model.apply(events(updated(element('echo', 2, 'draining', 'up', 'kernel update'), 'admin')));
  assert.equal(last.length, 1);
  assert.deepEqual(last[0], { kind: 'poolWithoutReady', pool: 'echo', elements: 2, cause: '0x00000002 is draining: kernel update' });
  assert.deepEqual(model.summary().poolsWithoutReady, ['echo']);
  assert.deepEqual(model.apply(events(updated(element('echo', 2, 'maintenance', 'up', 'x'), 'admin'))), [], 'already without a ready element');
  model.apply(events(updated(element('echo', 2), 'admin')));
  assert.equal(model.summary().withoutReady, 0, 'back to ready');
});

test('removing the last ready element alerts; removing a non-ready one or adding pools does not', () => {
  const model = new PoolHealthModel();
  model.apply(snapshot([element('echo', 1), element('echo', 2, 'maintenance')]));
  assert.deepEqual(model.apply(events(removed('echo', 2))), []);
  assert.deepEqual(model.apply(events(updated(element('new', 5), 'registered'))), []);
  const alerts = model.apply(events(removed('echo', 1, 'keep-alive failed')));
  assert.deepEqual(alerts, [{ kind: 'poolWithoutReady', pool: 'echo', elements: 0, cause: '0x00000001 removed: keep-alive failed' }]);
  assert.deepEqual(model.summary(), { pools: 1, withoutReady: 0, poolsWithoutReady: [] }, 'an empty pool is gone');
});

const hello = (epoch: string): EventStreamMessage => ({ kind: 'hello', epoch, identity: { actor: 'a', role: 'operator' }, sequence: 0 });

test('a resync after a gap alerts for pools whose ready elements vanished meanwhile', () => {
  const model = new PoolHealthModel();
  model.apply(hello('run-1'));
  model.apply(snapshot([element('echo', 1), element('db', 2)]));
  model.apply(hello('run-1'));
  const alerts = model.apply(snapshot([element('echo', 1, 'ready', 'failed'), element('db', 2)]));
  assert.deepEqual(alerts.map((a) => [a.kind, a.pool]), [['poolWithoutReady', 'echo']]);
});

test('a resync into a new run (the core restarted) raises nothing: elements have yet to re-register', () => {
  const model = new PoolHealthModel();
  model.apply(hello('run-1'));
  model.apply(snapshot([element('echo', 1)]));
  model.apply(hello('run-2'));
  assert.deepEqual(model.apply(snapshot([])), []);
  assert.deepEqual(model.summary(), { pools: 0, withoutReady: 0, poolsWithoutReady: [] });
});

test('alerts read well as notifications', () => {
  assert.deepEqual(describeAlert({ kind: 'elementFailed', pool: 'echo', peIdHex: '0x00000001', addresses: ['10.0.0.1:7000'], cause: 'keep-alive timeout' }), {
    title: 'Element failed in pool echo',
    body: 'PE 0x00000001 (10.0.0.1:7000): keep-alive timeout',
  });
  assert.match(describeAlert({ kind: 'poolWithoutReady', pool: 'echo', elements: 2, cause: 'x' }).body, /^2 elements, none ready/);
  assert.match(describeAlert({ kind: 'poolWithoutReady', pool: 'echo', elements: 0, cause: 'x' }).body, /last element is gone/);
});

test('the limiter: at most 5 a minute, one per subject per 30 s, and the held-back count is passed on', () => {
  const clock = new ManualClock();
  const limiter = new AlertLimiter(clock);
  const alert = (pool: string): HealthAlert => ({ kind: 'poolWithoutReady', pool, elements: 0, cause: '' });
  assert.deepEqual(limiter.admit(alert('a')), { show: true, suppressedBefore: 0 });
  assert.deepEqual(limiter.admit(alert('a')), { show: false }, 'same pool again at once');
  assert.deepEqual(limiter.admit(alert('b')), { show: true, suppressedBefore: 1 }, 'the next shown one mentions it');
  for (const pool of ['c', 'd', 'e']) assert.deepEqual(limiter.admit(alert(pool)), { show: true, suppressedBefore: 0 });
  assert.deepEqual(limiter.admit(alert('f')), { show: false }, 'sixth within the minute');
  assert.deepEqual(limiter.admit(alert('g')), { show: false });
  clock.advance(60_000);
  assert.deepEqual(limiter.admit(alert('f')), { show: true, suppressedBefore: 2 });
  assert.deepEqual(limiter.admit(alert('a')), { show: true, suppressedBefore: 0 }, 'pool a again after 30 s');
});

test('the tray look follows the core state and pool health', () => {
  const fine = { pools: 2, withoutReady: 0, poolsWithoutReady: [] };
  const running = { state: 'running', since: 0, asap: '0.0.0.0:3863', history: null } as const;
  assert.deepEqual(trayLook('HC', running, fine), { tooltip: 'HC: 2 pools, 0 without a ready element', look: 'ok' });
  assert.equal(trayLook('HC', running, { pools: 2, withoutReady: 1, poolsWithoutReady: ['x'] }).look, 'warning');
  const restarting = trayLook('HC', { state: 'restarting', attempt: 2, retryInMs: 1500, reason: 'the core host was killed' }, fine);
  assert.deepEqual(restarting, { tooltip: 'HC: the core stopped (the core host was killed); restart 2 in 2 s', look: 'down' });
  assert.equal(trayLook('HC', { state: 'starting', attempt: 1 }, fine).look, 'down');
});
