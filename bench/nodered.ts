// Memory of a real Node-RED 5 process (red.js, this Node) with one camera:
// the record-clip example flow (mantis-camera 'test' scene 1280x720 15 fps,
// default settings; camera-in -> motion-detect -> record-clip; the scene's
// figure crosses every 8 s, so clips get made) run for BENCH_NODERED_SECONDS,
// with the whole package installed in <userDir>/node_modules as after
// `npm install` (every Mantis node type loaded, used or not).
// Peak = the kernel's high-water mark VmHWM of the Node-RED process
// (/proc/<pid>/status); steady = median of VmRSS sampled every 0.5 s after a
// warm-up. The camera's ffmpeg is a child process with its own memory,
// reported apart, as is the segment ring in /dev/shm (tmpfs, in no RSS).
// Then, to tell where the peak comes from: Node-RED with an empty flow and no
// Mantis, only the four video nodes, and V8's young generation capped.
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from './run';
import { repoRoot, tempDir } from '../test/helpers/paths';
import { startNodeRedProcess } from '../test/helpers/node-red-process';
import { sleep } from '../test/helpers/processes';

const SECONDS = Number(process.env.BENCH_NODERED_SECONDS ?? 60);
const WARMUP_MS = 15_000;
const VIDEO_NODES = ['mantis-camera', 'camera-in', 'motion-detect', 'record-clip'];

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
export const mb = (kb: number) => Math.round(kb / 102.4) / 10;

