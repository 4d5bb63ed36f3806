/**
 * Three registrars as separate `handlespace serve` processes peering over ENRP on loopback (fast timers):
 * a registration on one is resolvable on all; kill -9 of one → its SDK element re-registers elsewhere with
 * no removal seen by pool users, its raw element is taken over and, after the grace period, removed with a
 * status pushed to a subscribed pool user on a surviving registrar; no pool is lost. A flapping registrar
 * (SIGSTOP shorter than the detection time, again and again) causes no takeover; a long SIGSTOP does, and
 * after SIGCONT the checksum audit gives its elements back to it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PoolElement } from '../../../core/client/pool-element.js';
import { HROPT_ALL_ITEMS } from '../../../core/wire/constants.js';
import { PeStatusCode, PeStatusReason } from '../../../core/wire/types.js';
import { AsapTestPeer, handle } from '../../support/asap-test-peer.js';
import { element, freePort, waitFor } from './enrp-support.js';

const bin = fileURLToPath(new URL('../../../bin/handlespace.mjs', import.meta.url));

interface Proc {
  readonly child: ChildProcess;
  readonly asapPort: number;
  readonly enrpPort: number;
  readonly serverId: number;
  out(): string;
}

const TIMERS = ['--peer-heartbeat-cycle', '300', '--peer-max-time-last-heard', '1000', '--peer-max-time-no-response', '1000', '--mentor-discovery-timeout', '1500', '--takeover-expiry', '1000'];

async function spawnRegistrar(t: TestContext, enrpPort: number, peers: number[], extra: string[] = []): Promise<Proc> {
  const args = [bin, 'serve', '--asap', '127.0.0.1:0', '--announce', 'off', '--memory', '--http', 'off', '--enrp', `127.0.0.1:${enrpPort}`, '--enrp-announce', 'off', ...peers.flatMap((p) => ['--peer', `127.0.0.1:${p}`]), ...TIMERS, ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      child.kill('SIGCONT');
    }
  });
  await waitFor(`registrar on ENRP port ${enrpPort} started (stdout: ${out.slice(-300)} stderr: ${err.slice(-300)})`, () => (/ENRP listening on/.test(out) && /listening on 127\.0\.0\.1:\d+ \(ASAP/.test(out)) || child.exitCode !== null, 60_000);
  const asap = /listening on 127\.0\.0\.1:(\d+) \(ASAP/.exec(out);
  const id = /ENRP listening on 127\.0\.0\.1:\d+ \(server id 0x([0-9a-f]+)\)/.exec(out);
  if (!asap || !id) throw new Error(`registrar did not start: ${out}\n${err}`);
  return { child, asapPort: Number(asap[1]), enrpPort, serverId: Number.parseInt(id[1] as string, 16), out: () => out };
}

async function trio(t: TestContext, extra: string[] = []): Promise<[Proc, Proc, Proc]> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const procs = await Promise.all(ports.map((port) => spawnRegistrar(t, port, ports.filter((p) => p !== port), extra)));
  // Each has synchronised from a mentor (or started serving when none answered in time).
  await waitFor('all three serving', () => procs.every((p) => /ENRP: (synchronised|serving)/.test(p.out())), 20_000);
  // ASAP opens only once the handlespace is in (RFC 5353 §3.3): the ENRP line comes first.
  for (const p of procs) assert.ok(p.out().search(/ENRP: (synchronised|serving)/) < p.out().search(/listening on 127\.0\.0\.1:\d+ \(ASAP/), p.out());
  return procs as [Proc, Proc, Proc];
}

async function connect(t: TestContext, port: number): Promise<AsapTestPeer> {
  const peer = await AsapTestPeer.connect(port);
  t.after(() => peer.close());
  return peer;
}

/** The elements of `pool` a registrar resolves (all of them), as id → home. */
async function resolveAll(t: TestContext, proc: Proc, pool: string): Promise<Map<number, number>> {
  const pu = await connect(t, proc.asapPort);
  const answer = await pu.request({ protocol: 'asap', type: 'handleResolution', subscribe: false, poolHandle: handle(pool), items: HROPT_ALL_ITEMS }, 'handleResolutionResponse');
  await pu.close();
  return new Map(answer.poolElements.map((pe) => [pe.id, pe.homeServerId]));
}

