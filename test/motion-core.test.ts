// The pure detector core on synthetic frames: config checks, polygons, areas,
// components, global-change handling and event timing. No ffmpeg, no Node-RED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig, ConfigError, DEFAULT_CONFIG } from '../lib/motion/config';
import { pointInPolygon, rasterizePolygon, polygonArea, parseZones, parsePolygons } from '../lib/motion/polygon';
import { FrameAnalyzer } from '../lib/motion/analyzer';
import { MotionDetector, checkFrame, FrameError } from '../lib/motion/detector';
import { configFromEditor } from '../lib/motion/node-config';
import type { GrayFrame } from '../lib/video/frame';
import type { MotionEvent } from '../lib/motion/event';

const W = 320;
const H = 180;

/** Deterministic pseudo-random numbers (mulberry32) so a failing case repeats. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Rect { x: number; y: number; w: number; h: number; v: number }

/** A textured scene, optionally with rectangles drawn, a tone change v' = gain*v + offset, and noise. */
function scene(t: number, opts: { rects?: Rect[]; gain?: number; offset?: number; noise?: number; seed?: number } = {}): GrayFrame {
  const data = new Uint8Array(W * H);
  const rand = rng(opts.seed ?? Math.round(t) + 1);
  const gain = opts.gain ?? 1;
  const offset = opts.offset ?? 0;
  const noise = opts.noise ?? 6;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = 110 + 45 * Math.sin(x / 11) * Math.cos(y / 15) + 20 * Math.sin((x + y) / 37);
      for (const r of opts.rects ?? []) if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h) v = r.v;
      v = gain * v + offset + (rand() - 0.5) * 2 * noise;
      data[y * W + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { width: W, height: H, data, t };
}

function feed(det: MotionDetector, frames: GrayFrame[]): MotionEvent[] {
  return frames.flatMap((f) => det.push(f));
}

test('config: defaults, overrides and clear errors', () => {
  const c = validateConfig({});
  assert.equal(c.threshold, DEFAULT_CONFIG.threshold);
  assert.equal(validateConfig({ threshold: '30' }).threshold, 30);
  assert.throws(() => validateConfig({ threshold: 0 }), /threshold: 0 is out of range 1\.\.254/);
  assert.throws(() => validateConfig({ minArea: 5 }), /minArea: 5 is out of range 0\.\.1/);
  assert.throws(() => validateConfig({ blur: 1.5 }), /blur: 1\.5 must be a whole number/);
  assert.throws(() => validateConfig({ treshold: 3 }), /unknown motion setting "treshold"/);
  assert.throws(() => validateConfig({ learningRate: 'fast' }), /learningRate: expected a number/);
  assert.throws(() => validateConfig([]), ConfigError);
  assert.throws(() => validateConfig({ zones: [{ name: 'a', points: [[0, 0], [1, 0]] }] }), /zones\[0\].*at least 3 points/);
  assert.throws(() => validateConfig({ zones: '[{"points":[[0,0],[1,0],[1,1]]}]' }), /zones\[0\]: needs a non-empty "name"/);
  assert.throws(() => validateConfig({ masks: '[[[0,0],[2,0],[1,1]]]' }), /masks\[0\]: point 1 \[2, 0\] is outside 0\.\.1/);
  assert.throws(() => validateConfig({ masks: '[[[0,0' }), /masks: not valid JSON/);
  // Editor fields: percent and seconds.
  const e = configFromEditor({ threshold: '20', minArea: '1.5', minDuration: '0.5', endDelay: '3', updateInterval: '', zones: '', masks: '', advanced: '{"blur":3}' });
  assert.equal(e.threshold, 20);
  assert.equal(e.minArea, 0.015);
  assert.equal(e.minDuration, 500);
  assert.equal(e.endDelay, 3000);
  assert.equal(e.updateInterval, DEFAULT_CONFIG.updateInterval);
  assert.equal(e.blur, 3);
  assert.throws(() => validateConfig({ blur: 4 }), /blur: 4 must be 1 \(none\), 2 or odd/);
  assert.throws(() => configFromEditor({ minArea: 'lots' }), /min area %: "lots" is not a number/);
  assert.throws(() => configFromEditor({ advanced: '{"nope":1}' }), /unknown motion setting "nope"/);
});

