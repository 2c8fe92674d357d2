const clock = (t: number) => new Date(t).toLocaleTimeString('en-GB');

/**
 * Which state changes of a retried failure go to the log: the first failure,
 * a different failure, the recovery; while nothing changes, a reminder at
 * most every remindMs; and a state already logged within remindMs (a camera
 * flapping between two errors) is not logged again, only counted. A camera
 * or a login retried for months then writes a line every few minutes, not
 * one per attempt.
 */
export class StateLog {
  private key: string | null = null;
  private since = 0;
  private readonly logged = new Map<string, number>();
  private unlogged = 0;

  constructor(readonly remindMs = 10 * 60_000, private readonly now: () => number = Date.now) {}

  /**
   * Tells the log the state now (key: what makes two states the same, such as
   * "away:Connection refused"). Returns the line to log, or null for none.
   */
  note(key: string, text: string): string | null {
    const t = this.now();
    const changed = key !== this.key;
    if (changed) {
      this.key = key;
      this.since = t;
    }
    for (const [k, at] of this.logged) if (t - at >= this.remindMs) this.logged.delete(k);
    if (this.logged.has(key)) {
      if (changed) this.unlogged++;
      return null;
    }
    this.logged.set(key, t);
    const quiet = this.unlogged ? ` (${this.unlogged} more changes in the last ${Math.round(this.remindMs / 60_000)} min not logged)` : '';
    this.unlogged = 0;
    return changed ? `${text}${quiet}` : `${text} (still so since ${clock(this.since)})${quiet}`;
  }
}
