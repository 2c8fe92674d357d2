// object-detect in the real Node-RED with the real model, on real footage: a camera (file source)
// ▸ camera-in ▸ motion-detect ▸ object-detect ▸ alarm-panel (armed away). The alarm goes pending
// only for the clip with people; the witnesses are motion-detect's own boxes, ffmpeg's decode of the
// picture, the alarm's state messages.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { coreNode, helper, mantisNode } from './helpers/node-red';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { jpegSize, onCall } from './helpers/video';
import { appleClip, brightnessClip, jpegPixels, TREE, VTEST } from './helpers/object-clips';
import type { Box } from '../lib/motion/event';
import type { ObjectEvent } from '../lib/objects/stage';

type Msg = Record<string, unknown>;
const nodes = () => ['mantis-camera', 'camera-in', 'motion-detect', 'object-detect', 'alarm-panel'].map(mantisNode);

function flow(camera: Record<string, unknown>, objects: Record<string, unknown> = {}, motion: Record<string, unknown> = {}): Msg[] {
  return [
    { id: 'tab', type: 'tab', label: 'objects' },
    { id: 'cam', type: 'mantis-camera', name: 'walkway', detectWidth: 320, detectFps: 5, segmentSeconds: 1, keepSeconds: 20, ...camera },
    { id: 'in', type: 'camera-in', z: 'tab', camera: 'cam', wires: [['md', 'frames'], []] },
    {
      id: 'md', type: 'motion-detect', z: 'tab', threshold: 25, minArea: 0.3, minDuration: 0.4, endDelay: 2, updateInterval: 1,
      zones: '', masks: '', advanced: '', ...motion, wires: [['od', 'motion'], []],
    },
    {
      id: 'od', type: 'object-detect', z: 'tab', camera: 'cam', enabled: 'on', labels: 'person', minScore: 50, minBox: 0.05, maxBox: 90,
      zones: '', zoneLabels: '', interval: 0.7, maxLooks: 20, stationary: 30, ...objects, wires: [['panel', 'objs']],
    },
    {
      id: 'panel', type: 'alarm-panel', z: 'tab', name: 'alarm', broker: '', deviceId: 'mantis_obj', cameras: 'walkway',
      exitDelay: 0, entryDelay: 30, triggerTime: 0, snapshotEvery: 0, discovery: 'entity', wires: [['states'], ['alerts'], []],
    },
    ...['frames', 'motion', 'objs', 'states', 'alerts'].map((id) => ({ id, type: 'helper', z: 'tab' })),
  ];
}

interface Run { frames: number; motion: Msg[]; objs: Msg[]; states: Msg[]; alerts: Msg[]; statuses: string[] }

async function start(f: Msg[]): Promise<Run> {
  helper.settings({ userDir: tempDir('objects-nr') }); // the alarm's state file: a fresh one per test
  await helper.load(nodes(), f);
  const r: Run = { frames: 0, motion: [], objs: [], states: [], alerts: [], statuses: [] };
  helper.getNode('frames').on('input', () => { r.frames++; });
  for (const k of ['motion', 'objs', 'states', 'alerts'] as const) helper.getNode(k).on('input', (m) => { r[k].push(m); });
  onCall(helper.getNode('od'), 'status', ([s]) => r.statuses.push(String((s as { text?: unknown }).text)));
  helper.getNode('panel').receive({ payload: 'arm_away' });
  await waitFor(() => r.states.some((m) => m.payload === 'armed_away'), 10_000, 'armed away');
  return r;
}

