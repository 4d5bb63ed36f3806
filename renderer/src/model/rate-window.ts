/**
 * Notifications per pool over the last minutes, in fixed buckets: the overview's "notifications/min" and
 * its sparkline. The snapshot's own last-minute figure seeds it and fades out over one minute, so a page
 * opened mid-storm does not show zero.
 */
export const BUCKET_MS = 10_000;
export const BUCKETS = 30;

export class RateWindow {
  /** Counts per bucket; index = bucket number modulo BUCKETS. */
  private readonly counts = new Array<number>(BUCKETS).fill(0);
  private newestBucket = 0;
  private seed = 0;
  private seededAt = 0;

  seedLastMinute(count: number, at: number): void {
    this.seed = count;
    this.seededAt = at;
  }

  add(count: number, at: number): void {
    this.advance(at);
    const bucket = Math.floor(at / BUCKET_MS);
    if (bucket <= this.newestBucket - BUCKETS) return;
    this.counts[bucket % BUCKETS]! += count;
  }

  private advance(at: number): void {
    const bucket = Math.floor(at / BUCKET_MS);
    if (this.newestBucket === 0) this.newestBucket = bucket;
    if (bucket <= this.newestBucket) return;
    const steps = Math.min(BUCKETS, bucket - this.newestBucket);
    for (let i = 1; i <= steps; i++) this.counts[(this.newestBucket + i) % BUCKETS] = 0;
    this.newestBucket = bucket;
  }

  /** Notifications in the 60 s before `now` (the current bucket counts whole), plus the fading seed. */
  lastMinute(now: number): number {
    this.advance(now);
    let sum = 0;
    for (let i = 0; i < 60_000 / BUCKET_MS; i++) sum += this.counts[(this.newestBucket - i + BUCKETS) % BUCKETS] ?? 0;
    const age = now - this.seededAt;
    const seedPart = age >= 0 && age < 60_000 ? Math.round(this.seed * (1 - age / 60_000)) : 0;
    return sum + seedPart;
  }

  /** Per-bucket counts, oldest first, ending with the current bucket. */
  series(now: number): number[] {
    this.advance(now);
    return Array.from({ length: BUCKETS }, (_, i) => this.counts[(this.newestBucket - (BUCKETS - 1) + i + BUCKETS) % BUCKETS] ?? 0);
  }
}
