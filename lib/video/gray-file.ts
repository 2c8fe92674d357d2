// Reads a video file into small gray frames through ffmpeg, as fast as it decodes.
// Frames are thinned to the detection rate before the scaler (cheaper), and carry
// media time (frame i at i * 1000 / fps ms), so results do not depend on CPU speed.
import { spawn, type ChildProcess } from 'node:child_process';
import type { GrayFrame } from './frame';
import { RawFrameSplitter } from './raw-frames';

export interface GrayFileOptions {
  /** Detection rate, frames per second (default 5). */
  fps?: number;
  /** Frame width in pixels; the height follows the aspect ratio, rounded to even (default 320). */
  width?: number;
  /** Stop after this many seconds of media. */
  duration?: number;
  /** ffmpeg executable (default "ffmpeg" on PATH). */
  ffmpeg?: string;
}

export interface GrayFileInfo { width: number; height: number; frames: number; fps: number }

/** One ffmpeg decoding one file; start() resolves when the file is done, stop() kills it early. */
export class GrayFileReader {
  private child: ChildProcess | null = null;
  private stopped = false;
  readonly fps: number;
  readonly width: number;

  constructor(
    readonly path: string,
    private readonly onFrame: (frame: GrayFrame) => void,
    private readonly opts: GrayFileOptions = {},
  ) {
    this.fps = opts.fps ?? 5;
    this.width = opts.width ?? 320;
    if (!(this.fps > 0 && this.fps <= 240)) throw new RangeError(`fps must be in (0, 240], got ${this.fps}`);
    if (!Number.isInteger(this.width) || this.width < 8 || this.width % 2 !== 0) {
      throw new RangeError(`width must be an even integer >= 8, got ${this.width}`);
    }
  }

  start(): Promise<GrayFileInfo> {
    if (this.child) return Promise.reject(new Error('already started'));
    this.stopped = false;
    const args = ['-nostdin', '-hide_banner', '-loglevel', 'info', '-i', this.path];
    if (this.opts.duration !== undefined) args.push('-t', String(this.opts.duration));
    args.push('-an', '-sn', '-vf', `fps=${this.fps},scale=${this.width}:-2,format=gray`, '-f', 'rawvideo', 'pipe:1');
    const child = spawn(this.opts.ffmpeg ?? 'ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    return new Promise<GrayFileInfo>((resolve, reject) => {
      let stderr = '';
      let splitter: RawFrameSplitter | null = null;
      let frames = 0;
      const early: Buffer[] = [];
      let height = 0;
      // The output size is read from ffmpeg's own report rather than predicted (rotation, odd sizes).
      const sizeFromLog = (): void => {
        if (splitter) return;
        const out = stderr.indexOf('Output #0');
        if (out < 0) return;
        const m = /Stream #\d+:\d+.*?: Video: rawvideo.*?, (\d+)x(\d+)/.exec(stderr.slice(out));
        if (!m) return;
        height = Number(m[2]);
        splitter = new RawFrameSplitter(Number(m[1]), height, (f) => { frames++; this.onFrame(f); }, (i) => (i * 1000) / this.fps);
        for (const b of early.splice(0)) splitter.push(b);
      };
      child.stderr?.on('data', (b: Buffer) => {
        stderr = (stderr + b.toString()).slice(-64_000);
        sizeFromLog();
      });
      child.stdout?.on('data', (b: Buffer) => {
        if (this.stopped) return;
        if (splitter) splitter.push(b);
        else early.push(b);
      });
      child.once('error', (e) => {
        this.child = null;
        reject(new Error(`cannot run ffmpeg: ${e.message}`));
      });
      child.once('close', (code, signal) => {
        this.child = null;
        sizeFromLog();
        if (this.stopped || code === 0) {
          resolve({ width: splitter?.width ?? this.width, height, frames, fps: this.fps });
        } else {
          const tail = stderr.trim().split('\n').slice(-3).join(' | ');
          reject(new Error(`ffmpeg failed on ${this.path} (${signal ?? `exit ${code}`}): ${tail}`));
        }
      });
    });
  }

  stop(): void {
    this.stopped = true;
    this.child?.kill('SIGKILL');
  }
}

/** Reads a whole file, calling onFrame for each frame; resolves with the size and frame count. */
export function readGrayFile(path: string, onFrame: (frame: GrayFrame) => void, opts: GrayFileOptions = {}): Promise<GrayFileInfo> {
  return new GrayFileReader(path, onFrame, opts).start();
}

/** All frames of a (short) file in memory, for tests and benchmarks. */
export async function loadGrayFrames(path: string, opts: GrayFileOptions = {}): Promise<GrayFrame[]> {
  const frames: GrayFrame[] = [];
  await readGrayFile(path, (f) => frames.push(f), opts);
  return frames;
}
