// The object model on real footage (frames decoded by ffmpeg from OpenCV's sample videos) and the
// shared detector's worker thread: one per process, stale looks dropped, nothing left after release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_MODEL_DIR, loadCenterNet, type CenterNet } from '../lib/objects/centernet';
import { acquireDetector, detectorInfo, killDetectorWorker } from '../lib/objects/shared-detector';
import { ObjectModelMissing, StaleLook, type Detection, type RgbImage } from '../lib/objects/types';
import { DATA } from './helpers/phenomena';
import { tempDir } from './helpers/paths';

/** One frame of a video at `seconds`, as ffmpeg decodes it to packed RGB. */
function frame(file: string, seconds: number, width: number, height: number): RgbImage {
  const out = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-ss', String(seconds), '-i', file,
    '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 64 << 20 });
  assert.equal(out.length, width * height * 3, `${file} at ${seconds} s is ${width}x${height}`);
  return { data: new Uint8Array(out), width, height };
}

const VTEST = join(DATA, 'vtest.avi');
const TREE = join(DATA, 'tree.avi');
/** People walking in vtest.avi at 5 s, x1,y1,x2,y2 in its 768x576 pixels (marked by hand). */
const PEOPLE_5S = [[374, 180, 400, 258], [410, 180, 460, 262], [505, 215, 540, 310], [553, 213, 587, 300], [670, 255, 715, 370]];

type Px = [number, number, number, number];
const toPx = (d: Detection, w: number, h: number): Px => [d.box.x * w, d.box.y * h, (d.box.x + d.box.w) * w, (d.box.y + d.box.h) * h];
function iou(a: number[], b: number[]): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  return (iw * ih) / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih);
}
/** The same person: boxes overlap well, or each one's centre lies inside the other. */
function samePerson(a: number[], b: number[]): boolean {
  const inside = (p: number[], q: number[]): boolean => {
    const cx = (p[0] + p[2]) / 2, cy = (p[1] + p[3]) / 2;
    return cx >= q[0] && cx <= q[2] && cy >= q[1] && cy <= q[3];
  };
  return iou(a, b) >= 0.4 || (inside(a, b) && inside(b, a));
}
const people = (found: Detection[], min: number): Detection[] => found.filter((d) => d.label === 'person' && d.score >= min);

