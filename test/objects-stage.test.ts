// The object stage's own logic with a scripted detector (on top of the tests with the real model
// and real footage): which events go through, the filters, zones, the stationary test, the texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Box, MotionEvent } from '../lib/motion/event';
import { objectSettings } from '../lib/objects/settings';
import { settingsFromEditor } from '../lib/objects/node-config';
import { describeObjects, lookRegion, ObjectStage, type CropFrame, type FrameSource, type ObjectEvent } from '../lib/objects/stage';
import { drawObjects, labelColour } from '../lib/objects/draw';
import type { Detection, ObjectDetector } from '../lib/objects/types';
import { ConfigError } from '../lib/common/settings';

const FULL: Box = { x: 0, y: 0, w: 1, h: 1 };

/** A source whose crop is the whole frame, so the script's boxes are frame boxes. */
class ScriptedSource implements FrameSource {
  crops: number[] = [];
  crop(_camera: string, t: number): Promise<CropFrame> {
    this.crops.push(t);
    return Promise.resolve({ img: { data: new Uint8Array(4 * 4 * 3), width: 4, height: 4 }, region: FULL, t });
  }
}

/** A detector answering each look from a script indexed by look number. */
function scripted(script: (look: number) => Detection[]): ObjectDetector & { calls: number } {
  const d = { calls: 0, detect: () => Promise.resolve(script(d.calls++)) };
  return d;
}

const ev = (event: MotionEvent['event'], t: number, boxes: Box[] = [{ x: 0.4, y: 0.3, w: 0.1, h: 0.4 }]): MotionEvent =>
  ({ event, t, startedAt: 0, score: 0.02, boxes, zones: [], camera: 'door' });

const person = (box: Box, score = 0.87): Detection => ({ label: 'person', score, box });

function stageWith(settings: Record<string, unknown>, script: (look: number) => Detection[]) {
  const out: ObjectEvent[] = [];
  const source = new ScriptedSource();
  const detector = scripted(script);
  const stage = new ObjectStage(objectSettings(settings), detector, source, (e) => out.push(e));
  return { out, source, detector, stage };
}

test('an event without a wanted object is not sent; one with it is sent from the look that found it to its end', async () => {
  const walker = (i: number): Box => ({ x: 0.1 + i * 0.1, y: 0.3, w: 0.1, h: 0.4 });
  // Looks 0 and 1 see a cat only, look 2 a person.
  const { out, stage, detector } = stageWith({ interval: 500 }, (i) => i < 2 ? [{ label: 'cat', score: 0.9, box: walker(i) }] : [person(walker(i))]);
  await stage.push(ev('start', 1000));
  await stage.lookIfDue('door', 1200); // too early: no look
  assert.equal(detector.calls, 1);
  await stage.lookIfDue('door', 1500);
  assert.equal(out.length, 0, 'a cat is not a wanted label');
  await stage.push(ev('update', 2000));
  assert.equal(detector.calls, 3);
  assert.deepEqual(out.map((e) => e.event), ['start']);
  assert.equal(out[0].objects[0].label, 'person');
  assert.equal(out[0].startedAt, 0, 'the event keeps its start time');
  await stage.push(ev('update', 2100));
  await stage.push(ev('end', 4000));
  assert.deepEqual(out.map((e) => e.event), ['start', 'update', 'end']);
  assert.ok(out.every((e) => e.objects.length === 1 && e.objects[0].label === 'person'));
  assert.deepEqual(stage.openCameras, []);

  // Another event with only cats: nothing at all, not even its end.
  const n = out.length;
  const cats = stageWith({}, () => [{ label: 'cat', score: 0.99, box: walker(1) }]);
  await cats.stage.push(ev('start', 1000));
  await cats.stage.push(ev('end', 3000));
  assert.equal(cats.out.length, 0);
  assert.equal(out.length, n);
});

test('at most maxLooks looks per event, and none once the event ended', async () => {
  const { stage, detector } = stageWith({ interval: 100, maxLooks: 3 }, () => []);
  await stage.push(ev('start', 0));
  for (let t = 100; t <= 1000; t += 100) await stage.lookIfDue('door', t);
  assert.equal(detector.calls, 3);
  await stage.push(ev('end', 1100));
  await stage.lookIfDue('door', 5000);
  assert.equal(detector.calls, 3);
});

