// motion-detect in the real Node-RED runtime: frames of an ffmpeg-made clip in,
// start/update/end messages out; status, bad frames, reset, bad settings.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { helper, mantisNode } from './helpers/node-red';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { makeClip, STANDARD_SCENE } from './helpers/clips';
import { loadGrayFrames } from '../lib/video/gray-file';
import type { GrayFrame } from '../lib/video/frame';
import type { MotionEvent } from '../lib/motion/event';

type Msg = Record<string, unknown> & { payload: MotionEvent; topic: string; camera?: string };

/** Records calls of a node's status/warn/error (node-red-node-test-helper emits call:<method>). */
function calls(node: unknown, method: 'status' | 'warn' | 'error'): unknown[][] {
  const seen: unknown[][] = [];
  (node as { on(ev: string, f: (call: { args: unknown[] }) => void): void }).on(`call:${method}`, (call) => seen.push(call.args));
  return seen;
}

const detectNode = (extra: Record<string, unknown> = {}) => ({
  id: 'md', type: 'motion-detect', name: '', threshold: '25', minArea: '0.3', minDuration: '0.4', endDelay: '2', updateInterval: '1',
  zones: '[{"name":"left","points":[[0,0],[0.5,0],[0.5,1],[0,1]]},{"name":"right","points":[[0.5,0],[1,0],[1,1],[0.5,1]]}]',
  masks: '', advanced: '', wires: [['out']], ...extra,
});

describe('motion-detect in Node-RED', () => {
  let dir: string;
  let frames: GrayFrame[];
  before(async () => {
    dir = tempDir('motion-node');
    // The first 14 s of the standard scene: one object (2..4.5 s, left), a brightness step (7.5 s), a second object (9.5..12 s, right).
    const clip = await makeClip(dir, 'scene', { ...STANDARD_SCENE, duration: 14 });
    frames = await loadGrayFrames(clip.path, { fps: 5, width: 320 });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
    rmSync(dir, { recursive: true, force: true });
  });

  test('frames in, start/update/end out, with camera, zones and status', async () => {
    await helper.load([mantisNode('motion-detect')], [detectNode(), { id: 'out', type: 'helper' }]);
    const md = helper.getNode('md');
    const statuses = calls(md, 'status');
    const got: Msg[] = [];
    helper.getNode('out').on('input', (msg) => got.push(msg as Msg));
    for (const f of frames) md.receive({ topic: 'cam1', payload: f });
    await waitFor(() => got.filter((m) => m.payload.event === 'end').length >= 2, 10_000, 'two end events');
    const kinds = got.filter((m) => m.payload.event !== 'update').map((m) => m.payload.event);
    assert.deepEqual(kinds, ['start', 'end', 'start', 'end']);
    for (const m of got) {
      assert.equal(m.topic, 'motion');
      assert.equal(m.camera, 'cam1');
      assert.equal(m.payload.camera, 'cam1');
    }
    const [s1, , s2] = got.filter((m) => m.payload.event !== 'update').map((m) => m.payload);
    assert.ok(Math.abs(s1.startedAt - 2000) <= 500, `first start at ${s1.startedAt}`);
    assert.ok(Math.abs(s2.startedAt - 9500) <= 500, `second start at ${s2.startedAt}`);
    assert.deepEqual(s1.zones, ['left']);
    assert.deepEqual(s2.zones, ['right']);
    assert.ok(got.some((m) => m.payload.event === 'update'), 'no update while motion went on');
    const texts = statuses.map((a) => String((a[0] as { text?: string }).text));
    assert.ok(texts.includes('watching'), texts.join(' | '));
    assert.ok(texts.some((t) => /^motion \d+\.\d% in left$/.test(t)), texts.join(' | '));
    await helper.unload();
  });

  test('bad frames: one warning, a red status, and detection goes on; msg.reset ends an event', async () => {
    await helper.load([mantisNode('motion-detect')], [detectNode({ zones: '' }), { id: 'out', type: 'helper' }]);
    const md = helper.getNode('md');
    const warns = calls(md, 'warn');
    const statuses = calls(md, 'status');
    const got: Msg[] = [];
    helper.getNode('out').on('input', (msg) => got.push(msg as Msg));
    for (let k = 0; k < 5; k++) md.receive({ topic: 'cam1', payload: { width: 320, height: 240, data: new Uint8Array(10), t: k } });
    md.receive({ topic: 'cam1', payload: 'not a frame' });
    await waitFor(() => warns.length >= 2, 5000, 'warnings');
    assert.equal(warns.length, 2, `one warning per kind of problem: ${JSON.stringify(warns)}`);
    assert.match(String(warns[0][0]), /expected 320x240 = 76800/);
    assert.ok(statuses.some((a) => /^bad frame/.test(String((a[0] as { text?: string }).text))));
    // Frames up to the middle of the first object's motion, then a reset.
    for (const f of frames.filter((f) => f.t <= 3600)) md.receive({ topic: 'cam1', payload: f });
    await waitFor(() => got.some((m) => m.payload.event === 'start'), 5000, 'start');
    md.receive({ topic: 'cam1', reset: true });
    await waitFor(() => got.some((m) => m.payload.event === 'end'), 5000, 'end after reset');
    const end = got.find((m) => m.payload.event === 'end');
    assert.equal(end?.payload.startedAt, got[0].payload.startedAt);
    await helper.unload();
  });

  test('the example flow (test-scene camera -> motion-detect) reports the figure crossing the room', async () => {
    const flow = (JSON.parse(readFileSync(join(repoRoot, 'examples', 'motion-detect.json'), 'utf8')) as Array<Record<string, unknown>>)
      .map((n) => (n.type === 'debug' ? { id: n.id, z: n.z, type: 'helper' } : n));
    await helper.load([mantisNode('mantis-camera'), mantisNode('camera-in'), mantisNode('motion-detect')], flow);
    try {
      const got: Msg[] = [];
      helper.getNode('md0dbg000000001').on('input', (msg) => got.push(msg as Msg));
      // The scene's figure crosses in 3 s every 8 s.
      const start = await waitFor(() => got.find((m) => m.payload.event === 'start'), 30_000, 'a start event from the test scene');
      assert.equal(start.topic, 'motion');
      assert.ok(start.payload.zones.length >= 1, JSON.stringify(start.payload));
      assert.ok(start.payload.score > 0.003 && start.payload.score < 0.3, JSON.stringify(start.payload));
      await waitFor(() => got.find((m) => m.payload.event === 'end'), 25_000, 'the end of that event');
    } finally {
      await helper.unload(); // stops the camera's ffmpeg even when an assertion failed
    }
  });

  test('bad settings: a clear error and status, Node-RED keeps running', async () => {
    await helper.load([mantisNode('motion-detect')], [detectNode({ id: 'bad', threshold: '0', wires: [[]] }), detectNode({ id: 'bad2', masks: '[[[0,0],[1,0]]]', wires: [[]] })]);
    const bad = helper.getNode('bad');
    const bad2 = helper.getNode('bad2');
    // The constructor already ran; its error was logged. The node ignores input without throwing.
    bad.receive({ payload: frames[0] });
    bad2.receive({ payload: frames[0] });
    const log = helper.log().args.map((a) => JSON.stringify(a));
    assert.ok(log.some((l) => /threshold: 0 is out of range/.test(l)), log.join('\n').slice(0, 2000));
    assert.ok(log.some((l) => /masks\[0\]: a polygon needs at least 3 points/.test(l)), log.join('\n').slice(0, 2000));
    await helper.unload();
  });
});
