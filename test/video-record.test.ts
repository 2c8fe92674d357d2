import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Camera } from '../lib/video/camera';
import { Recorder, type ClipReady, type RecorderOptions } from '../lib/video/recorder';
import type { GrayFrame } from '../lib/video/frame';
import type { MotionEvent } from '../lib/motion/event';
import { pruneClips } from '../lib/video/retention';
import { helper, mantisNode, type TestNode } from './helpers/node-red';
import { tempDir } from './helpers/paths';
import { freePort, sleep, waitFor } from './helpers/processes';
import { barColumn, ffprobe, firstFrameGray, jpegSize, makeBarVideo, MjpegCamera, pidAlive } from './helpers/video';

type Cfg = TestNode & { shared: { camera: Camera } };
const nodes = () => [mantisNode('mantis-camera'), mantisNode('camera-in'), mantisNode('record-clip')];

test('retention deletes Mantis clips past the age limit, then the oldest past the size limit; the owner\'s own files stay', () => {
  const dir = tempDir('retention');
  const now = Date.now();
  const day = 24 * 3600_000;
  const clip = (ageMs: number, kind = 'motion') => `hall-${new Date(now - ageMs).toISOString().replace(/[:.]/g, '-').replace('Z', '')}-${kind}.mp4`;
  const files: Array<[string, number, number]> = [
    [clip(9 * day), 100, now - 9 * day], // too old
    [clip(3 * day), 400, now - 3 * day],
    [clip(2 * day, 'command'), 400, now - 2 * day],
    [clip(1 * day), 400, now - 1 * day],
    [clip(10 * day, 'command'), 400, now - 10 * day], // kept by name although old
    // The owner's own files in a shared folder (~/Videos): never touched, however old or big.
    ['holiday.mp4', 5000, now - 30 * day],
    ['photo.jpg', 5000, now - 30 * day],
    ['notes.txt', 5000, now - 30 * day],
    // A clip half written by a Node-RED that crashed an hour ago goes; one being written now stays.
    [`.mantis-partial/${clip(3600_000)}`, 50, now - 3600_000],
    [`.mantis-partial/${clip(1000)}`, 50, now - 1000],
  ];
  mkdirSync(join(dir, '.mantis-partial'));
  for (const [name, size, mtime] of files) {
    writeFileSync(join(dir, name), Buffer.alloc(size));
    utimesSync(join(dir, name), mtime / 1000, mtime / 1000);
  }
  const names = files.map((f) => f[0]);
  const deleted = pruneClips(dir, { maxBytes: 1000, maxAgeMs: 7 * day }, [names[4]], now);
  assert.deepEqual(deleted.sort(), [names[0], names[1], names[2]].sort());
  assert.deepEqual(readdirSync(dir).sort(), [names[3], names[4], '.mantis-partial', 'holiday.mp4', 'notes.txt', 'photo.jpg'].sort());
  assert.deepEqual(readdirSync(join(dir, '.mantis-partial')), [names[9].replace('.mantis-partial/', '')]);
  assert.deepEqual(pruneClips(join(dir, 'missing'), { maxBytes: 1, maxAgeMs: 1 }), []);
});

type Ev = (event: MotionEvent['event'], startedAt: number) => MotionEvent;

/** A Recorder on a file camera (a bar video), started, with its clips collected; stopped after body. */
async function withRecorder(
  name: string, opts: Partial<RecorderOptions>,
  body: (recorder: Recorder<string>, clips: Array<ClipReady<string>>, ev: Ev) => Promise<void>,
): Promise<void> {
  const dir = tempDir(name);
  const source = join(dir, 'bar.mp4');
  makeBarVideo(source, { width: 320, height: 240, fps: 15, seconds: 16, speed: 40 });
  const camera = new Camera({ name, source: 'file', input: source });
  const recorder = new Recorder<string>(camera, { folder: join(dir, 'clips'), ...opts });
  const clips: Array<ClipReady<string>> = [];
  recorder.on('clip', (c: ClipReady<string>) => clips.push(c));
  camera.start();
  recorder.start();
  try {
    await waitFor(() => camera.segments.length >= 2, 20_000, 'camera recording');
    await body(recorder, clips, (event, startedAt) => ({ event, t: Date.now(), startedAt, score: 0.1, boxes: [], zones: [] }));
    assert.deepEqual(readdirSync(join(dir, 'clips')).filter((f) => f.endsWith('.mp4')).length, clips.length, 'a file for each clip');
    assert.deepEqual(readdirSync(join(dir, 'clips', '.mantis-partial')), [], 'nothing half written');
  } finally {
    recorder.stop();
    await camera.stop();
  }
}

