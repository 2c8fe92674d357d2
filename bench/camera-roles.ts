// Camera roles (`node dist/bench/run.js camera-roles`): 1, 2 and 4 cameras, each
// with a 640x360 detect stream and a 1920x1080 record stream from real RTSP test
// cameras (not counted), in a real Node-RED 5 (mantis-camera -> camera-in ->
// motion-detect). CPU of Node-RED and all its ffmpegs as a ratio to plain
// ffmpegs decoding the detect streams alone (the least any motion detector
// must spend), measured side by side in one run; beside it the floor of any
// recorder (the same decodes plus ffmpegs only copying the record streams to
// /dev/null, no Node). RSS of the whole tree. Node-RED runs as `npm start`
// runs it (--max-semi-space-size=2); all three run at once, over the same window. Then: a clip's delay after its post-roll.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RtspCamera, cameraClip } from '../test/helpers/rtsp';
import { repoRoot, tempDir } from '../test/helpers/paths';
import { startNodeRedProcess } from '../test/helpers/node-red-process';
import { freePort, sleep, waitFor } from '../test/helpers/processes';
import { descendants, mb, median, rollup, stopTree, status } from './nodered';
import { cpuMs as cpuMsOf } from './video';
import type { Report } from './run';
import { Camera } from '../lib/video/camera';
import { Recorder, type ClipReady } from '../lib/video/recorder';

const WARMUP_MS = 10_000;
const WINDOW_MS = Number(process.env.BENCH_ROLES_SECONDS ?? 20) * 1000;

function cpuMs(pid: number): number {
  try { return cpuMsOf(pid); } catch { return 0; }
}

interface Use { cpu: number; rssKb: number; ussKb: number }

/**
 * CPU % of one core, median RSS and USS sums (kB) of each set of `pids()`, all over the same window:
 * the sets run at once, so a shared machine's load falls on them alike.
 */
async function measure<K extends string>(sets: Record<K, () => number[]>): Promise<Record<K, Use>> {
  await sleep(WARMUP_MS);
  const keys = Object.keys(sets) as K[];
  const procs = keys.map((k) => sets[k]());
  const c0 = procs.map((ps) => ps.reduce((s, p) => s + cpuMs(p), 0)), t0 = Date.now();
  const rss: number[][] = keys.map(() => []), uss: number[][] = keys.map(() => []);
  while (Date.now() - t0 < WINDOW_MS) {
    keys.forEach((k, i) => {
      rss[i].push(sets[k]().reduce((s, p) => s + (status(p)?.VmRSS ?? 0), 0));
      uss[i].push(sets[k]().reduce((s, p) => s + rollup(p).uss, 0));
    });
    await sleep(1000);
  }
  const dt = Date.now() - t0;
  return Object.fromEntries(keys.map((k, i) => [k, {
    cpu: ((procs[i].reduce((s, p) => s + cpuMs(p), 0) - c0[i]) / dt) * 100, rssKb: median(rss[i]), ussKb: median(uss[i]),
  }])) as Record<K, Use>;
}

const lean = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-threads', '1', '-rtsp_transport', 'tcp'];
const decodeArgs = (url: string) => [...lean, '-i', url, '-vf', 'fps=5,scale=320:-2:flags=area,format=gray', '-f', 'rawvideo', '-y', '/dev/null'];
const copyArgs = (url: string) => [...lean, '-i', url, '-map', '0:v:0', '-c:v', 'copy', '-f', 'null', '-'];
const ffmpegs = (args: string[][]) => args.map((a) => spawn('ffmpeg', a, { stdio: 'ignore' }));

/**
 * n cameras three ways at once: Mantis with roles in Node-RED (as `npm start` runs it), plain
 * ffmpegs decoding the detect streams alone, and the floor of any recorder (the same decodes plus
 * an ffmpeg per camera only reading the record stream, no Node).
 */
async function sideBySide(n: number, sub: string, main: string): Promise<{ roles: Use; alone: Use; floor: Use }> {
  const userDir = tempDir(`bench-roles-${n}`);
  mkdirSync(join(userDir, 'node_modules', '@mantis-alarm'), { recursive: true });
  symlinkSync(repoRoot, join(userDir, 'node_modules', '@mantis-alarm', 'node-red-mantis'));
  const flow = Array.from({ length: n }, (_, i) => [
    { id: `cfg${i}`, type: 'mantis-camera', name: `camera ${i}`, source: 'rtsp', input: sub, record: main, detectWidth: 320, detectFps: 5 },
    { id: `in${i}`, type: 'camera-in', camera: `cfg${i}`, wires: [[`md${i}`], []] },
    { id: `md${i}`, type: 'motion-detect', wires: [[]] },
  ]).flat();
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flow));
  const { server } = await startNodeRedProcess(userDir, 'node-red', { NODE_OPTIONS: '--max-semi-space-size=2' });
  const pid = server.pid!;
  const alone = ffmpegs(Array.from({ length: n }, () => decodeArgs(sub)));
  const floor = ffmpegs(Array.from({ length: n }, () => [decodeArgs(sub), copyArgs(main)]).flat());
  try {
    const tree = () => [pid, ...descendants(pid).map((d) => d.pid)];
    await waitFor(() => tree().length >= 1 + 2 * n, 30_000, `${2 * n} camera ffmpegs`);
    return await measure({ roles: tree, alone: () => alone.map((k) => k.pid!), floor: () => floor.map((k) => k.pid!) });
  } finally {
    for (const k of [...alone, ...floor]) k.kill('SIGKILL');
    await stopTree(server, userDir);
  }
}

