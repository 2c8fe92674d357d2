// Pictures and clips from a camera's ring of segments: each a short ffmpeg
// job on segments already on disk (no re-encoding of the clips).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CameraConfig } from './camera-settings';
import { run } from './ffmpeg';
import type { SegmentRing } from './segments';

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

// Ring segments start with a keyframe carrying SPS/PPS: no need to read ahead to learn the stream.
const NO_PROBE = ['-probesize', '32', '-analyzeduration', '0'];

export class RingMedia {
  constructor(
    private readonly ring: SegmentRing,
    private readonly config: CameraConfig,
    /** The source's full-resolution size, once known. */
    private readonly size: () => { width: number; height: number },
    /** The camera's status text, for error messages. */
    private readonly why: () => string,
    /** Gets each job's PID, so that a camera shutting down can kill jobs still running. */
    private readonly track: (pid: number, done: boolean) => void,
  ) {}

  /** The last preview and the segment it came from: asked again before a new segment, it costs nothing. */
  private lastPreview: { start: number; jpeg: Buffer } | undefined;

  /**
   * A small JPEG (at most 640 px wide) of the newest finished segment's opening keyframe: one frame
   * to decode, none when the segment has not changed since the last call. For HA's idle picture.
   */
  async preview(): Promise<Buffer> {
    const seg = this.ring.latest;
    if (!seg) throw new Error(`no video from camera ${this.config.name} yet (${this.why()})`);
    if (this.lastPreview?.start === seg.start) return this.lastPreview.jpeg;
    const release = this.ring.hold(seg.start);
    try {
      const { stdout } = await run(this.config.ffmpegPath, [
        '-hide_banner', '-nostdin', '-loglevel', 'error', ...NO_PROBE, '-i', seg.path,
        '-frames:v', '1', '-vf', "scale='min(640,iw)':-2", '-q:v', '5', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1',
      ], 15_000, this.track);
      if (!stdout.length) throw new Error('ffmpeg produced no picture');
      this.lastPreview = { start: seg.start, jpeg: stdout };
      return stdout;
    } finally {
      release();
    }
  }

  /** A full-resolution JPEG of the newest finished segment's last frame. */
  async snapshot(): Promise<Snapshot> {
    const ring = this.ring;
    if (!ring.latest) await ring.waitUntilCovered(Date.now() - 60_000, this.config.segmentSeconds * 2000 + 5000);
    const seg = ring.latest;
    if (!seg) throw new Error(`no video from camera ${this.config.name} yet (${this.why()})`);
    const release = ring.hold(seg.start);
    try {
      // reverse keeps the decoded frames of one segment (about a second) and hands out the last first.
      const { stdout } = await run(this.config.ffmpegPath, [
        '-hide_banner', '-nostdin', '-loglevel', 'error', ...NO_PROBE, '-i', seg.path,
        '-an', '-vf', 'reverse', '-frames:v', '1', '-q:v', '3', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1',
      ], 15_000, this.track);
      if (!stdout.length) throw new Error('ffmpeg produced no picture');
      return { jpeg: stdout, width: this.size().width, height: this.size().height, t: seg.end };
    } finally {
      release();
    }
  }