test('score, box size, zones and per-zone labels decide what counts', async () => {
  const zones = [
    { name: 'door', points: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] },
    { name: 'driveway', points: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]] },
  ];
  const s = objectSettings({ labels: ['person'], minScore: 0.6, minBox: 0.01, maxBox: 0.5, zones, zoneLabels: { driveway: ['car'] } });
  const stage = new ObjectStage(s, scripted(() => []), new ScriptedSource(), () => undefined);
  const found = stage.judge('c', 0, [
    person({ x: 0.1, y: 0.2, w: 0.1, h: 0.4 }, 0.9), // door, person: counts
    person({ x: 0.2, y: 0.2, w: 0.1, h: 0.4 }, 0.55), // too unsure
    person({ x: 0.3, y: 0.5, w: 0.02, h: 0.05 }, 0.9), // too small
    person({ x: 0.0, y: 0.0, w: 0.6, h: 1.0 }, 0.9), // fills more than half the picture: too large
    person({ x: 0.6, y: 0.2, w: 0.1, h: 0.4 }, 0.9), // driveway wants cars, not people
    { label: 'car', score: 0.8, box: { x: 0.6, y: 0.5, w: 0.3, h: 0.3 } }, // driveway, car: counts
    { label: 'car', score: 0.8, box: { x: 0.05, y: 0.5, w: 0.3, h: 0.3 } }, // a car at the door does not
  ], FULL);
  assert.deepEqual(found.map((o) => `${o.label}@${o.zone}`), ['person@door', 'car@driveway']);

  // Without zones every place counts, and there is no zone on the objects.
  const plain = new ObjectStage(objectSettings({}), scripted(() => []), new ScriptedSource(), () => undefined);
  const all = plain.judge('c', 0, [person({ x: 0.6, y: 0.2, w: 0.1, h: 0.4 })], FULL);
  assert.equal(all.length, 1);
  assert.equal(all[0].zone, undefined);
});

test('an object that keeps its box is stationary after a while and ignored until it moves', async () => {
  const stage = new ObjectStage(objectSettings({ labels: 'car', stationaryAfter: 10_000 }), scripted(() => []), new ScriptedSource(), () => undefined);
  const parked: Box = { x: 0.5, y: 0.5, w: 0.3, h: 0.2 };
  const car = (box: Box, score = 0.8): Detection => ({ label: 'car', score, box });
  const jitter = (b: Box): Box => ({ ...b, x: b.x + 0.003, w: b.w - 0.002 });
  assert.equal(stage.judge('c', 0, [car(parked)], FULL).length, 1, 'a car arriving counts');
  assert.equal(stage.judge('c', 5000, [car(jitter(parked))], FULL).length, 1, 'not stationary yet');
  // Its score dips below the minimum once: still the same car, not a new one.
  assert.equal(stage.judge('c', 8000, [car(parked, 0.35)], FULL).length, 0);
  assert.equal(stage.judge('c', 12_000, [car(parked)], FULL).length, 0, 'parked: stationary');
  assert.equal(stage.judge('c', 600_000, [car(jitter(parked))], FULL).length, 0, 'still parked ten minutes later');
  // A look elsewhere (its region does not hold the car) forgets nothing.
  assert.equal(stage.judge('c', 601_000, [], { x: 0, y: 0, w: 0.4, h: 0.4 }).length, 0);
  assert.equal(stage.judge('c', 602_000, [car(parked)], FULL).length, 0, 'still stationary');
  // It drives off: moved, counts again.
  assert.equal(stage.judge('c', 603_000, [car({ x: 0.2, y: 0.5, w: 0.3, h: 0.2 })], FULL).length, 1);
  // The model once calls it a truck: still the same object in the same place.
  assert.equal(stage.judge('c', 603_500, [{ label: 'truck', score: 0.4, box: { x: 0.2, y: 0.5, w: 0.3, h: 0.2 } }], FULL).length, 0);
  // Looks that cover the old place and see nothing there, three times: the place is free; a car parking there again is new.
  stage.judge('c', 604_000, [], FULL);
  stage.judge('c', 604_100, [], FULL);
  assert.equal(stage.judge('c', 604_200, [car(parked, 0.35)], FULL).length, 0, 'seen again (below the minimum): not gone');
  for (const at of [604_300, 604_400, 604_500]) stage.judge('c', at, [], FULL);
  assert.equal(stage.judge('c', 605_000, [car(parked)], FULL).length, 1);
  // Other cameras have their own objects.
  assert.equal(stage.judge('other', 605_000, [car(parked)], FULL).length, 1);
});

