/**
 * Runs the core host (core/console/ipc-host.ts) in an Electron utilityProcess, so synchronous SQLite and
 * registrar work never block the window. Restarts, backoff, request routing and event streams are
 * CoreHostClient's (core-host-client.ts, tested under plain Node); this file only adapts utilityProcess.
 */
import path from 'node:path';
import { utilityProcess } from 'electron';
import { CoreHostClient, type CoreHostClientOptions, type HostProcess } from './core-host-client.js';

/** Compiled layout: dist/electron/core-host.js beside dist/core/console/ipc-host.js. */
export const HOST_ENTRY = path.join(import.meta.dirname, '..', 'core', 'console', 'ipc-host.js');

function forkUtilityHost(): HostProcess {
  // stdio 'inherit': the host's own crash output (before it can post a log message) reaches our stderr.
  const child = utilityProcess.fork(HOST_ENTRY, [], { serviceName: 'Handlespace core', stdio: 'inherit' });
  child.on('error', (type, location) => console.error(`core host: ${type} at ${location}`));
  return {
    postMessage: (message) => child.postMessage(message),
    onMessage: (listener) => child.on('message', listener),
    onExit: (listener) => child.once('exit', (code) => listener(code)),
    kill: () => void child.kill(),
  };
}

/** Starts the host now (the app must be ready: utilityProcess.fork needs it). */
export function startCoreHost(options: Omit<CoreHostClientOptions, 'spawn'>): CoreHostClient {
  const client = new CoreHostClient({ ...options, spawn: forkUtilityHost });
  client.start();
  return client;
}
