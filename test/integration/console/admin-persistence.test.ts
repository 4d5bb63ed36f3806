/**
 * Admin state outlives the serving process: drained through the LAN API of a real `handlespace serve`,
 * the element keeps draining when it re-registers, and after serve is stopped and started again on the
 * same database the element comes back draining (never ready by itself) until an operator readies it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PoolElement } from '../../../core/client/pool-element.js';
import type { CommandOutcome, PoolView } from '../../../core/console/contract.js';
import { PolicyType } from '../../../core/wire/policy.js';
import { eventually, request, spawnServe, valueOf, type ServeProcess } from './http-helpers.js';

test('a drain set over the API survives re-registration and a restart of serve; only ready clears it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-admin-persist-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'history.db');
  const args = ['--asap', '127.0.0.1:0', '--announce', 'off', '--http', '127.0.0.1:0', '--db', db, '--quiet'];
  const elements: PoolElement[] = [];
  t.after(() => Promise.all(elements.map((e) => e.close())));
  const register = async (serve: ServeProcess, id: number): Promise<PoolElement> => {
    const pe = new PoolElement({
      poolHandle: 'persist',
      identifier: id,
      userTransport: { host: '127.0.0.1', port: 7200 + id },
      policy: { type: PolicyType.roundRobin },
      registrars: [`127.0.0.1:${serve.asapPort}`],
      hunt: { retryDelayMs: 20 },
    });
    await pe.register();
    elements.push(pe);
    return pe;
  };
  const adminOf = async (serve: ServeProcess, id: number): Promise<string | undefined> => {
    const answer = await request(serve.base, '/api/v1/pools/persist', { token: serve.startupToken });
    if (answer.status !== 200) return undefined;
    return valueOf<PoolView>(answer).elements.find((e) => e.peId === id)?.admin.state;
  };

  let serve = await spawnServe(t, args);
  const first = await register(serve, 1);
  await register(serve, 2);
  const drained = await request(serve.base, '/api/v1/pools/persist/elements/1/drain', { method: 'POST', token: serve.startupToken, body: JSON.stringify({ reason: 'moving racks' }) });
  assert.equal(drained.status, 200, drained.text);
  assert.equal(valueOf<CommandOutcome>(drained).after, 'draining');

  // The element leaves and registers again with the same identifier: still draining.
  await first.close();
  await eventually(async () => ((await adminOf(serve, 1)) === undefined ? true : undefined), 'element 1 gone');
  await register(serve, 1);
  assert.equal(await adminOf(serve, 1), 'draining');

  // serve stops and starts again on the same file; the elements come back to the new process.
  assert.equal(await serve.stop(), 0);
  await Promise.all(elements.splice(0).map((e) => e.close()));
  serve = await spawnServe(t, args);
  assert.match(serve.out(), /1 operator admin state\(s\) kept from earlier runs/);
  await register(serve, 1);
  await register(serve, 2);
  assert.equal(await adminOf(serve, 1), 'draining', 'a drained element never becomes ready by itself');
  assert.equal(await adminOf(serve, 2), 'ready');

  const ready = await request(serve.base, '/api/v1/pools/persist/elements/0x1/ready', { method: 'POST', token: serve.startupToken, body: JSON.stringify({ reason: 'racks moved' }) });
  assert.equal(ready.status, 200, ready.text);
  assert.equal(await adminOf(serve, 1), 'ready');
  assert.equal(await serve.stop(), 0);
});