  /**
   * A small JPEG (at most 640 px wide) of the keyframe opening the first segment
   * that starts at or after `at` (wall-clock ms): the picture just after the
   * motion began, and only one frame to decode. Waits for that segment.
   */
  async thumbnail(at: number): Promise<Buffer> {
    const ring = this.ring;
    const release = ring.hold(at - this.config.segmentSeconds * 1000);
    try {
      await ring.waitUntilCovered(at + 1, this.config.segmentSeconds * 3000 + 3000);
      const segs = ring.list.filter((s) => s.end > at && existsSync(s.path));
      const seg = segs.find((s) => s.start >= at) ?? segs.at(-1) ?? ring.latest;
      if (!seg) throw new Error(`no video from camera ${this.config.name} yet (${this.why()})`);
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
   * One full-resolution frame near `at` (wall-clock ms) as packed RGB, cropped to `crop` (pixels of
   * the source; null = the whole frame) and scaled to outW x outH inside ffmpeg: a short job on
   * the ring segment holding that moment, decoding from its keyframe to the frame and converting
   * only that one. Waits for the segment to be finished (at most about two segments). `track` gets the job's PID too.
   */
  async rgbFrame(
    at: number, crop: { x: number; y: number; w: number; h: number } | null, outW: number, outH: number,
    track?: (pid: number, done: boolean) => void,
  ): Promise<{ rgb: Buffer; t: number }> {
    const filters = [...(crop ? [`crop=${crop.w}:${crop.h}:${crop.x}:${crop.y}`] : []), `scale=${outW}:${outH}:flags=bilinear`, 'format=rgb24'];
    const { out, t } = await this.frameJob(at, track, outW * outH * 3, (path, off) => [
      '-hide_banner', '-nostdin', '-loglevel', 'error', ...NO_PROBE, '-threads', '1', '-i', path, '-an',
      '-ss', off.toFixed(3), '-frames:v', '1', '-vf', filters.join(','), '-f', 'rawvideo', 'pipe:1',
    ]);
    return { rgb: out.subarray(0, outW * outH * 3), t };
  }

  /**
   * A full-resolution JPEG of the frame near `at` with `overlay` (packed RGBA of the source's size,
   * transparent where nothing is drawn) laid over it: one ffmpeg job decodes, overlays and encodes.
   */
  async overlayJpeg(at: number, overlay: Uint8Array, track?: (pid: number, done: boolean) => void): Promise<Buffer> {
    const { width, height } = this.size();
    const { out } = await this.frameJob(at, track, 1, (path, off) => [
      '-hide_banner', '-loglevel', 'error', ...NO_PROBE, '-threads', '1', '-i', path,
      '-f', 'rawvideo', '-pix_fmt', 'rgba', '-s', `${width}x${height}`, '-i', 'pipe:0', '-an',
      '-filter_complex', '[0:v][1:v]overlay=eof_action=repeat:format=auto', '-ss', off.toFixed(3), '-frames:v', '1', '-q:v', '3', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1',
    ], overlay);
    return out;
  }

  /**
   * Runs one job on the ring segment holding `at` (waiting for it to be finished, at most about two
   * segments), `args` given the segment and the offset into it; falls back to the segment's opening
   * keyframe when the offset yields less than `want` bytes. `track` gets the job's PID too.
   */
  private async frameJob(
    at: number, track: ((pid: number, done: boolean) => void) | undefined, want: number,
    args: (path: string, off: number) => string[], input?: Uint8Array,
  ): Promise<{ out: Buffer; t: number }> {
    const ring = this.ring;
    // The caller may kill its own jobs (object-detect's close) while the camera goes on.
    const both = (pid: number, done: boolean): void => { this.track(pid, done); track?.(pid, done); };
    const release = ring.hold(at - this.config.segmentSeconds * 1000);
    try {
      await ring.waitUntilCovered(at, this.config.segmentSeconds * 2000 + 3000);
      const segs = ring.list.filter((s) => existsSync(s.path));
      const seg = segs.find((s) => s.start <= at && s.end > at) ?? segs.at(-1);
      if (!seg) throw new Error(`no video from camera ${this.config.name} yet (${this.why()})`);
      const job = async (off: number): Promise<Buffer> => (input
        ? await run(this.config.ffmpegPath, args(seg.path, off), 15_000, both, input)
        : await run(this.config.ffmpegPath, args(seg.path, off), 15_000, both)).stdout;
      let off = Math.min(Math.max(0, (at - seg.start) / 1000), Math.max(0, seg.duration - 0.15));
      let out = await job(off);
      if (out.length < want && off > 0) {
        // A segment shorter than it said: its keyframe is there for sure.
        off = 0;
        out = await job(off);
      }
      if (out.length < want) throw new Error('ffmpeg produced no picture');
      return { out, t: seg.start + off * 1000 };
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
    const release = ring.hold(from);
    try {
      const thumb = typeof thumbnail === 'object' ? thumbnail : this.thumbnail(thumbnail ?? from);
      thumb.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      await ring.waitUntilCovered(to, this.config.segmentSeconds * 2000 + 3000);
      const segs = ring.overlapping(from, to).filter((s) => existsSync(s.path));
      if (!segs.length) throw new Error(`no video recorded between ${new Date(from).toISOString()} and ${new Date(to).toISOString()} (${this.why()})`);
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
        width: this.size().width, height: this.size().height, size: statSync(outPath).size,
        start: segs[0].start, end: segs.at(-1)!.end,
      };
    } finally {
      release();
    }
  }
}
