import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { GrayFrame } from './frame';
import { RawFrameSplitter } from './raw-frames';
import { SegmentRing, type Segment } from './segments';
import { buildCameraCommands, cameraConfig, sourceIsH264, validateCameraConfig, type CameraConfig } from './source';
import { exitReason, run } from './ffmpeg';

export type CameraState = 'stopped' | 'starting' | 'watching' | 'reconnecting' | 'error';
export interface CameraStatus { state: CameraState; text: string }

export interface Snapshot {
  jpeg: Buffer;
  width: number;
  height: number;
  /** Wall-clock ms of the segment the picture comes from (its end). */
  t: number;
}

export interface Clip {
  path: string;
  thumbnail: Buffer;
  /** Seconds: the sum of the joined segments' media durations. */
  duration: number;
  width: number;
  height: number;
  size: number;
  /** Wall-clock ms of the first and last recorded instant. */
  start: number;
  end: number;
}

interface Run {
  main: ChildProcess;
  feeder?: ChildProcess;
  encode: boolean;
  stderr: string;
  /** An unfinished stderr line. */
  partial: string;
  section: string;
  splitter?: RawFrameSplitter;
  early: Buffer[];
  frames: number;
  lastActivity: number;
  lastNumber: number;
  ringDir: string;
  reason?: string;
}

// Ring segments start with a keyframe carrying SPS/PPS: no need to read ahead to learn the stream.
const NO_PROBE = ['-probesize', '32', '-analyzeduration', '0'];

// Messages after which retrying quickly will not help, though the camera may still come back.
const PERMANENT = /404|401|403|Unauthorized|Forbidden|Not Found|Invalid data found|No such file|Permission denied|Protocol not found/i;

/**
 * One camera, one ffmpeg: detection frames out as 'frame' events, the video
 * kept in a ring of short segments for snapshots and clips. Events:
 * 'frame' (GrayFrame), 'status' (CameraStatus), 'segment' (Segment).
 */
export class Camera extends EventEmitter {
  readonly config: CameraConfig;
  status: CameraStatus = { state: 'stopped', text: 'stopped' };
  /** Full-resolution size and codec of the source, once ffmpeg has told us. */
  width = 0;
  height = 0;
  sourceCodec = '';
  private ring: SegmentRing | null = null;
  private readonly readBuffer = Buffer.allocUnsafe(64 * 1024);
  private run: Run | null = null;
  private stopped = true;
  private backoffMs = 1000;
  private retryTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private forceEncode = false;
  private restartNow = false;
  private nextNumber = 0;
  private jobs = new Set<number>();
  private exited: Promise<void> = Promise.resolve();

  constructor(config: Partial<CameraConfig>) {
    super();
    this.config = cameraConfig(config);
  }

  get ringDir(): string | null {
    return this.ring?.dir ?? null;
  }

  get segments(): readonly Segment[] {
    return this.ring?.list ?? [];
  }

  /** PIDs of every process this camera runs now (for leak checks). */
  pids(): number[] {
    const p = [this.run?.main.pid, this.run?.feeder?.pid, ...this.jobs];
    return p.filter((x): x is number => typeof x === 'number');
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.backoffMs = 1000;
    const problem = validateCameraConfig(this.config, existsSync);
    if (problem) {
      this.setStatus('error', problem);
      return;
    }
    const base = this.config.ringDir || defaultRingBase();
    mkdirSync(base, { recursive: true });
    removeStaleRings(base);
    this.ring = new SegmentRing(mkdtempSync(join(base, `mantis-ring-${process.pid}-`)), this.config.keepSeconds * 1000);
    this.watchdog = setInterval(() => this.checkStall(), 1000);
    this.watchdog.unref();
    this.spawnRun();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.retryTimer = this.watchdog = null;
    // Taken out first: a start() during the await below gets a fresh ring and run.
    const r = this.run, ring = this.ring, exited = this.exited;
    this.run = null;
    this.ring = null;
    if (r) {
      r.feeder?.kill('SIGTERM');
      r.main.kill('SIGTERM');
      const kill = setTimeout(() => { r.feeder?.kill('SIGKILL'); r.main.kill('SIGKILL'); }, 2000);
      await exited;
      clearTimeout(kill);
    }
    for (const pid of this.jobs) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    this.jobs.clear();
    if (ring) {
      ring.wakeAll();
      rmSync(ring.dir, { recursive: true, force: true });
    }
    if (this.stopped) this.setStatus('stopped', 'stopped');
  }

