// The detector against video with known ground truth (made by ffmpeg here) and
// real footage (OpenCV's samples), through the mantis-detect CLI and detectFile.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeClip, STANDARD_SCENE, QUIET_SCENE, type TruthClip } from './helpers/clips';
import { makePhenomenon, type Phenomenon } from './helpers/phenomena';
import { repoRoot, tempDir } from './helpers/paths';
import { detectFile } from '../lib/motion/detect-file';
import { loadGrayFrames, GrayFileReader } from '../lib/video/gray-file';
import type { MotionEvent } from '../lib/motion/event';

const run = promisify(execFile);
const DATA = '/usr/share/doc/opencv-doc/examples/data';
const CLI = join(repoRoot, 'dist', 'bin', 'mantis-detect.js');

interface Line { event: 'start' | 'update' | 'end'; t: number; startedAt: number; score: number; zones: string[]; lastMotionAt?: number; boxes: unknown[] }

async function cli(file: string, ...args: string[]): Promise<Line[]> {
  const { stdout } = await run(process.execPath, [CLI, file, ...args], { maxBuffer: 16 << 20 });
  return stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}

/** Every truth interval has a start within 0.5 s and an end after it; no other start. */
function assertMatches(events: Line[], truth: Array<{ start: number; end: number }>, globalChanges: number[]): void {
  const starts = events.filter((e) => e.event === 'start');
  const ends = events.filter((e) => e.event === 'end');
  const summary = JSON.stringify(events.filter((e) => e.event !== 'update').map((e) => [e.event, e.startedAt, e.t]));
  assert.equal(starts.length, truth.length, `expected ${truth.length} events, got ${summary}`);
  assert.equal(ends.length, starts.length, summary);
  truth.forEach((iv, k) => {
    const s = starts[k];
    assert.ok(Math.abs(s.startedAt - iv.start) <= 0.5, `interval ${k}: motion from ${iv.start} s, detected from ${s.startedAt} s (${summary})`);
    const e = ends[k];
    assert.equal(e.startedAt, s.startedAt);
    assert.ok(e.lastMotionAt !== undefined && e.lastMotionAt >= iv.end - 0.5 && e.lastMotionAt <= iv.end + 1, `interval ${k}: motion until ${iv.end} s, last seen ${e.lastMotionAt} s (${summary})`);
  });
  for (const g of globalChanges) {
    assert.ok(!starts.some((s) => Math.abs(s.startedAt - g) < 0.5 && !truth.some((iv) => Math.abs(iv.start - g) < 0.5)), `an event at the global change at ${g} s`);
  }
}

let dir: string;
let scene: TruthClip;
let quiet: TruthClip;

