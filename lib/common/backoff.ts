/**
 * Exponential back-off: next() gives 1, 2, 4, ... times the first delay, up to
 * the longest; reset() after a success starts again from the first. One
 * helper for every retry loop (camera reconnects, chat logins, outboxes), so
 * they all grow and cap the same way.
 */
export class Backoff {
  private current: number;

  constructor(
    readonly firstMs = 1000,
    readonly maxMs = 60_000,
  ) {
    this.current = firstMs;
  }

  /** The delay to wait now; the following one is twice as long (capped). */
  next(): number {
    const delay = this.current;
    this.current = Math.min(this.current * 2, this.maxMs);
    return delay;
  }

  /** The delay next() would give, without advancing. */
  peek(): number {
    return this.current;
  }

  reset(): void {
    this.current = this.firstMs;
  }
}
