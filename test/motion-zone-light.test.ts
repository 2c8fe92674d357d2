// Zones and changes of light on real frames: the demo scene (lib/video/source.ts, what a camera
// with source 'test' shows) rendered by ffmpeg. A figure filling a small, evenly coloured zone is
// motion, not a change of light; a lamp or exposure change over the whole picture stays no event.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testSceneGraph } from '../lib/video/source';
import { MotionDetector } from '../lib/motion/detector';
import type { MotionEvent } from '../lib/motion/event';
import type { Zone, Polygon } from '../lib/motion/polygon';

const run = promisify(execFile);
const W = 320;
const H = 180;
const FPS = 10;
const SECONDS = 8;
/** The light of the clip: a lamp switched on at 4 s (+30 %), then the exposure ramped down to 80 % over 5.5..7.5 s. */
const LIGHT = "geq=lum='clip(p(X,Y)*if(lt(T,4),1,1.3-0.5*clip((T-5.5)/2,0,1)),0,255)'";

interface Clip { frames: Uint8Array[] }

/** The demo scene (one crossing of the figure, 0..3 s), `extra` filters after it, as gray frames. */
async function render(extra: string[]): Promise<Clip> {
  const graph = testSceneGraph(W, H, 25).replace(/\[out0\]$/, `,${[`fps=${FPS}`, 'format=gray', ...extra].join(',')}`);
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', graph, '-t', String(SECONDS), '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'],
    { encoding: 'buffer', maxBuffer: 1 << 26 });
  const n = W * H;
  const frames: Uint8Array[] = [];
  for (let k = 0; (k + 1) * n <= stdout.length; k++) frames.push(new Uint8Array(stdout.subarray(k * n, (k + 1) * n)));
  return { frames };
}