test('the one-pass shrink+blur gives the same pixels as shrink, then blur', () => {
  const f = scene(0, { noise: 30 });
  const fast = new FrameAnalyzer(validateConfig({}));
  fast.analyze(f.data, W, H);
  // The same bytes at an odd offset cannot be read 32 bits at a time: the general path runs.
  const shifted = new Uint8Array(W * H + 1).subarray(1);
  shifted.set(f.data);
  const slow = new FrameAnalyzer(validateConfig({}));
  slow.analyze(shifted, W, H);
  const px = (a: FrameAnalyzer) => (a as unknown as { blurred: Uint8Array }).blurred;
  assert.equal(px(fast).length, (W / 2) * (H / 2));
  // The general path rounds twice (after shrinking, after blurring), the one-pass path once.
  let worst = 0;
  for (let i = 0; i < px(fast).length; i++) worst = Math.max(worst, Math.abs(px(fast)[i] - px(slow)[i]));
  assert.ok(worst <= 1, `pixels differ by up to ${worst}`);
  // And it is the 4x4 mean of the frame at (2x, 2y).
  const x = 37;
  const y = 21;
  let sum = 0;
  for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) sum += f.data[(2 * y + dy) * W + 2 * x + dx];
  assert.ok(Math.abs(px(fast)[y * (W / 2) + x] - sum / 16) <= 1);
});

test('odd and tiny frame sizes, every blur width, and a size change mid-stream work', () => {
  for (const [w, h] of [[90, 50], [322, 181], [7, 5], [1, 1], [16, 16]]) {
    for (const blur of [1, 2, 3, 5]) {
      const det = new MotionDetector({ blur, minDuration: 0 });
      const base = new Uint8Array(w * h).fill(100);
      det.push({ width: w, height: h, data: base, t: 0 });
      const moved = new Uint8Array(w * h).fill(100);
      for (let y = 0; y < h; y++) for (let x = 0; x < Math.ceil(w / 3); x++) moved[y * w + x] = 250;
      const ev = det.push({ width: w, height: h, data: moved, t: 200 });
      if (w >= 90) assert.equal(ev[0]?.event, 'start', `${w}x${h} blur ${blur}: ${JSON.stringify(det.last)}`);
      for (const b of det.last?.boxes ?? []) assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= 1.0001 && b.y + b.h <= 1.0001, JSON.stringify(b));
    }
  }
  // A new frame size restarts the background (and ends an event).
  const det = new MotionDetector({ minDuration: 0 });
  det.push(scene(0));
  det.push(scene(200, { rects: [{ x: 10, y: 10, w: 40, h: 40, v: 255 }] }));
  assert.ok(det.inMotion);
  const ev = det.push({ width: 160, height: 90, data: new Uint8Array(160 * 90), t: 400 });
  assert.deepEqual(ev.map((e) => e.event), ['end']);
});

test('polygons: point test, rasterized area, parsing', () => {
  const tri = parsePolygons([[[0, 0], [1, 0], [0, 1]]])[0];
  assert.ok(pointInPolygon(0.2, 0.2, tri));
  assert.ok(!pointInPolygon(0.8, 0.8, tri));
  assert.equal(polygonArea(tri), 0.5);
  const out = new Uint8Array(W * H);
  rasterizePolygon(tri, W, H, out, 1);
  const covered = out.reduce((a, b) => a + b, 0) / (W * H);
  assert.ok(Math.abs(covered - 0.5) < 0.01, `triangle covers ${covered}`);
  const half = new Uint8Array(W * H);
  rasterizePolygon([[0, 0], [0.5, 0], [0.5, 1], [0, 1]], W, H, half, 1);
  assert.equal(half.reduce((a, b) => a + b, 0), (W / 2) * H, 'a half-frame rectangle covers exactly half the pixels');
  assert.equal(half[W / 2 - 1], 1);
  assert.equal(half[W / 2], 0);
  const zones = parseZones('[{"name":"door","points":[{"x":0,"y":0},{"x":1,"y":0},{"x":1,"y":1}]}]');
  assert.deepEqual(zones[0].points, [[0, 0], [1, 0], [1, 1]]);
});

