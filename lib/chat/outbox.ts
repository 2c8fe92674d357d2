import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic-file';
import { Backoff } from '../common/backoff';

/** Thrown by a send function for an item that can never be sent (it is dropped, not retried). */
export class PermanentSendError extends Error {}

export interface OutboxOptions {
  /** First retry delay after a failed send. */
  minDelayMs?: number;
  /** Longest retry delay. */
  maxDelayMs?: number;
}

// Binary data would become a JSON array of numbers; base64 keeps a clip's file small.
function encode(item: unknown): string {
  return JSON.stringify(item, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    return raw instanceof Uint8Array ? { $base64: Buffer.from(raw).toString('base64') } : value;
  });
}

function decode<T>(text: string): T {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value && typeof value === 'object' && typeof (value as { $base64?: unknown }).$base64 === 'string') {
      return Buffer.from((value as { $base64: string }).$base64, 'base64');
    }
    return value;
  }) as T;
}

/**
 * A durable first-in first-out queue of messages waiting for a chat server.
 * Each item is one file, written atomically before enqueue() resolves, so an
 * alert survives a crash or a restart. Items go out strictly in order: a send
 * that fails is retried with exponential back-off and nothing overtakes it.
 *
 * A file that cannot be read back (truncated by a power cut) is moved to
 * `bad/` and reported, never a reason to stop: the items behind it go out.
 * After stop() nothing is sent or removed any more; stop() resolves once a
 * send still in flight has settled, so a redeployed outbox on the same folder
 * never races the old one.
 *
 * Events: 'change' (length), 'sent' (item), 'dropped' (item, error), 'retry' (error, delayMs),
 * 'bad' (path it was moved to, error), 'fault' (error: the folder itself failed; retried).
 */
export class Outbox<T> extends EventEmitter {
  private files: string[] = [];
  private seq = 0;
  private loaded = false;
  private running = false;
  private pumping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;

  constructor(
    private readonly dir: string,
    private readonly send: (item: T) => Promise<void>,
    options: OutboxOptions = {},
  ) {
    super();
    this.backoff = new Backoff(options.minDelayMs ?? 1000, options.maxDelayMs ?? 60_000);
  }

  get length(): number {
    return this.files.length;
  }

  /** Loads what an earlier run left behind and starts sending. */
  start(): void {
    this.load();
    this.running = true;
    this.emit('change', this.length);
    this.kick();
  }

  /** Stops sending; what is queued stays on disk for the next start(). Resolves when no send is in flight. */
  stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.pumping ?? Promise.resolve();
  }

  /**
   * Reads what is on disk. Every file is written before enqueue() resolves, so
   * the folder is the truth: an item queued before start() neither replaces
   * nor overtakes an older one, and a second start() sees what others sent.
   */
  private load(): void {
    mkdirSync(this.dir, { recursive: true });
    this.files = readdirSync(this.dir).filter((f) => /^\d{12}\.json$/.test(f)).sort();
    const last = this.files.at(-1);
    this.seq = Math.max(this.seq, last ? Number.parseInt(last, 10) + 1 : 0);
    this.loaded = true;
  }

  async enqueue(item: T): Promise<void> {
    if (!this.loaded) this.load();
    const name = `${String(this.seq++).padStart(12, '0')}.json`;
    writeFileAtomic(join(this.dir, name), encode(item));
    this.files.push(name);
    this.emit('change', this.length);
    this.kick();
  }

  /** Tries the head now instead of waiting out the back-off (e.g. after a reconnect). */
  retryNow(): void {
    this.backoff.reset();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.kick();
  }

  private kick(): void {
    if (!this.running || this.pumping || this.timer || !this.files.length) return;
    this.pumping = this.pump()
      .catch((err: unknown) => {
        // The folder itself failed (permissions, I/O): say so and try again later, never throw.
        this.emit('fault', err);
        this.scheduleRetry(err);
      })
      .finally(() => {
        this.pumping = undefined;
        this.kick(); // an item queued while the last pump was finishing
      });
  }

  private async pump(): Promise<void> {
    while (this.running && this.files.length) {
      const name = this.files[0]!;
      const file = join(this.dir, name);
      const item = this.read(file);
      if (item === undefined) {
        this.files.shift();
        this.emit('change', this.length);
        continue;
      }
      try {
        await this.send(item);
        if (this.running) this.emit('sent', item);
      } catch (err) {
        if (!(err instanceof PermanentSendError)) {
          this.scheduleRetry(err);
          return;
        }
        if (this.running) this.emit('dropped', item, err);
      }
      // Stopped while sending: the item stays on disk for the next start (at worst sent twice, never lost).
      if (!this.running) return;
      removeIfThere(file);
      this.files.shift();
      this.backoff.reset();
      this.emit('change', this.length);
    }
  }

  /** The item in a file, or undefined when the file is unreadable (it is then moved to bad/ and reported). */
  private read(file: string): T | undefined {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // someone else's to answer for
      throw err;
    }
    try {
      return decode<T>(text);
    } catch (err) {
      const badDir = join(this.dir, 'bad');
      const moved = join(badDir, `${Date.now()}-${file.slice(file.lastIndexOf('/') + 1)}`);
      mkdirSync(badDir, { recursive: true });
      renameSync(file, moved);
      this.emit('bad', moved, err);
      return undefined;
    }
  }

  private scheduleRetry(err: unknown): void {
    if (!this.running) return;
    const delay = this.backoff.next();
    this.emit('retry', err, delay);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, delay);
  }
}

function removeIfThere(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
