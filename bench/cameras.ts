// Per-camera cost and reconnect times (`node dist/bench/run.js cameras`):
//  1. A real Node-RED 5 process (red.js, the whole package installed) with 1,
//     2 and 4 RTSP cameras (720p 10 fps H.264, stream copy; each
//     mantis-camera -> camera-in -> motion-detect), all reading one real RTSP
//     test camera (test/helpers/rtsp.ts, not counted). CPU of Node-RED and the
//     camera ffmpegs as % of one core; memory as their USS
//     (/proc/PID/smaps_rollup Private_Clean + Private_Dirty: what only that
//     process holds; the ~43 MB of ffmpeg's shared libraries are in memory
//     once however many ffmpegs map them, yet a sum of RSS counts them once
//     per ffmpeg), and for comparison their Pss and RSS sums. A further
//     camera costs one camera ffmpeg plus (4 cameras - 1 camera) / 3 of
//     Node-RED's growth, from its lowest sample (after a collection).
//  2. Time from a camera coming back to the next detection frame: an HTTP
//     MJPEG server that returns after 4 s away, an RTSP server that returns,
//     an RTSP server that froze (SIGSTOP) until the camera was marked away, then goes on.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Camera } from '../lib/video/camera';
import { MjpegCamera } from '../test/helpers/video';
import { RtspCamera } from '../test/helpers/rtsp';
import { repoRoot, tempDir } from '../test/helpers/paths';
import { startNodeRedProcess } from '../test/helpers/node-red-process';
import { freePort, sleep, waitFor } from '../test/helpers/processes';
import { descendants, mb, median, rollup, stopTree, ringKb, status } from './nodered';
import { cpuMs as cpuMsOf } from './video';
import type { Report } from './run';

const WARMUP_MS = 15_000;
const WINDOW_MS = Number(process.env.BENCH_CAMERAS_SECONDS ?? 30) * 1000;
const RUNS = Number(process.env.BENCH_RECONNECT_RUNS ?? 3);

/** CPU ms of a process; 0 once it is gone. */
function cpuMs(pid: number): number {
  try { return cpuMsOf(pid); } catch { return 0; }
}

function camerasFlow(n: number, url: string): unknown[] {
  return Array.from({ length: n }, (_, i) => [
    { id: `cfg${i}`, type: 'mantis-camera', name: `camera ${i}`, source: 'rtsp', input: url, detectWidth: 320, detectFps: 5, codec: 'auto' },
    { id: `in${i}`, type: 'camera-in', camera: `cfg${i}`, wires: [[`md${i}`], []] },
    { id: `md${i}`, type: 'motion-detect', wires: [[]] },
  ]).flat();
}

interface Cost { cameras: number; cpuPercent: number; ussKb: number; nodeRedUssFloorKb: number; pssKb: number; rssKb: number; nodeRedUssKb: number; ffmpegUssKb: number[]; ffmpegPssKb: number[]; ringKb: number }

async function costOf(n: number, url: string): Promise<Cost> {
  const userDir = tempDir(`bench-cameras-${n}`);
  mkdirSync(join(userDir, 'node_modules', '@mantis-alarm'), { recursive: true });
  symlinkSync(repoRoot, join(userDir, 'node_modules', '@mantis-alarm', 'node-red-mantis'));
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(camerasFlow(n, url)));
  const { server } = await startNodeRedProcess(userDir);
  const pid = server.pid!;
  try {
    const mains = () => descendants(pid).filter((d) => d.comm === 'main').map((d) => d.pid);
    await waitFor(() => mains().length === n, 30_000, `${n} camera ffmpegs`).catch((e: Error) => { throw new Error(`${e.message}\n${server.output}`); });
    await sleep(WARMUP_MS);
    const procs = [pid, ...mains()];
    if (procs.length !== n + 1) throw new Error(`a camera ffmpeg was restarted during the warm-up:\n${server.output}`);
    const c0 = procs.reduce((s, p) => s + cpuMs(p), 0), t0 = Date.now();
    const uss: number[] = [], pss: number[] = [], rss: number[] = [], nodeUss: number[] = [], ring: number[] = [];
    const ffUss = new Map<number, number[]>(), ffPss = new Map<number, number[]>();
    while (Date.now() - t0 < WINDOW_MS) {
      let u = 0, p = 0, r = 0;
      for (const q of procs) {
        const s = status(q);
        if (!s) throw new Error(`process ${q} ended during the measurement:\n${server.output}`);
        const m = rollup(q);
        u += m.uss;
        p += m.pss;
        r += s.VmRSS ?? 0;
        if (q === pid) nodeUss.push(m.uss);
        else {
          ffUss.set(q, [...(ffUss.get(q) ?? []), m.uss]);
          ffPss.set(q, [...(ffPss.get(q) ?? []), m.pss]);
        }
      }
      uss.push(u);
      pss.push(p);
      rss.push(r);
      ring.push(ringKb(pid));
      await sleep(1000);
    }
    const cpu = procs.reduce((s, q) => s + cpuMs(q), 0) - c0;
    return {
      cameras: n,
      cpuPercent: (cpu / (Date.now() - t0)) * 100,
      ussKb: median(uss), nodeRedUssFloorKb: Math.min(...nodeUss), pssKb: median(pss), rssKb: median(rss), nodeRedUssKb: median(nodeUss),
      ffmpegUssKb: [...ffUss.values()].map(median), ffmpegPssKb: [...ffPss.values()].map(median),
      ringKb: median(ring),
    };
  } finally {
    await stopTree(server, userDir);
  }
}