test('frames are checked', () => {
  assert.throws(() => checkFrame(null), FrameError);
  assert.throws(() => checkFrame({ width: 4, height: 4, data: new Uint8Array(15), t: 0 }), /15 bytes, expected 4x4 = 16/);
  assert.throws(() => checkFrame({ width: 4, height: 4, data: [1, 2], t: 0 }), /Uint8Array or Buffer/);
  assert.throws(() => checkFrame({ width: 0, height: 4, data: new Uint8Array(0), t: 0 }), /positive integers/);
  const f = checkFrame({ width: 2, height: 2, data: Buffer.alloc(4), t: 5 });
  assert.equal(f.t, 5);
});

test('minimum area is a real fraction of the frame (not MANTIS\' 0/255 sum)', () => {
  // 0.3 % of 320x180 = 173 px. An 8x8 object (0.11 %) is below, a 16x16 one (0.44 %) above.
  // (The blur widens an object by a pixel or two, so its score is a little above its true area.)
  const a = new FrameAnalyzer(validateConfig({ minArea: 0.003 }));
  a.analyze(scene(0).data, W, H);
  const small = a.analyze(scene(200, { rects: [{ x: 100, y: 60, w: 8, h: 8, v: 250 }] }).data, W, H);
  assert.equal(small.kind, 'ok');
  assert.ok(!small.motion, `8x8 object counted as motion (score ${small.score})`);
  assert.ok(small.score > 0.0005 && small.score < 0.003, `score ${small.score}`);
  const a2 = new FrameAnalyzer(validateConfig({ minArea: 0.003 }));
  a2.analyze(scene(0).data, W, H);
  const big = a2.analyze(scene(200, { rects: [{ x: 100, y: 60, w: 16, h: 16, v: 250 }] }).data, W, H);
  assert.ok(big.motion, `16x16 object not motion (score ${big.score})`);
  // The score is close to the object's true share of the frame.
  assert.ok(big.score >= 256 / (W * H) && big.score < 2 * 256 / (W * H), `score ${big.score} vs ${256 / (W * H)}`);
});

test('components: separate objects give separate normalized boxes, largest first', () => {
  const a = new FrameAnalyzer(validateConfig({}));
  a.analyze(scene(0).data, W, H);
  const r = a.analyze(scene(200, { rects: [{ x: 20, y: 20, w: 20, h: 30, v: 250 }, { x: 200, y: 100, w: 40, h: 40, v: 10 }] }).data, W, H);
  assert.ok(r.motion);
  assert.equal(r.boxes.length, 2, JSON.stringify(r.boxes));
  const [b0, b1] = r.boxes;
  // 2 px tolerance at the working size (the frame is shrunk by 2, then blurred).
  const near = (got: number, want: number, px: number, tol = 4) => Math.abs(got * px - want) <= tol;
  assert.ok(near(b0.x, 200, W) && near(b0.y, 100, H) && near(b0.w, 40, W) && near(b0.h, 40, H), JSON.stringify(b0));
  assert.ok(near(b1.x, 20, W) && near(b1.y, 20, H) && near(b1.w, 20, W) && near(b1.h, 30, H), JSON.stringify(b1));
  // Two objects 3 px apart merge (dilation); far apart they do not.
  const a2 = new FrameAnalyzer(validateConfig({}));
  a2.analyze(scene(0).data, W, H);
  const merged = a2.analyze(scene(200, { rects: [{ x: 20, y: 20, w: 20, h: 30, v: 250 }, { x: 43, y: 20, w: 20, h: 30, v: 250 }] }).data, W, H);
  assert.equal(merged.boxes.length, 1, JSON.stringify(merged.boxes));
});

