import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic-file';

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
 * Events: 'change' (length), 'sent' (item), 'dropped' (item, error), 'retry' (error, delayMs).
 */
export class Outbox<T> extends EventEmitter {
  private files: string[] = [];
  private seq = 0;
  private loaded = false;
  private running = false;
  private pumping = false;
  private timer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly dir: string,
    private readonly send: (item: T) => Promise<void>,
    options: OutboxOptions = {},
  ) {
    super();
    this.minDelayMs = options.minDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    this.delayMs = this.minDelayMs;
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

  /** Stops sending; what is queued stays on disk for the next start(). */
  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Reads what is on disk once, so that an item queued before start() neither replaces nor overtakes an older one. */
  private load(): void {
    if (this.loaded) return;
    mkdirSync(this.dir, { recursive: true });
    this.files = readdirSync(this.dir).filter((f) => /^\d{12}\.json$/.test(f)).sort();
    const last = this.files.at(-1);
    this.seq = last ? Number.parseInt(last, 10) + 1 : 0;
    this.loaded = true;
  }

  async enqueue(item: T): Promise<void> {
    this.load();
    const name = `${String(this.seq++).padStart(12, '0')}.json`;
    writeFileAtomic(join(this.dir, name), encode(item));
    this.files.push(name);
    this.emit('change', this.length);
    this.kick();
  }

  /** Tries the head now instead of waiting out the back-off (e.g. after a reconnect). */
  retryNow(): void {
    this.delayMs = this.minDelayMs;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.kick();
  }

  private kick(): void {
    if (this.running && !this.pumping && !this.timer) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.running && this.files.length) {
        const name = this.files[0]!;
        const file = join(this.dir, name);
        const item = decode<T>(readFileSync(file, 'utf8'));
        try {
          await this.send(item);
          this.emit('sent', item);
        } catch (err) {
          if (!(err instanceof PermanentSendError)) {
            this.scheduleRetry(err);
            return;
          }
          this.emit('dropped', item, err);
        }
        unlinkSync(file);
        this.files.shift();
        this.delayMs = this.minDelayMs;
        this.emit('change', this.length);
      }
    } finally {
      this.pumping = false;
    }
  }

  private scheduleRetry(err: unknown): void {
    if (!this.running) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
    this.emit('retry', err, delay);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, delay);
  }
}
