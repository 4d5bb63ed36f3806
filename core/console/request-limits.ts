/**
 * The LAN server's limits on what one client may ask of it: a token bucket per client address (requests
 * per second with a burst), and a bounded reader for request bodies. Both answer values the server turns
 * into 429 / 413; neither throws.
 */
import type { IncomingMessage } from 'node:http';
import { systemClock, type Clock } from '../clock.js';
import { err, ok, type Result } from '../result.js';

export interface RateLimitSettings {
  /** Sustained requests per second per client address. */
  readonly perSecond: number;
  /** Requests a client may make at once after being quiet. */
  readonly burst: number;
  /**
   * Client addresses tracked at once. Beyond it the longest-untouched address is forgotten (it starts again
   * with a full bucket): a flood from many addresses costs bounded memory, and each of them is still limited.
   */
  readonly maxClients: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = { perSecond: 50, burst: 100, maxClients: 10_000 };

export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class RateLimiter {
  /** In least-recently-used order: a touched bucket is moved to the end. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly settings: RateLimitSettings = DEFAULT_RATE_LIMIT,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Takes one token for `client`, or says how long to wait for one. */
  take(client: string): RateDecision {
    const now = this.clock.now();
    const { perSecond, burst } = this.settings;
    let bucket = this.buckets.get(client);
    if (bucket) {
      this.buckets.delete(client);
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * perSecond);
      bucket.updatedAt = now;
    } else {
      bucket = { tokens: burst, updatedAt: now };
      if (this.buckets.size >= this.settings.maxClients) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
    }
    this.buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond)) };
  }

  get trackedClients(): number {
    return this.buckets.size;
  }
}

export type BodyError = { readonly code: 'tooLarge'; readonly limit: number } | { readonly code: 'aborted'; readonly message: string };

/**
 * Reads a request body of at most `limit` bytes. A Content-Length above the limit is refused before a byte
 * is read; a body that grows past it (chunked) is refused as soon as it does, and the rest is not buffered.
 */
export function readBody(request: IncomingMessage, limit: number): Promise<Result<Buffer, BodyError>> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    request.resume();
    return Promise.resolve(err({ code: 'tooLarge', limit }));
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: Result<Buffer, BodyError>): void => {
      if (settled) return;
      settled = true;
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('aborted', onAborted);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Keep draining (without storing) so the 413 can still be written on this connection.
        request.resume();
        finish(err({ code: 'tooLarge', limit }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(ok(Buffer.concat(chunks, size)));
    const onError = (e: Error): void => finish(err({ code: 'aborted', message: e.message }));
    const onAborted = (): void => finish(err({ code: 'aborted', message: 'the client closed the request' }));
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('aborted', onAborted);
  });
}