before(async () => {
  dir = tempDir('motion-clips');
  [scene, quiet] = await Promise.all([makeClip(dir, 'scene', STANDARD_SCENE), makeClip(dir, 'quiet', QUIET_SCENE)]);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('CLI: every motion interval of the ground-truth clip, nothing from brightness steps, ramp or noise', async () => {
  const events = await cli(scene.path);
  assertMatches(events, scene.motion, scene.globalChanges);
  for (const e of events) assert.ok(e.score > 0.003 && e.score < 0.2, `score ${e.score}`);
  // Boxes: the first object is a 30x50 box at y=90 of 240 px.
  const first = events[0].boxes[0] as { x: number; y: number; w: number; h: number };
  assert.ok(Math.abs(first.y - 90 / 240) < 0.03 && Math.abs(first.h - 50 / 240) < 0.05, JSON.stringify(first));
});

test('CLI: a quiet scene with noise, brightness steps, an exposure ramp and gain steps has no event', async () => {
  assert.deepEqual(await cli(quiet.path), []);
  // --trace shows why: each frame's analysis on stderr, the steps as global changes.
  const { stdout, stderr } = await run(process.execPath, [CLI, quiet.path, '--trace'], { maxBuffer: 16 << 20 });
  assert.equal(stdout, '');
  const frames = stderr.trim().split('\n').map((l) => JSON.parse(l) as { t: number; kind: string });
  assert.equal(frames.length, QUIET_SCENE.duration * 5);
  for (const g of quiet.globalChanges.filter((x) => !QUIET_SCENE.ramps.some((r) => r.from === x))) {
    assert.equal(frames.find((f) => Math.abs(f.t - g) < 0.01)?.kind, 'global', `the step at ${g} s`);
  }
});

test('CLI: settings from --config (zones, fps, width) and clear errors', async () => {
  const zones = [{ name: 'left', points: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] }, { name: 'bottom', points: [[0, 0.6], [1, 0.6], [1, 1], [0, 1]] }];
  const events = await cli(scene.path, '--config', JSON.stringify({ zones, fps: 10, width: 160 }), '--fps', '4');
  const starts = events.filter((e) => e.event === 'start');
  // Object 1 starts on the left (middle rows); object 2 starts top right (no zone) and counts once it
  // crosses into the left half at 11 s; object 3 is bottom left.
  assert.deepEqual(starts.map((s) => s.zones), [['left'], ['left'], ['left', 'bottom']], JSON.stringify(starts));
  assert.deepEqual(starts.map((s) => Math.round(s.startedAt)), [2, 11, 21], JSON.stringify(starts));
  // --fps 4 wins over the config's fps 10: frame times are multiples of 0.25 s.
  for (const e of events) assert.equal((e.t * 4) % 1, 0, `t ${e.t} is not on a 4 fps frame`);
  await assert.rejects(run(process.execPath, [CLI, scene.path, '--config', '{"threshold":0}']), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr ?? '', /threshold: 0 is out of range 1\.\.254/);
    return true;
  });
  await assert.rejects(run(process.execPath, [CLI, join(dir, 'missing.mp4')]), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 1);
    assert.match(err.stderr ?? '', /ffmpeg failed on .*missing\.mp4/);
    return true;
  });
});

test('gray-file: ffmpeg thins and scales a file into gray frames on a media-time clock', async () => {
  const frames = await loadGrayFrames(scene.path, { fps: 4, width: 160 });
  assert.equal(frames.length, 25 * 4);
  assert.deepEqual([frames[0].width, frames[0].height, frames[0].data.length], [160, 120, 160 * 120]);
  assert.deepEqual(frames.slice(0, 3).map((f) => f.t), [0, 250, 500]);
  // vtest.avi is 768x576: the height follows the aspect ratio, rounded to even.
  const v = await loadGrayFrames(join(DATA, 'vtest.avi'), { fps: 2, width: 202, duration: 1 });
  assert.deepEqual([v[0].width, v[0].height], [202, 152]);
  // stop() ends a read early without an error.
  let n = 0;
  const reader = new GrayFileReader(join(DATA, 'vtest.avi'), () => { if (++n === 3) reader.stop(); }, { fps: 10 });
  const info = await reader.start();
  assert.ok(info.frames >= 3 && info.frames < 700, `${info.frames} frames after stop()`);
  assert.throws(() => new GrayFileReader('x', () => {}, { width: 321 }), /width must be an even integer/);
});

test('vtest.avi (people walking all the time) is motion from the start to the end', async () => {
  const events: MotionEvent[] = [];
  const { info } = await detectFile(join(DATA, 'vtest.avi'), {}, { onEvent: (e) => events.push(e) });
  assert.equal(info.width, 320);
  const starts = events.filter((e) => e.event === 'start');
  assert.ok(starts.length >= 1, 'no motion in vtest.avi');
  assert.ok(starts[0].startedAt <= 2000, `first motion at ${starts[0].startedAt} ms`);
  // Motion covers nearly all of the 79.5 s.
  let covered = 0;
  let open = -1;
  for (const e of events) {
    if (e.event === 'start') open = e.startedAt;
    if (e.event === 'end' && open >= 0) { covered += (e.lastMotionAt ?? e.t) - open; open = -1; }
  }
  assert.ok(covered > 0.8 * 79_500, `motion covers only ${covered} ms`);
  assert.ok(events.some((e) => e.event === 'update' && e.boxes.length >= 2), 'several people, several boxes');
});

