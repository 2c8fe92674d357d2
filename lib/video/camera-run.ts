// One attempt at watching a camera: the camera's ffmpeg (and its feeder, if
// any) from spawn to exit. Reads the detection frames, the segment list and
// ffmpeg's log; kills ffmpeg when no video came for the stall timeout.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants, existsSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { CameraConfig } from './camera-settings';
import { exitReason } from './ffmpeg';
import type { GrayFrame } from './frame';
import { RawFrameSplitter } from './raw-frames';
import type { Segment, SegmentRing } from './segments';
import { buildCameraCommands, type RunOutputs } from './source';

/** What ffmpeg said about the source stream. */
export interface SourceInfo { codec: string; width: number; height: number }

/** What this attempt reads and writes. */
export interface RunOptions {
  encode: boolean;
  startNumber: number;
  /** Default both (one URL). */
  outputs?: RunOutputs;
  segmentPrefix?: string;
  /** '' = software decoding. */
  hwaccel?: string;
  /** Asked before each segment joins the ring (two runs may write one ring while one takes over): false = dropped. */
  admit?: () => boolean;
}

/** How an attempt ended. */
export interface RunEnd {
  reason: string;
  /** Detection frames it delivered (segments, for a ring-only run): 0 = it never worked. */
  frames: number;
  /** ms from spawn to exit. */
  lasted: number;
  /** Nothing can be retried (ffmpeg or the feeder program is missing). */
  fatal: boolean;
  /** The last of ffmpeg's output, for reasons ours do not cover (a hardware decoder failing). */
  stderr: string;
}

/**
 * Events: 'frame' (GrayFrame), 'segment' (Segment), 'source' (SourceInfo, on
 * the input's stream line), 'end' (RunEnd, once, after every process is gone).
 */
export class CameraRun extends EventEmitter {
  readonly startedAt = Date.now();
  private readonly main: ChildProcess;
  private readonly feeder?: ChildProcess;
  private stderr = '';
  /** An unfinished stderr line. */
  private partial = '';
  private section = '';
  private splitter?: RawFrameSplitter;
  private early: Buffer[] = [];
  private frames = 0;
  private lastActivity = Date.now();
  /** Number of the last segment ffmpeg listed (finished). */
  lastNumber: number;
  private reason?: string;
  private fatalReason?: string;
  private readonly watchdog: NodeJS.Timeout;

  readonly encode: boolean;
  /** Writes detection frames / ring segments. */
  readonly detects: boolean;
  readonly records: boolean;

  constructor(config: CameraConfig, ring: SegmentRing, readBuffer: Buffer, opts: RunOptions) {
    super();
    this.encode = opts.encode;
    this.detects = opts.outputs !== 'ring';
    this.records = opts.outputs !== 'detect';
    this.lastNumber = opts.startNumber - 1;
    const prefix = opts.segmentPrefix ?? 'seg';
    const framesFifo = join(ring.dir, 'frames.fifo');
    const cmds = buildCameraCommands(config, { ...opts, ringDir: ring.dir, framesTo: `file:${framesFifo}` });
    // A feeder (rpicam-vid, the demo scene) writes straight into ffmpeg's stdin: the stream never
    // passes through JavaScript, which would copy every byte and keep Node's heap churning.
    // The FIFO first: if it cannot be made, nothing has been spawned yet.
    const framePipe = this.detects ? openFramePipe(framesFifo, readBuffer, (chunk) => this.onFrameBytes(chunk)) : null;
    const feeder = cmds.feeder ? spawn(cmds.feeder.cmd, cmds.feeder.args, { stdio: ['ignore', 'pipe', 'pipe'] }) : undefined;
    const main = spawn(cmds.main.cmd, cmds.main.args, { stdio: [feeder?.stdout ?? 'ignore', 'ignore', 'pipe', 'pipe'] });
    // Our copy of the pipe's read end: closed, so that the feeder gets EPIPE when ffmpeg goes.
    feeder?.stdout?.destroy();
    this.main = main;
    this.feeder = feeder;
    let pending = feeder ? 2 : 1;
    let code: number | null = null, signal: NodeJS.Signals | null = null;
    // A process that fails to spawn may report both 'error' and 'exit': count each process once.
    const gone = new Set<ChildProcess>();
    const oneGone = (p: ChildProcess) => {
      if (gone.has(p)) return;
      gone.add(p);
      if (--pending > 0) return;
      clearInterval(this.watchdog);
      framePipe?.destroy();
      this.emit('end', this.endOf(code, signal));
    };
    if (feeder) {
      feeder.stderr!.on('data', (b: Buffer) => { this.stderr = (this.stderr + b.toString()).slice(-8000); });
      feeder.once('error', (e: NodeJS.ErrnoException) => {
        this.fatal(e.code === 'ENOENT' ? `${cmds.feeder!.cmd} not found` : e.message);
        oneGone(feeder);
      });
      feeder.once('exit', () => oneGone(feeder));
    }
    main.stderr!.on('data', (b: Buffer) => this.onStderr(b));
    let list = '';
    const addLine = (line: string): Segment | null => {
      if (!opts.admit || opts.admit()) return ring.addListLine(line);
      const name = line.split(',')[0];
      if (name) rmSync(join(ring.dir, name.replace(/^.*\//, '')), { force: true });
      return null;
    };
    (main.stdio[3] as Readable).on('data', (b: Buffer) => {
      list += b.toString();
      let nl: number;
      while ((nl = list.indexOf('\n')) >= 0) {
        const seg = addLine(list.slice(0, nl));
        list = list.slice(nl + 1);
        if (!seg) continue;
        const n = /(\d+)\.ts$/.exec(seg.path);
        if (n) this.lastNumber = Number(n[1]);
        if (!this.detects) this.frames++;
        this.lastActivity = Date.now();
        this.emit('segment', seg satisfies Segment);
      }
    });
    main.once('error', (e: NodeJS.ErrnoException) => {
      this.fatal(e.code === 'ENOENT' ? `ffmpeg not found ("${cmds.main.cmd}"); install ffmpeg or set its path` : e.message);
      oneGone(main);
    });
    main.once('exit', (c, s) => {
      code = c;
      signal = s;
      feeder?.kill('SIGKILL');
      // The segment being written when ffmpeg died was never listed: drop it.
      if (this.records) rmSync(join(ring.dir, `${prefix}${String(this.lastNumber + 1).padStart(9, '0')}.ts`), { force: true });
      oneGone(main);
    });
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastActivity < config.stallTimeoutMs) return;
      this.kill(`no video for ${Math.round(config.stallTimeoutMs / 1000)} s`);
    }, 1000);
    this.watchdog.unref();
  }

