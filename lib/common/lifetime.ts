// One start of a unit (a Matrix bot, an XMPP account or one of its streams),
// from start() to stop(): the single guard that keeps a stopped start from
// acquiring anything after its pending awaits (a redeploy during the first
// login, crypto init or key generation stops it halfway).

/** Thrown out of a start that was stopped meanwhile; start() swallows it. */
export class StoppedError extends Error {
  constructor() { super('stopped'); }
}

type Release = () => void | Promise<void>;

export class Lifetime {
  private readonly controller = new AbortController();
  private readonly aborts: Release[] = [];
  private readonly releases: Release[] = [];
  private started: Promise<unknown> = Promise.resolve();

  constructor(private readonly log: (msg: string) => void = () => undefined) {}

  /** Aborts fetches and waits that were given it when stop() comes. */
  get signal(): AbortSignal { return this.controller.signal; }
  get stopped(): boolean { return this.controller.signal.aborted; }

  /** Runs the start; a StoppedError out of it (stopped halfway) is not an error. */
  async run(start: () => Promise<void>): Promise<void> {
    const p = start();
    this.started = p.catch(() => undefined);
    try {
      await p;
    } catch (e) {
      if (!this.stopped) throw e;
    }
  }

  /** Awaits `p` to its end; throws StoppedError if the unit was stopped meanwhile (also when p failed), so nothing after it runs. */
  async step<T>(p: Promise<T> | T): Promise<T> {
    this.check();
    try {
      return await p;
    } finally {
      this.check();
    }
  }

  /** Like step() for a pure wait (nothing to finish): gives up as soon as stop() comes. */
  until<T>(p: Promise<T>): Promise<T> {
    return this.step(Promise.race([p, new Promise<never>((_, reject) => {
      if (this.stopped) reject(new StoppedError());
      this.signal.addEventListener('abort', () => reject(new StoppedError()), { once: true });
    })]));
  }

  check(): void {
    if (this.stopped) throw new StoppedError();
  }

  /**
   * Registers how to release what was just acquired (run after the start has
   * settled, newest first), and optionally how to cut its pending I/O short
   * (run at once on stop). Released at once if already stopped.
   */
  own<T>(thing: T, release: (thing: T) => void | Promise<void>, abort?: (thing: T) => void): T {
    if (this.stopped) {
      void Promise.resolve().then(() => release(thing)).catch((e: Error) => this.log(`while stopping: ${e.message}`));
      throw new StoppedError();
    }
    this.releases.push(() => release(thing));
    if (abort) this.aborts.push(() => abort(thing));
    return thing;
  }

  /** Aborts at once without waiting (for a unit that awaits its start itself); stop() also waits and releases. */
  end(): void {
    if (!this.stopped) this.controller.abort(new StoppedError());
  }

  /** Aborts the start, waits until its pending await has ended, then releases everything it took. */
  async stop(): Promise<void> {
    this.end();
    for (const abort of this.aborts.splice(0)) await this.safely(abort);
    await this.started;
    for (const release of this.releases.splice(0).reverse()) await this.safely(release);
  }

  private async safely(f: Release): Promise<void> {
    try { await f(); } catch (e) { this.log(`while stopping: ${(e as Error).message}`); }
  }
}

export function isStopped(e: unknown): boolean {
  return e instanceof StoppedError;
}