interface Server { start(): Promise<void>; stop(): Promise<void>; url: string }

/** ms from the camera being back (server restarted or thawed) to the next detection frame. */
async function backAfter(camera: Camera, away: () => Promise<void>, back: () => Promise<void>): Promise<number> {
  let lastFrame = 0;
  const onFrame = () => { lastFrame = Date.now(); };
  camera.on('frame', onFrame);
  try {
    await waitFor(() => camera.status.state === 'watching' && lastFrame > 0, 30_000, 'watching');
    await away();
    await waitFor(() => camera.status.state !== 'watching', 40_000, 'the camera away');
    await sleep(3000 + Math.random() * 2000); // away for a while, at a random phase of any back-off
    await back();
    const t = Date.now();
    await waitFor(() => lastFrame > t, 60_000, 'frames again');
    return lastFrame - t;
  } finally {
    camera.off('frame', onFrame);
  }
}

async function reconnectTimes(kind: 'http' | 'rtsp' | 'rtsp-frozen'): Promise<number[]> {
  const port = await freePort();
  const server: Server & { freeze?: () => void; thaw?: () => void; close?: () => Promise<void> } = kind === 'http' ? new MjpegCamera(port, '1280x720') : new RtspCamera(port);
  await server.start();
  const camera = new Camera({ name: kind, source: kind === 'http' ? 'http' : 'rtsp', input: server.url });
  camera.start();
  const times: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      times.push(kind === 'rtsp-frozen'
        ? await backAfter(camera, async () => server.freeze!(), async () => server.thaw!())
        : await backAfter(camera, () => server.stop(), () => server.start()));
    }
  } finally {
    await camera.stop();
    await (server.close ?? server.stop).call(server);
  }
  return times;
}

export async function run(report: Report): Promise<void> {
  const rtsp = new RtspCamera(await freePort());
  await rtsp.start();
  const costs: Cost[] = [];
  try {
    for (const n of [1, 2, 4]) costs.push(await costOf(n, rtsp.url));
  } finally {
    await rtsp.close();
  }
  const [one, , four] = costs as [Cost, Cost, Cost];
  const detail = costs.map((c) => ({
    cameras: c.cameras, cpuPercent: Number(c.cpuPercent.toFixed(1)), ussSumMB: mb(c.ussKb), pssSumMB: mb(c.pssKb), rssSumMB: mb(c.rssKb),
    nodeRedUssMB: mb(c.nodeRedUssKb), nodeRedUssFloorMB: mb(c.nodeRedUssFloorKb), ffmpegUssMB: c.ffmpegUssKb.map(mb), ffmpegPssMB: c.ffmpegPssKb.map(mb), ringInDevShmMB: mb(c.ringKb),
  }));
  const nodeRedGrowth = (four.nodeRedUssFloorKb - one.nodeRedUssFloorKb) / 3;
  const common = { source: 'RTSP 1280x720 10 fps H.264, stream copy; camera-in -> motion-detect each', windowSeconds: WINDOW_MS / 1000, runs: detail };
  report({
    name: 'cameras_cpu_per_camera', value: Number(((four.cpuPercent - one.cpuPercent) / 3).toFixed(1)), unit: '% of one core',
    how: 'CPU of Node-RED + camera ffmpegs, (4 cameras - 1) / 3', oneCameraPercent: Number(one.cpuPercent.toFixed(1)), ...common,
  });
  report({
    name: 'cameras_memory_per_further_camera', value: mb(median(four.ffmpegUssKb) + nodeRedGrowth), unit: 'MB', target: 25,
    how: 'USS (Private_Clean + Private_Dirty, smaps_rollup) of a camera ffmpeg (median) + the growth of Node-RED\'s USS floor ' +
      '(its lowest sample, just after a garbage collection: the median moves by +-20 MB with the collector), (4 cameras - 1) / 3; the ring in /dev/shm apart',
    ffmpegUssMB: mb(median(four.ffmpegUssKb)), nodeRedGrowthPerCameraMB: mb(nodeRedGrowth),
    ussSumPerFurtherCameraMB: mb((four.ussKb - one.ussKb) / 3), pssSumPerFurtherCameraMB: mb((four.pssKb - one.pssKb) / 3),
    rssSumPerFurtherCameraMB: mb((four.rssKb - one.rssKb) / 3),
    ringPerCameraMB: mb(four.ringKb / 4), ...common,
  });
  for (const kind of ['http', 'rtsp', 'rtsp-frozen'] as const) {
    const times = await reconnectTimes(kind);
    report({
      name: `camera_back_${kind.replace('-', '_')}`, value: median(times), unit: 'ms', target: 2000, runs: times,
      how: kind === 'rtsp-frozen'
        ? 'RTSP server stopped (SIGSTOP) until the camera is marked away, 3-5 s more, then SIGCONT: ms to the next detection frame'
        : `${kind === 'http' ? 'HTTP MJPEG 1280x720' : 'RTSP 1280x720 H.264'} server gone 3-5 s after the camera is marked away, then back on the same port: ms to the next detection frame`,
    });
  }
}
