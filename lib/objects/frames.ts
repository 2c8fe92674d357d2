// Where object-detect's pictures come from: a short-lived ffmpeg per look, decoding one
// full-resolution frame and cropping/scaling it to the model's size inside ffmpeg (no second
// decode of every frame). From a camera's ring of segments (the node) or a video file (the CLI).
import { spawn } from 'node:child_process';
import type { Box } from '../motion/event';
import { run } from '../video/ffmpeg';
import { drawObjects } from './draw';
import { lookRegion, type CropFrame, type FrameSource } from './stage';
import type { SeenObject } from './types';

/**
 * The model's input side in pixels (the shared detector runs at this size): the crop is scaled to
 * it by ffmpeg. 320 is Frigate's size too: the crop around the motion is already zoomed in, and a
 * look costs half of one at 512.
 */
export const LOOK_SIZE = 320;

type Track = (pid: number, done: boolean) => void;
interface PixelBox { x: number; y: number; w: number; h: number }

function cropSize(region: Box, width: number, height: number, side: number): { px: PixelBox; outW: number; outH: number } {
  const px = { x: Math.round(region.x * width), y: Math.round(region.y * height), w: Math.round(region.w * width), h: Math.round(region.h * height) };
  const k = side / Math.max(px.w, px.h);
  const even = (v: number): number => Math.max(2, Math.round(v / 2) * 2);
  return { px, outW: even(px.w * k), outH: even(px.h * k) };
}

/** Encodes packed RGB to a JPEG with ffmpeg (stdin to stdout). */
export function encodeJpeg(ffmpeg: string, rgb: Uint8Array, width: number, height: number, track?: Track, timeoutMs = 15_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-i', 'pipe:0',
      '-frames:v', '1', '-q:v', '3', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1',
    ], { stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid) track?.(child.pid, false);
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-2000); });
    child.stdin.on('error', () => undefined); // ffmpeg gone early: its exit code says why
    child.once('error', (e) => { clearTimeout(timer); if (child.pid) track?.(child.pid, true); reject(e); });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (child.pid) track?.(child.pid, true);
      const jpeg = Buffer.concat(out);
      if (code === 0 && jpeg.length) resolve(jpeg);
      else reject(new Error(`ffmpeg could not encode the picture: ${err.trim().split('\n').at(-1) ?? `exit ${code}`}`));
    });
    child.stdin.end(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength));
  });
}

/** What CameraFrames needs of a camera (lib/video/camera.ts). */
export interface RgbCamera {
  readonly width: number;
  readonly height: number;
  readonly config: { ffmpegPath: string };
  /** The ring's finished segments (wall-clock ends). */
  readonly segments: ReadonlyArray<{ end: number }>;
  rgbFrame(at: number, crop: PixelBox | null, outW: number, outH: number, track?: Track): Promise<{ rgb: Buffer; t: number }>;
  overlayJpeg(at: number, overlay: Uint8Array, track?: Track): Promise<Buffer>;
}

/**
 * Pictures from a camera's ring (wall-clock times). A look at time t takes the newest finished
 * segment's last frame when that is after the motion began (no waiting), else the frame a little
 * before t (the motion has been going on for the event's minimum duration), once its segment is finished.
 */
export class CameraFrames implements FrameSource {
  private readonly jobs = new Set<number>();

  constructor(private readonly camera: RgbCamera, private readonly side = LOOK_SIZE, private readonly leadMs = 300) {}

  private track: Track = (pid, done) => { if (done) this.jobs.delete(pid); else this.jobs.add(pid); };

  async crop(_camera: string, t: number, boxes: readonly Box[], since?: number): Promise<CropFrame> {
    const { width, height } = this.camera;
    if (!width || !height) throw new Error('the camera has not told its size yet');
    const region = lookRegion(boxes, width, height);
    const { px, outW, outH } = cropSize(region, width, height, this.side);
    // The newest finished segment's last frame, when it already shows the motion: no wait for the next one.
    let want = t - this.leadMs;
    const newest = this.camera.segments.at(-1)?.end ?? -Infinity;
    if (since !== undefined && newest >= since + 100 && newest - 50 < want) want = newest - 50;
    const { rgb, t: at } = await this.camera.rgbFrame(want, px, outW, outH, this.track);
    return { img: { data: rgb, width: outW, height: outH }, region, t: at };
  }

  async annotate(_camera: string, t: number, objects: SeenObject[]): Promise<Buffer> {
    // The boxes on a transparent picture, laid over the frame by the one ffmpeg job that decodes and encodes it.
    const { width, height } = this.camera;
    const overlay = new Uint8Array(width * height * 4);
    drawObjects({ data: overlay, width, height }, objects, 4);
    return this.camera.overlayJpeg(t, overlay, this.track);
  }

  /** Kills its ffmpeg jobs still running (the node's close), also while the camera goes on for others. */
  kill(): void {
    for (const pid of this.jobs) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    this.jobs.clear();
  }

  get pids(): number[] {
    return [...this.jobs];
  }
}

/** Pictures from a video file (media times in ms from its start), for mantis-detect --objects, tests and the benchmark. */
export class FileFrames implements FrameSource {
  constructor(
    private readonly path: string,
    private readonly width: number,
    private readonly height: number,
    private readonly ffmpeg = 'ffmpeg',
    private readonly side = LOOK_SIZE,
  ) {}

  private async rgb(t: number, crop: PixelBox | null, outW: number, outH: number): Promise<Buffer> {
    const filters = [...(crop ? [`crop=${crop.w}:${crop.h}:${crop.x}:${crop.y}`] : []), `scale=${outW}:${outH}:flags=bilinear`, 'format=rgb24'];
    const { stdout } = await run(this.ffmpeg, [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-threads', '1', '-ss', (t / 1000).toFixed(3), '-i', this.path, '-an',
      '-frames:v', '1', '-vf', filters.join(','), '-f', 'rawvideo', 'pipe:1',
    ], 30_000);
    if (stdout.length < outW * outH * 3) throw new Error(`no picture at ${(t / 1000).toFixed(2)} s of ${this.path}`);
    return stdout.subarray(0, outW * outH * 3);
  }

  async crop(_camera: string, t: number, boxes: readonly Box[]): Promise<CropFrame> {
    const region = lookRegion(boxes, this.width, this.height);
    const { px, outW, outH } = cropSize(region, this.width, this.height, this.side);
    return { img: { data: await this.rgb(t, px, outW, outH), width: outW, height: outH }, region, t };
  }

  async annotate(_camera: string, t: number, objects: SeenObject[]): Promise<Buffer> {
    const rgb = await this.rgb(t, null, this.width, this.height);
    drawObjects({ data: rgb, width: this.width, height: this.height }, objects);
    return encodeJpeg(this.ffmpeg, rgb, this.width, this.height);
  }
}
