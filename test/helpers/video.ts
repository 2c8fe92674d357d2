// Video fixtures made by real ffmpeg, and a real HTTP MJPEG camera.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface BarVideo {
  width: number;
  height: number;
  fps: number;
  seconds: number;
  /** Pixels per second the bar moves; x = (t * speed) mod width. */
  speed: number;
}

/**
 * An H.264 file (1 s GOP) of a black picture crossed by a white vertical bar
 * whose x position tells the media time: the ground truth for pre-roll checks.
 */
export function makeBarVideo(path: string, v: BarVideo, profile = 'high'): void {
  const bar = Math.max(4, Math.round(v.width / 40));
  const graph = `color=c=black:s=${v.width}x${v.height}:r=${v.fps}[bg];color=c=white:s=${bar}x${v.height}:r=${v.fps}[bar];` +
    `[bg][bar]overlay=x='mod(t*${v.speed}\\,${v.width})':y=0:eval=frame[out0]`;
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', graph, '-t', String(v.seconds),
    // veryfast, not ultrafast: ultrafast turns every profile into Constrained Baseline.
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', profile, '-pix_fmt', 'yuv420p', '-g', String(v.fps),
    // A fixed 1 s GOP like an IP camera's (no extra keyframes on scene cuts): segments of exactly 1 s.
    '-sc_threshold', '0',
    path,
  ]);
}

/** The column of the brightest vertical line in a gray frame (the bar's left edge, roughly). */
export function barColumn(data: Uint8Array, width: number, height: number): number {
  let best = -1, bestSum = -1;
  for (let x = 0; x < width; x++) {
    let sum = 0;
    for (let y = 0; y < height; y += 4) sum += data[y * width + x];
    if (sum > bestSum) { bestSum = sum; best = x; }
  }
  return best;
}

/** The first frame of a video as gray pixels at the given width. */
export function firstFrameGray(file: string, width: number, height: number): Uint8Array {
  const out = execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-i', file, '-frames:v', '1',
    '-vf', `scale=${width}:${height},format=gray`, '-f', 'rawvideo', 'pipe:1',
  ], { maxBuffer: 64 * 1024 * 1024 });
  return new Uint8Array(out.buffer, out.byteOffset, width * height);
}

export interface Probe {
  codec_name: string;
  profile: string;
  width: number;
  height: number;
  duration: number;
  start_time: number;
}

export function ffprobe(file: string): Probe {
  const out = execFileSync('ffprobe', [
    '-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'stream=codec_name,profile,width,height,start_time:format=duration', '-of', 'json', file,
  ]).toString();
  const j = JSON.parse(out) as { streams: Array<Record<string, string | number>>; format: { duration: string } };
  const s = j.streams[0];
  return {
    codec_name: String(s.codec_name), profile: String(s.profile ?? ''), width: Number(s.width), height: Number(s.height),
    duration: Number(j.format.duration), start_time: Number(s.start_time ?? 0),
  };
}

/** Width and height of a JPEG, from ffprobe reading it on stdin. */
export function jpegSize(jpeg: Buffer): { width: number; height: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', '-f', 'image2pipe', '-i', 'pipe:0'], { input: jpeg }).toString().trim();
  const [w, h] = out.split(',').map(Number);
  return { width: w, height: h };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is gone for our purposes; check its state.
    const stat = execFileSync('cat', [`/proc/${pid}/stat`]).toString();
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/**
 * An HTTP MJPEG camera on 127.0.0.1: every client gets its own ffmpeg
 * encoding a test pattern as multipart JPEGs in real time. stop() drops every
 * client and ffmpeg, like a camera losing power; start() brings it back on the
 * same port.
 */
export class MjpegCamera {
  private server: Server | null = null;
  private children = new Set<ChildProcess>();
  /** HTTP requests served (or refused), over every start(). */
  requests = 0;
  /** An HTTP status to answer instead of video, e.g. 401 for a camera whose login is wrong. */
  refuse: number | null = null;
  private sockets = new Set<Socket>();

  constructor(readonly port: number, private readonly size = '640x360', private readonly fps = 10) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/video.mjpg`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.serve(res));
    server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  private serve(res: ServerResponse): void {
    this.requests++;
    if (this.refuse) {
      res.writeHead(this.refuse, { 'WWW-Authenticate': 'Basic realm="camera"' });
      res.end();
      return;
    }
    const ff = spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=${this.size}:rate=${this.fps}`,
      '-c:v', 'mjpeg', '-q:v', '6', '-f', 'mpjpeg', '-boundary_tag', 'mantisframe', 'pipe:1',
    ], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.children.add(ff);
    ff.once('exit', () => this.children.delete(ff));
    res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace;boundary=mantisframe', 'Cache-Control': 'no-cache' });
    ff.stdout.pipe(res);
    res.on('close', () => ff.kill('SIGKILL'));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    const gone = [...this.children].map((c) => new Promise<void>((r) => {
      if (c.exitCode !== null || c.signalCode !== null) r();
      else { c.once('exit', () => r()); c.kill('SIGKILL'); }
    }));
    await Promise.all(gone);
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

/** node-red-node-test-helper emits 'call:<method>' on a node after each status/error/... call. */
export function onCall(node: unknown, method: 'status' | 'error' | 'warn' | 'send', cb: (args: unknown[]) => void): void {
  (node as { on(ev: string, f: (call: { args: unknown[] }) => void): void }).on(`call:${method}`, (call) => cb(call.args));
}