test('tree.avi: a mask over the swaying tree silences it; without it the leaves are motion; the hand is found', async () => {
  const tree = join(DATA, 'tree.avi');
  // The first 22 s are leaves only (a hand enters at about 23 s). Sensitive settings to make the leaves count.
  // Learned repetitive motion off: this is about what a mask does.
  const sensitive = { threshold: 15, repetitiveLevel: 0 };
  const leaves = await detectFile(tree, sensitive, { duration: 22 });
  assert.ok(leaves.events.some((e) => e.event === 'start'), 'swaying leaves gave no event without a mask');
  const masked = await detectFile(tree, { ...sensitive, masks: [[[0.12, 0], [1, 0], [1, 1], [0.12, 1]]] }, { duration: 22 });
  assert.deepEqual(masked.events, [], 'events with the tree masked');
  // Default settings over the whole clip: the hand (23..29 s, a fifth of the frame) is motion.
  const all = await detectFile(tree, {});
  const big = all.events.find((e) => e.event !== 'end' && e.t >= 23_000 && e.score > 0.05);
  assert.ok(big, `the hand was not seen: ${JSON.stringify(all.events.map((e) => [e.event, e.t, e.score]))}`);
});

/** Starts and ends (ms) of the events a clip gives with the default settings. */
async function eventsOf(path: string): Promise<Array<[string, number]>> {
  const { events } = await detectFile(path, {});
  return events.filter((e) => e.event !== 'update').map((e) => [e.event, e.startedAt]);
}

for (const [what, entry] of [['flicker', 12], ['shadow', 8], ['tree', 12]] as Array<[Phenomenon, number]>) {
  test(`${what}: nothing else moving is no event; a figure entering at ${entry} s is exactly one event within 1 s`, async () => {
    const alone = await makePhenomenon(dir, `${what}-alone`, what, 20);
    assert.deepEqual(await eventsOf(alone), [], `${what} alone raised events`);
    const entering = await makePhenomenon(dir, `${what}-figure`, what, 20, { at: entry });
    const events = await eventsOf(entering);
    const starts = events.filter(([kind]) => kind === 'start');
    assert.equal(starts.length, 1, JSON.stringify(events));
    assert.ok(starts[0][1] >= entry * 1000 && starts[0][1] <= entry * 1000 + 1000, `started at ${starts[0][1]} ms (${JSON.stringify(events)})`);
  });
}

test('CLI --debug writes the clip with the event state drawn: the square top left is white during the event only', async () => {
  const clip = await makePhenomenon(dir, 'debug-src', 'tree', 16, { at: 8 });
  const out = join(dir, 'debug.mp4');
  const lines = await cli(clip, '--debug', out);
  const start = lines.find((l) => l.event === 'start');
  assert.ok(start, JSON.stringify(lines));
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames,width,height', '-of', 'csv=p=0', out]);
  assert.equal(stdout.trim(), '320,240,80');
  // The pixel at (5, 5) of a frame, decoded by ffmpeg.
  const pixel = async (at: number): Promise<number> => {
    const { stdout: raw } = await run('ffmpeg', ['-v', 'error', '-ss', String(at), '-i', out, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { encoding: 'buffer', maxBuffer: 1 << 20 });
    return raw[5 * 320 + 5];
  };
  assert.ok(await pixel(start.startedAt + 1.5) > 200, 'no white square during the event');
  assert.ok(await pixel(2) < 60, 'white square without an event');
});

test('10 minutes of mains flicker (rolling bands): no event at all, memory flat', async () => {
  // Small and decoded as fast as ffmpeg goes: the detector's state, not the picture size, is under test.
  const clip = await makePhenomenon(dir, 'flicker-10min', 'flicker', 600, undefined, '128x96');
  const heap: number[] = [];
  const { events, info } = await detectFile(clip, {}, { width: 128, onFrame: (t) => { if (t % 10_000 === 0) heap.push(process.memoryUsage().heapUsed); } });
  assert.ok(info.frames >= 2990, `${info.frames} frames`);
  // Row light compensation takes the bands out: nothing moves, so no event (and none near the 60 s cap).
  const ends = events.filter((e) => e.event === 'end');
  assert.deepEqual(ends.map((e) => [e.startedAt, e.t - e.startedAt]), [], 'events during the flicker (start, duration)');
  // Heap in the last minute against the first: the same within a few MB (no per-frame growth).
  const first = Math.max(...heap.slice(0, 6));
  const last = Math.max(...heap.slice(-6));
  assert.ok(last - first < 8 << 20, `heap grew from ${first >> 20} MB to ${last >> 20} MB`);
});