test('recorder: motion again during the post-roll extends the clip; a clip is cut at the maximum length', () =>
  withRecorder('recorder', { preRollMs: 1000, postRollMs: 1500, maxLengthMs: 4000 }, async (recorder, clips, ev) => {
    const t0 = Date.now();
    recorder.motion(ev('start', t0), 'first');
    await sleep(300);
    recorder.motion(ev('end', t0), 'first');
    await sleep(700); // inside the 1.5 s post-roll
    recorder.motion(ev('start', Date.now()), 'second');
    await sleep(300);
    recorder.motion(ev('end', t0), 'second');
    const one = await waitFor(() => clips[0], 15_000, 'the joined clip');
    await sleep(1500);
    assert.equal(clips.length, 1, 'one clip for motion resumed in the post-roll');
    assert.equal(one.ctx, 'first');
    // pre-roll 1 s + 1.3 s of motion + 1.5 s post-roll, give or take a segment.
    assert.ok(one.clip.duration >= 3.5 && one.clip.duration <= 5.5, `duration ${one.clip.duration}`);

    // Motion that never ends: cut at 4 s, pre-roll included.
    const t1 = Date.now();
    recorder.motion(ev('start', t1), 'long');
    const cut = await waitFor(() => clips[1], 15_000, 'the capped clip');
    assert.equal(cut.ctx, 'long');
    assert.ok(cut.requestedTo - (t1 - 1000) === 4000, 'cut at the maximum length');
    assert.ok(cut.clip.duration >= 3.7 && cut.clip.duration <= 6, `duration ${cut.clip.duration}`);
    // Updates of the same motion do not start another clip; its end closes nothing.
    recorder.motion(ev('update', t1), 'long');
    recorder.motion(ev('end', t1), 'long');
    await sleep(2000);
    assert.equal(clips.length, 2);
    assert.equal(recorder.active, 0);
  }));

test('recorder: one clip at a time - a command during a motion clip gets that clip, motion during a command clip joins it', () =>
  withRecorder('recorder-one', { preRollMs: 1000, postRollMs: 1000, maxLengthMs: 10_000 }, async (recorder, clips, ev) => {
    let most = 0;
    recorder.on('recording', (n: number) => { most = Math.max(most, n); });
    const t0 = Date.now();
    recorder.motion(ev('start', t0), 'motion 1');
    recorder.record(2, 'command 1'); // outlasts the motion and its post-roll
    await sleep(300);
    recorder.motion(ev('end', t0), 'motion 1');
    const first = await waitFor(() => clips[0], 15_000, 'the first clip');
    assert.deepEqual(first.answers.map((a) => [a.ctx, a.kind]), [['motion 1', 'motion'], ['command 1', 'command']]);
    assert.ok(first.clip.duration >= 2.7 && first.clip.duration <= 4.5, `duration ${first.clip.duration} (pre-roll 1 s + 2 s)`);

    recorder.record(1, 'command 2');
    await sleep(500);
    const t1 = Date.now();
    recorder.motion(ev('start', t1), 'motion 2'); // outlasts the command: the clip waits for its end
    await sleep(1500);
    recorder.motion(ev('end', t1), 'motion 2');
    const second = await waitFor(() => clips[1], 15_000, 'the second clip');
    assert.deepEqual(second.answers.map((a) => [a.ctx, a.kind]), [['command 2', 'command'], ['motion 2', 'motion']]);
    // pre-roll 1 s + 0.5 s + 1.5 s of motion + 1 s post-roll
    assert.ok(second.clip.duration >= 3.7 && second.clip.duration <= 5.5, `duration ${second.clip.duration}`);
    assert.equal(clips.length, 2);
    assert.equal(most, 1, 'never two clips recorded side by side');
  }));

