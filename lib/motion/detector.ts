// Motion events from gray frames: the frame analysis plus the start/update/end
// timing (minimum duration, end delay, update rate). Used by the motion-detect
// node and the mantis-detect CLI alike. Time comes only from the frames (GrayFrame.t).
import type { GrayFrame } from '../video/frame';
import type { Box, MotionEvent } from './event';
import { validateConfig, type MotionConfig } from './config';
import { BLOCK, FrameAnalyzer, type BlockState, type FrameAnalysis } from './analyzer';
import { drawOverlay } from './overlay';

/** An event whose moving area has not grown for this long (ms, at most the cap) is settled. */
const SETTLE_MS = 10_000;
/** New area: at least this many blocks moving outside the area the event covered so far. */
const NEW_AREA_BLOCKS = 2;

export class FrameError extends Error {
  override name = 'FrameError';
}

/** Checks a GrayFrame-like value; throws FrameError saying what is wrong. */
export function checkFrame(f: unknown): GrayFrame {
  if (f === null || typeof f !== 'object') throw new FrameError('payload is not a GrayFrame {width, height, data, t}');
  const { width, height, data, t } = f as Partial<GrayFrame>;
  if (!Number.isInteger(width) || !Number.isInteger(height) || (width as number) < 1 || (height as number) < 1) {
    throw new FrameError(`frame width/height must be positive integers, got ${String(width)}x${String(height)}`);
  }
  if (!(data instanceof Uint8Array)) throw new FrameError('frame data must be a Uint8Array or Buffer of gray8 pixels');
  if (data.length !== (width as number) * (height as number)) {
    throw new FrameError(`frame data has ${data.length} bytes, expected ${width}x${height} = ${(width as number) * (height as number)}`);
  }
  if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t))) throw new FrameError('frame t must be a number (ms)');
  return f as GrayFrame;
}

export class MotionDetector {
  readonly config: MotionConfig;
  private readonly analyzer: FrameAnalyzer;
  private active = false;
  /** First frame of candidate motion (before `start`), or of the event. */
  private since = -1;
  private lastMotion = -1;
  private lastUpdate = -1;
  private lastT = -Infinity;
  /** The time between frames, smoothed: each frame stands for that much time. */
  private frameGap = 0;
  private peak = 0;
  private zoneBits = 0;
  private lastBoxes: Box[] = [];
  /** Blocks the current event (or candidate) moved in, and when that area last grew. */
  private area = new Uint8Array(0);
  private grewAt = -1;
  /** The analysis of the last frame, for status displays and tuning. */
  last: FrameAnalysis | null = null;

  /** @param config partial settings over the defaults; throws ConfigError when invalid. */
  constructor(config: unknown = {}, readonly camera?: string) {
    this.config = validateConfig(config);
    this.analyzer = new FrameAnalyzer(this.config);
  }

  get inMotion(): boolean { return this.active; }

  /** Moved and learned blocks of the last frame (debug view). */
  get blocks(): BlockState { return this.analyzer.blocks; }

  /** The frame with what the detector saw drawn over it (motion blocks, learned mask, row light, boxes, zones, event state). */
  debugFrame(frame: GrayFrame): Uint8Array {
    return drawOverlay(frame, {
      blocks: this.analyzer.blocks,
      blockPx: BLOCK * this.analyzer.downscale,
      rowPx: this.analyzer.downscale,
      boxes: this.last?.kind === 'ok' ? this.last.boxes : [],
      zones: this.config.zones,
      inMotion: this.active,
    });
  }

  /** Forgets the learned repetitive motion (the "reset mask" command); events go on. */
  resetMask(): void { this.analyzer.resetMask(); }

  /**
   * Forgets background and timing. Returns an `end` event when motion was going on,
   * so that whoever listens is not left with an event that never ends.
   */
  reset(t = this.lastT): MotionEvent[] {
    const out: MotionEvent[] = [];
    if (this.active) out.push(this.event('end', Number.isFinite(t) ? t : this.lastMotion, this.peak));
    this.analyzer.reset();
    this.active = false;
    this.since = -1;
    this.lastMotion = -1;
    this.peak = 0;
    this.zoneBits = 0;
    this.lastBoxes = [];
    this.lastT = -Infinity;
    return out;
  }

