/**
 * The console's bearer tokens: only hashes are stored; a token made by one connection (the CLI) works at
 * once through another (serve); a revocation is seen within VERIFY_CACHE_MS; last use is noted without a
 * write per request; in-memory tokens never touch the disk; malformed and unknown tokens are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { ManualClock } from '../../../core/clock.js';
import {
  chainVerifiers,
  hashToken,
  LAST_USED_RESOLUTION_MS,
  MemoryTokenStore,
  SqliteTokenStore,
  VERIFY_CACHE_MS,
} from '../../../core/history/token-store.js';
import { tempDir } from '../history/helpers.js';

function openStore(t: import('node:test').TestContext, file: string, clock: ManualClock): SqliteTokenStore {
  const opened = SqliteTokenStore.open(file, { clock });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  t.after(() => opened.value.close());
  return opened.value;
}

test('create returns the token once and stores only its SHA-256; verify finds its holder', (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const clock = new ManualClock();
  const store = openStore(t, file, clock);
  const created = store.create('operator', 'ops laptop');
  assert.ok(created.ok);
  const { token, info } = created.value;
  assert.match(token, /^hs_[A-Za-z0-9_-]{43}$/);
  assert.deepStrictEqual(info, { id: 1, role: 'operator', label: 'ops laptop', createdAt: clock.now(), revokedAt: null, lastUsedAt: null });
  assert.deepStrictEqual(store.verify(token), { id: 1, role: 'operator', label: 'ops laptop' });

  // The file holds the hash, never the token.
  const raw = new Sqlite(file, { readonly: true });
  t.after(() => raw.close());
  const rows = raw.prepare('SELECT hash FROM api_tokens').all() as { hash: string }[];
  assert.deepStrictEqual(rows, [{ hash: hashToken(token) }]);
  assert.ok(!fs.readFileSync(file).includes(Buffer.from(token)), 'the token text is not in the database file');
});

test('a token created by another connection works at once; a revocation there is seen within VERIFY_CACHE_MS', (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const clock = new ManualClock();
  const cli = openStore(t, file, clock);
  const server = openStore(t, file, clock);
  const created = cli.create('viewer', '');
  assert.ok(created.ok);
  assert.deepStrictEqual(server.verify(created.value.token), { id: 1, role: 'viewer', label: '' });

  const revoked = cli.revoke(1);
  assert.ok(revoked.ok);
  assert.equal(revoked.value.revokedAt, clock.now());
  // The server's cached answer may stand for at most VERIFY_CACHE_MS.
  clock.advance(VERIFY_CACHE_MS - 1);
  assert.ok(server.verify(created.value.token) !== undefined, 'still cached');
  clock.advance(1);
  assert.equal(server.verify(created.value.token), undefined, 'revoked');
  // The revoking connection itself forgets at once.
  assert.equal(cli.verify(created.value.token), undefined);
});

test('revoke: unknown id and a second revocation are errors that say so', (t) => {
  const clock = new ManualClock();
  const store = openStore(t, path.join(tempDir(t), 'history.db'), clock);
  const missing = store.revoke(7);
  assert.ok(!missing.ok);
  assert.equal(missing.error.code, 'notFound');
  assert.ok(store.create('viewer', 'a').ok);
  assert.ok(store.revoke(1).ok);
  const again = store.revoke(1);
  assert.ok(!again.ok);
  assert.equal(again.error.code, 'alreadyRevoked');
});

test('list shows every token with its last use, written at most once per LAST_USED_RESOLUTION_MS', (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const clock = new ManualClock();
  const store = openStore(t, file, clock);
  const a = store.create('viewer', 'wall screen');
  const b = store.create('operator', 'alice');
  assert.ok(a.ok && b.ok);
  const t0 = clock.now();
  assert.ok(store.verify(a.value.token));
  const other = openStore(t, file, clock);
  const lastUsed = (): number | null | undefined => {
    const listed = other.list();
    assert.ok(listed.ok);
    return listed.value.find((x) => x.id === 1)?.lastUsedAt;
  };
  assert.equal(lastUsed(), t0, 'the first use is written at once');
  clock.advance(VERIFY_CACHE_MS + 5);
  assert.ok(store.verify(a.value.token));
  assert.equal(lastUsed(), t0, 'a use soon after is not written yet');
  clock.advance(LAST_USED_RESOLUTION_MS);
  assert.ok(store.verify(a.value.token));
  assert.equal(lastUsed(), clock.now());
  const listed = store.list();
  assert.ok(listed.ok);
  assert.deepStrictEqual(
    listed.value.map((x) => [x.id, x.role, x.label, x.revokedAt]),
    [
      [1, 'viewer', 'wall screen', null],
      [2, 'operator', 'alice', null],
    ],
  );
});

test('while another connection holds the write lock, tokens still verify and the last use waits for a later flush', (t) => {
  const file = path.join(tempDir(t), 'history.db');
  const clock = new ManualClock();
  const cli = openStore(t, file, clock);
  const created = cli.create('viewer', 'tv');
  assert.ok(created.ok);
  const opened = SqliteTokenStore.open(file, { clock, busyTimeoutMs: 0 });
  assert.ok(opened.ok);
  const server = opened.value;
  t.after(() => server.close());
  const writer = new Sqlite(file);
  t.after(() => writer.close());
  writer.prepare('BEGIN IMMEDIATE').run();
  assert.ok(server.verify(created.value.token), 'verified under a held write lock (WAL readers never wait)');
  writer.prepare('COMMIT').run();
  const lastUsed = (): number | null | undefined => {
    const listed = cli.list();
    assert.ok(listed.ok);
    return listed.value[0]?.lastUsedAt;
  };
  assert.equal(lastUsed(), null, 'the write failed and is not retried on every request');
  clock.advance(VERIFY_CACHE_MS);
  assert.ok(server.verify(created.value.token));
  assert.equal(lastUsed(), null);
  clock.advance(LAST_USED_RESOLUTION_MS);
  assert.ok(server.verify(created.value.token));
  assert.equal(lastUsed(), clock.now());
});

test('malformed, unknown and foreign tokens are refused; bad roles and labels are refused at create', (t) => {
  const clock = new ManualClock();
  const store = openStore(t, path.join(tempDir(t), 'history.db'), clock);
  const created = store.create('operator', 'x');
  assert.ok(created.ok);
  const token = created.value.token;
  for (const bad of ['', 'hs_', token.slice(0, -1), `${token}A`, token.toUpperCase(), ` ${token}`, 'Bearer ' + token, hashToken(token), `hs_${'A'.repeat(43)}`]) {
    assert.equal(store.verify(bad), undefined, JSON.stringify(bad));
  }
  const role = store.create('admin', 'x');
  assert.ok(!role.ok && role.error.code === 'badRole');
  const long = store.create('viewer', 'x'.repeat(101));
  assert.ok(!long.ok && long.error.code === 'badLabel');
  const control = store.create('viewer', 'line\nforged audit row');
  assert.ok(!control.ok && control.error.code === 'badLabel');
});

test('in-memory tokens: verified by hash, revocable, first in a chain', (t) => {
  const memory = new MemoryTokenStore();
  const startup = memory.create('operator', 'local operator');
  assert.deepStrictEqual(memory.verify(startup), { id: null, role: 'operator', label: 'local operator' });
  const clock = new ManualClock();
  const store = openStore(t, path.join(tempDir(t), 'history.db'), clock);
  const stored = store.create('viewer', 'tv');
  assert.ok(stored.ok);
  const chain = chainVerifiers(memory, store);
  assert.equal(chain.verify(startup)?.label, 'local operator');
  assert.equal(chain.verify(stored.value.token)?.label, 'tv');
  assert.equal(chain.verify('hs_nothing'), undefined);
  assert.ok(memory.revoke(startup));
  assert.equal(chain.verify(startup), undefined);
});

test('a closed store refuses every token', (t) => {
  const clock = new ManualClock();
  const opened = SqliteTokenStore.open(path.join(tempDir(t), 'history.db'), { clock });
  assert.ok(opened.ok);
  const created = opened.value.create('viewer', '');
  assert.ok(created.ok);
  opened.value.close();
  assert.equal(opened.value.verify(created.value.token), undefined);
});
