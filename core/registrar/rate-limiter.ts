/**
 * Per pool-user token buckets for handle resolutions and unreachable reports (RSPLIB's -maxhrrate and
 * -maxeurate; RFC 5355 §2.13 asks for limits on unreachable floods). A rate of 0 means unlimited.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    now: number,
  ) {
    this.tokens = ratePerSecond;
    this.updatedAt = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    if (this.ratePerSecond <= 0) return true;
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.ratePerSecond, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