  private setStatus(state: CameraState, text: string): void {
    if (this.status.state === state && this.status.text === text) return;
    this.status = { state, text };
    this.emit('status', this.status);
  }

  private spawnRun(): void {
    if (this.stopped || !this.ring) return;
    this.retryTimer = null;
    this.ring.newRun();
    const known = sourceIsH264(this.config);
    const encode = this.config.codec === 'encode' || (this.config.codec === 'auto' && (known === false || this.forceEncode));
    const framesFifo = join(this.ring.dir, 'frames.fifo');
    const cmds = buildCameraCommands(this.config, { ringDir: this.ring.dir, encode, startNumber: this.nextNumber, framesTo: `file:${framesFifo}` });
    this.setStatus('starting', `starting ${this.config.source}`);
    // A feeder (rpicam-vid, the demo scene) writes straight into ffmpeg's stdin: the stream never
    // passes through JavaScript, which would copy every byte and keep Node's heap churning.
    const feeder = cmds.feeder ? spawn(cmds.feeder.cmd, cmds.feeder.args, { stdio: ['ignore', 'pipe', 'pipe'] }) : undefined;
    const framePipe = openFramePipe(framesFifo, this.readBuffer, (chunk) => this.onFrameBytes(r, chunk));
    const main = spawn(cmds.main.cmd, cmds.main.args, { stdio: [feeder?.stdout ?? 'ignore', 'ignore', 'pipe', 'pipe'] });
    // Our copy of the pipe's read end: closed, so that the feeder gets EPIPE when ffmpeg goes.
    feeder?.stdout?.destroy();
    const r: Run = {
      main, feeder, encode, stderr: '', partial: '', section: '', early: [], frames: 0,
      lastActivity: Date.now(), lastNumber: this.nextNumber - 1, ringDir: this.ring.dir,
    };
    this.run = r;
    let resolveExit!: () => void;
    this.exited = new Promise((res) => { resolveExit = res; });
    let pending = feeder ? 2 : 1;
    const oneGone = () => { if (--pending === 0) resolveExit(); };

    if (feeder) {
      feeder.stderr!.on('data', (b: Buffer) => { r.stderr = (r.stderr + b.toString()).slice(-8000); });
      feeder.once('error', (e: NodeJS.ErrnoException) => {
        this.fatal(r, e.code === 'ENOENT' ? `${cmds.feeder!.cmd} not found` : e.message);
        oneGone();
      });
      feeder.once('exit', () => { oneGone(); });
    }
    main.stderr!.on('data', (b: Buffer) => this.onStderr(r, b));
    let list = '';
    (main.stdio[3] as Readable).on('data', (b: Buffer) => {
      list += b.toString();
      let nl: number;
      while ((nl = list.indexOf('\n')) >= 0) {
        const line = list.slice(0, nl);
        list = list.slice(nl + 1);
        const seg = this.ring?.addListLine(line);
        if (seg) {
          const n = /seg(\d+)\.ts$/.exec(seg.path);
          if (n) r.lastNumber = Number(n[1]);
          r.lastActivity = Date.now();
          this.emit('segment', seg);
        }
      }
    });
    main.once('error', (e: NodeJS.ErrnoException) => {
      framePipe.destroy();
      this.fatal(r, e.code === 'ENOENT' ? `ffmpeg not found ("${cmds.main.cmd}"); install ffmpeg or set its path` : e.message);
      oneGone();
    });
    main.once('exit', (code, signal) => { framePipe.destroy(); oneGone(); this.onExit(r, code, signal); });
  }

  /** A failure retrying cannot fix: say so and stay down. */
  private fatal(r: Run, text: string): void {
    if (this.run !== r) return;
    this.run = null;
    r.main.kill('SIGKILL');
    r.feeder?.kill('SIGKILL');
    this.setStatus('error', text);
  }

  private onStderr(r: Run, b: Buffer): void {
    const text = b.toString();
    r.stderr = (r.stderr + text).slice(-8000);
    // Only whole lines: a size cut in two ("320x1" + "80") must not be read as 320x1.
    const lines = (r.partial + text).split('\n');
    r.partial = (lines.pop() ?? '').slice(-2000);
    for (const line of lines) {
      const sec = /^(Input|Output) #(\d+)/.exec(line);
      if (sec) { r.section = `${sec[1]}${sec[2]}`; continue; }
      const v = /Stream #\d+:\d+.*?: Video: (\w+)(.*)$/.exec(line);
      if (!v) continue;
      const size = /, (\d{2,5})x(\d{2,5})/.exec(v[2]);
      if (r.section === 'Input0') {
        this.sourceCodec = v[1];
        if (size) { this.width = Number(size[1]); this.height = Number(size[2]); }
        if (!r.encode && this.config.codec === 'auto' && sourceIsH264(this.config) === null && v[1] !== 'h264') {
          // Copying only pays off for H.264 (what Element and phones play): encode once instead.
          this.forceEncode = true;
          this.restartNow = true;
          r.main.kill('SIGKILL');
        }
      } else if (r.section === 'Output0' && size && !r.splitter) {
        r.splitter = new RawFrameSplitter(Number(size[1]), Number(size[2]), (f) => this.onFrame(r, f));
        for (const chunk of r.early.splice(0)) r.splitter.push(chunk);
      }
    }
  }

