// A real RTSP camera on 127.0.0.1: a real ffmpeg streams an H.264 file in a
// loop as RTP, and a small RTSP server process (rtsp-server-child.ts) serves
// it over TCP to any RTSP client, such as the camera's ffmpeg.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, tempDir } from './paths';
import { waitFor } from './processes';

/** A camera-like H.264 file (fixed 1 s GOP, no B-frames), made once and cached. */
export function cameraClip(size = '1280x720', fps = 10): string {
  const dir = join(cacheDir, 'test-video');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `testsrc2-${size}-${fps}fps-10s.mp4`);
  if (!existsSync(file)) {
    execFileSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}`, '-t', '10',
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', String(fps), '-sc_threshold', '0',
      '-pix_fmt', 'yuv420p', '-b:v', '2M', `${file}.tmp.mp4`,
    ]);
    execFileSync('mv', [`${file}.tmp.mp4`, file]);
  }
  return file;
}

const gone = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

function kill(c: ChildProcess | null): Promise<void> {
  if (!c || gone(c)) return Promise.resolve();
  return new Promise<void>((r) => { c.once('exit', () => r()); c.kill('SIGCONT'); c.kill('SIGKILL'); });
}

/**
 * stop() kills server and stream, like a camera losing power; start() brings
 * them back on the same port. freeze() stops the server process (SIGSTOP): its
 * connections stay open but nothing comes, as with a hung camera; thaw() lets it go on.
 */
export class RtspCamera {
  private server: ChildProcess | null = null;
  private feeder: ChildProcess | null = null;
  private readonly dir = tempDir('rtsp');
  /** TCP connections accepted, over every start(). */
  connections = 0;

  constructor(readonly port: number, private readonly file = cameraClip()) {}

  get url(): string {
    return `rtsp://127.0.0.1:${this.port}/stream1`;
  }

  /** PIDs of the server and the stream (for CPU/memory accounting in the bench). */
  pids(): number[] {
    return [this.server?.pid, this.feeder?.pid].filter((p): p is number => typeof p === 'number');
  }

  async start(): Promise<void> {
    const sdp = join(this.dir, 'stream.sdp');
    rmSync(sdp, { force: true });
    const server = spawn(process.execPath, [join(__dirname, 'rtsp-server-child.js'), String(this.port), sdp], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.server = server;
    let udp = '';
    let listening = false;
    let out = '';
    server.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line === 'connection') this.connections++;
        else if (line.startsWith('udp ')) udp = line;
        else if (line === 'listening') listening = true;
      }
    });
    await waitFor(() => udp || gone(server), 10_000, 'the RTSP server');
    if (gone(server)) throw new Error(`RTSP server on port ${this.port} exited`);
    const [, rtpPort, rtcpPort] = udp.split(' ');
    this.feeder = spawn('ffmpeg', [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', this.file,
      '-map', '0:v:0', '-c', 'copy', '-f', 'rtp', '-sdp_file', sdp, `rtp://127.0.0.1:${rtpPort}?rtcpport=${rtcpPort}`,
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitFor(() => listening || gone(server), 10_000, 'the RTSP server to open its port');
    if (gone(server)) throw new Error(`RTSP server on port ${this.port} exited`);
  }

  freeze(): void {
    this.server?.kill('SIGSTOP');
  }

  thaw(): void {
    this.server?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const s = this.server, f = this.feeder;
    this.server = this.feeder = null;
    await Promise.all([kill(s), kill(f)]);
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
