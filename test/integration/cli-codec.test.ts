/**
 * `handlespace decode` / `encode`: decode prints every sample message as JSON that encode turns back into
 * the same bytes; bad bytes print the error with offset and cause and exit 1. Most cases run the verbs
 * in-process; a few spawn the real `bin/handlespace.mjs` to prove the installed command works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../core/cli/main.js';
import { memoryIo } from '../support/memory-io.js';
import { encodeMessage } from '../../core/wire/encoder.js';
import { sampleMessages } from '../fixtures/sample-messages.js';

const bin = fileURLToPath(new URL('../../bin/handlespace.mjs', import.meta.url));

async function run(args: string[], stdin?: string): Promise<{ status: number; stdout: string; stderr: string }> {
  const io = memoryIo(stdin);
  const status = await main(args, io);
  return { status, stdout: io.out(), stderr: io.err() };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('cli: decode then encode gives back the bytes of every sample message', async () => {
  assert.ok(sampleMessages.length >= 24);
  for (const { name, message } of sampleMessages) {
    const wire = hex(encodeMessage(message));
    const decoded = await run(message.protocol === 'enrp' ? ['decode', '--enrp', wire] : ['decode', wire]);
    assert.equal(decoded.status, 0, `${name}: ${decoded.stderr}`);
    const json = JSON.parse(decoded.stdout) as { type: string; typeCode: string; typeName: string };
    assert.equal(json.type, message.type, name);
    assert.match(json.typeCode, /^0x[0-9a-f]{2}$/);
    assert.match(json.typeName, /^(ASAP|ENRP)_[A-Z_]+$/);
    const encoded = await run(['encode'], decoded.stdout);
    assert.equal(encoded.status, 0, `${name}: ${encoded.stderr}`);
    assert.equal(encoded.stdout.trim(), wire, name);
  }
});

test('cli: decode shows ids in 0x hex and printable pool handles as text', async () => {
  const r = await run(['decode', '05 01 00 0c 00 09 00 08 70 6f 6f 6c']);
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(json['poolHandle'], 'pool');
  assert.equal(json['subscribe'], true);
  assert.equal(json['typeName'], 'ASAP_HANDLE_RESOLUTION');
  const ack = await run(['decode', '0x0800001400090008706f6f6c000e0008deadbeef']);
  assert.equal((JSON.parse(ack.stdout) as Record<string, unknown>)['peId'], '0xdeadbeef');
  const binary = await run(['decode', '0500000b000900070001ff00']);
  assert.equal((JSON.parse(binary.stdout) as Record<string, unknown>)['poolHandle'], '0x0001ff');
});

test('cli: bad bytes print the error with offset, rule and cause, and exit 1', async () => {
  const r = await run(['decode', '01000038000900086563686f']);
  assert.equal(r.status, 1);
  const error = (JSON.parse(r.stdout) as { error: Record<string, unknown> }).error;
  assert.equal(error['offset'], 2);
  assert.match(String(error['rule']), /RFC 5354/);
  assert.deepStrictEqual(error['cause'], { code: '0x3', causeName: 'invalidValues' });
  assert.match(r.stderr, /at byte 2/);
  const unknownParam = await run(['decode', '0500001000090008706f6f6c40310004']);
  assert.equal(unknownParam.status, 1);
  assert.equal((JSON.parse(unknownParam.stdout) as { error: { cause: { code: string } } }).error.cause.code, '0x1');
});

test('cli: --stream frames several messages and a split-off tail is reported', async () => {
  const one = '0500000c00090008706f6f6c';
  const r = await run(['decode', '--stream', one + one]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 2);
  const tail = await run(['decode', '--stream', one + one.slice(0, 10)]);
  assert.equal(tail.status, 1);
  assert.match(tail.stdout, /do not complete a message/);
});

test('cli: input and usage errors exit 2 with a message', async () => {
  assert.equal((await run(['decode', 'xyz'])).status, 2);
  assert.equal((await run(['decode', 'abc'])).status, 2);
  assert.equal((await run(['decode', '--asap', '--enrp', '00'])).status, 2);
  assert.equal((await run(['nonsense'])).status, 2);
  const noType = await run(['encode', '{"protocol":"asap","type":"bogus"}']);
  assert.equal(noType.status, 1);
  assert.match(noType.stderr, /unknown asap message type/);
  const badAddress = await run(['encode', '{"protocol":"asap","type":"serverAnnounce","serverId":"0x1","transports":[{"kind":"tcp","port":1,"transportUse":0,"address":"1.2.3"}]}']);
  assert.equal(badAddress.status, 1);
  assert.match(badAddress.stderr, /not an IPv4 or IPv6 address/);
});

test('cli: the installed bin decodes an argument and encodes from a pipe', () => {
  const wire = '0500000c00090008706f6f6c';
  const decoded = spawnSync(process.execPath, [bin, 'decode', wire], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(decoded.status, 0, decoded.stderr);
  const encoded = spawnSync(process.execPath, [bin, 'encode'], { input: decoded.stdout, encoding: 'utf8', timeout: 30_000 });
  assert.equal(encoded.status, 0, encoded.stderr);
  assert.equal(encoded.stdout.trim(), wire);
  const bad = spawnSync(process.execPath, [bin, 'decode', '0100'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(bad.status, 1);
});
