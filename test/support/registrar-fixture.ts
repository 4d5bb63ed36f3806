/**
 * A registrar per test on an ephemeral loopback port (announces off), and raw ASAP peers connected to it;
 * both are closed when the test ends.
 */
import type { TestContext } from 'node:test';
import { Registrar, type RegistrarStartOptions } from '../../core/registrar/registrar.js';
import { AsapTestPeer } from './asap-test-peer.js';

export async function startRegistrar(t: TestContext, options: RegistrarStartOptions = {}): Promise<Registrar> {
  const registrar = await Registrar.start({ asap: { host: '127.0.0.1', port: 0 }, announce: 'off', ...options });
  t.after(() => registrar.close());
  return registrar;
}

export async function connect(t: TestContext, registrar: Registrar): Promise<AsapTestPeer> {
  const peer = await AsapTestPeer.connect(registrar.asapAddress.port);
  t.after(() => peer.close());
  return peer;
}