const overlaps = (a: Box, b: Box): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe('object-detect in Node-RED 5 with the real model', () => {
  before(() => helper.startServer());
  afterEach(() => helper.unload());
  after(() => helper.stopServer());

  test('people walking (vtest.avi): the alarm goes pending, saying who; the event has people where the motion is; the picture has their boxes', async () => {
    const dir = tempDir('objects-vtest');
    const r = await start(flow({ source: 'file', input: VTEST, width: 0, height: 0, fps: 0 }));
    const alert = await waitFor(() => r.alerts[0], 90_000, 'the alert');
    assert.match(String(alert.text), /^(\d+× )?Person at walkway, \d+ % — entry delay running/);
    assert.ok(r.states.some((m) => m.payload === 'pending'), 'the alarm went pending');
    const first = r.objs[0]!;
    const ev = first.payload as ObjectEvent;
    assert.equal(ev.event, 'start');
    assert.ok(ev.objects.length >= 1 && ev.objects.every((o) => o.label === 'person' && o.score >= 0.5));
    // motion-detect's boxes (no model involved) say where something moved: people walk there. (A person
    // standing still beside them may be in the picture looked at too, so: near the motion, and one on it.)
    const near = (b: Box): Box => ({ x: b.x - 0.1, y: b.y - 0.1, w: b.w + 0.2, h: b.h + 0.2 });
    for (const o of ev.objects) assert.ok(ev.boxes.some((b) => overlaps(near(b), o.box)), `person at ${JSON.stringify(o.box)} is near the motion`);
    assert.ok(ev.objects.some((o) => ev.boxes.some((b) => overlaps(b, o.box))), 'a person is on a motion box');
    assert.ok(r.statuses.some((s) => /^person \d+ %/.test(s)), `status says what it saw: ${r.statuses.join(' | ')}`);

    // The picture: the full frame, with a red frame along each person's box (checked on ffmpeg's decode of the JPEG).
    const jpeg = first.image as Buffer;
    assert.ok(Buffer.isBuffer(jpeg), 'msg.image is the JPEG with the boxes');
    assert.ok(Buffer.isBuffer(alert.image) && jpeg.equals(alert.image), 'the alert carries it too');
    const { width, height } = jpegSize(jpeg);
    assert.deepEqual([width, height], [768, 576]);
    const px = await jpegPixels(jpeg, dir, width, height);
    const o = ev.objects[0]!;
    const x = Math.round(o.box.x * width) + 1;
    let red = 0, rows = 0;
    for (let y = Math.round((o.box.y + o.box.h * 0.3) * height); y < (o.box.y + o.box.h * 0.7) * height; y++, rows++) {
      const i = (y * width + x) * 3;
      if (px[i] > 170 && px[i + 1] < 110 && px[i + 2] < 110) red++;
    }
    assert.ok(red > rows * 0.8, `the left edge of the box is red (${red} of ${rows} pixels)`);

    // The rest of the event passes with its objects, and its end.
    await waitFor(() => r.objs.some((m) => (m.payload as ObjectEvent).event === 'update'), 20_000, 'an update with objects');
    assert.ok(r.objs.every((m) => Array.isArray((m.payload as ObjectEvent).objects)));
  });

  const quiet: Array<{ what: string; camera: (dir: string) => Promise<Record<string, unknown>>; motion: boolean; detect?: Record<string, unknown> }> = [
    // With motion-detect's learning of repetitive motion off, the tree's leaves make events to look at.
    {
      what: 'a tree in the wind (tree.avi)', camera: () => Promise.resolve({ source: 'file', input: TREE, width: 0, height: 0, fps: 0 }), motion: true,
      detect: { advanced: '{"repetitiveLevel":0,"shadowCorrelation":1}' },
    },
    { what: "the demo scene's moving box", camera: () => Promise.resolve({ source: 'test', width: 640, height: 360, fps: 10 }), motion: true },
    { what: 'an apple sliding across a wall', camera: async (dir) => ({ source: 'file', input: await appleClip(dir), width: 0, height: 0, fps: 0 }), motion: true },
    { what: 'a brightness sweep over a building', camera: async (dir) => ({ source: 'file', input: await brightnessClip(dir), width: 0, height: 0, fps: 0 }), motion: false },
  ];
  // All four clips at once, each its own camera ▸ motion-detect ▸ object-detect chain, into one armed panel:
  // one deploy and one 20 s window instead of four (the model is one per process anyway).
  test(`no people (${quiet.map((q) => q.what).join('; ')}): no object event, the alarm stays armed`, async () => {
    const dir = tempDir('objects-quiet');
    const cameras = await Promise.all(quiet.map((q) => q.camera(dir)));
    const chains = quiet.map((q, i) => flow({ ...cameras[i], name: `quiet${i}` }, {}, q.detect)
      .filter((n) => n.type !== 'tab' && n.id !== 'panel' && n.id !== 'states' && n.id !== 'alerts')
      .map((n) => ({ ...n, id: `${String(n.id)}${i}`, ...(n.camera ? { camera: `cam${i}` } : {}),
        ...(Array.isArray(n.wires) ? { wires: (n.wires as string[][]).map((w) => w.map((t) => (t === 'panel' ? 'panel' : `${t}${i}`))) } : {}) })));
    const panel = flow({}).filter((n) => n.type === 'tab' || n.id === 'panel' || n.id === 'states' || n.id === 'alerts')
      .map((n) => (n.id === 'panel' ? { ...n, cameras: quiet.map((_, i) => `quiet${i}`).join(',') } : n));
    helper.settings({ userDir: tempDir('objects-nr') });
    await helper.load(nodes(), [...panel, ...chains.flat()]);
    const r = quiet.map(() => ({ frames: 0, motion: [] as Msg[], objs: [] as Msg[], statuses: [] as string[] }));
    const states: Msg[] = [], alerts: Msg[] = [];
    helper.getNode('states').on('input', (m) => { states.push(m); });
    helper.getNode('alerts').on('input', (m) => { alerts.push(m); });
    r.forEach((c, i) => {
      helper.getNode(`frames${i}`).on('input', () => { c.frames++; });
      helper.getNode(`motion${i}`).on('input', (m) => { c.motion.push(m); });
      helper.getNode(`objs${i}`).on('input', (m) => { c.objs.push(m); });
      onCall(helper.getNode(`od${i}`), 'status', ([st]) => c.statuses.push(String((st as { text?: unknown }).text)));
    });
    helper.getNode('panel').receive({ payload: 'arm_away' });
    await waitFor(() => states.some((m) => m.payload === 'armed_away'), 10_000, 'armed away');
    // 20 s of each clip (frames counted), then every event ended and its looks done.
    await waitFor(() => r.every((c) => c.frames >= 100), 90_000, '20 s of frames from each clip');
    quiet.forEach((q, i) => {
      if (!q.motion) return;
      assert.ok(r[i].motion.some((m) => (m.payload as { event: string }).event === 'start'), `${q.what}: there was motion to look at`);
      assert.ok(r[i].statuses.includes('looking…'), `${q.what}: object-detect looked`);
    });
    await waitFor(() => r.every((c) => (c.motion.length === 0 || (c.motion.at(-1)!.payload as { event: string }).event === 'end')
      && !c.statuses.at(-1)?.startsWith('looking')), 60_000, 'the last events to end');
    quiet.forEach((q, i) => assert.deepEqual(r[i].objs.map((m) => (m.payload as ObjectEvent).objects), [], `${q.what}: no object event`));
    assert.equal(alerts.length, 0, 'no alert');
    assert.ok(!states.some((m) => m.payload === 'pending'), 'never pending');
  });

  test('examples/object-detect.json deploys and sends people with the boxed picture', async () => {
    const f = JSON.parse(readFileSync(join(repoRoot, 'examples', 'object-detect.json'), 'utf8')) as Msg[];
    helper.settings({ userDir: tempDir('objects-example') });
    await helper.load([coreNode('common/21-debug.js'), ...nodes()], f);
    const got: Msg[] = [];
    const debug = f.find((n) => n.type === 'debug' && n.name === 'picture with boxes')!;
    helper.getNode(String(debug.id)).on('input', (m) => { got.push(m); });
    const m = await waitFor(() => got[0], 60_000, 'an event with objects');
    assert.equal((m.payload as ObjectEvent).objects[0]?.label, 'person');
    assert.ok(Buffer.isBuffer(m.image));
  });

  test('alarm-panel told to count only events with objects: plain motion is shown but sets nothing off', async () => {
    helper.settings({ userDir: tempDir('objects-only') });
    await helper.load([mantisNode('alarm-panel')], [
      { id: 'tab', type: 'tab', label: 'panel' },
      {
        id: 'panel', type: 'alarm-panel', z: 'tab', broker: '', deviceId: 'mantis_only', cameras: 'door', exitDelay: 0, entryDelay: 30,
        triggerTime: 0, snapshotEvery: 0, objectsOnly: true, wires: [['states'], ['alerts'], []],
      },
      { id: 'states', type: 'helper', z: 'tab' }, { id: 'alerts', type: 'helper', z: 'tab' },
    ]);
    const states: Msg[] = [], alerts: Msg[] = [];
    helper.getNode('states').on('input', (m) => { states.push(m); });
    helper.getNode('alerts').on('input', (m) => { alerts.push(m); });
    helper.getNode('panel').receive({ payload: 'arm_away' });
    await waitFor(() => states.some((m) => m.payload === 'armed_away'), 10_000, 'armed away');
    const ev = (event: string, objects?: unknown[]) => ({ topic: 'motion', payload: { event, t: Date.now(), startedAt: Date.now(), score: 0.05, boxes: [], zones: [], camera: 'door', ...(objects ? { objects } : {}) } });
    helper.getNode('panel').receive(ev('start'));
    helper.getNode('panel').receive(ev('end'));
    helper.getNode('panel').receive({ payload: 'status' }); // answered after the two events: they were handled
    await waitFor(() => states.filter((m) => m.payload === 'armed_away').length >= 2, 10_000, 'the status answer');
    assert.equal(alerts.length, 0, 'plain motion set nothing off');
    helper.getNode('panel').receive(ev('start', [{ label: 'person', score: 0.874, box: { x: 0.1, y: 0.1, w: 0.1, h: 0.3 }, zone: 'porch' }]));
    const alert = await waitFor(() => alerts[0], 10_000, 'the alert');
    assert.equal(alert.text, 'Person at door (porch), 87 % — entry delay running, disarm now or the alarm goes off');
    assert.ok(states.some((m) => m.payload === 'pending'));
  });
});
