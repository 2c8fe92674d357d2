// object-detect's cost and quality (the model alone: bench/objects.ts): a live camera (file source, real time) with motion-detect and
// the object stage wired as the node wires them (lib/objects, the shared model in its worker), and
// the CLI's core over the test clips.
// - CPU seconds spent on objects per minute of continuous motion: this process (the model's worker
//   thread included) plus its finished ffmpeg jobs (the crops), with the stage minus without it, on
//   the same looped footage of people walking; and the same on a still picture (idle: must be 0).
// - Time from motion-detect's start to the enriched start (the node's output), per event.
// - Quality: per clip, intervals with people caught, false person events.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Report } from './run';
import { Camera } from '../lib/video/camera';
import type { GrayFrame } from '../lib/video/frame';
import { MotionDetector } from '../lib/motion/detector';
import type { MotionEvent } from '../lib/motion/event';
import { CameraFrames, LOOK_SIZE } from '../lib/objects/frames';
import { objectSettings } from '../lib/objects/settings';
import { ObjectStage, type ObjectEvent } from '../lib/objects/stage';
import { acquireDetector } from '../lib/objects/shared-detector';
import { detectObjectsInFile } from '../lib/objects/detect-file';
import { waitFor } from '../test/helpers/processes';
import { alternating, appleClip, brightnessClip, TREE, VTEST } from '../test/helpers/object-clips';

const exec = promisify(execFile);
const TICK = 100;

/** CPU ms of this process (all threads) and of its children that ended. */
function cpuMs(): number {
  const u = process.cpuUsage();
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // Fields 16/17 of stat (cutime, cstime) are 14/15 after the ")": clock ticks of 10 ms.
  return (u.user + u.system) / 1000 + (Number(f[13]) + Number(f[14])) * 10;
}

interface LiveRun { cpuMs: number; seconds: number; looks: number; motionStarts: number; latencies: number[]; enriched: number; cropMs: number[]; modelMs: number[]; pictureMs: number[]; load: number }

/** A camera playing `file` for `seconds` (after a warm-up), motion detection, and the object stage when `objects`. */
async function live(file: string, seconds: number, objects: boolean): Promise<LiveRun> {
  const camera = new Camera({ name: 'bench', source: 'file', input: file, width: 0, height: 0, fps: 0, detectWidth: 320, detectFps: 5 });
  const detector = new MotionDetector({ minArea: 0.003, minDuration: 400, endDelay: 2000, updateInterval: 1000 }, 'bench');
  const handle = objects ? acquireDetector({ inputSize: LOOK_SIZE }) : null;
  if (handle) await handle.ready();
  const frames = new CameraFrames(camera);
  const started = new Map<number, number>(); // event start (startedAt) -> wall time motion-detect said so
  const r: LiveRun = { cpuMs: 0, seconds, looks: 0, motionStarts: 0, latencies: [], enriched: 0, cropMs: [], modelMs: [], pictureMs: [], load: 0 };
  let measuring = false;
  // The phases of a look, timed: the frame from the ring (waiting for its segment included), the model, the boxed picture.
  const timed = <T>(into: number[], p: Promise<T>): Promise<T> => {
    const t0 = Date.now();
    return p.then((v) => { if (measuring) into.push(Date.now() - t0); return v; });
  };
  const source = {
    crop: (c: string, t: number, b: Parameters<CameraFrames['crop']>[2], since?: number) => timed(r.cropMs, frames.crop(c, t, b, since)),
    annotate: (c: string, t: number, o: Parameters<CameraFrames['annotate']>[2]) => timed(r.pictureMs, frames.annotate(c, t, o)),
  };
  const model = handle && { detect: (img: Parameters<typeof handle.detect>[0], o: Parameters<typeof handle.detect>[1]) => timed(r.modelMs, handle.detect(img, o)) };
  const stage = handle && model ? new ObjectStage(objectSettings({ interval: 700, maxLooks: 20 }), model, source, (e: ObjectEvent) => {
    if (!measuring || e.event !== 'start') return;
    r.enriched++;
    const at = started.get(e.startedAt);
    if (at !== undefined) r.latencies.push(Date.now() - at);
  }) : null;
  const push = (ev: MotionEvent): void => {
    if (ev.event === 'start' && measuring) { r.motionStarts++; started.set(ev.startedAt, Date.now()); }
    stage?.push(ev).catch(() => undefined);
  };
  camera.on('frame', (f: GrayFrame) => { for (const ev of detector.push(f)) push(ev); });
  const timer = setInterval(() => { for (const c of stage?.openCameras ?? []) stage!.lookIfDue(c, Date.now()).catch(() => undefined); }, TICK);
  camera.start();
  try {
    await waitFor(() => camera.segments.length >= 3, 30_000, 'the camera');
    measuring = true;
    const looks0 = stage?.stats.looks ?? 0;
    const c0 = cpuMs();
    await new Promise((res) => setTimeout(res, seconds * 1000));
    r.cpuMs = cpuMs() - c0;
    r.load = loadavg()[0]!;
    r.looks = (stage?.stats.looks ?? 0) - looks0;
  } finally {
    measuring = false;
    clearInterval(timer);
    stage?.close();
    frames.kill();
    await camera.stop();
    handle?.release();
  }
  return r;
}

