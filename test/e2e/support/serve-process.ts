/**
 * A real `handlespace serve` process for the e2e tests: ASAP and the console's HTTP server on ephemeral
 * loopback ports, announces off, history in a temporary file (or the test's --db file), its own data
 * directory. The start-up console URL (with its operator token in the fragment) is read from stdout.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './renderer-build.js';

const BIN = path.join(ROOT, 'bin/handlespace.mjs');
const START_TIMEOUT_MS = 20_000;

export interface ServeProcess {
  readonly asapPort: number;
  /** The console URL as printed, `http://127.0.0.1:PORT/#token=...`. */
  readonly consoleUrl: string;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  readonly operatorToken: string;
  readonly dataDir: string;
  /** Everything the process wrote so far (for failure messages). */
  output(): string;
  /** The console URL with another token. */
  urlWithToken(token: string): string;
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** A history file (needed for tokens made with `handlespace token create`); default --memory. */
  readonly db?: string;
  /** The console's port (default: any free one). */
  readonly httpPort?: number;
  readonly extraArgs?: readonly string[];
}

export async function startServe(options: ServeOptions = {}): Promise<ServeProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'handlespace-e2e-'));
  const args = [BIN, 'serve', '--asap', '127.0.0.1:0', '--announce', 'off', '--http', `127.0.0.1:${options.httpPort ?? 0}`, ...(options.db ? ['--db', options.db] : ['--memory']), ...(options.extraArgs ?? [])];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, HANDLESPACE_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const started = await new Promise<{ asapPort: number; consoleUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`handlespace serve did not print its console URL within ${START_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`)), START_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: string) => {
      stdout += chunk;
      const asap = /listening on [^\s:]+:(\d+) \(ASAP/.exec(stdout);
      const url = /console: (http:\/\/\S+#token=\S+)/.exec(stdout);
      if (asap?.[1] && url?.[1]) {
        clearTimeout(timer);
        resolve({ asapPort: Number(asap[1]), consoleUrl: url[1] });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`handlespace serve exited (${code}) before it was ready:\n${stdout}\n${stderr}`));
    });
  });
  const url = new URL(started.consoleUrl);
  const operatorToken = decodeURIComponent(url.hash.replace(/^#token=/, ''));
  let stopped: Promise<void> | undefined;
  return {
    asapPort: started.asapPort,
    consoleUrl: started.consoleUrl,
    origin: url.origin,
    operatorToken,
    dataDir,
    output: () => `${stdout}\n${stderr}`,
    urlWithToken: (token) => `${url.origin}/#token=${encodeURIComponent(token)}`,
    stop: () =>
      (stopped ??= (async () => {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }
        fs.rmSync(dataDir, { recursive: true, force: true });
      })()),
  };
}

/** `handlespace token create --role ROLE --db FILE`: the printed token. */
export function createToken(db: string, role: 'viewer' | 'operator', label: string): string {
  const result = spawnSync(process.execPath, [BIN, 'token', 'create', '--role', role, '--label', label, '--db', db], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`handlespace token create failed (${result.status}): ${result.stderr}`);
  const token = /\b(hs_[A-Za-z0-9_-]+)/.exec(result.stdout)?.[1];
  if (!token) throw new Error(`no token in the output of handlespace token create: ${result.stdout}`);
  return token;
}

/** Calls the LAN API directly (another operator, outside the page). */
export async function api<T>(serve: ServeProcess, method: 'GET' | 'POST', route: string, body?: unknown, token = serve.operatorToken): Promise<{ status: number; body: { ok: boolean; value?: T; error?: { code: string; message: string } } }> {
  const response = await fetch(`${serve.origin}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as { ok: boolean; value?: T; error?: { code: string; message: string } } };
}