async function eventually(t: TestContext, what: string, procs: readonly Proc[], pool: string, check: (view: Map<number, number>, proc: Proc) => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(procs.map((p) => resolveAll(t, p, pool)));
    if (views.every((v, i) => check(v, procs[i] as Proc))) return;
    if (Date.now() > deadline) {
      const last = views.map((v) => JSON.stringify([...v].map(([id, home]) => [id, home.toString(16)]))).join(' | ');
      throw new Error(`timed out waiting for: ${what}; last views: ${last}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

test('kill -9 of a registrar: takeover, elements re-homed, the pool user on a survivor told, no pool lost', async (t) => {
  const [a, b, c] = await trio(t, ['--takeover-grace', '2000']);
  // A raw element on A (it will not re-register: its registrar's takeover and grace rule decide) ...
  const raw = await connect(t, a.asapPort);
  raw.answerKeepAlives();
  const registered = await raw.request({ protocol: 'asap', type: 'registration', poolHandle: handle('echo'), poolElement: element(1) }, 'registrationResponse');
  assert.equal(registered.reject, false);
  // ... and an SDK element on A that knows B too.
  const sdk = new PoolElement({ poolHandle: 'echo', identifier: 2, userTransport: { host: '127.0.0.1', port: 7002 }, registrars: [`127.0.0.1:${a.asapPort}`, `127.0.0.1:${b.asapPort}`], announces: false });
  t.after(() => sdk.close());
  await sdk.register();
  await eventually(t, 'both elements resolvable on all three, home A', [a, b, c], 'echo', (v) => v.get(1) === a.serverId && v.get(2) === a.serverId);

  // A pool user subscribed on C.
  const pu = await connect(t, c.asapPort);
  const subscribed = await pu.request({ protocol: 'asap', type: 'handleResolution', subscribe: true, poolHandle: handle('echo'), items: HROPT_ALL_ITEMS }, 'handleResolutionResponse');
  assert.equal(subscribed.accepted, true);

  const killedAt = Date.now();
  a.child.kill('SIGKILL');
  await eventually(t, 'the SDK element re-homed to B', [b, c], 'echo', (v) => v.get(2) === b.serverId, 10_000);
  await eventually(t, 'the raw element taken over by B or C', [b, c], 'echo', (v) => v.get(1) === b.serverId || v.get(1) === c.serverId, 10_000);
  const rehomedMs = Date.now() - killedAt;
  // Goal: max-time-last-heard + max-time-no-response + 1 s (+ the resolution polling and a loaded machine).
  assert.ok(rehomedMs < 1000 + 1000 + 1000 + 2000, `re-homed after ${rehomedMs} ms`);
  const winner = [b, c].find((p) => /took over registrar/.test(p.out()));
  assert.ok(winner, 'one survivor says it took A over');

  // The raw element never re-registers: after the grace period it goes, and the pool user hears it.
  const removal = await pu.next('handleResolutionResponse', (m) => m.peStatus.some((s) => s.peId === 1), 10_000);
  const status = removal.peStatus.find((s) => s.peId === 1);
  assert.equal(status?.status, PeStatusCode.failed);
  assert.equal(status?.reason, PeStatusReason.takeover);
  // The SDK element was never reported taken away; the pool is still there on both survivors.
  const takenAway: number[] = [PeStatusCode.failed, PeStatusCode.deregistered, PeStatusCode.unreachable];
  const aboutSdk = [removal, ...pu.received.filter((m) => m.type === 'handleResolutionResponse')].flatMap((m) => (m.type === 'handleResolutionResponse' ? m.peStatus : [])).filter((s) => s.peId === 2);
  assert.ok(aboutSdk.every((s) => !takenAway.includes(s.status)), `no removal pushed for the SDK element: ${JSON.stringify(aboutSdk)}`);
  await eventually(t, 'pool echo still served by B and C with the SDK element', [b, c], 'echo', (v) => v.get(2) === b.serverId && !v.has(1));
});

test('a flapping registrar (short SIGSTOPs, again and again) causes no takeover', async (t) => {
  const [a, b, c] = await trio(t);
  const raw = await connect(t, a.asapPort);
  raw.answerKeepAlives();
  await raw.request({ protocol: 'asap', type: 'registration', poolHandle: handle('echo'), poolElement: element(1) }, 'registrationResponse');
  await eventually(t, 'known everywhere', [b, c], 'echo', (v) => v.get(1) === a.serverId);
  // Each stop is shorter than max-time-last-heard + max-time-no-response (2 s), including a heartbeat's gap.
  for (let i = 0; i < 5; i++) {
    a.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 700));
    a.child.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 600));
  }
  await new Promise((r) => setTimeout(r, 1500));
  for (const p of [b, c]) assert.doesNotMatch(p.out(), /took over registrar/, 'no takeover');
  await eventually(t, 'A is still home of its element everywhere', [a, b, c], 'echo', (v) => v.get(1) === a.serverId);
});

test('a long SIGSTOP is a partition: taken over, then after SIGCONT the audit gives the elements back', async (t) => {
  const [a, b, c] = await trio(t, ['--takeover-grace', '10000']);
  const raw = await connect(t, a.asapPort);
  raw.answerKeepAlives();
  await raw.request({ protocol: 'asap', type: 'registration', poolHandle: handle('echo'), poolElement: element(1) }, 'registrationResponse');
  await raw.request({ protocol: 'asap', type: 'registration', poolHandle: handle('echo'), poolElement: element(2) }, 'registrationResponse');
  await eventually(t, 'known everywhere', [b, c], 'echo', (v) => v.get(1) === a.serverId && v.get(2) === a.serverId);
  a.child.kill('SIGSTOP');
  await eventually(t, 'taken over while A is frozen', [b, c], 'echo', (v) => v.get(1) !== a.serverId && v.get(1) !== undefined, 10_000);
  a.child.kill('SIGCONT');
  await eventually(t, 'A is home again on every registrar, nothing lost', [a, b, c], 'echo', (v) => v.get(1) === a.serverId && v.get(2) === a.serverId, 15_000);
});
