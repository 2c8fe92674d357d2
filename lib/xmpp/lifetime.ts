// One guard per unit: start() paths await a lot (key generation, the stream,
// the server's answers); once stop() was called, whatever such an await
// returns must not make the unit acquire anything (timers, listeners, files).

/** Thrown out of a start path when the unit was stopped while it awaited. */
export class Stopped extends Error {
  constructor() { super('stopped'); this.name = 'Stopped'; }
}

export class Lifetime {
  private readonly ac = new AbortController();

  get signal(): AbortSignal { return this.ac.signal; }
  get ended(): boolean { return this.ac.signal.aborted; }

  end(): void { this.ac.abort(new Stopped()); }

  /** Throws Stopped once end() was called. */
  check(): void { if (this.ac.signal.aborted) throw new Stopped(); }

  /** Awaits p and throws Stopped when the unit ended meanwhile (also when p failed). */
  async step<T>(p: Promise<T> | T): Promise<T> {
    try {
      return await p;
    } finally {
      this.check();
    }
  }
}

export function isStopped(e: unknown): boolean { return e instanceof Stopped; }
