/**
 * Crash safety of the whole serving process (issue 5 item 3): the real `handlespace serve --db FILE` is
 * driven over ASAP/TCP by several connections at once (new elements and load re-registrations, many
 * requests in flight), SIGKILLed at a random moment, and restarted on the same file, a few rounds. After
 * every kill, a copy of the file as the kill left it proves that `PRAGMA integrity_check` is ok and that
 * every registration the server ever acknowledged (a REGISTRATION_RESPONSE without reject) has its row: a
 * 'registered' element event for each new element, a 'reregistered' event carrying the new load for each
 * re-registration. Meanwhile an operator drains and readies elements through the console API: every
 * command answered 200 must have its audit row (the console answers only once it is durable). The first
 * round may die during start-up or the migration; every later round starts by restarting the server on
 * the crashed file, and a last restart stops cleanly and keeps everything.
 *
 * CRASH_SEED replays the kill times and the request mix; SERVE_CRASH_ROUNDS sets the rounds (default 4).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Sqlite from 'better-sqlite3';
import { openHistoryDatabase } from '../../../core/history/database.js';
import { PolicyType } from '../../../core/wire/policy.js';
import type { PoolElement } from '../../../core/wire/types.js';
import { AsapTestPeer, handle } from '../../support/asap-test-peer.js';
import { tempDir } from '../../unit/history/helpers.js';
import { seededRandom as seeded } from '../../support/seeded-random.js';

const bin = fileURLToPath(new URL('../../../bin/handlespace.mjs', import.meta.url));

const CONNECTIONS = 6;
/** Registrations in flight per connection. */
const WINDOW = 24;
const POOLS = ['crash-a', 'crash-b', 'crash-c'];
/** PE identifiers of round r, connection c start at (r + 1) * 0x1000000 + c * 0x100000. */
const roundBase = (round: number, connection: number): number => (round + 1) * 0x1000000 + connection * 0x100000;


const element = (id: number, load: number): PoolElement => ({
  id,
  homeServerId: 0,
  registrationLife: 60_000,
  userTransport: { kind: 'tcp', port: 7000 + (id % 1000), transportUse: 0, address: '127.0.0.1' },
  policy: { type: PolicyType.leastUsed, load },
});

/** What an acknowledgement promises is in the file: "PE:registered" or "PE:load:L". */
type Expected = string;

interface Counts {
  acked: number;
  reregistrations: number;
  rejected: number;
}

interface Server {
  readonly proc: ChildProcess;
  /** Resolves with the ASAP port once the server prints its listening line (never, if it dies first). */
  readonly listening: Promise<number>;
  /** The console API's base URL and the start-up operator token, from the "console: URL#token=" line. */
  readonly console: Promise<{ readonly base: string; readonly token: string }>;
  readonly exited: Promise<void>;
  stdout: string;
  stderr: string;
}

function startServer(file: string): Server {
  // ENRP off: no peering with other registrars that tests on this machine may be running.
  const args = ['serve', '--asap', '127.0.0.1:0', '--announce', 'off', '--http', '127.0.0.1:0', '--enrp', 'off', '--enrp-announce', 'off', '--db', file, '--quiet'];
  const proc = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.setEncoding('utf8');
  const server: Server = {
    proc,
    stdout: '',
    stderr: '',
    listening: new Promise<number>((resolve) => {
      proc.stdout?.on('data', () => {
        const m = /listening on 127\.0\.0\.1:(\d+) \(ASAP/.exec(server.stdout);
        if (m) resolve(Number(m[1]));
      });
    }),
    console: new Promise((resolve) => {
      proc.stdout?.on('data', () => {
        const m = /console: (https?:\/\/127\.0\.0\.1:\d+)\/?\S*#token=(\S+)/.exec(server.stdout);
        if (m) resolve({ base: m[1] as string, token: m[2] as string });
      });
    }),
    exited: new Promise<void>((resolve) => proc.on('exit', () => resolve())),
  };
  proc.stdout?.prependListener('data', (chunk: string) => {
    server.stdout += chunk;
  });
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (chunk: string) => {
    server.stderr += chunk;
  });
  return server;
}

/**
 * One connection's load: keeps WINDOW registrations in flight, each a new element or (once some are
 * acknowledged) a re-registration of an acknowledged one with a new load; no element has two requests in
 * flight. Every acknowledgement adds what it promises to `acked`. Runs until the connection closes.
 */