let model: CenterNet;
test('the model loads from the package folder, adding no process-wide error handlers (its wasm glue would)', async () => {
  const handlers = (): number[] => [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
  const before = handlers();
  model = await loadCenterNet();
  assert.equal(model.inputSize, 512);
  assert.deepEqual(handlers(), before);
});

test('vtest.avi at 5 s: the people walking there, boxes where they are', async () => {
  const img = frame(VTEST, 5, 768, 576);
  const found = people(await model.detect(img, 0.5), 0.5);
  const boxes = found.map((d) => toPx(d, 768, 576));
  const matched = PEOPLE_5S.filter((gt) => boxes.some((b) => samePerson(b, gt)));
  assert.ok(matched.length >= 4, `people found at ${JSON.stringify(boxes.map((b) => b.map(Math.round)))}; matched ${matched.length}/5`);
  const stray = boxes.filter((b) => !PEOPLE_5S.some((gt) => samePerson(b, gt)));
  assert.ok(stray.length <= 1, `persons where nobody walks: ${JSON.stringify(stray.map((b) => b.map(Math.round)))}`);
});

test('no person in tree.avi (1 s, 3 s) nor in a moving box', async () => {
  for (const t of [1, 3]) {
    const found = people(await model.detect(frame(TREE, t, 320, 240), 0.3), 0.4);
    assert.deepEqual(found, [], `tree.avi at ${t} s`);
  }
  const dir = tempDir('objects-box');
  try {
    const clip = join(dir, 'box.mp4');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i',
      "color=c=0x606060:s=640x480:r=10[bg];color=c=white:s=90x160:r=10[box];[bg][box]overlay=x='40+t*150':y=200",
      '-t', '3', '-pix_fmt', 'yuv420p', clip]);
    for (const t of [0.5, 1.5, 2.5]) {
      const found = people(await model.detect(frame(clip, t, 640, 480), 0.3), 0.4);
      assert.deepEqual(found, [], `moving box at ${t} s`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a truncated or missing model file is ObjectModelMissing, with what to do', async () => {
  const dir = tempDir('objects-truncated');
  try {
    copyFileSync(join(DEFAULT_MODEL_DIR, 'centernet.json'), join(dir, 'centernet.json'));
    copyFileSync(join(DEFAULT_MODEL_DIR, 'centernet.bin'), join(dir, 'centernet.bin'));
    truncateSync(join(dir, 'centernet.bin'), 1_000_000);
    await assert.rejects(loadCenterNet(dir), (err: Error) => err instanceof ObjectModelMissing && /truncated/.test(err.message) && /reinstall/.test(err.message));
    const json = readFileSync(join(DEFAULT_MODEL_DIR, 'centernet.json'), 'utf8');
    writeFileSync(join(dir, 'centernet.json'), json.slice(0, json.length / 2));
    await assert.rejects(loadCenterNet(dir), (err: Error) => err instanceof ObjectModelMissing && /centernet\.json/.test(err.message));
    rmSync(join(dir, 'centernet.json'));
    await assert.rejects(loadCenterNet(dir), (err: Error) => err instanceof ObjectModelMissing && /ENOENT/.test(err.message));

    // Through the shared detector: the handle says so, looks reject alike, no thread stays for it.
    const threads = await threadCount();
    const det = acquireDetector({ modelDir: dir });
    await assert.rejects(det.ready(), ObjectModelMissing);
    await assert.rejects(det.detect(frame(TREE, 1, 320, 240)), ObjectModelMissing);
    await waitFor(() => threadsNow() === threads, 'the failed worker thread ends');
    det.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Threads of this process (/proc: the kernel's count, not the detector's). */
const threadsNow = (): number => readdirSync('/proc/self/task').length;
async function threadCount(): Promise<number> {
  await readFile(__filename); // libuv's thread pool started, so it does not count as the worker
  return threadsNow();
}
async function waitFor(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('shared detector: two handles, one worker thread; released, the thread is gone', async () => {
  const before = await threadCount();
  const a = acquireDetector();
  const b = acquireDetector();
  await Promise.all([a.ready(), b.ready()]);
  assert.equal(threadsNow(), before + 1, 'one thread for both handles');
  const img = frame(VTEST, 5, 768, 576);
  const copy = (): RgbImage => ({ ...img, data: img.data.slice() });
  const [fa, fb] = await Promise.all([a.detect(copy(), { maxWaitMs: 60_000 }), b.detect(copy(), { maxWaitMs: 60_000 })]);
  assert.ok(people(fa, 0.5).length >= 4 && people(fb, 0.5).length >= 4, 'both handles get the people');
  assert.equal(threadsNow(), before + 1);

  // The pixels went over without a copy (the buffer was transferred), a view into a bigger buffer is copied.
  const own = copy();
  await a.detect(own, { maxWaitMs: 60_000 });
  assert.equal(own.data.length, 0, 'transferred');
  const big = new Uint8Array(img.data.length + 16);
  big.set(img.data, 16);
  const view: RgbImage = { ...img, data: big.subarray(16) };
  assert.ok(people(await a.detect(view, { maxWaitMs: 60_000 }), 0.5).length >= 4);
  assert.equal(view.data.length, img.data.length, 'a view is left as it was');

  // A released handle: its pending look rejects, it takes no new look, the other goes on.
  const pendingA = a.detect(copy(), { maxWaitMs: 60_000 });
  const pendingB = b.detect(copy(), { maxWaitMs: 60_000 });
  a.release();
  await assert.rejects(pendingA, /released/);
  await assert.rejects(a.detect(copy()), /released/);
  assert.ok(people(await pendingB, 0.5).length >= 4);
  assert.equal(threadsNow(), before + 1, 'still running for b');
  b.release();
  await waitFor(() => threadsNow() === before, 'the worker thread ends after the last release');
  assert.equal(detectorInfo().handles, 0);
});

test('a burst of looks: stale ones dropped, none answered after it was due', async () => {
  const a = acquireDetector();
  const b = acquireDetector();
  try {
    await a.ready();
    const img = frame(TREE, 1, 320, 240);
    const maxWaitMs = 100;
    const looks = Array.from({ length: 10 }, (_, i) => {
      const sent = performance.now();
      const p = (i % 2 ? b : a).detect({ ...img, data: img.data.slice() }, { maxWaitMs });
      return { sent, p, settled: 0, stale: false, answered: false };
    });
    await Promise.all(looks.map((l) => l.p.then(
      () => { l.settled = performance.now(); l.answered = true; },
      (err: Error) => { l.settled = performance.now(); assert.ok(err instanceof StaleLook, String(err)); l.stale = true; })));
    const answered = looks.filter((l) => l.answered);
    const stale = looks.filter((l) => l.stale);
    assert.ok(answered.length >= 1 && stale.length >= 1, `answered ${answered.length}, stale ${stale.length}`);
    // One look at a time, in order: an answered look started when the one before it was answered (or when sent).
    let free = 0;
    for (const l of answered) {
      const started = Math.max(l.sent, free);
      assert.ok(started <= l.sent + maxWaitMs + 10, `a look started ${Math.round(started - l.sent)} ms after it was sent`);
      free = l.settled;
    }
    for (const l of stale) assert.ok(l.settled - l.sent >= maxWaitMs - 1, 'not dropped before it was due');
    // An idle detector takes a look at once, even one that may not wait at all.
    assert.ok(Array.isArray(await a.detect({ ...img, data: img.data.slice() }, { maxWaitMs: 0 })));
  } finally {
    a.release();
    b.release();
  }
});

test('a worker that dies rejects the look in it; the next look starts a new worker', async () => {
  const det = acquireDetector();
  try {
    await det.ready();
    const first = detectorInfo().threadId;
    const img = frame(TREE, 1, 320, 240);
    const look = det.detect({ ...img, data: img.data.slice() }, { maxWaitMs: 60_000 });
    await killDetectorWorker();
    await assert.rejects(look, /worker stopped/);
    const found = await det.detect({ ...img, data: img.data.slice() }, { maxWaitMs: 60_000 });
    assert.ok(Array.isArray(found));
    assert.notEqual(detectorInfo().threadId, first, 'a new worker');
  } finally {
    det.release();
  }
});

test('a crop at a 320 input: boxes map back to the frame', async () => {
  const frameImg = frame(VTEST, 5, 768, 576);
  const [cx, cy, cw, ch] = [340, 150, 280, 180]; // around the four people on the left
  const crop = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++) crop.set(frameImg.data.subarray(((cy + y) * 768 + cx) * 3, ((cy + y) * 768 + cx + cw) * 3), y * cw * 3);
  const det = acquireDetector({ inputSize: 320 });
  try {
    const found = people(await det.detect({ data: crop, width: cw, height: ch }, { maxWaitMs: 60_000 }), 0.5);
    const boxes = found.map((d) => toPx(d, cw, ch)).map(([x1, y1, x2, y2]) => [x1 + cx, y1 + cy, x2 + cx, y2 + cy]);
    const inCrop = PEOPLE_5S.slice(0, 4);
    const matched = inCrop.filter((gt) => boxes.some((b) => samePerson(b, gt)));
    assert.ok(matched.length >= 3, `people at ${JSON.stringify(boxes.map((b) => b.map(Math.round)))}; matched ${matched.length}/4`);
  } finally {
    det.release();
  }
});

test('after the tests: no detector left', () => {
  model.dispose();
  assert.equal(detectorInfo().handles, 0);
  assert.equal(detectorInfo({ inputSize: 320 }).handles, 0);
});
