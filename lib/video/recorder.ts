import { EventEmitter } from 'node:events';
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { MotionEvent } from '../motion/event';
import type { CameraStatus, Clip } from './camera';
import type { Segment } from './segments';
import { clipName, PARTIAL_DIR, type ClipKind } from './clip-names';
import { cameraAway, cameraNotBack, describeFailure, diskFull, isDiskFull, type ClipFailure } from './clip-failure';
import { freeBytes, makeRoom, pruneClips } from './retention';

/** What the recorder needs of a camera (Camera implements it). */
export interface ClipSource {
  readonly status: CameraStatus;
  /** The ring's finished segments: their sizes tell how much room a clip needs. */
  readonly segments?: readonly Segment[];
  on(event: 'status', listener: (s: CameraStatus) => void): unknown;
  off(event: 'status', listener: (s: CameraStatus) => void): unknown;
  hold(from: number): () => void;
  thumbnail(at: number): Promise<Buffer>;
  clip(from: number, to: number, outPath: string, thumbnail?: number | Promise<Buffer>): Promise<Clip>;
}

/** What a record command gets while the camera is away: an error at once, or the clip once the camera is back. */
export type WhenAway = 'error' | 'wait';

export interface RecorderOptions {
  folder: string;
  /** File names start with this (the camera name); also the camera's name in messages. */
  prefix: string;
  preRollMs: number;
  postRollMs: number;
  /** Longest motion clip, pre-roll included. */
  maxLengthMs: number;
  /** Longest clip on command (after the pre-roll). */
  maxCommandMs: number;
  maxBytes: number;
  maxAgeMs: number;
  whenAway: WhenAway;
  /** How long a command waits for the camera to come back ('wait'). */
  awayWaitMs: number;
  /** How often retention runs besides after each clip; 0 = a twentieth of the age limit, 1 s to 10 min. */
  pruneEveryMs: number;
}

export const DEFAULT_RECORDER: Omit<RecorderOptions, 'folder'> = {
  prefix: 'camera',
  preRollMs: 5000,
  postRollMs: 3000,
  maxLengthMs: 60_000,
  maxCommandMs: 300_000,
  maxBytes: 1024 ** 3,
  maxAgeMs: 7 * 24 * 3600_000,
  whenAway: 'error',
  awayWaitMs: 300_000,
  pruneEveryMs: 0,
};

export type JobKind = ClipKind;

/** Who is waiting for a clip: the motion that opened it, or a command (its message). */
export interface Answer<C> { ctx: C; kind: JobKind }

/** ctx and kind are the first answer's (the one the clip is named after). */
export interface ClipReady<C> { clip: Clip; ctx: C; kind: JobKind; answers: Array<Answer<C>>; requestedTo: number }
export interface ClipFailed<C> { error: ClipFailure; ctx: C; kind: JobKind; answers: Array<Answer<C>> }

/** The one clip being recorded. Its end is the later of what the commands asked and what the motion needs. */
interface Take<C> {
  kind: JobKind;
  from: number;
  /** When the interesting part began (thumbnail, file name). */
  began: number;
  answers: Array<Answer<C>>;
  release: () => void;
  /** Made early (about a segment after the take began), so that the clip is ready sooner. */
  thumbnail: Promise<Buffer>;
  commandEnd: number;
  motion: 'none' | 'open' | 'closed';
  /** The motion's cap while it lasts, its end plus post-roll once it ended. */
  motionEnd: number;
  motionCap: number;
  timer: NodeJS.Timeout | null;
}

interface Waiting<C> { seconds: number; ctx: C; timer: NodeJS.Timeout }

const AWAY_STATES = new Set<CameraStatus['state']>(['reconnecting', 'error', 'stopped']);
/** Room a clip needs beyond its segments' bytes (MP4 index, file system blocks). */
const CLIP_SLACK = 256 * 1024;

/**
 * Turns motion events and "record N seconds" commands into clips, one at a
 * time per camera. Motion: `start` opens a clip pre-roll before the motion
 * began, `end` closes it post-roll later (a new `start` during the post-roll
 * continues the same clip); a clip reaching maxLength is cut there and the rest
 * of that motion is not recorded. A command during a clip extends it (up to the
 * command limit) and is answered with it. A clip is written in a hidden
 * subfolder and moved into the folder when complete; a write that fails for
 * lack of space deletes the oldest clips and is tried once more.
 * Events: 'recording' (clips in progress), 'waiting' (commands waiting for the
 * camera), 'clip' (ClipReady), 'failed' (ClipFailed), 'warning' (string).
 * ('failed', not 'error': an EventEmitter throws an 'error' nobody listens to.)
 */
