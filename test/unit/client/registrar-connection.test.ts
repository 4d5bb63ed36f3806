/**
 * RegistrarConnection against a scripted registrar: responses matched to requests by content (not
 * order), unsolicited messages as events, request timeouts, ASAP_ERROR answers to undecodable messages
 * (the connection survives them) and closing on a framing error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistrarConnection, parseRegistrarAddress, formatRegistrarAddress, type ConnectionClosed, type ProtocolProblem } from '../../../core/client/registrar-connection.js';
import type { AsapDeregistrationResponse, AsapEndpointKeepAlive, AsapHandleResolutionResponse } from '../../../core/wire/types.js';
import { concat, msg, peIdentifier, poolHandle, tlv, u16, u32, u8 } from '../../support/wire-bytes.js';
import { ScriptedRegistrar, deadPort, element, once, sleep, text } from './scripted-registrar.js';

async function connected(registrar: ScriptedRegistrar, requestTimeoutMs?: number): Promise<RegistrarConnection> {
  const result = await RegistrarConnection.connect(registrar.address, requestTimeoutMs !== undefined ? { requestTimeoutMs } : {});
  assert.ok(result.ok, result.ok ? '' : result.error.message);
  return result.value;
}

test('registrar address: host:port, [v6]:port, bare host and bare IPv6 take port 3863, bad text is an error', () => {
  assert.deepStrictEqual(parseRegistrarAddress('10.0.0.1:4000'), { ok: true, value: { host: '10.0.0.1', port: 4000 } });
  assert.deepStrictEqual(parseRegistrarAddress('[::1]:4000'), { ok: true, value: { host: '::1', port: 4000 } });
  assert.deepStrictEqual(parseRegistrarAddress('registrar.lan'), { ok: true, value: { host: 'registrar.lan', port: 3863 } });
  assert.deepStrictEqual(parseRegistrarAddress('fe80::1'), { ok: true, value: { host: 'fe80::1', port: 3863 } });
  assert.equal(parseRegistrarAddress('host:0').ok, false);
  assert.equal(parseRegistrarAddress('host:99999').ok, false);
  assert.equal(parseRegistrarAddress(':4000').ok, false);
  assert.equal(formatRegistrarAddress({ host: '::1', port: 5 }), '[::1]:5');
});

test('connect: a port with nothing listening is refused (a value, not an exception)', async () => {
  const port = await deadPort();
  const result = await RegistrarConnection.connect({ host: '127.0.0.1', port });
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.error.code, 'refused');
});

test('connect: an aborted signal gives up at once', async () => {
  const registrar = await ScriptedRegistrar.start();
  try {
    const controller = new AbortController();
    controller.abort();
    const result = await RegistrarConnection.connect(registrar.address, { signal: controller.signal });
    assert.equal(!result.ok && result.error.code, 'aborted');
  } finally {
    await registrar.stop();
  }
});

test('responses are matched by pool handle (and PE id), not by order', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar);
  try {
    // Hold the answers back, then send them in reverse order.
    registrar.respond = () => [];
    registrar.pools.set('alpha', { elements: [element(1, 1001)] });
    registrar.pools.set('beta', { elements: [element(2, 1002)] });
    const alpha = connection.resolve(text('alpha'));
    const beta = connection.resolve(text('beta'));
    const registration = connection.register(text('alpha'), element(7, 7007));
    const received = [await registrar.next(), await registrar.next(), await registrar.next()];
    for (const r of received.reverse()) for (const answer of registrar.defaultAnswer(r.message)) registrar.send(answer);
    const [a, b, reg] = await Promise.all([alpha, beta, registration]);
    assert.ok(a.ok && b.ok && reg.ok);
    assert.deepStrictEqual(a.value.poolElements.map((e) => e.id), [1]);
    assert.deepStrictEqual(b.value.poolElements.map((e) => e.id), [2]);
    assert.equal(reg.value.peId, 7);
    assert.equal(reg.value.reject, false);
  } finally {
    await connection.close();
    await registrar.stop();
  }
});

test('handle resolutions for one pool are answered first in, first out', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar);
  try {
    registrar.respond = () => [];
    const first = connection.resolve(text('pool'));
    const second = connection.resolve(text('pool'));
    await registrar.next();
    await registrar.next();
    registrar.send({ protocol: 'asap', type: 'handleResolutionResponse', accepted: false, poolHandle: text('pool'), poolElements: [element(1, 1)], peStatus: [] });
    registrar.send({ protocol: 'asap', type: 'handleResolutionResponse', accepted: false, poolHandle: text('pool'), poolElements: [element(2, 2)], peStatus: [] });
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.ok && a.value.poolElements[0]?.id, 1);
    assert.equal(b.ok && b.value.poolElements[0]?.id, 2);
  } finally {
    await connection.close();
    await registrar.stop();
  }
});

test('unsolicited messages become typed events: keep-alive, pushed update, deregistration, ASAP_ERROR', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar);
  try {
    const keepAlive = once<AsapEndpointKeepAlive>(connection, 'keepAlive');
    registrar.send({ protocol: 'asap', type: 'endpointKeepAlive', home: true, serverId: 0x1234, poolHandle: text('pool'), peId: 9 });
    assert.deepStrictEqual(await keepAlive, { protocol: 'asap', type: 'endpointKeepAlive', home: true, serverId: 0x1234, poolHandle: text('pool'), peId: 9 });

    const update = once<AsapHandleResolutionResponse>(connection, 'handleUpdate');
    registrar.send({ protocol: 'asap', type: 'handleResolutionResponse', accepted: true, poolHandle: text('pool'), poolElements: [element(3, 3)], peStatus: [] });
    assert.equal((await update).accepted, true);

    const deregistered = once<AsapDeregistrationResponse>(connection, 'deregistered');
    registrar.send({ protocol: 'asap', type: 'deregistrationResponse', poolHandle: text('pool'), peId: 9 });
    assert.equal((await deregistered).peId, 9);

    const asapError = once<{ error: readonly { code: number }[] }>(connection, 'asapError');
    registrar.send({ protocol: 'asap', type: 'error', error: [{ code: 0x6 }] });
    assert.equal((await asapError).error[0]?.code, 0x6);
  } finally {
    await connection.close();
    await registrar.stop();
  }
});

test('a request without an answer times out; its late answer is swallowed, not taken for a pushed update', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar, 150);
  try {
    registrar.respond = () => [];
    registrar.pools.set('pool', { elements: [element(1, 1)] });
    const started = Date.now();
    const result = await connection.resolve(text('pool'));
    assert.equal(!result.ok && result.error.kind, 'timeout');
    assert.ok(Date.now() - started >= 140);
    let updates = 0;
    connection.on('handleUpdate', () => updates++);
    const late = await registrar.next();
    for (const answer of registrar.defaultAnswer(late.message)) registrar.send(answer);
    await sleep(50);
    assert.equal(updates, 0);
  } finally {
    await connection.close();
    await registrar.stop();
  }
});

test('an aborted request resolves "aborted" at once', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar);
  try {
    registrar.respond = () => [];
    const controller = new AbortController();
    const pending = connection.resolve(text('pool'), { signal: controller.signal });
    await registrar.next();
    controller.abort();
    const result = await pending;
    assert.equal(!result.ok && result.error.kind, 'aborted');
  } finally {
    await connection.close();
    await registrar.stop();
  }
});

test('an unknown message type with action bits 01 is answered with ASAP_ERROR 0x2 and the connection survives', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar);
  try {
    const problems: ProtocolProblem[] = [];
    connection.on('protocolError', (problem) => problems.push(problem));
    const unknown = msg(0x4f, 0, poolHandle('x'));
    registrar.send(unknown);
    const reply = await registrar.next((m) => m.type === 'error');
    assert.ok(reply.message.type === 'error');
    assert.equal(reply.message.error[0]?.code, 0x2);
    assert.deepStrictEqual(Buffer.from(reply.message.error[0]?.data ?? []), Buffer.from(unknown));
    assert.equal(problems[0]?.kind, 'decode');
    // Still usable.
    registrar.pools.set('pool', { elements: [element(1, 1)] });
    const result = await connection.resolve(text('pool'));
    assert.ok(result.ok);
  } finally {
    await connection.close();
    await registrar.stop();
  }
});

test('an invalid keep-alive (no pool handle) gets ASAP_ERROR 0x3; an unknown message with action bits 00 is dropped silently', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar);
  try {
    registrar.send(msg(0x07, 0, u32(5)));
    const reply = await registrar.next((m) => m.type === 'error');
    assert.ok(reply.message.type === 'error');
    assert.equal(reply.message.error[0]?.code, 0x3);
    registrar.send(msg(0x30, 0, new Uint8Array(0)));
    registrar.pools.set('pool', { elements: [element(1, 1)] });
    assert.ok((await connection.resolve(text('pool'))).ok);
    assert.equal(registrar.count('error'), 1);
  } finally {
    await connection.close();
    await registrar.stop();
  }
});

test('an unknown parameter with action bits 11 is reported (0x1) and the message is still delivered', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar);
  try {
    const keepAlive = once<AsapEndpointKeepAlive>(connection, 'keepAlive');
    const extra = tlv(0xc0aa, u8(1, 2, 3, 4));
    registrar.send(msg(0x07, 0x01, concat(u32(0x77), poolHandle('pool'), peIdentifier(3), extra)));
    const delivered = await keepAlive;
    assert.equal(delivered.serverId, 0x77);
    const reply = await registrar.next((m) => m.type === 'error');
    assert.ok(reply.message.type === 'error');
    assert.equal(reply.message.error[0]?.code, 0x1);
    assert.deepStrictEqual(Buffer.from(reply.message.error[0]?.data ?? []), Buffer.from(extra));
  } finally {
    await connection.close();
    await registrar.stop();
  }
});

test('a framing error (length below 4) closes the connection and fails pending requests', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar);
  try {
    registrar.respond = () => [];
    const pending = connection.resolve(text('pool'));
    await registrar.next();
    const closed = once<ConnectionClosed>(connection, 'close');
    registrar.send(concat(u8(0x06, 0), u16(2)));
    assert.equal((await closed).reason, 'framing');
    // It said why before hanging up.
    const said = await registrar.next((m) => m.type === 'error');
    assert.ok(said.message.type === 'error' && said.message.error[0]?.code === 0x3);
    const result = await pending;
    assert.equal(!result.ok && result.error.kind, 'closed');
    assert.equal(connection.isClosed, true);
    assert.equal(connection.send({ protocol: 'asap', type: 'endpointUnreachable', poolHandle: text('p'), peId: 1 }).ok, false);
  } finally {
    await connection.close();
    await registrar.stop();
  }
});

test('the registrar closing the connection is a "remote" close; pending requests fail with "closed"', async () => {
  const registrar = await ScriptedRegistrar.start();
  const connection = await connected(registrar);
  try {
    registrar.respond = () => [];
    const pending = connection.resolve(text('pool'));
    await registrar.next();
    const closed = once<ConnectionClosed>(connection, 'close');
    await registrar.stop();
    assert.equal((await closed).reason, 'remote');
    assert.equal((await pending).ok, false);
  } finally {
    await connection.close();
    await registrar.stop();
  }
});