test('global changes (brightness, gain, both) are not motion; an object during them still is', () => {
  for (const tone of [{ offset: 40 }, { gain: 1.5, offset: -30 }, { gain: 0.6 }, { offset: 8 }, { gain: 1.08 }]) {
    const a = new FrameAnalyzer(validateConfig({}));
    a.analyze(scene(0).data, W, H);
    a.analyze(scene(200).data, W, H);
    const r = a.analyze(scene(400, tone).data, W, H);
    assert.ok(!r.motion, `${JSON.stringify(tone)} seen as motion: ${JSON.stringify(r)}`);
    const after = a.analyze(scene(600, { ...tone, rects: [{ x: 100, y: 50, w: 30, h: 40, v: 255 }] }).data, W, H);
    assert.ok(after.motion, `object after ${JSON.stringify(tone)} missed: ${JSON.stringify(after)}`);
  }
  // A small tone drift is explained by the fit, so an object appearing in the same frame is found.
  const a = new FrameAnalyzer(validateConfig({}));
  a.analyze(scene(0).data, W, H);
  const r = a.analyze(scene(200, { gain: 1.05, offset: 4, rects: [{ x: 100, y: 50, w: 30, h: 40, v: 0 }] }).data, W, H);
  assert.equal(r.kind, 'ok');
  assert.ok(r.motion && r.boxes.length === 1, JSON.stringify(r));
  // Half the frame changing at once is a global change.
  const g = new FrameAnalyzer(validateConfig({ globalChange: 0.4 }));
  g.analyze(scene(0).data, W, H);
  const big = g.analyze(scene(200, { rects: [{ x: 0, y: 0, w: W, h: H / 2 + 10, v: 250 }] }).data, W, H);
  assert.equal(big.kind, 'global');
});

test('noise alone is not motion', () => {
  const det = new MotionDetector({});
  const frames = Array.from({ length: 100 }, (_, i) => scene(i * 200, { noise: 20, seed: i + 7 }));
  assert.deepEqual(feed(det, frames), []);
});

test('masks hide motion; zones are named and limit where motion counts', () => {
  const mover = (i: number): Rect[] => [{ x: 30 + i * 4, y: 40, w: 24, h: 30, v: 250 }];
  const frames = Array.from({ length: 30 }, (_, i) => scene(i * 200, { rects: i >= 5 && i < 15 ? mover(i) : [] }));
  const plain = feed(new MotionDetector({}), frames);
  assert.deepEqual(plain.filter((e) => e.event !== 'update').map((e) => e.event), ['start', 'end']);
  const masked = feed(new MotionDetector({ masks: [[[0, 0], [0.5, 0], [0.5, 0.6], [0, 0.6]]] }), frames);
  assert.deepEqual(masked, [], 'motion under the mask was reported');
  const zoned = feed(new MotionDetector({ zones: [{ name: 'left', points: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] }, { name: 'right', points: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]] }] }), frames);
  const start = zoned.find((e) => e.event === 'start');
  assert.ok(start);
  assert.deepEqual(start.zones, ['left']);
  const elsewhere = feed(new MotionDetector({ zones: [{ name: 'bottom', points: [[0, 0.7], [1, 0.7], [1, 1], [0, 1]] }] }), frames);
  assert.deepEqual(elsewhere, [], 'motion outside every zone was reported');
});