describe('record-clip in Node-RED', () => {
  before(() => helper.startServer());
  // Also after a failed test: a camera left running would keep the test process alive.
  afterEach(() => helper.unload());
  after(() => helper.stopServer());

  test('a motion clip is the copied H.264 from pre-roll before the start to post-roll after the end', async () => {
    const dir = tempDir('record');
    const source = join(dir, 'bar.mp4');
    // 640 px wide, the bar moves 40 px/s: its position tells the media time, period 16 s.
    makeBarVideo(source, { width: 640, height: 360, fps: 15, seconds: 32, speed: 40 });
    const flow = [
      { id: 'cam', type: 'mantis-camera', name: 'hall', source: 'file', input: source },
      { id: 'in', type: 'camera-in', camera: 'cam', wires: [['frames'], []] },
      { id: 'rec', type: 'record-clip', camera: 'cam', preRoll: 3, postRoll: 2, maxLength: 30, folder: join(dir, 'clips'), wires: [['out']] },
      { id: 'frames', type: 'helper' },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(nodes(), flow);
    const frames: GrayFrame[] = [];
    helper.getNode('frames').on('input', (msg) => frames.push(msg.payload as GrayFrame));
    const clips: Array<Record<string, unknown>> = [];
    helper.getNode('out').on('input', (msg) => clips.push(msg));
    const camera = (helper.getNode('cam') as Cfg).shared.camera;
    await waitFor(() => frames.length > 0, 20_000, 'camera watching');
    await sleep(5000); // more than the pre-roll in the ring

    const rec = helper.getNode('rec');
    const startAt = Date.now();
    const f0 = frames.at(-1)!;
    const ev = (event: MotionEvent['event'], t: number): MotionEvent =>
      ({ event, t, startedAt: startAt, score: 0.1, boxes: [], zones: [], camera: 'hall' });
    rec.receive({ topic: 'motion', payload: ev('start', startAt) });
    await sleep(1000);
    rec.receive({ topic: 'motion', payload: ev('update', Date.now()) });
    await sleep(1000);
    const endAt = Date.now();
    rec.receive({ topic: 'motion', payload: ev('end', endAt) });
    const msg = await waitFor(() => clips[0], 15_000, 'clip message');
    const readyAfter = Date.now() - (endAt + 2000);

    assert.equal(msg.mimetype, 'video/mp4');
    assert.equal(msg.topic, 'hall');
    assert.ok(Buffer.isBuffer(msg.payload));
    const path = String(msg.path);
    assert.deepEqual(msg.payload, readFileSync(path));
    assert.equal(msg.size, statSync(path).size);
    assert.match(String(msg.filename), /^hall-.*\.mp4$/);
    assert.deepEqual([msg.width, msg.height], [640, 360]);
    assert.deepEqual(jpegSize(msg.thumbnail as Buffer), { width: 640, height: 360 });

    // No re-encode: same codec and profile as the camera's stream.
    const src = ffprobe(source), clip = ffprobe(path);
    assert.equal(clip.codec_name, 'h264');
    assert.equal(clip.profile, src.profile);
    assert.equal(src.profile, 'High');

    // Pre-roll from the picture: the bar in the clip's first frame vs. the bar when motion started.
    const first = firstFrameGray(path, 320, 180);
    const pxPerSecond = 20; // at 320 wide
    const barDelta = (barColumn(f0.data, 320, 180) - barColumn(first, 320, 180) + 320) % 320;
    const preRoll = barDelta / pxPerSecond + (startAt - f0.t) / 1000;
    const segment = camera.config.segmentSeconds;
    assert.ok(preRoll >= 3 - 0.3 && preRoll <= 3 + segment + 0.3, `clip starts ${preRoll.toFixed(2)} s before the motion (pre-roll 3 s, segments ${segment} s)`);
    // And it lasts through the motion and the post-roll.
    const wanted = preRoll + (endAt - startAt) / 1000 + 2;
    assert.ok(clip.duration >= wanted - 0.3, `clip lasts ${clip.duration} s, needs ${wanted.toFixed(2)} s`);
    assert.ok(clip.duration <= wanted + segment + 0.5, `clip lasts ${clip.duration} s, expected about ${wanted.toFixed(2)} s`);
    assert.ok(Math.abs(Number(msg.duration) - clip.duration) < 0.1);
    console.log(`# pre-roll ${preRoll.toFixed(2)} s, duration ${clip.duration} s, ready ${readyAfter} ms after end + post-roll`);

    const pids = camera.pids();
    await helper.unload();
    for (const pid of pids) assert.equal(pidAlive(pid), false, `ffmpeg ${pid} survived the redeploy`);
  });

  test('an MJPEG camera gives H.264 baseline clips; a chat record command gets its clip on its own message', async () => {
    const dir = tempDir('record');
    const mjpeg = new MjpegCamera(await freePort());
    await mjpeg.start();
    try {
      const flow = [
        { id: 'cam', type: 'mantis-camera', name: 'webcam', source: 'http', input: mjpeg.url },
        { id: 'rec', type: 'record-clip', camera: 'cam', preRoll: 1, postRoll: 1, folder: join(dir, 'clips'), output: 'path', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ];
      await helper.load(nodes(), flow);
      const camera = (helper.getNode('cam') as Cfg).shared.camera;
      await waitFor(() => camera.status.state === 'watching' && camera.segments.length >= 2, 20_000, 'webcam recorded');
      const clips: Array<Record<string, unknown>> = [];
      helper.getNode('out').on('input', (msg) => clips.push(msg));
      helper.getNode('rec').receive({ topic: 'command', payload: { command: 'record', seconds: 2 }, roomId: '!room:test' });
      const msg = await waitFor(() => clips[0], 15_000, 'clip');
      assert.equal(msg.roomId, '!room:test');
      assert.equal(msg.topic, 'command');
      assert.equal(typeof msg.payload, 'string');
      const p = ffprobe(String(msg.payload));
      assert.equal(p.codec_name, 'h264');
      assert.equal(p.profile, 'Constrained Baseline');
      assert.deepEqual([p.width, p.height], [640, 360]);
      assert.ok(p.duration >= 2.7 && p.duration <= 5, `duration ${p.duration} s for 1 s pre-roll + 2 s`);
      await helper.unload();
    } finally {
      await mjpeg.stop();
    }
  });
});
