// Video clips with known ground truth, made by ffmpeg: a textured still scene,
// objects moving during known intervals, brightness steps and an exposure ramp
// (which are not motion), and temporal sensor noise over everything.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MovingBox {
  /** Seconds into the clip. */
  start: number;
  end: number;
  /** Left edge at `start`, px; moves vx px/s. */
  x: number;
  y: number;
  vx: number;
  w: number;
  h: number;
  /** Gray level 0..255. */
  gray: number;
}

export interface ClipSpec {
  width: number;
  height: number;
  fps: number;
  duration: number;
  objects: MovingBox[];
  /** Brightness added (eq brightness, -1..1) from a time on: [{at, brightness}], steps. */
  steps: Array<{ at: number; brightness: number }>;
  /** Linear exposure ramps: brightness goes from its level at `from` up by `by` until `to`, then stays. */
  ramps: Array<{ from: number; to: number; by: number }>;
  /** Gain steps (a light switched, exposure jump): from `at` on, luma is multiplied by factor (and shifted by add). */
  gains?: Array<{ at: number; factor: number; add?: number }>;
  /** Temporal noise strength (ffmpeg noise alls), 0 = none. */
  noise: number;
}

export interface TruthClip {
  path: string;
  spec: ClipSpec;
  /** Intervals with motion, seconds. */
  motion: Array<{ start: number; end: number }>;
  /** Times of global changes (steps, ramp starts), seconds: no motion there. */
  globalChanges: number[];
}

/** The standard test scene: three objects, two brightness steps, one ramp, noise; 25 s. */
export const STANDARD_SCENE: ClipSpec = {
  width: 320,
  height: 240,
  fps: 25,
  duration: 25,
  objects: [
    { start: 2, end: 4.5, x: 20, y: 90, vx: 60, w: 30, h: 50, gray: 40 },
    { start: 9.5, end: 12, x: 250, y: 40, vx: -60, w: 40, h: 40, gray: 210 },
    { start: 21, end: 22.5, x: 40, y: 160, vx: 80, w: 36, h: 36, gray: 30 },
  ],
  steps: [{ at: 7.5, brightness: 0.15 }, { at: 15.5, brightness: -0.15 }],
  ramps: [{ from: 17, to: 19, by: 0.2 }],
  noise: 16,
};

/** A quiet scene: the textured background with noise, a brightness step and a ramp, no object. */
export const QUIET_SCENE: ClipSpec = {
  ...STANDARD_SCENE,
  duration: 16,
  objects: [],
  steps: [{ at: 3, brightness: 0.2 }, { at: 6, brightness: -0.25 }],
  ramps: [{ from: 8, to: 10, by: 0.25 }],
  gains: [{ at: 12, factor: 1.5, add: -40 }, { at: 14, factor: 0.6 }],
  noise: 24,
};

function brightnessExpr(spec: ClipSpec): string {
  const parts: string[] = [];
  for (const s of spec.steps) parts.push(`if(gte(t,${s.at}),${s.brightness},0)`);
  for (const r of spec.ramps) parts.push(`if(between(t,${r.from},${r.to}),(t-${r.from})*${r.by / (r.to - r.from)},if(gt(t,${r.to}),${r.by},0))`);
  return parts.length ? parts.join('+') : '0';
}

/** Renders spec to dir/name.mp4 (H.264); takes a few seconds. */
export async function makeClip(dir: string, name: string, spec: ClipSpec = STANDARD_SCENE): Promise<TruthClip> {
  const { width: W, height: H, fps, duration } = spec;
  // The textured background is computed once as a picture (geq per frame is slow), then looped.
  const bg = join(dir, `${name}-bg.png`);
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i',
    `color=c=gray:s=${W}x${H}:d=0.04,geq=lum='110+45*sin(X/11)*cos(Y/15)+20*sin((X+Y)/37)':cb=128:cr=128`,
    '-frames:v', '1', bg]);
  const inputs = ['-loop', '1', '-framerate', String(fps), '-t', String(duration), '-i', bg];
  const graph: string[] = [];
  let last = '0:v';
  spec.objects.forEach((o, k) => {
    const hex = o.gray.toString(16).padStart(2, '0');
    inputs.push('-f', 'lavfi', '-i', `color=c=0x${hex}${hex}${hex}:s=${o.w}x${o.h}:r=${fps}`);
    graph.push(`[${last}][${k + 1}:v]overlay=x='${o.x}+(t-${o.start})*${o.vx}':y=${o.y}:enable='between(t,${o.start},${o.end})':shortest=1[o${k}]`);
    last = `o${k}`;
  });
  const noise = spec.noise > 0 ? `,noise=alls=${spec.noise}:allf=t` : '';
  const gains = (spec.gains ?? []).map((g) => `,lutyuv=y='clip(val*${g.factor}+${g.add ?? 0},0,255)':enable='gte(t,${g.at})'`).join('');
  graph.push(`[${last}]eq=eval=frame:brightness='${brightnessExpr(spec)}'${gains}${noise},format=yuv420p[out]`);
  const path = join(dir, `${name}.mp4`);
  await run('ffmpeg', ['-v', 'error', '-y', ...inputs, '-filter_complex', graph.join(';'), '-map', '[out]',
    '-t', String(duration), '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '18', '-g', String(fps * 2), path]);
  return {
    path,
    spec,
    motion: spec.objects.map((o) => ({ start: o.start, end: o.end })),
    globalChanges: [...spec.steps.map((s) => s.at), ...spec.ramps.map((r) => r.from), ...(spec.gains ?? []).map((g) => g.at)].sort((a, b) => a - b),
  };
}

/** Duration of a media file in seconds (ffprobe). */
export async function probeDuration(path: string): Promise<number> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path]);
  return Number(stdout.trim());
}

/**
 * An H.264 file (1 s GOP) of ffmpeg's test pattern under heavy noise: about
 * 1.5 Mbit/s, so that a few clips of it fill a small disk.
 */
export async function makeNoisyVideo(path: string, seconds = 20): Promise<void> {
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=15,noise=alls=40:allf=t`,
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '1500k', '-maxrate', '1500k', '-bufsize', '1500k',
    '-g', '15', '-sc_threshold', '0', '-pix_fmt', 'yuv420p', path]);
}