export class Recorder<C = unknown> extends EventEmitter {
  readonly options: RecorderOptions;
  private take: Take<C> | null = null;
  private capped = false;
  private making = 0;
  private running = false;
  private away = false;
  private waiting: Array<Waiting<C>> = [];
  private pruneTimer: NodeJS.Timeout | null = null;

  constructor(private readonly camera: ClipSource, options: Partial<RecorderOptions> & { folder: string }) {
    super();
    this.options = { ...DEFAULT_RECORDER, ...options };
  }

  get active(): number {
    return (this.take ? 1 : 0) + this.making;
  }

  /** Record commands waiting for the camera to come back. */
  get waitingCommands(): number {
    return this.waiting.length;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.away = AWAY_STATES.has(this.camera.status.state);
    this.camera.on('status', this.onStatus);
    mkdirSync(join(this.options.folder, PARTIAL_DIR), { recursive: true });
    this.prune();
    const { pruneEveryMs, maxAgeMs } = this.options;
    const every = pruneEveryMs > 0 ? pruneEveryMs : maxAgeMs > 0 ? Math.min(Math.max(maxAgeMs / 20, 1000), 600_000) : 600_000;
    this.pruneTimer = setInterval(() => this.prune(), every);
    this.pruneTimer.unref();
  }

  stop(): void {
    this.running = false;
    this.camera.off('status', this.onStatus);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    for (const w of this.waiting.splice(0)) clearTimeout(w.timer);
    const t = this.take;
    this.take = null;
    if (t) {
      if (t.timer) clearTimeout(t.timer);
      t.release();
    }
  }

  /** Motion events use the frames' wall clock; anything far off (replayed files) falls back to now. */
  private time(t: number | undefined): number {
    const now = Date.now();
    return typeof t === 'number' && Number.isFinite(t) && Math.abs(t - now) < 120_000 ? t : now;
  }

  motion(ev: MotionEvent, ctx: C): void {
    if (!this.running) return;
    const { preRollMs, maxLengthMs, postRollMs } = this.options;
    if (ev.event === 'start' || ev.event === 'update') {
      if (this.capped) return;
      let t = this.take;
      if (t?.motion === 'open') return; // the motion being recorded goes on
      const began = this.time(ev.startedAt ?? ev.t);
      if (!t) {
        t = this.open('motion', began - preRollMs, began, ctx);
      } else if (t.motion === 'none') {
        // Motion during a command's clip: the clip lasts as long as the motion's own would.
        t.answers.push({ ctx, kind: 'motion' });
        t.motionCap = Math.max(t.from, began - preRollMs) + maxLengthMs;
      }
      // New, joining a command's clip, or again during the post-roll: the clip stays open up to the cap.
      t.motion = 'open';
      t.motionEnd = t.motionCap;
      this.schedule(t);
    } else if (ev.event === 'end') {
      this.capped = false;
      const t = this.take;
      if (t?.motion !== 'open') return;
      t.motion = 'closed';
      t.motionEnd = Math.min(this.time(ev.t) + postRollMs, t.motionCap);
      this.schedule(t);
    }
  }

  /** A clip of the next `seconds`, with the pre-roll before it; during a clip, that clip made longer. */
  record(seconds: number, ctx: C): void {
    if (!this.running) return;
    const { preRollMs, maxCommandMs } = this.options;
    const ms = Math.min(Math.max(1, seconds) * 1000, maxCommandMs);
    const now = Date.now();
    let t = this.take;
    if (!t) {
      if (this.away) {
        if (this.options.whenAway === 'wait') this.wait(seconds, ctx);
        else this.fail(cameraAway(this.options.prefix, this.camera.status), [{ ctx, kind: 'command' }]);
        return;
      }
      t = this.open('command', now - preRollMs, now, ctx);
    } else {
      t.answers.push({ ctx, kind: 'command' });
    }
    t.commandEnd = Math.max(t.commandEnd, Math.min(now + ms, t.from + preRollMs + maxCommandMs));
    this.schedule(t);
  }

  private onStatus = (s: CameraStatus): void => {
    if (s.state === 'watching') {
      this.away = false;
      const back = this.waiting.splice(0);
      for (const w of back) clearTimeout(w.timer);
      for (const w of back) this.record(w.seconds, w.ctx);
      if (back.length) this.emit('waiting', 0);
    } else if (AWAY_STATES.has(s.state)) {
      this.away = true; // 'starting' between two reconnects does not make the camera back
    }
  };