const rect = (x0: number, y0: number, x1: number, y1: number): Polygon => [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
/** About the figure's size, inside the evenly coloured cupboard (x 0.70..0.87, y 0.33..0.75). */
const DOOR: Zone = { name: 'door', points: rect(0.72, 0.33, 0.82, 0.75) };
/** The cupboard and a little around it (the report's case: the figure covers half of it). */
const CUPBOARD: Zone = { name: 'cupboard', points: rect(0.68, 0.31, 0.89, 0.77) };

/** Without a zone: the picture above the floor (the figure walks there; the floor may be masked). */
const ABOVE_FLOOR = rect(0, 0, 1, 0.76);

/** The figure is out of the picture (it is at 3..8 s of the demo's 8 s loop) and the lamp still off. */
const EMPTY = 3.5 * FPS;

/** Independent of the detector: per frame, the share of a rectangle's pixels that differ from the empty room by more than 30. */
function presence(clip: Clip, area: Polygon): number[] {
  const [[x0, y0], , [x1, y1]] = area;
  const xs = [Math.round(x0 * W), Math.round(x1 * W)];
  const ys = [Math.round(y0 * H), Math.round(y1 * H)];
  const ref = clip.frames[EMPTY];
  return clip.frames.map((f) => {
    let n = 0;
    let on = 0;
    for (let y = ys[0]; y < ys[1]; y++) for (let x = xs[0]; x < xs[1]; x++) { n++; if (Math.abs(f[y * W + x] - ref[y * W + x]) > 30) on++; }
    return on / n;
  });
}

function mean(f: Uint8Array): number {
  let s = 0;
  for (const v of f) s += v;
  return s / f.length;
}

interface Run { events: MotionEvent[]; kinds: string[] }

function detect(clip: Clip, zones: Zone[], masks: Polygon[] = []): Run {
  const det = new MotionDetector({ zones, masks });
  const events: MotionEvent[] = [];
  const kinds: string[] = [];
  clip.frames.forEach((data, k) => {
    events.push(...det.push({ width: W, height: H, data, t: (k * 1000) / FPS }));
    kinds.push(det.last?.kind ?? '');
  });
  return { events, kinds };
}

/**
 * One event covering the figure's time in the zone (the whole picture without one), no 'global'
 * frame while it is there, nothing from the light.
 */
function assertCrossing(clip: Clip, zone: Zone | undefined, r: Run, what: string): void {
  const p = presence(clip, zone?.points ?? ABOVE_FLOOR);
  // Before the lamp (4 s), the figure is what differs from the empty room.
  const inZone = p.map((v, k) => v > (zone ? 0.05 : 0.002) && k < EMPTY);
  const first = inZone.indexOf(true);
  const last = inZone.lastIndexOf(true);
  assert.ok(first >= 0 && last > first, `${what}: the figure crosses the zone (${p.map((v) => v.toFixed(2)).join(' ')})`);
  const enter = (first * 1000) / FPS;
  const leave = (last * 1000) / FPS;
  const summary = `${what}: in the zone ${enter}..${leave} ms; frames ${r.kinds.map((k) => k[0]).join('')}; events ${JSON.stringify(r.events.map((e) => [e.event, e.startedAt, e.t, e.zones]))}`;
  const global = inZone.map((v, k) => (v && r.kinds[k] === 'global' ? (k * 1000) / FPS : -1)).filter((t) => t >= 0);
  assert.deepEqual(global, [], `no frame with the figure in the zone is a change of light (${summary})`);
  const starts = r.events.filter((e) => e.event === 'start');
  const ends = r.events.filter((e) => e.event === 'end');
  assert.equal(starts.length, 1, `exactly one event (${summary})`);
  assert.equal(ends.length, 1, summary);
  assert.ok(starts[0].startedAt >= enter - 150 && starts[0].t <= enter + 1000, `starts within 1 s of entering (${summary})`);
  assert.deepEqual(starts[0].zones, zone ? [zone.name] : [], `names the zone (${summary})`);
  const lastMotion = ends[0].lastMotionAt ?? -1;
  assert.ok(lastMotion >= leave - 250 && lastMotion <= leave + 600, `covers the crossing until the figure leaves (${summary})`);
}

let plain: Clip;
let blinking: Clip;

before(async () => {
  [plain, blinking] = await Promise.all([
    render([LIGHT]),
    // A screen on the floor flashing twice a second, under a mask: neither motion nor a change of light.
    render([`drawbox=x=0:y=${Math.round(H * 0.78)}:w=${W}:h=${H - Math.round(H * 0.78)}:c=white:t=fill:enable='lt(mod(t\\,0.5)\\,0.25)'`, LIGHT]),
  ]);
});

test('the clip: the figure fills the door zone for most of its crossing; the lamp and the exposure ramp light the whole picture', () => {
  const p = presence(plain, DOOR.points).filter((v) => v > 0.05);
  assert.ok(p.length >= 4, `frames with the figure in the door zone: ${p.length}`);
  assert.ok(p.filter((v) => v > 0.5).length >= p.length / 2, `it fills more than half of it in most of them: ${p.map((v) => v.toFixed(2)).join(' ')}`);
  const at = (s: number): number => mean(plain.frames[s * FPS]);
  assert.ok(at(4.5) > 1.2 * at(3.5), `the lamp: mean ${at(3.5).toFixed(1)} -> ${at(4.5).toFixed(1)}`);
  assert.ok(at(7.9) < 0.75 * at(5), `the exposure ramp: mean ${at(5).toFixed(1)} -> ${at(7.9).toFixed(1)}`);
});

test('a figure filling a small zone is one event from entering to leaving, not a change of light; the light after it is no event', () => {
  assertCrossing(plain, DOOR, detect(plain, [DOOR]), 'door zone');
  assertCrossing(plain, CUPBOARD, detect(plain, [CUPBOARD]), 'cupboard zone');
  // The same clip without zones: the whole picture, the same answer.
  assertCrossing(plain, undefined, detect(plain, []), 'no zone');
});

test('a masked flashing screen counts neither as motion nor as a change of light, with a zone or without', () => {
  const floor = rect(0, 0.76, 1, 1);
  assertCrossing(blinking, DOOR, detect(blinking, [DOOR], [floor]), 'door zone, masked screen');
  assertCrossing(blinking, undefined, detect(blinking, [], [floor]), 'no zone, masked screen');
});