test('an object in the first frame that then leaves: its ghost fades within seconds', () => {
  const parked = [{ x: 100, y: 60, w: 40, h: 40, v: 250 }];
  const frames = Array.from({ length: 60 }, (_, i) => scene(i * 200, { rects: i === 0 ? parked : [], seed: i + 1 }));
  const events = feed(new MotionDetector({ minDuration: 0, endDelay: 1000 }), frames);
  const end = events.find((e) => e.event === 'end');
  assert.ok(end, `the ghost never went away: ${JSON.stringify(events.map((e) => [e.event, e.t]))}`);
  // 8 still frames, then the normal rate: ~10 s at 5 fps for this contrast (changed pixels alone would take ~1 min).
  assert.ok(end.t <= 12_000, `ghost ended only at ${end.t} ms`);
});

test('min duration on a live clock: three frames of motion at 5 fps count as the 0.4 s they stand for, two do not', () => {
  // Frame times as a live camera gives them: 200 ms apart on average, the three motion frames 195 ms apart.
  const times = [0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2195, 2390, 2600, 2800, 3000, 3200, 3400, 3600, 3800];
  const moving = (k: number, n: number) => k >= 10 && k < 10 + n;
  for (const [n, starts] of [[3, 1], [2, 0]] as const) {
    const frames = times.map((t, k) => scene(t, { rects: moving(k, n) ? [{ x: 100 + k * 4, y: 60, w: 30, h: 40, v: 240 }] : [] }));
    const events = feed(new MotionDetector({ minDuration: 400, endDelay: 400 }), frames);
    assert.equal(events.filter((e) => e.event === 'start').length, starts, `${n} frames of motion: ${JSON.stringify(events.map((e) => [e.event, e.t]))}`);
  }
});

test('timing: min duration, end delay, update rate, reset and a clock that jumps back', () => {
  // Object present from 2.0 s to 5.0 s (frames every 200 ms).
  const on = (i: number) => i >= 10 && i < 25;
  const frames = Array.from({ length: 50 }, (_, i) => scene(i * 200, { rects: on(i) ? [{ x: 40 + i * 5, y: 60, w: 30, h: 40, v: 240 }] : [] }));
  const det = new MotionDetector({ minDuration: 600, endDelay: 1000, updateInterval: 1000 });
  const events = feed(det, frames);
  const kinds = events.map((e) => e.event);
  assert.equal(kinds[0], 'start');
  assert.equal(kinds[kinds.length - 1], 'end');
  const start = events[0];
  const end = events[events.length - 1];
  assert.equal(start.startedAt, 2000);
  assert.equal(start.t, 2600, 'start only after the minimum duration');
  assert.ok(end.lastMotionAt !== undefined && end.lastMotionAt >= 4800 && end.lastMotionAt <= 5200, `lastMotionAt ${end.lastMotionAt}`);
  assert.equal(end.t - (end.lastMotionAt as number), 1000, 'end after the end delay');
  const updates = events.filter((e) => e.event === 'update');
  assert.ok(updates.length >= 1 && updates.length <= 3, `${updates.length} updates`);
  for (let k = 1; k < updates.length; k++) assert.ok(updates[k].t - updates[k - 1].t >= 1000);
  // Too short: 2 frames of motion with a 600 ms minimum is nothing.
  const blip = Array.from({ length: 20 }, (_, i) => scene(i * 200, { rects: i === 8 || i === 9 ? [{ x: 100, y: 60, w: 30, h: 40, v: 240 }] : [] }));
  assert.deepEqual(feed(new MotionDetector({ minDuration: 600 }), blip), []);
  // reset during motion ends the event; a clock jumping back does too.
  const d2 = new MotionDetector({ minDuration: 0 });
  feed(d2, frames.slice(0, 15));
  assert.ok(d2.inMotion);
  const r = d2.reset();
  assert.equal(r.length, 1);
  assert.equal(r[0].event, 'end');
  const d3 = new MotionDetector({ minDuration: 0 }, 'cam1');
  feed(d3, frames.slice(0, 15));
  const back = d3.push(scene(0));
  assert.equal(back[0]?.event, 'end');
  assert.equal(back[0]?.camera, 'cam1');
  assert.ok(!d3.inMotion);
});