/** kB fields of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile, ...); null once the process is gone. */
export function status(pid: number): Record<string, number> | null {
  try {
    const out: Record<string, number> = {};
    for (const m of readFileSync(`/proc/${pid}/status`, 'utf8').matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  } catch { return null; }
}

/**
 * Every live descendant of pid (walks /proc/<p>/task/<t>/children), named by role: the camera's
 * long-lived ffmpeg writes the segment ring ('main'); the 'test' source has a second one that
 * generates and encodes the scene ('feeder', absent with a real camera); the rest are short jobs.
 */
export function descendants(pid: number): Array<{ pid: number; comm: string }> {
  const found: Array<{ pid: number; comm: string }> = [];
  const walk = (p: number) => {
    let tasks: string[] = [];
    try { tasks = readdirSync(`/proc/${p}/task`); } catch { return; }
    for (const t of tasks) {
      let kids = '';
      try { kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8'); } catch { continue; }
      for (const k of kids.split(' ').filter(Boolean).map(Number)) {
        let comm = '?';
        try {
          const args = readFileSync(`/proc/${k}/cmdline`, 'utf8').split('\0');
          comm = args.includes('segment') ? 'main' : args.includes('lavfi') && args.includes('pipe:1') ? 'feeder' : 'job';
        } catch { /* gone */ }
        found.push({ pid: k, comm });
        walk(k);
      }
    }
  };
  walk(pid);
  return found;
}

interface Sample { t: number; rss: number; children: number }
interface RunResult {
  peakKb: number;
  steadyKb: number;
  startKb: number;
  atPeak: Record<string, number>;
  ffmpegPeakKb: number;
  ffmpegSteadyKb: number;
  feederPeakKb: number;
  childrenSumPeakKb: number;
  childPids: number;
  clips: number;
  samples: number;
  ringMaxKb: number;
}

/** The record-clip example flow, as shipped. */
function exampleFlow(): unknown[] {
  return JSON.parse(readFileSync(join(repoRoot, 'examples', 'record-clip.json'), 'utf8')) as unknown[];
}

interface Setup { install: 'package' | 'video-nodes' | 'none'; flow: unknown[]; seconds: number; nodeOptions?: string }

/** du of the camera's segment ring in /dev/shm (tmpfs pages: RAM, but in no process's RSS). */
export function ringKb(pid: number): number {
  let total = 0;
  try {
    for (const d of readdirSync('/dev/shm').filter((n) => n.startsWith(`mantis-ring-${pid}-`))) {
      for (const f of readdirSync(join('/dev/shm', d))) total += statSync(join('/dev/shm', d, f)).blocks * 512;
    }
  } catch { /* no /dev/shm */ }
  return total / 1024;
}

async function measure({ install, flow, seconds, nodeOptions }: Setup): Promise<RunResult> {
  const userDir = tempDir(`bench-nodered-${install}`);
  if (install === 'package') {
    // What `npm install` in the user dir gives: the package, all its node types.
    mkdirSync(join(userDir, 'node_modules', '@mantis-alarm'), { recursive: true });
    symlinkSync(repoRoot, join(userDir, 'node_modules', '@mantis-alarm', 'node-red-mantis'));
  } else if (install === 'video-nodes') {
    mkdirSync(join(userDir, 'nodes'));
    for (const n of VIDEO_NODES) symlinkSync(join(repoRoot, 'dist', 'nodes', n), join(userDir, 'nodes', n));
  }
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flow));
  const { server } = await startNodeRedProcess(userDir, 'node-red', nodeOptions ? { NODE_OPTIONS: nodeOptions } : {});
  const pid = server.pid!;
  const samples: Sample[] = [];
  const childHwm = new Map<number, { comm: string; hwm: number; rss: number[] }>();
  let atPeak: Record<string, number> = {};
  let maxRss = 0;
  let ringMaxKb = 0;
  try {
    const t0 = Date.now();
    while (Date.now() - t0 < seconds * 1000) {
      if (server.exited) throw new Error(`Node-RED exited:\n${server.output}`);
      const s = status(pid);
      if (!s) break;
      let children = 0;
      for (const c of descendants(pid)) {
        const cs = status(c.pid);
        if (!cs) continue;
        const e = childHwm.get(c.pid) ?? { comm: c.comm, hwm: 0, rss: [] };
        e.hwm = Math.max(e.hwm, cs.VmHWM ?? 0);
        e.rss.push(cs.VmRSS ?? 0);
        childHwm.set(c.pid, e);
        children += cs.VmRSS ?? 0;
      }
      ringMaxKb = Math.max(ringMaxKb, ringKb(pid));
      samples.push({ t: Date.now() - t0, rss: s.VmRSS!, children });
      if (s.VmRSS! > maxRss) { maxRss = s.VmRSS!; atPeak = s; }
      await sleep(500);
    }
    const final = status(pid);
    if (!final) throw new Error(`Node-RED gone:\n${server.output}`);
    if (!server.output.includes('Started flows')) throw new Error('flows not started');
    if (/\[error\]/.test(server.output)) process.stderr.write(`bench nodered: Node-RED logged errors:\n${server.output}\n`);
    let clips = 0;
    try { clips = readdirSync(join(userDir, 'mantis-clips')).filter((f) => f.endsWith('.mp4')).length; } catch { /* none */ }
    const cam = [...childHwm.values()].find((c) => c.comm === 'main');
    const feeder = [...childHwm.values()].find((c) => c.comm === 'feeder');
    const steady = samples.filter((x) => x.t >= WARMUP_MS).map((x) => x.rss);
    return {
      peakKb: final.VmHWM!,
      steadyKb: median(steady.length ? steady : samples.map((x) => x.rss)),
      startKb: samples[0]?.rss ?? 0,
      atPeak: { VmRSS: atPeak.VmRSS!, RssAnon: atPeak.RssAnon!, RssFile: atPeak.RssFile!, RssShmem: atPeak.RssShmem! },
      ffmpegPeakKb: cam?.hwm ?? 0,
      ffmpegSteadyKb: cam ? median(cam.rss) : 0,
      feederPeakKb: feeder?.hwm ?? 0,
      childrenSumPeakKb: Math.max(0, ...samples.map((x) => x.children)),
      childPids: childHwm.size,
      clips,
      samples: samples.length,
      ringMaxKb,
    };
  } finally {
    await stopTree(server, userDir);
  }
}

