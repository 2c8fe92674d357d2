// The parts of the editor's draw view that know nothing of Node-RED: the detector's picture as a
// PNG (decoded back by ffmpeg, an independent decoder) and which camera feeds a detector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { grayPng } from '../lib/video/gray-png';
import { upstreamCameras, type FlowNodeConfig } from '../lib/motion/upstream-camera';
import { MotionDetector } from '../lib/motion/detector';

test('grayPng: ffmpeg decodes it to the same gray pixels', () => {
  const width = 37, height = 23; // odd sizes: no row padding hides in the format
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i % width) * 13) & 0xff;
  const png = grayPng({ width, height }, data);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-f', 'image2pipe', '-c:v', 'png', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { input: png });
  assert.equal(raw.length, width * height);
  assert.deepEqual(new Uint8Array(raw), data);
  assert.throws(() => grayPng({ width: 4, height: 4 }, new Uint8Array(15)), /15 bytes, expected 4x4/);
});

test('grayPng of the detector overlay: what the editor shows differs from the frame where blocks moved', () => {
  const width = 160, height = 90;
  const det = new MotionDetector({ minDuration: 0, downscale: 1, blur: 1 });
  const frame = (t: number, boxAt: number) => {
    // a textured wall (a flat one makes the jump look like a change of light) and a bright box
    const data = new Uint8Array(width * height);
    for (let i = 0; i < data.length; i++) data[i] = 40 + ((i * 2654435761) >>> 27);
    for (let y = 30; y < 50; y++) for (let x = boxAt; x < boxAt + 12; x++) data[y * width + x] = 200;
    return { width, height, data, t };
  };
  for (let i = 0; i < 10; i++) det.push(frame(i * 200, 10));
  const moved = frame(2000, 100);
  assert.equal(det.push(moved)[0]?.event, 'start');
  const overlay = det.debugFrame(moved);
  const decoded = new Uint8Array(execFileSync('ffmpeg', ['-v', 'error', '-f', 'image2pipe', '-c:v', 'png', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { input: grayPng(moved, overlay) }));
  assert.deepEqual(decoded, overlay);
  let changed = 0;
  // outside the event square at the top left: the outlines of the moved blocks and the boxes
  for (let i = 0; i < decoded.length; i++) if ((i % width > 16 || i / width > 16) && decoded[i] !== moved.data[i]) changed++;
  assert.ok(changed > 100, `the overlay draws the motion over the frame (${changed} pixels)`);
});

test('upstreamCameras: a camera-in wired to the detector first, then cameras by the name the frames carry', () => {
  const flow: FlowNodeConfig[] = [
    { id: 'camA', type: 'mantis-camera' },
    { id: 'camB', type: 'mantis-camera' },
    { id: 'camOff', type: 'mantis-camera', d: true },
    { id: 'inA', type: 'camera-in', camera: 'camA', wires: [['other'], []] },
    { id: 'inB', type: 'camera-in', camera: 'camB', wires: [['fn', 'det'], []] },
    { id: 'inOff', type: 'camera-in', camera: 'camA', wires: [['det']], d: true },
    { id: 'det', type: 'motion-detect', wires: [[], []] },
  ];
  const names: Record<string, string> = { camA: 'garden', camB: 'porch', camOff: 'garden' };
  const nameOf = (id: string) => names[id];
  assert.deepEqual(upstreamCameras(flow, 'det', [], nameOf), ['camB']);
  assert.deepEqual(upstreamCameras(flow, 'det', ['garden', 'porch'], nameOf), ['camB', 'camA'], 'wired first, no duplicates, no disabled camera');
  assert.deepEqual(upstreamCameras(flow, 'nobody', ['garden'], nameOf), ['camA'], 'frames through other nodes: by name');
  assert.deepEqual(upstreamCameras(flow, 'nobody', ['attic'], nameOf), []);
  assert.deepEqual(upstreamCameras([{ id: 'x', type: 'camera-in', wires: [['det']] }], 'det', [], nameOf), [], 'a camera-in without a camera');
  // A node that names its camera (object-detect), or a camera itself: that one first.
  const withObjects = [...flow, { id: 'obj', type: 'object-detect', camera: 'camA' }];
  assert.deepEqual(upstreamCameras(withObjects, 'obj', ['porch'], nameOf), ['camA', 'camB']);
  assert.deepEqual(upstreamCameras(flow, 'camB', [], nameOf), ['camB']);
  assert.deepEqual(upstreamCameras(flow, 'camOff', [], nameOf), ['camOff'], 'the route finds no running camera behind it');
});