test('event cap: a blinking patch for 100 s ends at the cap; an object in a new place during it is a new event within 1 s', () => {
  const base = scene(0, { noise: 0 });
  const frame = (i: number, extra: Rect[]): GrayFrame => {
    const data = new Uint8Array(base.data);
    // The blinking patch: on every other frame (what flicker bands do to one place).
    for (const r of [...(i % 2 ? [{ x: 20, y: 20, w: 40, h: 40, v: 250 }] : []), ...extra]) {
      for (let y = r.y; y < r.y + r.h; y++) data.fill(r.v, y * W + r.x, y * W + r.x + r.w);
    }
    return { width: W, height: H, data, t: i * 200 };
  };
  // Learned repetitive motion off, so the cap alone is tested.
  const det = new MotionDetector({ repetitiveLevel: 0, maxEventDuration: 30_000 });
  const events = feed(det, Array.from({ length: 500 }, (_, i) => frame(i, i >= 250 && i < 270 ? [{ x: 150 + 4 * (i - 250), y: 100, w: 24, h: 40, v: 10 }] : [])));
  const starts = events.filter((e) => e.event === 'start');
  const ends = events.filter((e) => e.event === 'end');
  const summary = JSON.stringify(events.filter((e) => e.event !== 'update').map((e) => [e.event, e.startedAt, e.t]));
  for (const e of ends) assert.ok(e.t - e.startedAt <= 30_000 + 400, `an event of ${e.t - e.startedAt} ms: ${summary}`);
  // The object enters at 50 s: an event starting within 1 s of it.
  assert.ok(starts.some((s) => s.startedAt >= 50_000 && s.startedAt <= 51_000), summary);
  // Without a cap the patch is one event from the start to the end.
  const uncapped = feed(new MotionDetector({ repetitiveLevel: 0, maxEventDuration: 0 }), Array.from({ length: 500 }, (_, i) => frame(i, [])));
  assert.equal(uncapped.filter((e) => e.event === 'start').length, 1);
});

test('learned repetitive motion: a blinking patch is learned and silenced, an object crossing it still counts, reset mask forgets it', () => {
  const base = scene(0, { noise: 0 });
  const frame = (i: number, extra: Rect[]): GrayFrame => {
    const data = new Uint8Array(base.data);
    // The blinking patch: 40 % darker on every other frame, its texture kept (a flicker band).
    if (i % 2) for (let y = 20; y < 80; y++) for (let x = 20; x < 80; x++) data[y * W + x] = Math.round(data[y * W + x] * 0.6);
    for (const r of extra) for (let y = r.y; y < r.y + r.h; y++) data.fill(r.v, y * W + r.x, y * W + r.x + r.w);
    return { width: W, height: H, data, t: i * 200 };
  };
  const det = new MotionDetector({ maxEventDuration: 0 });
  const blink = feed(det, Array.from({ length: 100 }, (_, i) => frame(i, [])));
  assert.ok(det.blocks.learned.some((b) => b === 1), 'nothing learned');
  assert.ok(!det.inMotion, `the blinking patch is still motion: ${JSON.stringify(blink.map((e) => [e.event, e.t]))}`);
  // A dark object crossing the learned patch is motion.
  const cross = feed(det, Array.from({ length: 15 }, (_, k) => frame(100 + k, [{ x: 10 + 5 * k, y: 30, w: 20, h: 40, v: 0 }])));
  assert.ok(cross.some((e) => e.event === 'start'), 'the object over the learned patch was not seen');
  det.resetMask();
  assert.ok(det.blocks.learned.every((b) => b === 0));
});

