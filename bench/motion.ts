// Detector cost per frame on real footage (OpenCV's vtest.avi, people walking),
// at the usual detection size and at twice that. Median of several runs.
import { existsSync } from 'node:fs';
import type { Report } from './run';
import { MotionDetector } from '../lib/motion/detector';
import { loadGrayFrames } from '../lib/video/gray-file';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

export async function run(report: Report): Promise<void> {
  if (!existsSync(VTEST)) throw new Error(`${VTEST} missing (Debian package opencv-doc)`);
  for (const [width, height] of [[320, 180], [640, 360]]) {
    // vtest is 4:3; crop after scaling is not what the camera does, so scale to the exact size instead.
    const frames = (await loadGrayFrames(VTEST, { fps: 10, width, duration: 40 })).map((f) => {
      if (f.height === height) return f;
      // Take the middle band so the figure is for exactly width x height pixels.
      const top = Math.floor((f.height - height) / 2);
      return { ...f, height, data: f.data.slice(top * width, (top + height) * width) };
    });
    // CPU time of this process rather than wall time, so other work on the machine
    // (the figure is taken on a shared 2-core box) does not count; wall time is reported beside it.
    const runs: number[] = [];
    const walls: number[] = [];
    let events = 0;
    for (let r = 0; r < 9; r++) {
      const det = new MotionDetector({});
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (const f of frames) events += det.push(f).length;
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      const c = process.cpuUsage(c0);
      if (r === 0) continue; // the first run warms up the JIT
      runs.push((c.user + c.system) / 1000 / frames.length);
      walls.push(wall / frames.length);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    report({
      name: `detector_ms_per_frame_${width}x${height}`,
      value: Number(median(runs).toFixed(4)),
      unit: 'ms',
      wall_ms: Number(median(walls).toFixed(4)),
      min_ms: Number(Math.min(...runs).toFixed(4)),
      target: width === 320 ? 0.3 : undefined,
      frames: frames.length,
      runs: runs.length,
      events,
      source: 'vtest.avi',
      measure: 'process CPU time per frame, median of 8 runs (min_ms: the quietest run)',
    });
  }
}