async function drive(port: number, round: number, connection: number, random: () => number, acked: Set<Expected>, counts: Counts, live: Live[]): Promise<void> {
  let peer: AsapTestPeer;
  try {
    peer = await AsapTestPeer.connect(port);
  } catch {
    return; // the server died before this connection got in
  }
  peer.answerKeepAlives();
  const poolName = POOLS[connection % POOLS.length] as string;
  const pool = handle(poolName);
  const inFlight = new Map<number, Expected>();
  const idle: number[] = []; // acknowledged elements with no request in flight
  const loads = new Map<number, number>();
  let nextId = roundBase(round, connection);
  const sendOne = (): void => {
    let id: number;
    let expected: Expected;
    if (idle.length > 0 && random() < 0.4) {
      id = idle.splice(Math.floor(random() * idle.length), 1)[0] as number;
      const load = ((loads.get(id) ?? 0) + 1 + Math.floor(random() * 1000)) >>> 0;
      loads.set(id, load);
      expected = `${id}:load:${load}`;
    } else {
      id = nextId++;
      loads.set(id, 0);
      expected = `${id}:registered`;
    }
    inFlight.set(id, expected);
    peer.send({ protocol: 'asap', type: 'registration', poolHandle: pool, poolElement: element(id, loads.get(id) ?? 0) });
  };
  peer.socket.on('data', () => {
    for (const m of peer.received.splice(0)) {
      if (m.type !== 'registrationResponse') continue;
      const expected = inFlight.get(m.peId);
      inFlight.delete(m.peId);
      if (expected === undefined) continue;
      if (m.reject) counts.rejected++;
      else {
        acked.add(expected);
        counts.acked++;
        if (expected.includes(':load:')) counts.reregistrations++;
        else live.push({ pool: poolName, peId: m.peId });
        idle.push(m.peId);
      }
      if (!peer.isClosed) sendOne();
    }
  });
  for (let k = 0; k < WINDOW; k++) sendOne();
  await peer.ended;
}

/** An element registered (and acknowledged) in the running server. */
interface Live {
  readonly pool: string;
  readonly peId: number;
}

/**
 * An operator at the console API: drains or readies a random registered element (force: it may be the
 * last ready one of its pool), one command after the other (slowing down when the API's rate limit says
 * so), each with a reason of its own. A command answered 200 adds its reason to `answered`: its audit row must be durable. Runs until
 * the server is gone.
 */
async function operate(server: Server, round: number, random: () => number, live: readonly Live[], answered: Set<string>, gone: () => boolean): Promise<void> {
  const { base, token } = await server.console;
  for (let k = 0; !gone(); k++) {
    const target = live[Math.floor(random() * live.length)];
    if (!target) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      continue;
    }
    const reason = `serve-crash round ${round} command ${k}`;
    const command = random() < 0.6 ? 'drain' : 'ready';
    try {
      const response = await fetch(`${base}/api/v1/pools/${encodeURIComponent(target.pool)}/elements/${target.peId}/${command}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ reason, force: true }),
      });
      await response.text();
      if (response.status === 200) answered.add(reason);
      else if (response.status === 429) await new Promise((resolve) => setTimeout(resolve, 20)); // the API's rate limit
    } catch {
      return; // the server died while the command was on its way: not answered
    }
  }
}

/**
 * Checks a copy of the file as the kill left it (database and WAL), so the server's own restart meets the
 * crashed file untouched: reopens the copy as a start-up would (recovery, schema checks), then reads it
 * with a read-only connection of its own.
 */
function check(file: string, scratch: string): { present: Set<Expected>; audited: Set<string>; integrity: string; foreignKeys: unknown[] } {
  const copy = path.join(scratch, `check-${Date.now()}-${Math.random().toString(36).slice(2)}.db`);
  fs.copyFileSync(file, copy);
  if (fs.existsSync(`${file}-wal`)) fs.copyFileSync(`${file}-wal`, `${copy}-wal`);
  const reopened = openHistoryDatabase(copy);
  assert.ok(reopened.ok, reopened.ok ? '' : `reopening after SIGKILL: ${reopened.error.message}`);
  reopened.value.db.close();
  const db = new Sqlite(copy, { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const foreignKeys = db.pragma('foreign_key_check') as unknown[];
    const present = new Set<Expected>();
    const rows = db
      .prepare(
        `SELECT pe.pe_id AS peId, e.kind, json_extract(e.details, '$.load') AS load
         FROM element_events e JOIN pool_elements pe ON pe.id = e.element_id WHERE e.kind IN ('registered', 'reregistered')`,
      )
      .all() as { peId: number; kind: string; load: number | null }[];
    for (const r of rows) present.add(r.kind === 'registered' ? `${r.peId}:registered` : `${r.peId}:load:${r.load}`);
    const audited = new Set((db.prepare("SELECT reason FROM audit WHERE result = 'ok'").pluck().all() as string[]).filter((r) => r.startsWith('serve-crash ')));
    return { present, audited, integrity, foreignKeys };
  } finally {
    db.close();
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${copy}${suffix}`, { force: true });
  }
}

async function killed(t: TestContext, server: Server): Promise<void> {
  server.proc.kill('SIGKILL');
  await server.exited;
  if (server.stderr.trim() !== '') t.diagnostic(`server stderr: ${server.stderr.trim().slice(0, 500)}`);
}