test('the look region covers the motion boxes with a margin, square in pixels, inside the frame', () => {
  const r = lookRegion([{ x: 0.45, y: 0.4, w: 0.05, h: 0.2 }], 1280, 720);
  const px = { x: r.x * 1280, y: r.y * 720, w: r.w * 1280, h: r.h * 720 };
  assert.ok(Math.abs(px.w - px.h) <= 2, `square: ${px.w}x${px.h}`);
  assert.ok(px.w >= 720 / 3 - 2, 'at least a third of the short side');
  assert.ok(px.x <= 0.45 * 1280 && px.x + px.w >= 0.5 * 1280 && px.y <= 0.4 * 720 && px.y + px.h >= 0.6 * 720, 'covers the box');
  const edge = lookRegion([{ x: 0.9, y: 0.8, w: 0.1, h: 0.2 }], 1280, 720);
  assert.ok(edge.x + edge.w <= 1 + 1e-9 && edge.y + edge.h <= 1 + 1e-9 && edge.x >= 0 && edge.y >= 0);
  const wide = lookRegion([{ x: 0, y: 0.1, w: 1, h: 0.2 }, { x: 0.2, y: 0.7, w: 0.1, h: 0.1 }], 1280, 720);
  assert.deepEqual([wide.x, wide.w], [0, 1]);
  assert.ok(wide.h <= 1);
});

test('what an alert says, and the settings as the editor gives them', () => {
  assert.equal(describeObjects([{ label: 'person', score: 0.874, box: FULL, zone: 'porch' }], 'door'), 'Person at door (porch), 87 %');
  assert.equal(describeObjects([
    { label: 'person', score: 0.6, box: FULL }, { label: 'dog', score: 0.7, box: FULL }, { label: 'person', score: 0.9, box: FULL },
  ], 'yard'), '2× Person at yard, 90 %; dog, 70 %');
  const s = settingsFromEditor({
    labels: 'Person, car', minScore: '60', minBox: '1', maxBox: '50', interval: '0.5', maxLooks: '8', stationary: '20',
    zones: '[{"name":"door","points":[[0,0],[1,0],[1,1]]}]', zoneLabels: 'door: person, dog',
  });
  assert.deepEqual([s.labels, s.minScore, s.minBox, s.maxBox, s.interval, s.maxLooks, s.stationaryAfter], [['person', 'car'], 0.6, 0.01, 0.5, 500, 8, 20_000]);
  assert.deepEqual(s.zoneLabels, { door: ['person', 'dog'] });
  assert.throws(() => settingsFromEditor({ labels: 'persn' }), (e: Error) => e instanceof ConfigError && /persn.*not a COCO label/.test(e.message));
  assert.throws(() => settingsFromEditor({ zoneLabels: 'garage: car' }), /no zone named "garage"/);
  assert.throws(() => settingsFromEditor({ minScore: '150' }), /minScore: 1.5 is out of range/);
});

test('boxes and labels are drawn into the picture', () => {
  const w = 320, h = 240;
  const img = { data: new Uint8Array(w * h * 3).fill(128), width: w, height: h };
  drawObjects(img, [{ label: 'person', score: 0.87, box: { x: 0.25, y: 0.5, w: 0.25, h: 0.25 } }]);
  const at = (x: number, y: number): number[] => [...img.data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3)];
  const red = labelColour('person');
  assert.deepEqual(at(80, 150), red, 'left edge');
  assert.deepEqual(at(100, 120), red, 'top edge');
  assert.deepEqual(at(100, 150), [128, 128, 128], 'inside untouched');
  // The label strip above the box holds black glyph pixels.
  let ink = 0;
  for (let y = 100; y < 120; y++) for (let x = 80; x < 160; x++) if (at(x, y).every((v) => v === 0)) ink++;
  assert.ok(ink > 20, `label ink ${ink}`);
});