  private wait(seconds: number, ctx: C): void {
    const w: Waiting<C> = {
      seconds, ctx,
      timer: setTimeout(() => {
        this.waiting = this.waiting.filter((x) => x !== w);
        this.emit('waiting', this.waiting.length);
        this.fail(cameraNotBack(this.options.prefix, this.options.awayWaitMs), [{ ctx, kind: 'command' }]);
      }, this.options.awayWaitMs),
    };
    this.waiting.push(w);
    this.emit('waiting', this.waiting.length);
  }

  private open(kind: JobKind, from: number, began: number, ctx: C): Take<C> {
    const thumbnail = this.camera.thumbnail(began);
    thumbnail.catch(() => undefined); // a failure shows when the clip is made
    const t: Take<C> = {
      kind, from, began, answers: [{ ctx, kind }], release: this.camera.hold(from), thumbnail,
      commandEnd: -Infinity, motion: 'none', motionEnd: -Infinity, motionCap: from + this.options.maxLengthMs, timer: null,
    };
    this.take = t;
    this.emit('recording', this.active);
    return t;
  }

  private schedule(t: Take<C>): void {
    if (t.timer) clearTimeout(t.timer);
    const end = Math.max(t.commandEnd, t.motion === 'none' ? -Infinity : t.motionEnd);
    t.timer = setTimeout(() => this.finish(t, end), Math.max(0, end - Date.now()));
  }

  private finish(t: Take<C>, to: number): void {
    if (this.take !== t) return;
    this.take = null;
    if (t.timer) clearTimeout(t.timer);
    if (t.motion === 'open') this.capped = true; // the rest of that motion is not recorded
    this.making++;
    this.emit('recording', this.active);
    this.write(t, to).then(
      (clip) => {
        this.making--;
        if (!this.running) return;
        this.prune(clip.path);
        const first = t.answers[0];
        this.emit('clip', { clip, ctx: first.ctx, kind: first.kind, answers: t.answers, requestedTo: to } satisfies ClipReady<C>);
        this.emit('recording', this.active);
      },
      (error: ClipFailure) => {
        this.making--;
        if (!this.running) return;
        this.fail(error, t.answers);
        this.emit('recording', this.active);
      },
    ).catch((e: Error) => this.emit('warning', `record-clip: ${e.message}`));
  }

  /** The clip written in the partial folder, moved into the folder when complete; one more try after making room on a full disk. */
  private async write(t: Take<C>, to: number): Promise<Clip> {
    const { folder, prefix } = this.options;
    const name = clipName(prefix, t.began, t.kind);
    const final = join(folder, name), part = join(folder, PARTIAL_DIR, name);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          mkdirSync(dirname(part), { recursive: true });
          const clip = await this.camera.clip(t.from, to, part, t.thumbnail);
          renameSync(part, final);
          return { ...clip, path: final };
        } catch (e) {
          removeQuietly(part);
          const error = e as Error;
          const need = this.estimate(t.from, to);
          if (!this.running || !isDiskFull(error, freeBytes(folder), need)) {
            throw describeFailure(error, { folder, camera: prefix, status: this.camera.status });
          }
          const { removed, left } = makeRoom(folder, need);
          // Words for what the owner can do: wait while Mantis still has clips to delete, else make room.
          if (attempt > 0 || !removed.length) throw diskFull(folder, freeBytes(folder), left > 0);
          this.emit('warning', `disk full in ${folder}: removed the ${removed.length} oldest clip(s) to make room`);
        }
      }
    } finally {
      t.release();
    }
  }

  /** Bytes the clip of [from, to] will take: about its segments' (a remux, no re-encode). */
  private estimate(from: number, to: number): number {
    const segs = (this.camera.segments ?? []).filter((s) => s.end > from && s.start < to);
    if (!segs.length) return 0; // no video to write: whatever failed, it was not the space
    let bytes = 0;
    for (const s of segs) {
      try { bytes += statSync(s.path).size; } catch { /* pruned meanwhile */ }
    }
    return bytes + CLIP_SLACK;
  }

  private fail(error: ClipFailure, answers: Array<Answer<C>>): void {
    this.emit('failed', { error, ctx: answers[0].ctx, kind: answers[0].kind, answers } satisfies ClipFailed<C>);
  }

  private prune(keep?: string): void {
    try {
      pruneClips(this.options.folder, { maxBytes: this.options.maxBytes, maxAgeMs: this.options.maxAgeMs }, keep ? [keep] : []);
    } catch (e) {
      this.emit('warning', `record-clip: retention in ${this.options.folder}: ${(e as Error).message}`);
    }
  }
}

function removeQuietly(path: string): void {
  try { rmSync(path, { force: true }); } catch { /* the folder itself is gone or read-only: nothing was left there either */ }
}
