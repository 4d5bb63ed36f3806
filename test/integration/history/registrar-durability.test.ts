/**
 * The durability rule end to end: with the history attached, the registrar sends a registration response
 * only once the registration's event is committed. On every response, a second, independent SQLite
 * connection already finds the element's row; and a history that cannot store refuses the registration
 * instead of acknowledging something that would be lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { History } from '../../../core/history/history.js';
import { HistoryRecorder } from '../../../core/history/history-recorder.js';
import { Cause } from '../../../core/wire/constants.js';
import type { PoolElement } from '../../../core/wire/types.js';
import { AsapTestPeer, handle } from '../../support/asap-test-peer.js';
import { startRegistrar } from '../../support/registrar-fixture.js';

const element = (id: number): PoolElement => ({
  id,
  homeServerId: 0,
  registrationLife: 60_000,
  userTransport: { kind: 'tcp', port: 7000, transportUse: 0, address: '127.0.0.1' },
  policy: { type: 1 },
});

test('every registration response arrives after its event is committed', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-durable-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'history.db');
  const opened = await History.open({ path: file });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  const history = opened.value;
  t.after(async () => {
    await history.close();
  });
  const registrar = await startRegistrar(t, { beforeAcknowledge: () => history.barrier() });
  const recorder = HistoryRecorder.attach(registrar, history);
  t.after(() => recorder.detach('test end'));
  const reader = new Database(file, { readonly: true, fileMustExist: true });
  t.after(() => reader.close());
  const registered = reader.prepare(
    "SELECT count(*) AS n FROM element_events e JOIN pool_elements p ON p.id = e.element_id WHERE p.pe_id = ? AND e.kind = 'registered'",
  );

  const pe = await AsapTestPeer.connect(registrar.asapAddress.port);
  t.after(() => pe.close());
  const count = 200;
  const seen: number[] = [];
  const all = new Promise<void>((resolve) => {
    pe.socket.on('data', () => {
      for (const m of pe.received.splice(0)) {
        if (m.type !== 'registrationResponse') continue;
        assert.equal(m.reject, false);
        // The response is here: its registration must already be readable from the file.
        assert.equal((registered.get(m.peId) as { n: number }).n, 1, `element ${m.peId} acknowledged before it was durable`);
        seen.push(m.peId);
        if (seen.length === count) resolve();
      }
    });
  });
  for (let id = 1; id <= count; id++) pe.send({ protocol: 'asap', type: 'registration', poolHandle: handle('durable'), poolElement: element(id) });
  await all;
  assert.deepStrictEqual(seen, Array.from({ length: count }, (_, i) => i + 1), 'responses keep their order');
});

test('when the history cannot store, the registration is refused and undone, not acknowledged', async (t) => {
  const registrar = await startRegistrar(t, { beforeAcknowledge: () => Promise.reject(new Error('disk full')) });
  const pe = await AsapTestPeer.connect(registrar.asapAddress.port);
  t.after(() => pe.close());
  const response = await pe.request({ protocol: 'asap', type: 'registration', poolHandle: handle('lost'), poolElement: element(9) }, 'registrationResponse');
  assert.equal(response.reject, true);
  assert.equal(response.error?.[0]?.code, Cause.lackOfResources);
  assert.equal(registrar.handlespace.element(handle('lost'), 9), undefined);
  assert.equal(registrar.counters.get('registration.notDurable'), 1);
});
