import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { helper, mantisNode } from './helpers/node-red';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { ffprobe, jpegSize } from './helpers/video';

type FlowNode = Record<string, unknown> & { id: string; type: string };

function example(name: string): FlowNode[] {
  return JSON.parse(readFileSync(join(repoRoot, 'examples', `${name}.json`), 'utf8')) as FlowNode[];
}

function core(file: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve(`@node-red/nodes/core/common/${file}`, { paths: [require.resolve('node-red')] }));
}

const nodes = () => [core('20-inject.js'), core('21-debug.js'), mantisNode('mantis-camera'), mantisNode('camera-in'), mantisNode('motion-detect'), mantisNode('record-clip')];
const byType = (flow: FlowNode[], type: string) => flow.filter((n) => n.type === type);

before(() => helper.startServer());
afterEach(() => helper.unload());
after(() => helper.stopServer());

test('examples/camera-in.json deploys and its inject button gets a snapshot', async () => {
  const flow = example('camera-in');
  await helper.load(nodes(), flow);
  const [inject] = byType(flow, 'inject');
  const debug = byType(flow, 'debug').find((n) => n.name === 'snapshot JPEG')!;
  const got: Array<Record<string, unknown>> = [];
  helper.getNode(debug.id).on('input', (msg) => got.push(msg));
  const camIn = byType(flow, 'camera-in')[0];
  // What the inject button sends, once the camera has recorded a first segment.
  await waitFor(async () => {
    helper.getNode(camIn.id).receive({ payload: inject.payload });
    return waitFor(() => got[0], 3000, 'snapshot');
  }, 20_000, 'a snapshot');
  assert.deepEqual(jpegSize(got[0].payload as Buffer), { width: 1280, height: 720 });
});

test('examples/record-clip.json: the test scene\'s walker is detected and recorded with pre-roll', async () => {
  const flow = example('record-clip');
  const folder = tempDir('example-clips');
  for (const n of byType(flow, 'record-clip')) n.folder = folder;
  await helper.load(nodes(), flow);
  const motion: Array<{ event: string }> = [];
  helper.getNode(byType(flow, 'debug').find((n) => n.name === 'motion')!.id).on('input', (msg) => motion.push(msg.payload as { event: string }));
  const clips: Array<Record<string, unknown>> = [];
  helper.getNode(byType(flow, 'debug').find((n) => n.name === 'clip')!.id).on('input', (msg) => clips.push(msg));
  await waitFor(() => motion.some((m) => m.event === 'start'), 20_000, 'motion start from the test scene');
  const clip = await waitFor(() => clips[0], 30_000, 'a motion clip');
  assert.equal(clip.mimetype, 'video/mp4');
  const p = ffprobe(String(clip.path));
  assert.equal(p.codec_name, 'h264');
  assert.deepEqual([p.width, p.height], [1280, 720]);
  // The figure takes 3 s to cross; with the post-roll (3 s) the clip lasts well beyond that.
  assert.ok(p.duration >= 6, `clip lasts ${p.duration} s`);
  assert.ok(motion.some((m) => m.event === 'end'));
});
