// Video path figures:
//  1. CPU of the whole camera pipeline (Camera: one ffmpeg decoding, thinning,
//     scaling to gray, segmenting the copied H.264; plus this process splitting
//     frames and running the motion detector on each) on a 1080p 15 fps H.264
//     input played in real time, as a ratio to
//     `ffmpeg -re -i same -f null -` decoding the same input alone. Both run at
//     the same time, side by side, so that they see the same machine load.
//  2. Time from motion end + post-roll to the clip being ready.
//  3. Snapshot time (full-resolution JPEG).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Camera } from '../lib/video/camera';
import { Recorder, type ClipReady } from '../lib/video/recorder';
import { MotionDetector } from '../lib/motion/detector';
import type { GrayFrame } from '../lib/video/frame';
import type { Report } from './run';

const CACHE = process.env.MANTIS_CACHE ?? join(homedir(), '.cache', 'mantis');
const RUNS = Number(process.env.BENCH_VIDEO_RUNS ?? 3);
const WINDOW_MS = Number(process.env.BENCH_VIDEO_SECONDS ?? 20) * 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** A camera-like 1080p 15 fps H.264 stream (1 s GOP, no B-frames), made once and cached. */
function input1080p(): string {
  const dir = join(CACHE, 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'testsrc2-1080p15-20s.mp4');
  if (!existsSync(file)) {
    execFileSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=15', '-t', '20',
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-b:v', '4M',
      '-g', '15', '-pix_fmt', 'yuv420p', `${file}.tmp.mp4`,
    ]);
    execFileSync('mv', [`${file}.tmp.mp4`, file]);
  }
  return file;
}

/** utime + stime of a process in ms (Linux /proc; 100 ticks per second). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks;
}

async function cpuRatioOnce(file: string): Promise<{ ratio: number; camera: number; node: number; decode: number; frames: number }> {
  const decoder = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-stream_loop', '-1', '-re', '-i', file, '-f', 'null', '-'], { stdio: 'ignore' });
  const camera = new Camera({ name: 'bench', source: 'file', input: file });
  const detector = new MotionDetector({});
  let frames = 0;
  camera.on('frame', (f: GrayFrame) => { frames++; detector.push(f); });
  camera.start();
  try {
    await sleep(2000); // past start-up, both in their steady state
    const pids = camera.pids();
    if (!pids.length || !decoder.pid) throw new Error(`camera not running: ${camera.status.text}`);
    const c0 = pids.reduce((s, p) => s + cpuMs(p), 0), d0 = cpuMs(decoder.pid), n0 = process.cpuUsage(), f0 = frames;
    await sleep(WINDOW_MS);
    const c1 = pids.reduce((s, p) => s + cpuMs(p), 0), d1 = cpuMs(decoder.pid), n1 = process.cpuUsage(n0);
    const node = (n1.user + n1.system) / 1000;
    const cam = c1 - c0 + node;
    const dec = d1 - d0;
    return { ratio: cam / dec, camera: cam, node, decode: dec, frames: frames - f0 };
  } finally {
    decoder.kill('SIGKILL');
    await camera.stop();
  }
}

async function clipLatency(file: string, runs: number): Promise<{ readyMs: number[]; snapshotMs: number[] }> {
  const camera = new Camera({ name: 'bench', source: 'file', input: file });
  const folder = join(tmpdir(), `mantis-bench-clips-${process.pid}`);
  const recorder = new Recorder<number>(camera, { folder, prefix: 'bench', preRollMs: 2000, postRollMs: 1000, maxBytes: 200 * 1024 * 1024 });
  const readyMs: number[] = [];
  const snapshotMs: number[] = [];
  camera.start();
  recorder.start();
  try {
    await sleep(4000);
    for (let i = 0; i < runs; i++) {
      const t0 = Date.now();
      await camera.snapshot();
      snapshotMs.push(Date.now() - t0);
      const ready = new Promise<ClipReady<number>>((resolve, reject) => {
        recorder.once('clip', resolve);
        recorder.once('failed', ({ error }: { error: Error }) => reject(error));
      });
      const start = Date.now();
      recorder.motion({ event: 'start', t: start, startedAt: start, score: 0.1, boxes: [], zones: [] }, i);
      // Motion ends at a random phase of the segment clock, as real motion does.
      await sleep(1500 + Math.random() * 1000);
      recorder.motion({ event: 'end', t: Date.now(), startedAt: start, score: 0.1, boxes: [], zones: [] }, i);
      const clip = await ready;
      readyMs.push(Date.now() - clip.requestedTo);
      await sleep(500);
    }
  } finally {
    recorder.stop();
    await camera.stop();
    execFileSync('rm', ['-rf', folder]);
  }
  return { readyMs, snapshotMs };
}

export async function run(report: Report): Promise<void> {
  const file = input1080p();
  const results = [];
  for (let i = 0; i < RUNS; i++) results.push(await cpuRatioOnce(file));
  report({
    name: 'video pipeline CPU / decode-only CPU (1080p 15 fps H.264, real time)',
    value: Number(median(results.map((r) => r.ratio)).toFixed(3)),
    unit: 'ratio',
    target: 1.15,
    runs: results.map((r) => ({ ratio: Number(r.ratio.toFixed(3)), cameraCpuMs: Math.round(r.camera), nodeCpuMs: Math.round(r.node), decodeCpuMs: Math.round(r.decode), frames: r.frames })),
    windowSeconds: WINDOW_MS / 1000,
  });
  const { readyMs, snapshotMs } = await clipLatency(file, Number(process.env.BENCH_VIDEO_CLIPS ?? 7));
  report({
    name: 'clip ready after motion end + post-roll (1080p, 1 s segments)',
    value: median(readyMs),
    unit: 'ms',
    target: 1000,
    runs: readyMs,
  });
  report({
    name: 'snapshot, full-resolution JPEG (1080p)',
    value: median(snapshotMs),
    unit: 'ms',
    target: 300,
    runs: snapshotMs,
  });
}