test('serve --db: SIGKILL under load; every acknowledged registration and answered operator command is in the file, integrity_check ok', { timeout: 60_000 }, async (t) => {
  const seed = Number(process.env['CRASH_SEED'] ?? Date.now() % 100_000);
  const random = seeded(seed);
  t.diagnostic(`seed ${seed} (CRASH_SEED=${seed} replays it)`);
  const dir = tempDir(t, 'handlespace-serve-crash-');
  const file = path.join(dir, 'history.db');
  const rounds = Math.max(2, Number(process.env['SERVE_CRASH_ROUNDS'] ?? 4));
  const everAcked = new Set<Expected>();
  const everAnswered = new Set<string>();
  let lateRoundsAcked = 0;
  for (let round = 0; round < rounds; round++) {
    const server = startServer(file);
    t.after(() => {
      if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGKILL');
    });
    const acked = new Set<Expected>();
    const answered = new Set<string>();
    const live: Live[] = [];
    const counts: Counts = { acked: 0, reregistrations: 0, rejected: 0 };
    let dead = false;
    const operator = operate(server, round, random, live, answered, () => dead);
    let when: string;
    if (round === 0) {
      // The first round dies at a random moment from spawn: during start-up, the migration or the load.
      const killAfter = Math.floor(random() * 3000);
      when = `${killAfter} ms after spawn`;
      const drivers: Promise<void>[] = [];
      void server.listening.then((port) => {
        for (let c = 0; c < CONNECTIONS; c++) drivers.push(drive(port, round, c, random, acked, counts, live));
      });
      await new Promise((resolve) => setTimeout(resolve, killAfter));
      await killed(t, server);
      dead = true;
      await Promise.all(drivers);
    } else {
      const port = await Promise.race([
        server.listening,
        server.exited.then(() => {
          throw new Error(`round ${round}: the server exited before listening: ${server.stderr}`);
        }),
      ]);
      const drivers = Array.from({ length: CONNECTIONS }, (_, c) => drive(port, round, c, random, acked, counts, live));
      // Kill once the load is running: a random time after the first acknowledgement.
      const deadline = Date.now() + 10_000;
      while (counts.acked === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.ok(counts.acked > 0, `round ${round}: no registration acknowledged within 10 s (${counts.rejected} rejected); stderr: ${server.stderr}`);
      const killAfter = 100 + Math.floor(random() * 1200);
      when = `${killAfter} ms into the load`;
      await new Promise((resolve) => setTimeout(resolve, killAfter));
      await killed(t, server);
      dead = true;
      await Promise.all(drivers);
      lateRoundsAcked += counts.acked;
    }
    // (The operator may still wait for a console line that never came.)
    await Promise.race([operator, new Promise((resolve) => setTimeout(resolve, 100))]);
    if (!fs.existsSync(file)) {
      assert.equal(counts.acked + answered.size, 0, `round ${round}: acknowledged registrations or commands but there is no file`);
      t.diagnostic(`round ${round}: killed ${when}, before the file existed`);
      continue;
    }
    const { present, audited, integrity, foreignKeys } = check(file, dir);
    assert.equal(integrity, 'ok', `round ${round}: integrity_check after SIGKILL ${when}`);
    assert.deepEqual(foreignKeys, [], `round ${round}: foreign_key_check after SIGKILL ${when}`);
    for (const expected of acked) everAcked.add(expected);
    for (const reason of answered) everAnswered.add(reason);
    // Earlier rounds' acknowledgements must still be there too (a restart loses nothing either).
    const missing = [...everAcked].filter((p) => !present.has(p));
    assert.deepEqual(missing.slice(0, 20), [], `round ${round}: ${missing.length} acknowledged registrations missing after SIGKILL ${when} (seed ${seed})`);
    const unaudited = [...everAnswered].filter((r) => !audited.has(r));
    assert.deepEqual(unaudited, [], `round ${round}: operator commands answered but without their audit row after SIGKILL ${when} (seed ${seed})`);
    t.diagnostic(
      `round ${round}: killed ${when}; ${counts.acked} registrations acknowledged (${counts.reregistrations} of them load re-registrations; ${counts.rejected} refused), ${present.size} registration rows on disk; ${answered.size} operator commands answered, ${audited.size} audit rows`,
    );
  }
  assert.ok(lateRoundsAcked > 0, 'the load got registrations acknowledged');
  assert.ok(everAnswered.size > 0, 'operator commands were answered');

  // A last restart on the file the last kill left: it starts, stops cleanly, and the file still holds everything.
  const server = startServer(file);
  t.after(() => {
    if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGKILL');
  });
  await Promise.race([
    server.listening,
    server.exited.then(() => {
      throw new Error(`the restart after the last kill exited before listening: ${server.stderr}`);
    }),
  ]);
  server.proc.kill('SIGTERM');
  await server.exited;
  assert.equal(server.proc.exitCode, 0, `the restarted server stopped cleanly: ${server.stderr}`);
  const { present, audited, integrity } = check(file, dir);
  assert.equal(integrity, 'ok');
  assert.deepEqual([...everAcked].filter((p) => !present.has(p)).slice(0, 20), [], 'after the last restart');
  assert.deepEqual([...everAnswered].filter((r) => !audited.has(r)), [], 'audit rows after the last restart');
});