  /** Feeds one frame; returns the events it causes (usually none). */
  push(frame: GrayFrame): MotionEvent[] {
    const t = frame.t;
    let out: MotionEvent[] = [];
    // A clock that jumps back (camera restarted, file looped) or a new frame size starts afresh.
    if (t < this.lastT || (this.analyzer.frameWidth !== 0 && (frame.width !== this.analyzer.frameWidth || frame.height !== this.analyzer.frameHeight))) {
      out = this.reset();
    }
    if (Number.isFinite(this.lastT) && t > this.lastT) {
      const gap = t - this.lastT;
      this.frameGap = this.frameGap === 0 ? gap : this.frameGap + (gap - this.frameGap) * 0.1;
    }
    this.lastT = t;
    const a = this.analyzer.analyze(frame.data, frame.width, frame.height, t);
    this.last = a;
    if (a.kind !== 'ok') return out; // no evidence either way
    const cfg = this.config;
    const grewBefore = this.grewAt;
    const grew = a.motion ? this.growArea(t) : false;
    if (this.active && cfg.maxEventDuration > 0) {
      const settled = t - grewBefore >= Math.min(SETTLE_MS, cfg.maxEventDuration);
      if (settled && grew) {
        // Event cap, new place: something moves where the long, settled event never did. It is a new event.
        out.push(this.event('end', t, this.peak));
        this.active = false;
        this.since = -1;
      } else if (settled && t - this.since >= cfg.maxEventDuration) {
        // Event cap: too long, and nothing new moved for a while (flicker, rain): end it, relearn the background.
        out.push(this.event('end', t, this.peak));
        this.active = false;
        this.since = -1;
        this.analyzer.relearn();
        return out;
      }
    }
    if (a.motion) {
      if (this.since < 0 || (!this.active && t - this.lastMotion > cfg.minDuration)) {
        // New candidate (an earlier one that went quiet for longer than minDuration is dropped).
        this.since = t;
        this.peak = 0;
        this.zoneBits = 0;
        this.area.fill(0);
        this.growArea(t);
      }
      this.lastMotion = t;
      this.peak = Math.max(this.peak, a.score);
      this.zoneBits |= a.zoneBits;
      this.lastBoxes = a.boxes;
      if (!this.active) {
        // Half a frame's worth of slack: at 5 fps, three frames 390 ms apart by the wall clock are the 400 ms they stand for.
        if (t - this.since + this.frameGap / 2 >= cfg.minDuration) {
          this.active = true;
          this.lastUpdate = t;
          out.push(this.event('start', t, a.score));
        }
      } else if (cfg.updateInterval > 0 && t - this.lastUpdate >= cfg.updateInterval) {
        this.lastUpdate = t;
        out.push(this.event('update', t, a.score));
      }
    } else if (this.active && t - this.lastMotion >= cfg.endDelay) {
      out.push(this.event('end', t, this.peak));
      this.active = false;
      this.since = -1;
    } else if (!this.active && this.since >= 0 && t - this.lastMotion > cfg.minDuration) {
      this.since = -1;
    }
    return out;
  }

  /** Adds the blocks moving now to the event's area; true when that was new area. */
  private growArea(t: number): boolean {
    const { moved } = this.analyzer.blocks;
    if (this.area.length !== moved.length) this.area = new Uint8Array(moved.length);
    const area = this.area;
    let fresh = 0;
    for (let b = 0; b < moved.length; b++) {
      if (moved[b] && !area[b]) { area[b] = 1; fresh++; }
    }
    if (fresh < NEW_AREA_BLOCKS) return false;
    this.grewAt = t;
    return true;
  }

  private event(kind: MotionEvent['event'], t: number, score: number): MotionEvent {
    const zones: string[] = [];
    this.config.zones.forEach((z, i) => { if (this.zoneBits & (1 << i)) zones.push(z.name); });
    const ev: MotionEvent = { event: kind, t, startedAt: this.since, score, boxes: this.lastBoxes, zones };
    if (kind === 'end') ev.lastMotionAt = this.lastMotion;
    if (this.camera !== undefined) ev.camera = this.camera;
    return ev;
  }
}