  /** b is a view of the reused read buffer: the splitter copies it; what waits must be copied here. */
  private onFrameBytes(r: Run, b: Buffer): void {
    if (r.splitter) r.splitter.push(b);
    else r.early.push(Buffer.from(b));
  }

  private onFrame(r: Run, f: GrayFrame): void {
    if (this.run !== r) return;
    r.frames++;
    r.lastActivity = Date.now();
    if (r.frames === 1) {
      this.backoffMs = 1000;
      this.setStatus('watching', `watching ${this.width}x${this.height}${r.encode ? ' (encoding H.264)' : ''}`);
    }
    this.emit('frame', f);
  }

  private checkStall(): void {
    const r = this.run;
    if (!r || Date.now() - r.lastActivity < this.config.stallTimeoutMs) return;
    r.reason = `no video for ${Math.round(this.config.stallTimeoutMs / 1000)} s`;
    r.main.kill('SIGKILL');
    r.feeder?.kill('SIGKILL');
  }

  private onExit(r: Run, code: number | null, signal: NodeJS.Signals | null): void {
    r.feeder?.kill('SIGKILL');
    // The segment being written when ffmpeg died was never listed: drop it, and number on after it.
    rmSync(join(r.ringDir, `seg${String(r.lastNumber + 1).padStart(9, '0')}.ts`), { force: true });
    this.nextNumber = Math.max(this.nextNumber, r.lastNumber + 2);
    if (this.run !== r) return;
    this.run = null;
    if (this.stopped) return;
    if (this.restartNow) {
      this.restartNow = false;
      this.spawnRun();
      return;
    }
    const reason = r.reason ?? (exitReason(r.stderr) || (r.frames > 0 ? 'the stream ended' : signal ? `ffmpeg killed by ${signal}` : `ffmpeg exited with code ${code}`));
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.config.maxBackoffMs);
    const secs = Math.round(delay / 1000);
    // A stream that worked and broke is a camera gone away; one that never worked may be misconfigured.
    if (r.frames === 0 && PERMANENT.test(reason)) this.setStatus('error', `${reason} (retrying in ${secs}s)`);
    else this.setStatus('reconnecting', `reconnecting in ${secs}s: ${reason}`);
    this.retryTimer = setTimeout(() => this.spawnRun(), delay);
  }

  private track = (pid: number, done: boolean): void => {
    if (done) this.jobs.delete(pid);
    else this.jobs.add(pid);
  };

  /** A full-resolution JPEG of the newest finished segment's last frame. */
  async snapshot(): Promise<Snapshot> {
    const ring = this.ring;
    if (!ring || this.stopped) throw new Error(`camera ${this.config.name} is not running (${this.status.text})`);
    if (!ring.latest) await ring.waitUntilCovered(Date.now() - 60_000, this.config.segmentSeconds * 2000 + 5000);
    const seg = ring.latest;
    if (!seg) throw new Error(`no video from camera ${this.config.name} yet (${this.status.text})`);
    const release = ring.hold(seg.start);
    try {
      // reverse keeps the decoded frames of one segment (about a second) and hands out the last first.
      const { stdout } = await run(this.config.ffmpegPath, [
        '-hide_banner', '-nostdin', '-loglevel', 'error', ...NO_PROBE, '-i', seg.path,
        '-an', '-vf', 'reverse', '-frames:v', '1', '-q:v', '3', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1',
      ], 15_000, this.track);
      if (!stdout.length) throw new Error('ffmpeg produced no picture');
      return { jpeg: stdout, width: this.width, height: this.height, t: seg.end };
    } finally {
      release();
    }
  }

  /** Keeps the ring's video from `from` (wall-clock ms) on until release is called. */
  hold(from: number): () => void {
    return this.ring?.hold(from) ?? (() => undefined);
  }

  /**
   * A small JPEG (at most 640 px wide) of the keyframe opening the first segment
   * that starts at or after `at` (wall-clock ms): the picture just after the
   * motion began, and only one frame to decode. Waits for that segment.
   */
  async thumbnail(at: number): Promise<Buffer> {
    const ring = this.ring;
    if (!ring) throw new Error(`camera ${this.config.name} is not running (${this.status.text})`);
    const release = ring.hold(at - this.config.segmentSeconds * 1000);
    try {
      await ring.waitUntilCovered(at + 1, this.config.segmentSeconds * 3000 + 3000);
      const segs = ring.list.filter((s) => s.end > at && existsSync(s.path));
      const seg = segs.find((s) => s.start >= at) ?? segs.at(-1) ?? ring.latest;
      if (!seg) throw new Error(`no video from camera ${this.config.name} yet (${this.status.text})`);
      const { stdout } = await run(this.config.ffmpegPath, [
        '-hide_banner', '-nostdin', '-loglevel', 'error', ...NO_PROBE, '-i', seg.path,
        '-frames:v', '1', '-vf', "scale='min(640,iw)':-2", '-q:v', '4', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1',
      ], 15_000, this.track);
      return stdout;
    } finally {
      release();
    }
  }

  /**
   * The video between from and to (wall-clock ms), joined from the ring's
   * segments without re-encoding into a faststart MP4 at outPath. Segments
   * start on keyframes, so the clip starts up to one segment before `from`
   * (and ends up to one after `to`). Waits for the segment that reaches `to`
   * to be finished. The thumbnail is made meanwhile, unless one is given
   * (the recorder makes it early, while the motion goes on).
   */
  async clip(from: number, to: number, outPath: string, thumbnail?: number | Promise<Buffer>): Promise<Clip> {
    const ring = this.ring;
    if (!ring) throw new Error(`camera ${this.config.name} is not running (${this.status.text})`);
    const release = ring.hold(from);
    try {
      const thumb = typeof thumbnail === 'object' ? thumbnail : this.thumbnail(thumbnail ?? from);
      thumb.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      await ring.waitUntilCovered(to, this.config.segmentSeconds * 2000 + 3000);
      const segs = ring.overlapping(from, to).filter((s) => existsSync(s.path));
      if (!segs.length) throw new Error(`no video recorded between ${new Date(from).toISOString()} and ${new Date(to).toISOString()} (${this.status.text})`);
      mkdirSync(dirname(outPath), { recursive: true });
      // MPEG-TS segments with running timestamps join byte-wise (concat protocol): one demuxer,
      // one probe, instead of the concat demuxer probing every segment.
      await run(this.config.ffmpegPath, [
        '-hide_banner', '-nostdin', '-loglevel', 'error', ...NO_PROBE, '-i', `concat:${segs.map((s) => s.path).join('|')}`,
        '-map', '0:v:0', '-c', 'copy', '-movflags', '+faststart', '-y', outPath,
      ], 60_000, this.track);
      return {
        path: outPath, thumbnail: await thumb,
        duration: Number(segs.reduce((d, s) => d + s.duration, 0).toFixed(3)),
        width: this.width, height: this.height, size: statSync(outPath).size,
        start: segs[0].start, end: segs.at(-1)!.end,
      };
    } finally {
      release();
    }
  }
}

