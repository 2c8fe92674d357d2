// When to try a camera again after an attempt ended: exponential back-off
// counted from the attempt's start (an attempt that waited on a frozen stream
// for longer than the back-off is retried at once), and while the camera is
// plainly away (its port closed, its device gone) a cheap check every
// checkMs (a TCP connect: next to nothing) instead of an ffmpeg per attempt.
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff } from '../common/backoff';

export class Reconnect {
  private readonly backoff: Backoff;

  constructor(
    maxBackoffMs: number,
    private readonly reachable: (() => Promise<boolean>) | null,
    private readonly checkMs = 250,
  ) {
    this.backoff = new Backoff(1000, maxBackoffMs);
  }

  /** The camera delivered video: the next failure starts the back-off anew. */
  worked(): void {
    this.backoff.reset();
  }

  /** Resolves when the next attempt should start; rejects (AbortError) when `signal` aborts. */
  async wait(attemptStartedAt: number, signal: AbortSignal): Promise<void> {
    const due = attemptStartedAt + this.backoff.next();
    for (;;) {
      const early = due - Date.now();
      if (early > 0) await sleep(early, undefined, { signal });
      else if (!this.reachable || await this.reachable()) return;
      else await sleep(this.checkMs, undefined, { signal });
      signal.throwIfAborted();
    }
  }
}
