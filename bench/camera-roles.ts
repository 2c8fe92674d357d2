// Camera roles (`node dist/bench/run.js camera-roles`): 1, 2 and 4 cameras, each
// with a 640x360 detect stream and a 1920x1080 record stream from real RTSP test
// cameras (not counted), in a real Node-RED 5 (mantis-camera -> camera-in ->
// motion-detect). CPU of Node-RED and all its ffmpegs as a ratio to plain
// ffmpegs decoding the detect streams alone (the least any motion detector
// must spend), measured side by side in one run; RSS of the whole tree.
import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RtspCamera, cameraClip } from '../test/helpers/rtsp';
import { repoRoot, tempDir } from '../test/helpers/paths';
import { startNodeRedProcess } from '../test/helpers/node-red-process';
import { freePort, sleep, waitFor } from '../test/helpers/processes';
import { descendants, mb, median, rollup, stopTree, status } from './nodered';
import { cpuMs as cpuMsOf } from './video';
import type { Report } from './run';

const WARMUP_MS = 10_000;
const WINDOW_MS = Number(process.env.BENCH_ROLES_SECONDS ?? 20) * 1000;

function cpuMs(pid: number): number {
  try { return cpuMsOf(pid); } catch { return 0; }
}

interface Use { cpu: number; rssKb: number; ussKb: number }

/** CPU % of one core, median RSS and USS sums (kB) of `pids()` over the window. */
async function measure(pids: () => number[]): Promise<Use> {
  await sleep(WARMUP_MS);
  const procs = pids();
  const c0 = procs.reduce((s, p) => s + cpuMs(p), 0), t0 = Date.now();
  const rss: number[] = [], uss: number[] = [];
  while (Date.now() - t0 < WINDOW_MS) {
    rss.push(pids().reduce((s, p) => s + (status(p)?.VmRSS ?? 0), 0));
    uss.push(pids().reduce((s, p) => s + rollup(p).uss, 0));
    await sleep(1000);
  }
  const cpu = procs.reduce((s, p) => s + cpuMs(p), 0) - c0;
  return { cpu: (cpu / (Date.now() - t0)) * 100, rssKb: median(rss), ussKb: median(uss) };
}

/** n ffmpegs decoding the detect stream to the same gray frames, and nothing else. */
async function decodeAlone(n: number, url: string): Promise<Use> {
  const kids = Array.from({ length: n }, () => spawn('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-threads', '1', '-rtsp_transport', 'tcp', '-i', url,
    '-vf', 'fps=5,scale=320:-2:flags=area,format=gray', '-f', 'rawvideo', '-y', '/dev/null',
  ], { stdio: 'ignore' }));
  try {
    return await measure(() => kids.map((k) => k.pid!));
  } finally {
    for (const k of kids) k.kill('SIGKILL');
  }
}

async function withRoles(n: number, sub: string, main: string): Promise<Use> {
  const userDir = tempDir(`bench-roles-${n}`);
  mkdirSync(join(userDir, 'node_modules', '@mantis-alarm'), { recursive: true });
  symlinkSync(repoRoot, join(userDir, 'node_modules', '@mantis-alarm', 'node-red-mantis'));
  const flow = Array.from({ length: n }, (_, i) => [
    { id: `cfg${i}`, type: 'mantis-camera', name: `camera ${i}`, source: 'rtsp', input: sub, record: main, detectWidth: 320, detectFps: 5 },
    { id: `in${i}`, type: 'camera-in', camera: `cfg${i}`, wires: [[`md${i}`], []] },
    { id: `md${i}`, type: 'motion-detect', wires: [[]] },
  ]).flat();
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flow));
  const { server } = await startNodeRedProcess(userDir);
  const pid = server.pid!;
  try {
    const tree = () => [pid, ...descendants(pid).map((d) => d.pid)];
    await waitFor(() => tree().length >= 1 + 2 * n, 30_000, `${2 * n} camera ffmpegs`);
    return await measure(tree);
  } finally {
    await stopTree(server, userDir);
  }
}

export async function run(report: Report): Promise<void> {
  const main = new RtspCamera(await freePort(), cameraClip('1920x1080', 10));
  const sub = new RtspCamera(await freePort(), cameraClip('640x360', 10));
  await Promise.all([main.start(), sub.start()]);
  const rows: Array<{ cameras: number; ratio: number; rolesCpuPercent: number; decodeAloneCpuPercent: number; treeRssMB: number; treeUssMB: number }> = [];
  try {
    for (const n of [1, 2, 4]) {
      const alone = await decodeAlone(n, sub.url);
      const roles = await withRoles(n, sub.url, main.url);
      rows.push({ cameras: n, ratio: Number((roles.cpu / alone.cpu).toFixed(2)), rolesCpuPercent: Number(roles.cpu.toFixed(1)),
        decodeAloneCpuPercent: Number(alone.cpu.toFixed(1)), treeRssMB: mb(roles.rssKb), treeUssMB: mb(roles.ussKb) });
    }
  } finally {
    await Promise.all([main.close(), sub.close()]);
  }
  const common = { source: 'RTSP 640x360 detect + 1920x1080 record, 10 fps H.264 each; camera-in -> motion-detect', windowSeconds: WINDOW_MS / 1000, runs: rows };
  for (const r of rows) {
    report({ name: `camera_roles_cpu_ratio_${r.cameras}`, value: r.ratio, unit: 'x ffmpeg decoding the detect streams alone', target: 1.1, ...common });
  }
  report({ name: 'camera_roles_rss_one_camera', value: rows[0].treeRssMB, unit: 'MB', target: 150,
    how: 'RSS sum of Node-RED and its ffmpegs (median; ffmpeg\'s shared libraries counted once per ffmpeg)', treeUssMB: rows[0].treeUssMB, ...common });
  report({ name: 'camera_roles_memory_per_further_camera', value: Number(((rows[2].treeUssMB - rows[0].treeUssMB) / 3).toFixed(1)), unit: 'MB', target: 25,
    how: 'USS sum of the tree (what only those processes hold), (4 cameras - 1) / 3', rssSumPerFurtherCameraMB: Number(((rows[2].treeRssMB - rows[0].treeRssMB) / 3).toFixed(1)), ...common });
}