/** Rings left behind by a Node-RED that was killed (its PID is in the name) hold RAM in /dev/shm. */
function removeStaleRings(base: string): void {
  let names: string[] = [];
  try { names = readdirSync(base); } catch { return; }
  for (const name of names) {
    const m = /^mantis-ring-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(base, name), { recursive: true, force: true });
    }
  }
}

/** RAM-backed when possible: the ring is rewritten every second, which wears SD cards. */
function defaultRingBase(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * The detection frames come through a FIFO read into one reused buffer (net.Socket's onread):
 * a pipe from a child process hands out a new Buffer for every read, and at 5 frames a second
 * those pile up for many seconds before V8 collects them (the JS heap itself is quiet).
 * O_RDWR: the FIFO never reports end-of-file between ffmpeg runs; ffmpeg's exit tells us it ended.
 */
function openFramePipe(fifo: string, buffer: Buffer, onChunk: (chunk: Buffer) => void): Socket {
  if (!existsSync(fifo)) execFileSync('mkfifo', ['-m', '600', fifo]);
  const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  return new Socket({
    fd, readable: true, writable: false,
    onread: { buffer, callback: (n: number, buf: Uint8Array) => { onChunk(Buffer.from(buf.buffer, buf.byteOffset, n)); return true; } },
  });
}
