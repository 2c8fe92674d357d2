import { EventEmitter } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
import { StateLog } from '../common/state-log';
import { ConfigError } from '../common/settings';
import { cameraConfig, DEFAULT_CAMERA, type CameraConfig, type CameraSettings } from './camera-settings';
import { CameraRun, type RunEnd, type SourceInfo } from './camera-run';
import type { GrayFrame } from './frame';
import { reachabilityCheck } from './reachable';
import { Reconnect } from './reconnect';
import { openRing } from './ring-dir';
import { RingMedia, type Clip, type Snapshot } from './ring-media';
import type { Segment, SegmentRing } from './segments';
import { RecordStream, type RecordState } from './record-stream';
import { encodeFor, mustLookAtCodec } from './source';

export type { Clip, Snapshot };
export type CameraState = 'stopped' | 'starting' | 'watching' | 'reconnecting' | 'error';
/** A status text's entry in the camera's message catalog (mantis-camera.status.<key>), for nodes that show it translated. */
export interface CameraStatusMessage { key: string; vars?: Record<string, string | number> }
export interface CameraStatus { state: CameraState; text: string; message?: CameraStatusMessage }
/** A line for the log: written on a change of state, not on every retry. */
export interface CameraLog { level: 'info' | 'warn' | 'error'; text: string }

// What ffmpeg says when a hardware decoder is not there or will not start.
const HW_FAILED = /Device creation failed|Device setup failed|No device available for decoder|Unrecognized hwaccel|Error while opening decoder|Failed to (?:initiali[sz]e|create|open) .*(?:device|VAAPI|DRM|hw)/i;

// Messages after which retrying quickly will not help, though the camera may still come back.
const PERMANENT = /404|401|403|Unauthorized|Forbidden|Not Found|Invalid data found|No such file|Permission denied|Protocol not found/i;

/** A run that watched this long was a camera that worked: its end starts the back-off anew. */
const WORKED_MS = 30_000;

const clock = (t: number) => new Date(t).toLocaleTimeString('en-GB').slice(0, 5);

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}

/**
 * One camera, one ffmpeg at a time (camera-run.ts): detection frames out as
 * 'frame' events, the video kept in a ring of short segments for snapshots
 * and clips (ring-media.ts); when the camera goes away it is watched again as
 * soon as it is back (reconnect.ts). Events: 'frame' (GrayFrame), 'status'
 * (CameraStatus), 'segment' (Segment), 'log' (CameraLog).
 */
export class Camera extends EventEmitter {
  readonly config: CameraConfig;
  status: CameraStatus = { state: 'stopped', text: 'stopped' };
  /** Full-resolution size and codec of the source, once ffmpeg has told us. */
  width = 0;
  height = 0;
  sourceCodec = '';
  /** Why the settings cannot work (ConfigError's message), or null. */
  readonly badSetting: string | null = null;
  private ring: SegmentRing | null = null;
  private media: RingMedia | null = null;
  private readonly readBuffer = Buffer.allocUnsafe(64 * 1024);
  private run: CameraRun | null = null;
  private stopped = true;
  /** Aborts the reconnect wait of the current start(). */
  private abort: AbortController | null = null;
  private readonly reconnect: Reconnect;
  private readonly stateLog = new StateLog();
  private forceEncode = false;
  /** With a record stream: the ffmpeg that fills the ring from it (record-stream.ts). */
  private recordStream: RecordStream | null = null;
  /** The hardware decoder failed once: software from then on (until a redeploy). */
  private softwareDecode = false;
  private detectSource = '';
  private restartNow = false;
  private nextNumber = 0;
  private awaySince = 0;
  private jobs = new Set<number>();

  constructor(settings: CameraSettings) {
    super();
    let config: CameraConfig;
    try {
      config = cameraConfig(settings);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      config = { ...DEFAULT_CAMERA, name: typeof settings.name === 'string' && settings.name ? settings.name : DEFAULT_CAMERA.name };
      this.badSetting = e.message;
    }
    this.config = config;
    this.reconnect = new Reconnect(config.maxBackoffMs, reachabilityCheck(config));
  }