test('per-zone sensitivity: a zone with a high minimum area ignores what another zone reports', () => {
  const mover = (i: number): Rect[] => [{ x: 30 + i * 4, y: 40, w: 20, h: 24, v: 250 }, { x: 200 + i * 4, y: 40, w: 20, h: 24, v: 250 }];
  const frames = Array.from({ length: 20 }, (_, i) => scene(i * 200, { rects: i >= 5 && i < 15 ? mover(i) : [] }));
  const zones = [{ name: 'tree', points: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], minArea: 0.2 }, { name: 'door', points: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]], threshold: 30 }];
  const start = feed(new MotionDetector({ zones }), frames).find((e) => e.event === 'start');
  assert.deepEqual(start?.zones, ['door']);
  const strict = feed(new MotionDetector({ zones: [{ ...zones[0] }, { ...zones[1], minArea: 0.2 }] }), frames);
  assert.deepEqual(strict, []);
  assert.throws(() => validateConfig({ zones: [{ name: 'a', points: [[0, 0], [1, 0], [1, 1]], threshold: 0 }] }), /zones\[0\] \(a\) threshold: 0 is out of range/);
});

test('row light compensation: rolling flicker bands are no event, a person entering during them is one event within 1 s; a shadow over half the picture is not a row gain', () => {
  const base = scene(0, { noise: 0 });
  const rand = rng(7);
  // A 100 Hz lamp on a rolling shutter: three dark bands (up to 40 %) down the picture, at a new phase every
  // frame (the lamp beats against the frame rate), plus sensor noise.
  const frame = (i: number, figure: boolean): GrayFrame => {
    const phase = rand();
    const data = new Uint8Array(W * H);
    for (let y = 0; y < H; y++) {
      const s = Math.max(0, Math.sin(2 * Math.PI * (3 * y / H - phase)));
      const light = 1 - 0.4 * s * s;
      for (let x = 0; x < W; x++) {
        let v = base.data[y * W + x];
        if (figure && i >= 50 && x >= 4 * (i - 50) - 16 && x < 4 * (i - 50) && y >= 60 && y < 110) v = 30;
        data[y * W + x] = Math.max(0, Math.min(255, Math.round(v * light + (rand() - 0.5) * 12)));
      }
    }
    return { width: W, height: H, data, t: i * 200 };
  };
  const bands = Array.from({ length: 100 }, (_, i) => frame(i, false));
  const off = feed(new MotionDetector({ rowLight: 1 }), bands);
  assert.ok(off.some((e) => e.event === 'start'), 'the bands are no event even without row light compensation');
  const det = new MotionDetector({});
  const alone = feed(det, bands);
  assert.deepEqual(alone.map((e) => [e.event, e.startedAt]), [], 'flicker bands alone raised events');
  // The debug view marks the darkened rows with a white bar at the right edge.
  const view = det.debugFrame(bands[99]);
  const marked = Array.from({ length: H }, (_, y) => view[y * W + W - 1]).filter((v) => v === 255).length;
  assert.ok(marked > H / 4, `${marked} rows marked as compensated`);
  // A figure walking in from the left at 10 s (frame 50), 16x50 px at 20 px/s.
  const events = feed(new MotionDetector({}), Array.from({ length: 100 }, (_, i) => frame(i, true)));
  const starts = events.filter((e) => e.event === 'start');
  const summary = JSON.stringify(events.filter((e) => e.event !== 'update').map((e) => [e.event, e.startedAt, e.t]));
  assert.equal(starts.length, 1, summary);
  assert.ok(starts[0].startedAt >= 10_000 && starts[0].startedAt <= 11_000, summary);
  // A hard shadow over the left half of the picture (25 % darker) is two gains in every row: no row gain.
  const shade = new MotionDetector({});
  shade.push(scene(0));
  const half = scene(200, { seed: 3 });
  for (let y = 0; y < H; y++) for (let x = 0; x < W / 2; x++) half.data[y * W + x] = Math.round(half.data[y * W + x] * 0.75);
  shade.push(half);
  assert.ok(shade.blocks.rowGain.every((g) => g === 1), 'a half-picture shadow was taken for row light');
});
