/**
 * Helpers for the console's LAN server tests: a real `handlespace serve` child process (its ASAP port, the
 * console URL and start-up token parsed from its standard output), bounded HTTP requests over node:http /
 * node:https (with a chosen loopback source address, so tests that need their own rate-limit bucket get
 * one: Linux routes all of 127.0.0.0/8 to the loopback interface), a WebSocket client that records the
 * event stream, and a bounded polling wait.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import type { ConsoleResult, EventStreamMessage } from '../../../core/console/contract.js';

export const BIN = fileURLToPath(new URL('../../../bin/handlespace.mjs', import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export interface ServeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly asapPort: number;
  /** The console's base URL ("http://127.0.0.1:PORT/"). */
  readonly base: string;
  readonly startupToken: string;
  out(): string;
  err(): string;
  /** SIGTERM, then the exit code (bounded). */
  stop(): Promise<number | null>;
}

/** Starts `handlespace serve ARGS` and waits (bounded) for its ASAP and console lines. */
export async function spawnServe(t: TestContext | undefined, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let out = '';
  let errText = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (errText += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stopping: Promise<number | null> | undefined;
  const stop = (): Promise<number | null> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    })();
    return stopping;
  };
  t?.after(() => stop());
  const started = await Promise.race([
    (async () => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const asap = /listening on 127\.0\.0\.1:(\d+) \(ASAP/.exec(out);
        const consoleLine = /console: (https?:\/\/\S+\/)#token=(\S+)/.exec(out);
        if (asap?.[1] && consoleLine?.[1] && consoleLine[2]) return { asapPort: Number(asap[1]), base: consoleLine[1], startupToken: consoleLine[2] };
        if (Date.now() > deadline) return new Error(`serve did not start within 30 s:\n${out}\n${errText}`);
        await sleep(25);
      }
    })(),
    exited.then((code) => new Error(`serve exited with ${code} before starting:\n${out}\n${errText}`)),
  ]);
  if (started instanceof Error) {
    await stop();
    throw started;
  }
  return { child, ...started, out: () => out, err: () => errText, stop };
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  json<T = unknown>(): ConsoleResult<T>;
}

export interface RequestOptions {
  readonly method?: string;
  readonly token?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** Source address of the connection (another 127.x address gets its own rate-limit bucket). */
  readonly from?: string;
  /** For https: the certificate to trust. */
  readonly ca?: Buffer;
  readonly timeoutMs?: number;
}

/** One request on its own connection; rejects on a network error or after `timeoutMs` (default 10 s). */
export function request(base: string, path: string, options: RequestOptions = {}): Promise<HttpAnswer> {
  const url = new URL(path, base);
  const secure = url.protocol === 'https:';
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const requestOptions: https.RequestOptions = {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: options.method ?? (options.body !== undefined ? 'POST' : 'GET'),
      headers,
      agent: false,
      ...(options.from ? { localAddress: options.from } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
    };
    const onResponse = (response: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      response.on('data', (d: Buffer) => chunks.push(d));
      response.on('error', reject);
      response.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body, text, json: <T>() => JSON.parse(text) as ConsoleResult<T> });
      });
    };
    const req = secure ? https.request(requestOptions, onResponse) : http.request(requestOptions, onResponse);
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer to ${path} within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The value of a successful envelope, failing the test (with the answer) otherwise. */
export function valueOf<T>(answer: HttpAnswer): T {
  assert.equal(answer.status, 200, answer.text);
  const result = answer.json<T>();
  assert.ok(result.ok, answer.text);
  return result.value;
}

/** The error of a failed envelope, checking the HTTP status and the code. */
export function errorOf(answer: HttpAnswer, status: number, code: string): { code: string; message: string; field?: string } {
  assert.equal(answer.status, status, answer.text);
  const result = answer.json();
  assert.ok(!result.ok, answer.text);
  assert.equal(result.error.code, code, answer.text);
  assert.ok(result.error.message.length > 0);
  return result.error;
}

export function wsUrl(base: string, query = ''): string {
  const url = new URL(`api/v1/events${query}`, base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** A WebSocket client on the event stream that keeps every message and the sequences of all events. */
export class StreamRecorder {
  readonly messages: EventStreamMessage[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, options: { token?: string; protocols?: string[]; headers?: Record<string, string>; ca?: Buffer } = {}) {
    this.ws = new WebSocket(url, options.protocols ?? [], {
      headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
      ...(options.ca ? { ca: options.ca } : {}),
      handshakeTimeout: 10_000,
    });
    this.ws.on('message', (data: Buffer) => this.messages.push(JSON.parse(data.toString('utf8')) as EventStreamMessage));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    // Errors after the handshake end in 'close', which the tests look at.
    this.ws.on('error', () => undefined);
  }

  hello(): Extract<EventStreamMessage, { kind: 'hello' }> | undefined {
    const first = this.messages[0];
    return first?.kind === 'hello' ? first : undefined;
  }

  /** Sequences of the events received, in order. */
  sequences(): number[] {
    return this.messages.flatMap((m) => (m.kind === 'events' ? m.events.map((e) => e.seq) : []));
  }

  /** The position to resume from: the last event received, else the last resync's snapshot, else hello. */
  lastSequence(): number | undefined {
    let last: number | undefined;
    for (const m of this.messages) {
      if (m.kind === 'hello' && last === undefined) last = m.sequence;
      else if (m.kind === 'resync') last = m.snapshot.sequence;
      else if (m.kind === 'events') last = m.events.at(-1)?.seq ?? last;
    }
    return last;
  }
}

/** Whether an `openssl` command runs here (it makes the TLS tests' certificates). */
export function opensslAvailable(): boolean {
  const result = spawnSync('openssl', ['version'], { stdio: 'ignore', timeout: 10_000 });
  return result.status === 0;
}

/** A self-signed certificate and key for 127.0.0.1, made with openssl, as PEM files in `dir`. */
export function makeSelfSignedCertificate(dir: string): { cert: string; key: string } {
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const result = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(result.status, 0, `openssl failed: ${result.stderr}`);
  return { cert, key };
}
