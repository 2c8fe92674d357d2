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
    const runs: number[] = [];
    let events = 0;
    for (let r = 0; r < 7; r++) {
      const det = new MotionDetector({});
      const t0 = process.hrtime.bigint();
      for (const f of frames) events += det.push(f).length;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r > 0) runs.push(ms / frames.length); // the first run warms up the JIT
    }
    runs.sort((a, b) => a - b);
    const median = runs[Math.floor(runs.length / 2)];
    report({
      name: `detector_ms_per_frame_${width}x${height}`,
      value: Number(median.toFixed(4)),
      unit: 'ms',
      target: width === 320 ? 0.3 : undefined,
      frames: frames.length,
      runs: runs.length,
      events,
      source: 'vtest.avi',
    });
  }
}