  get pids(): number[] {
    return [this.main.pid, this.feeder?.pid].filter((x): x is number => typeof x === 'number');
  }

  /** Ends the attempt; `reason` is what the end will say (if none of ours came first). */
  kill(reason?: string, signal: NodeJS.Signals = 'SIGKILL'): void {
    this.reason ??= reason;
    this.feeder?.kill(signal);
    this.main.kill(signal);
  }

  private fatal(text: string): void {
    this.fatalReason ??= text;
    this.kill(text);
  }

  private endOf(code: number | null, signal: NodeJS.Signals | null): RunEnd {
    const reason = this.fatalReason ?? this.reason ?? (exitReason(this.stderr) ||
      (this.frames > 0 ? 'the stream ended' : signal ? `ffmpeg killed by ${signal}` : `ffmpeg exited with code ${code}`));
    return { reason, frames: this.frames, lasted: Date.now() - this.startedAt, fatal: this.fatalReason !== undefined, stderr: this.stderr };
  }

  private onStderr(b: Buffer): void {
    const text = b.toString();
    this.stderr = (this.stderr + text).slice(-8000);
    // Only whole lines: a size cut in two ("320x1" + "80") must not be read as 320x1.
    const lines = (this.partial + text).split('\n');
    this.partial = (lines.pop() ?? '').slice(-2000);
    for (const line of lines) {
      const sec = /^(Input|Output) #(\d+)/.exec(line);
      if (sec) { this.section = `${sec[1]}${sec[2]}`; continue; }
      const v = /Stream #\d+:\d+.*?: Video: (\w+)(.*)$/.exec(line);
      if (!v) continue;
      const size = /, (\d{2,5})x(\d{2,5})/.exec(v[2]);
      if (this.section === 'Input0') {
        this.emit('source', { codec: v[1], width: size ? Number(size[1]) : 0, height: size ? Number(size[2]) : 0 } satisfies SourceInfo);
      } else if (this.section === 'Output0' && size && this.detects && !this.splitter) {
        this.splitter = new RawFrameSplitter(Number(size[1]), Number(size[2]), (f) => this.onFrame(f));
        for (const chunk of this.early.splice(0)) this.splitter.push(chunk);
      }
    }
  }

  /** b is a view of the reused read buffer: the splitter copies it; what waits must be copied here. */
  private onFrameBytes(b: Buffer): void {
    if (this.splitter) this.splitter.push(b);
    else this.early.push(Buffer.from(b));
  }

  private onFrame(f: GrayFrame): void {
    this.frames++;
    this.lastActivity = Date.now();
    this.emit('frame', f);
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