export async function run(report: Report): Promise<void> {
  const main = new RtspCamera(await freePort(), cameraClip('1920x1080', 10));
  const sub = new RtspCamera(await freePort(), cameraClip('640x360', 10));
  await Promise.all([main.start(), sub.start()]);
  const rows: Array<{ cameras: number; ratio: number; floorRatio: number; rolesCpuPercent: number; decodeAloneCpuPercent: number; floorCpuPercent: number; treeRssMB: number; treeUssMB: number }> = [];
  let delays: number[] = [];
  try {
    for (const n of [1, 2, 4]) {
      const { roles, alone, floor } = await sideBySide(n, sub.url, main.url);
      rows.push({ cameras: n, ratio: Number((roles.cpu / alone.cpu).toFixed(2)), floorRatio: Number((floor.cpu / alone.cpu).toFixed(2)),
        rolesCpuPercent: Number(roles.cpu.toFixed(2)), decodeAloneCpuPercent: Number(alone.cpu.toFixed(2)), floorCpuPercent: Number(floor.cpu.toFixed(2)),
        treeRssMB: mb(roles.rssKb), treeUssMB: mb(roles.ussKb) });
    }
    delays = await clipDelays(sub.url, main.url);
  } finally {
    await Promise.all([main.close(), sub.close()]);
  }
  const common = { source: 'RTSP 640x360 detect + 1920x1080 record, 10 fps H.264 each; camera-in -> motion-detect', windowSeconds: WINDOW_MS / 1000, runs: rows };
  for (const r of rows) {
    report({ name: `camera_roles_cpu_ratio_${r.cameras}`, value: r.ratio, unit: 'x ffmpeg decoding the detect streams alone', target: 1.1,
      floorRatio: r.floorRatio, floor: 'the same decodes plus an ffmpeg per camera only reading the record stream (copy to /dev/null): what any recorder spends', ...common });
  }
  report({ name: 'camera_roles_rss_one_camera', value: rows[0].treeRssMB, unit: 'MB', target: 150,
    how: 'RSS sum of Node-RED and its ffmpegs (median; ffmpeg\'s shared libraries counted once per ffmpeg)', treeUssMB: rows[0].treeUssMB, ...common });
  report({ name: 'camera_roles_memory_per_further_camera', value: Number(((rows[2].treeUssMB - rows[0].treeUssMB) / 3).toFixed(1)), unit: 'MB', target: 25,
    how: 'USS sum of the tree (what only those processes hold), (4 cameras - 1) / 3', rssSumPerFurtherCameraMB: Number(((rows[2].treeRssMB - rows[0].treeRssMB) / 3).toFixed(1)), ...common });
  report({ name: 'camera_roles_clip_ready_after_post_roll', value: median(delays), unit: 'ms', target: 1000,
    how: 'record commands of 2 s on a camera with roles (1 s segments): clip on disk minus the end of the video it holds (for a motion clip: the end of its post-roll), median', runs: delays });
}

/**
 * A clip's delay after its post-roll: a camera with roles (1 s segments), record commands of 2 s
 * one after another at random phases; from the moment the clip's video is due (requestedTo: its end, post-roll
 * included) to the clip finished on disk (the segment reaching it closes with the next keyframe).
 */
async function clipDelays(sub: string, main: string, n = 12): Promise<number[]> {
  const folder = tempDir('bench-clip-ready');
  const camera = new Camera({ name: 'bench', source: 'rtsp', input: sub, record: main, detectWidth: 320, detectFps: 5 });
  const recorder = new Recorder<number>(camera, { folder, prefix: 'bench', preRollMs: 1000, postRollMs: 1000 });
  camera.start();
  recorder.start();
  const delays: number[] = [];
  try {
    await waitFor(() => camera.status.state === 'watching' && camera.segments.length >= 3, 30_000, 'the camera recording');
    for (let i = 0; i < n; i++) {
      const ready = new Promise<ClipReady<number>>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no clip in 20 s')), 20_000);
        recorder.once('clip', (c: ClipReady<number>) => { clearTimeout(t); resolve(c); });
      });
      await sleep(Math.random() * 1000); // any phase against the 1 s segments, not the last clip's
      recorder.record(2, i);
      const c = await ready;
      delays.push(Date.now() - c.requestedTo);
    }
  } finally {
    recorder.stop();
    await camera.stop();
    rmSync(folder, { recursive: true, force: true });
  }
  return delays;
}