const median = (xs: number[]): number => xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN;

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-objects-'));
  try {
    const measure = 'CPU of the process (model worker included) and its finished ffmpeg jobs, with the object stage minus without, same footage';
    // Continuous motion: people walking, looped.
    const withObjects = await live(VTEST, 30, true);
    const without = await live(VTEST, 30, false);
    report({
      name: 'objects_cpu_s_per_motion_minute',
      value: Number(((withObjects.cpuMs - without.cpuMs) / 1000 * (60 / withObjects.seconds)).toFixed(2)),
      unit: 's/min',
      looks_per_min: Math.round(withObjects.looks * 60 / withObjects.seconds),
      load_average: Number(withObjects.load.toFixed(1)),
      with_cpu_s: Number((withObjects.cpuMs / 1000).toFixed(2)),
      without_cpu_s: Number((without.cpuMs / 1000).toFixed(2)),
      seconds: withObjects.seconds,
      model_input: LOOK_SIZE,
      clip: 'vtest.avi 768x576, looped (people walking all the time), looks every 0.7 s until a person is seen, then every 2.1 s, at most 20 per event (events end at the 60 s cap)',
      measure,
    });
    // Idle: a still picture, no motion, no looks.
    const stillDir = mkdtempSync(join(dir, 'still-'));
    const still = join(stillDir, 'still.mp4');
    await exec('ffmpeg', ['-v', 'error', '-y', '-ss', '20', '-i', VTEST, '-frames:v', '1', '-vf', 'loop=199:1:0,setpts=N/10/TB', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-r', '10', '-g', '10', still]);
    const idleWith = await live(still, 15, true);
    const idleWithout = await live(still, 15, false);
    report({
      name: 'objects_idle_cpu_s_per_minute',
      value: Number(((idleWith.cpuMs - idleWithout.cpuMs) / 1000 * (60 / idleWith.seconds)).toFixed(2)),
      unit: 's/min',
      looks: idleWith.looks,
      with_cpu_s: Number((idleWith.cpuMs / 1000).toFixed(2)),
      without_cpu_s: Number((idleWithout.cpuMs / 1000).toFixed(2)),
      target: 0,
      clip: 'a still frame of vtest.avi (no motion)',
      measure,
    });
    // Latency: people start walking every 9 s.
    const alt = await alternating(dir);
    const lat = await live(alt.path, 40, true);
    report({
      name: 'objects_latency_ms',
      value: Math.round(median(lat.latencies)),
      unit: 'ms',
      target: 1000,
      max_ms: Math.round(Math.max(...lat.latencies)),
      events: lat.latencies.length,
      motion_starts: lat.motionStarts,
      frame_ms: Math.round(median(lat.cropMs)),
      model_ms: Math.round(median(lat.modelMs)),
      picture_ms: Math.round(median(lat.pictureMs)),
      load_average: Number(lat.load.toFixed(1)),
      clip: 'vtest.avi: people standing 6 s, walking 4 s, four times (live, real time)',
      measure: "wall time from motion-detect's start to object-detect's enriched start (the ring's newest frame after the motion began, or the one 0.3 s before the start once its segment is done; crop, model, boxed JPEG)",
    });
    // Quality, the CLI's core on the clips (media time, no look is dropped).
    const clips: Array<{ name: string; path: string; people: Array<[number, number]>; config?: unknown }> = [
      { name: 'vtest_alternating', path: alt.path, people: alt.intervals },
      { name: 'tree', path: TREE, people: [], config: { repetitiveLevel: 0, shadowCorrelation: 1 } },
      { name: 'apple', path: await appleClip(dir), people: [] },
      { name: 'brightness', path: await brightnessClip(dir), people: [] },
    ];
    for (const c of clips) {
      const res = await detectObjectsInFile(c.path, c.config ?? {}, { interval: 700, maxLooks: 20 });
      const starts = res.events.filter((e) => e.event === 'start');
      // Caught: an enriched start inside the interval (or an event going on through it).
      const caught = c.people.filter(([a, b]) => res.events.some((e) => e.t >= a * 1000 && e.t <= b * 1000 + 2000)).length;
      const falseEvents = starts.filter((e) => !c.people.some(([a, b]) => e.t >= a * 1000 && e.t <= b * 1000 + 2000)).length;
      report({
        name: `objects_quality_${c.name}`,
        value: caught,
        unit: 'people intervals caught',
        expected: c.people.length,
        false_person_events: falseEvents,
        motion_events: res.motion.filter((e) => e.event === 'start').length,
        looks: res.stats.looks,
        ms_per_look: res.stats.looks ? Math.round(res.stats.lookMs / res.stats.looks) : null,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