/** Pss and USS (Private_Clean + Private_Dirty: what ending the process would free) in kB. */
export function rollup(pid: number): { pss: number; uss: number } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? 0);
    return { pss: kb('Pss'), uss: kb('Private_Clean') + kb('Private_Dirty') };
  } catch { return { pss: 0, uss: 0 }; }
}

/** Stops a bench's Node-RED process, kills any child it left (by PID) and removes its user dir. */
export async function stopTree(server: { pid?: number; stop(ms: number): Promise<unknown> }, userDir: string): Promise<void> {
  const kids = server.pid ? descendants(server.pid).map((c) => c.pid) : [];
  await server.stop(10_000);
  // A well-behaved camera node stops its ffmpeg on close; kill any straggler by its PID.
  for (const k of kids) { try { process.kill(k, 'SIGKILL'); } catch { /* already gone */ } }
  rmSync(userDir, { recursive: true, force: true });
}

export async function run(report: Report): Promise<void> {
  const common = { nodeVersion: process.version, nodeRed: 'node-red 5, red.js child process', flow: 'examples/record-clip.json' };
  const full = await measure({ install: 'package', flow: exampleFlow(), seconds: SECONDS });
  if (full.clips === 0) throw new Error('no clip was recorded: the flow did not do its job');
  report({
    name: 'nodered_rss_peak_one_camera',
    value: mb(full.peakKb),
    unit: 'MB',
    target: 150,
    how: 'VmHWM of the Node-RED process; whole package installed in <userDir>/node_modules',
    atPeakMB: Object.fromEntries(Object.entries(full.atPeak).map(([k, v]) => [k, mb(v)])),
    afterStartMB: mb(full.startKb),
    clips: full.clips,
    samples: full.samples,
    seconds: SECONDS,
    ...common,
  });
  report({ name: 'nodered_rss_steady_one_camera', value: mb(full.steadyKb), unit: 'MB', how: `median VmRSS (every 0.5 s) after the first ${WARMUP_MS / 1000} s`, seconds: SECONDS, ...common });
  report({
    name: 'ffmpeg_rss_peak_one_camera',
    value: mb(full.ffmpegPeakKb),
    unit: 'MB',
    how: 'VmHWM of the camera ffmpeg (decode, gray frames, segment ring; a child process of Node-RED)',
    testSceneFeederPeakMB: mb(full.feederPeakKb),
    steadyMB: mb(full.ffmpegSteadyKb),
    allChildrenSumPeakMB: mb(full.childrenSumPeakKb),
    childProcessesSeen: full.childPids,
    ringInDevShmMaxMB: mb(full.ringMaxKb),
    seconds: SECONDS,
    ...common,
  });

  // Where the peak comes from: Node-RED alone, only the video nodes, and a smaller young generation.
  const bare = await measure({ install: 'none', flow: [], seconds: 20 });
  report({ name: 'nodered_rss_peak_empty_flow_no_mantis', value: mb(bare.peakKb), unit: 'MB', how: 'VmHWM of Node-RED 5 with an empty flow and no Mantis nodes', steadyMB: mb(bare.steadyKb), seconds: 20, nodeVersion: process.version });
  const video = await measure({ install: 'video-nodes', flow: exampleFlow(), seconds: SECONDS });
  report({
    name: 'nodered_rss_peak_one_camera_video_nodes_only', value: mb(video.peakKb), unit: 'MB', target: 150,
    how: 'VmHWM of the Node-RED process; only the 4 video nodes, in <userDir>/nodes', steadyMB: mb(video.steadyKb), clips: video.clips, seconds: SECONDS, ...common,
  });
  const semi = await measure({ install: 'package', flow: exampleFlow(), seconds: SECONDS, nodeOptions: '--max-semi-space-size=2' });
  report({
    name: 'nodered_rss_peak_one_camera_semi_space_2mb', value: mb(semi.peakKb), unit: 'MB', target: 150,
    how: 'as nodered_rss_peak_one_camera, Node-RED run with NODE_OPTIONS=--max-semi-space-size=2', steadyMB: mb(semi.steadyKb), clips: semi.clips, seconds: SECONDS, ...common,
  });
}
