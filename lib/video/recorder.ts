import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MotionEvent } from '../motion/event';
import type { Clip } from './camera';
import { pruneClips } from './retention';

/** What the recorder needs of a camera (Camera implements it). */
export interface ClipSource {
  hold(from: number): () => void;
  thumbnail(at: number): Promise<Buffer>;
  clip(from: number, to: number, outPath: string, thumbnail?: number | Promise<Buffer>): Promise<Clip>;
}

export interface RecorderOptions {
  folder: string;
  /** File names start with this (the camera name). */
  prefix: string;
  preRollMs: number;
  postRollMs: number;
  /** Longest motion clip, pre-roll included. */
  maxLengthMs: number;
  /** Longest clip on command. */
  maxCommandMs: number;
  maxBytes: number;
  maxAgeMs: number;
}

export const DEFAULT_RECORDER: Omit<RecorderOptions, 'folder'> = {
  prefix: 'camera',
  preRollMs: 5000,
  postRollMs: 3000,
  maxLengthMs: 60_000,
  maxCommandMs: 300_000,
  maxBytes: 1024 ** 3,
  maxAgeMs: 7 * 24 * 3600_000,
};

export type JobKind = 'motion' | 'command';

interface Job<C> {
  kind: JobKind;
  from: number;
  /** When the interesting part began (thumbnail, file name). */
  began: number;
  ctx: C;
  release: () => void;
  /** Made early (about a segment after the motion began), so that the clip is ready sooner. */
  thumbnail: Promise<Buffer>;
  timer: NodeJS.Timeout | null;
  capTimer: NodeJS.Timeout | null;
}

export interface ClipReady<C> { clip: Clip; ctx: C; kind: JobKind; requestedTo: number }

/**
 * Turns motion events and "record N seconds" commands into clips.
 * Motion: `start` opens a clip pre-roll before the motion began, `end` closes
 * it post-roll later (a new `start` during the post-roll continues the same
 * clip); a clip reaching maxLength is cut there and the rest of that motion
 * is not recorded. Events: 'recording' (number of clips in progress),
 * 'clip' (ClipReady), 'error' ({error, ctx}).
 */
export class Recorder<C = unknown> extends EventEmitter {
  readonly options: RecorderOptions;
  private motionJob: Job<C> | null = null;
  private capped = false;
  private jobs = new Set<Job<C>>();
  private making = 0;
  private running = false;

  constructor(private readonly camera: ClipSource, options: Partial<RecorderOptions> & { folder: string }) {
    super();
    this.options = { ...DEFAULT_RECORDER, ...options };
  }

  get active(): number {
    return this.jobs.size + this.making;
  }

  start(): void {
    this.running = true;
    mkdirSync(this.options.folder, { recursive: true });
    this.prune();
  }

  stop(): void {
    this.running = false;
    for (const j of this.jobs) this.drop(j);
    this.motionJob = null;
  }

  /** Motion events use the frames' wall clock; anything far off (replayed files) falls back to now. */
  private time(t: number | undefined): number {
    const now = Date.now();
    return typeof t === 'number' && Number.isFinite(t) && Math.abs(t - now) < 120_000 ? t : now;
  }

  motion(ev: MotionEvent, ctx: C): void {
    if (!this.running) return;
    if (ev.event === 'start' || ev.event === 'update') {
      if (this.capped) return;
      const job = this.motionJob;
      if (job) {
        // Motion again during the post-roll: keep the clip open.
        if (job.timer) { clearTimeout(job.timer); job.timer = null; }
        return;
      }
      const began = this.time(ev.startedAt ?? ev.t);
      this.motionJob = this.open('motion', began - this.options.preRollMs, began, ctx);
      const cap = this.motionJob.from + this.options.maxLengthMs;
      this.motionJob.capTimer = setTimeout(() => {
        if (!this.motionJob) return;
        this.capped = true;
        this.finish(this.motionJob, cap);
      }, Math.max(0, cap - Date.now()));
    } else if (ev.event === 'end') {
      this.capped = false;
      const job = this.motionJob;
      if (!job) return;
      const to = Math.min(this.time(ev.t) + this.options.postRollMs, job.from + this.options.maxLengthMs);
      if (job.timer) clearTimeout(job.timer);
      job.timer = setTimeout(() => this.finish(job, to), Math.max(0, to - Date.now()));
    }
  }

  /** A clip of the next `seconds`, with the pre-roll before it. */
  record(seconds: number, ctx: C): void {
    if (!this.running) return;
    const now = Date.now();
    const ms = Math.min(Math.max(1, seconds) * 1000, this.options.maxCommandMs);
    const job = this.open('command', now - this.options.preRollMs, now, ctx);
    job.timer = setTimeout(() => this.finish(job, now + ms), ms);
  }

  private open(kind: JobKind, from: number, began: number, ctx: C): Job<C> {
    const thumbnail = this.camera.thumbnail(began);
    thumbnail.catch(() => undefined); // a failure shows when the clip is made
    const job: Job<C> = { kind, from, began, ctx, release: this.camera.hold(from), thumbnail, timer: null, capTimer: null };
    this.jobs.add(job);
    this.emit('recording', this.active);
    return job;
  }

  private drop(job: Job<C>): void {
    if (job.timer) clearTimeout(job.timer);
    if (job.capTimer) clearTimeout(job.capTimer);
    job.timer = job.capTimer = null;
    job.release();
    this.jobs.delete(job);
    if (this.motionJob === job) this.motionJob = null;
  }

  private finish(job: Job<C>, to: number): void {
    if (!this.jobs.has(job)) return;
    this.making++;
    this.drop(job); // the camera holds the segments itself while it joins them
    const file = join(this.options.folder, `${safeName(this.options.prefix)}-${stamp(job.began)}-${job.kind}.mp4`);
    this.camera.clip(job.from, to, file, job.thumbnail).then(
      (clip) => {
        this.making--;
        if (!this.running) return;
        this.prune(file);
        this.emit('clip', { clip, ctx: job.ctx, kind: job.kind, requestedTo: to } satisfies ClipReady<C>);
        this.emit('recording', this.active);
      },
      (error: Error) => {
        this.making--;
        if (!this.running) return;
        this.emit('error', { error, ctx: job.ctx });
        this.emit('recording', this.active);
      },
    );
  }

  private prune(keep?: string): void {
    pruneClips(this.options.folder, { maxBytes: this.options.maxBytes, maxAgeMs: this.options.maxAgeMs }, keep ? [keep] : []);
  }
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[:.]/g, '-').replace('Z', '');
}

function safeName(s: string): string {
  return s.replace(/[^\w-]+/g, '_').slice(0, 40) || 'camera';
}