  get ringDir(): string | null {
    return this.ring?.dir ?? null;
  }

  get segments(): readonly Segment[] {
    return this.ring?.list ?? [];
  }

  /** Started, but the camera is not delivering video (away, or failing). */
  get away(): boolean {
    return this.status.state === 'reconnecting' || (this.status.state === 'error' && !this.stopped);
  }

  /** PIDs of every process this camera runs now (for leak checks). */
  pids(): number[] {
    return [...(this.run?.pids ?? []), ...(this.recordStream?.pids ?? []), ...this.jobs];
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.badSetting) {
      this.report('error', `bad setting: ${this.badSetting}`, 'error', undefined, undefined, { key: 'badSetting', vars: { error: this.badSetting } });
      return;
    }
    if (this.config.source === 'file' && !existsSync(this.config.input)) {
      this.report('error', `file not found: ${this.config.input}`, 'error', undefined, undefined, { key: 'fileNotFound', vars: { file: this.config.input } });
      return;
    }
    this.abort = new AbortController();
    const ring = this.ring = openRing(this.config);
    this.media = new RingMedia(ring, this.config, () => this, () => this.status.text, this.track);
    this.setStatus('starting', `starting ${this.config.source}`, { key: 'starting', vars: { source: this.config.source } });
    if (this.config.record) this.startRecordStream(ring);
    this.spawnRun();
  }

  private startRecordStream(ring: SegmentRing): void {
    const rec = this.recordStream = new RecordStream(this.config, ring, Buffer.allocUnsafe(0));
    rec.on('source', (info: SourceInfo) => {
      if (info.width > 0) { this.width = info.width; this.height = info.height; }
      this.sourceCodec = info.codec;
    });
    rec.on('segment', (seg: Segment) => this.emit('segment', seg));
    rec.on('state', () => { if (this.status.state === 'watching') this.setStatus('watching', this.watchingText(), this.watchingMessage()); });
    rec.on('log', (l: CameraLog) => this.emit('log', l));
    rec.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.abort = null;
    // Taken out first: a start() during the await below gets a fresh ring and run.
    const run = this.run, ring = this.ring, rec = this.recordStream;
    this.run = null;
    this.ring = this.media = null;
    this.recordStream = null;
    const recGone = rec?.stop();
    if (run) {
      const ended = new Promise((r) => run.once('end', r));
      run.kill(undefined, 'SIGTERM');
      const kill = setTimeout(() => run.kill(undefined, 'SIGKILL'), 2000);
      await ended;
      clearTimeout(kill);
    }
    await recGone;
    for (const pid of this.jobs) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    this.jobs.clear();
    if (ring) {
      ring.wakeAll();
      rmSync(ring.dir, { recursive: true, force: true });
    }
    if (this.stopped) this.setStatus('stopped', 'stopped', { key: 'stopped' });
  }

  private setStatus(state: CameraState, text: string, message?: CameraStatusMessage): void {
    if (this.status.state === state && this.status.text === text) return;
    this.status = message ? { state, text, message } : { state, text };
    this.emit('status', this.status);
  }

  /** A status that the log hears about too, once per change (StateLog), not once per attempt. */
  private report(state: CameraState, text: string, level: CameraLog['level'], key = `${state}:${text}`, line = text, message?: CameraStatusMessage): void {
    this.setStatus(state, text, message);
    const logged = this.stateLog.note(key, line);
    if (logged) this.emit('log', { level, text: logged } satisfies CameraLog);
  }

  private spawnRun(): void {
    const ring = this.ring;
    if (this.stopped || !ring) return;
    const roles = this.config.record !== '';
    if (!roles) ring.newRun();
    const hwaccel = this.softwareDecode ? '' : this.config.hwaccel;
    let run: CameraRun;
    try {
      run = new CameraRun(this.config, ring, this.readBuffer, {
        encode: encodeFor(this.config, this.forceEncode), startNumber: this.nextNumber, outputs: roles ? 'detect' : 'both', hwaccel,
      });
    } catch (e) {
      this.report('error', `cannot start ffmpeg: ${(e as Error).message}`, 'error');
      return;
    }
    this.run = run;
    run.on('frame', (f: GrayFrame) => this.onFrame(run, f));
    run.on('segment', (seg: Segment) => { if (this.run === run) this.emit('segment', seg); });
    run.on('source', (info: SourceInfo) => this.onSource(run, info));
    run.on('end', (end: RunEnd) => this.onEnd(run, end));
  }

  private onSource(run: CameraRun, info: SourceInfo): void {
    this.detectSource = info.width > 0 ? `${info.width}x${info.height}` : '';
    if (!run.records) return; // the record stream's run tells the ring's size
    this.sourceCodec = info.codec;
    if (info.width > 0) { this.width = info.width; this.height = info.height; }
    if (!run.encode && mustLookAtCodec(this.config) && info.codec !== 'h264') {
      // Copying only pays off for H.264 (what Element and phones play): encode once instead.
      this.forceEncode = true;
      this.restartNow = true;
      run.kill();
    }
  }

  private onFrame(run: CameraRun, f: GrayFrame): void {
    if (this.run !== run) return;
    if (this.status.state !== 'watching') {
      const text = this.watchingText();
      const again = this.awaySince ? ` again after ${duration(Date.now() - this.awaySince)} away` : '';
      this.awaySince = 0;
      this.report('watching', text, 'info', 'watching', `${text}${again}`, this.watchingMessage());
    }
    this.emit('frame', f);
  }

  /** The catalog entry of the common watching statuses (one stream, hardware as set); the others stay in words. */
  private watchingMessage(): CameraStatusMessage | undefined {
    if (this.recordStream || this.softwareDecode) return undefined;
    return { key: this.run?.encode ? 'watchingEncode' : 'watching', vars: { size: `${this.width}x${this.height}` } };
  }

  /** The watching status: what is decoded, what the ring records, and anything short of the settings. */
  private watchingText(): string {
    const soft = this.softwareDecode ? ` (software decoding: hwaccel ${this.config.hwaccel} not available)` : '';
    const rec = this.recordStream;
    if (!rec) return `watching ${this.width}x${this.height}${this.run?.encode ? ' (encoding H.264)' : ''}${soft}`;
    const ring: RecordState = rec.state;
    const recording = ring.source === 'none' ? `; ${ring.text}`
      : `, recording ${this.width}x${this.height}${ring.source === 'detect' ? ' (record stream away)' : ''}`;
    return `watching ${this.detectSource || 'detect stream'}${recording}${soft}`;
  }

  private onEnd(run: CameraRun, end: RunEnd): void {
    // The segment being written when ffmpeg died was never listed: number on after it.
    this.nextNumber = Math.max(this.nextNumber, run.lastNumber + 2);
    if (this.run !== run) return;
    this.run = null;
    if (this.stopped) return;
    if (this.restartNow) {
      this.restartNow = false;
      this.spawnRun();
      return;
    }
    if (end.fatal) {
      this.report('error', end.reason, 'error');
      return;
    }
    const hwLine = this.config.hwaccel !== 'none' && !this.softwareDecode && end.frames === 0
      ? end.stderr.split('\n').map((l) => l.replace(/^\[[^\]]+ @ 0x[0-9a-f]+\]\s*/i, '').trim()).find((l) => HW_FAILED.test(l)) : undefined;
    if (hwLine) {
      // Not a camera fault: the same stream is decoded in software at once.
      this.softwareDecode = true;
      this.emit('log', { level: 'warn', text: `hardware decoding (hwaccel ${this.config.hwaccel}) failed: ${hwLine}; decoding in software` } satisfies CameraLog);
      this.setStatus('starting', `hwaccel ${this.config.hwaccel} not available: decoding in software`, { key: 'hwFallback', vars: { hwaccel: this.config.hwaccel } });
      this.spawnRun();
      return;
    }
    if (end.frames > 0 && end.lasted >= WORKED_MS) this.reconnect.worked();
    this.awaySince ||= Date.now();
    const since = clock(this.awaySince);
    // A stream that worked and broke is a camera gone away; one that never worked may be misconfigured.
    if (end.frames === 0 && PERMANENT.test(end.reason)) {
      this.report('error', `${end.reason} (retrying)`, 'error', `error:${end.reason}`,
        `${end.reason}; retrying with a back-off of up to ${duration(this.config.maxBackoffMs)}`);
    } else {
      this.report('reconnecting', `camera away since ${since}: ${end.reason}`, 'warn', `away:${end.reason}`,
        `camera away: ${end.reason}; watching again as soon as it answers`, { key: 'away', vars: { since, reason: end.reason } });
    }
    const signal = this.abort!.signal;
    this.reconnect.wait(run.startedAt, signal).then(() => this.spawnRun(), (e: Error) => {
      if (!signal.aborted) this.report('error', `reconnect failed: ${e.message}`, 'error');
    });
  }

  private track = (pid: number, done: boolean): void => {
    if (done) this.jobs.delete(pid);
    else this.jobs.add(pid);
  };

  private mediaOrThrow(): RingMedia {
    if (!this.media || this.stopped) throw new Error(`camera ${this.config.name} is not running (${this.status.text})`);
    return this.media;
  }

  /** A full-resolution JPEG of the newest finished segment's last frame. */
  snapshot(): Promise<Snapshot> {
    try { return this.mediaOrThrow().snapshot(); } catch (e) { return Promise.reject(e as Error); }
  }

  /** Keeps the ring's video from `from` (wall-clock ms) on until release is called. */
  hold(from: number): () => void {
    return this.ring?.hold(from) ?? (() => undefined);
  }

  /** A small, cheap JPEG of the newest recorded second; see RingMedia.preview. */
  preview(): Promise<Buffer> {
    try { return this.mediaOrThrow().preview(); } catch (e) { return Promise.reject(e as Error); }
  }

  /** A small JPEG of the picture just after `at` (wall-clock ms); see RingMedia.thumbnail. */
  thumbnail(at: number): Promise<Buffer> {
    try { return this.mediaOrThrow().thumbnail(at); } catch (e) { return Promise.reject(e as Error); }
  }

  /** One frame near `at` (wall-clock ms) as packed RGB, cropped and scaled by ffmpeg; see RingMedia.rgbFrame. */
  rgbFrame(
    at: number, crop: { x: number; y: number; w: number; h: number } | null, outW: number, outH: number,
    track?: (pid: number, done: boolean) => void,
  ): Promise<{ rgb: Buffer; t: number }> {
    try { return this.mediaOrThrow().rgbFrame(at, crop, outW, outH, track); } catch (e) { return Promise.reject(e as Error); }
  }

  /** A full-resolution JPEG of the frame near `at` with an RGBA overlay laid over it; see RingMedia.overlayJpeg. */
  overlayJpeg(at: number, overlay: Uint8Array, track?: (pid: number, done: boolean) => void): Promise<Buffer> {
    try { return this.mediaOrThrow().overlayJpeg(at, overlay, track); } catch (e) { return Promise.reject(e as Error); }
  }

  /** The video between from and to (wall-clock ms) as a faststart MP4 at outPath; see RingMedia.clip. */
  clip(from: number, to: number, outPath: string, thumbnail?: number | Promise<Buffer>): Promise<Clip> {
    try { return this.mediaOrThrow().clip(from, to, outPath, thumbnail); } catch (e) { return Promise.reject(e as Error); }
  }
}
