// record-clip under faults, in the real Node-RED 5 with real ffmpeg: a clips folder
// on a small tmpfs that fills up, a camera that goes away, a flood of commands.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Camera } from '../lib/video/camera';
import { makeRoom } from '../lib/video/retention';
import { makeNoisyVideo } from './helpers/clips';
import { coreNode, helper, mantisNode, type TestNode } from './helpers/node-red';
import { tempDir } from './helpers/paths';
import { freePort, sleep, waitFor } from './helpers/processes';
import { FfmpegJobWatch, SmallDisk } from './helpers/small-disk';
import { ffprobe, MjpegCamera, onCall } from './helpers/video';

type Cfg = TestNode & { shared: { camera: Camera } };
type Msg = Record<string, unknown>;
const nodes = () => [coreNode('common/25-catch.js'), mantisNode('mantis-camera'), mantisNode('record-clip')];

/** Collects what arrives at a helper node. */
function collect(id: string): Msg[] {
  const got: Msg[] = [];
  helper.getNode(id).on('input', (msg) => got.push(msg));
  return got;
}

function lastStatus(id: string): { texts: string[] } {
  const s = { texts: [] as string[] };
  onCall(helper.getNode(id), 'status', (args) => s.texts.push(String((args[0] as { text?: string }).text)));
  return s;
}

/** Every MP4 in dir plays: ffprobe (the witness) reads a video stream with a duration from it; nothing is half written. */
function assertAllPlay(dir: string): string[] {
  assert.deepEqual(readdirSync(join(dir, '.mantis-partial')), [], 'a clip left half written');
  const mp4 = readdirSync(dir).filter((f) => f.endsWith('.mp4'));
  for (const f of mp4) {
    let p;
    try { p = ffprobe(join(dir, f)); } catch (e) { assert.fail(`${f} does not play: ${String(e).slice(0, 300)}`); }
    assert.equal(p.codec_name, 'h264', f);
    assert.ok(p.duration > 0.5, `${f} lasts ${p.duration} s`);
  }
  return mp4;
}

let source: string;
let work: string;

before(async () => {
  work = tempDir('faults');
  source = join(work, 'noisy.mp4');
  await makeNoisyVideo(source);
  await helper.startServer();
});
afterEach(() => helper.unload());
after(async () => {
  await helper.stopServer();
  rmSync(work, { recursive: true, force: true });
});

describe('a clips folder on a small disk', () => {
  let disk: SmallDisk | string;
  before(() => { disk = SmallDisk.mount('2m'); });
  after(() => { if (typeof disk !== 'string') disk.unmount(); });
  afterEach(() => { if (typeof disk !== 'string') disk.clear(); });

  const flow = (dir: string) => [
    { id: 'cam', type: 'mantis-camera', name: 'hall', source: 'file', input: source },
    { id: 'rec', type: 'record-clip', camera: 'cam', preRoll: 1, postRoll: 1, folder: dir, output: 'path', maxSizeMB: 1024, wires: [['out']] },
    { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'out', type: 'helper' },
    { id: 'caught', type: 'helper' },
  ];

  test('making room on a full disk deletes Mantis\'s oldest clips until there is room, never the owner\'s files', (t) => {
    if (typeof disk === 'string') { t.skip(disk); return; }
    const dir = disk.dir;
    const day = 24 * 3600_000;
    const files = ['holiday.mp4', 'hall-2026-11-01T10-00-00-000-motion.mp4', 'hall-2026-11-02T10-00-00-000-command.mp4', 'hall-2026-11-03T10-00-00-000-motion.mp4'];
    files.forEach((f, i) => {
      writeFileSync(join(dir, f), Buffer.alloc(300_000, 7));
      const mtime = (Date.now() - (10 - i) * day) / 1000; // the owner's video is the oldest
      utimesSync(join(dir, f), mtime, mtime);
    });
    disk.fill('owner-backup.tar');
    const { removed, left } = makeRoom(disk.dir, 500_000);
    assert.deepEqual(removed, [files[1], files[2]]);
    assert.equal(left, 1);
    assert.ok(disk.freeBytes >= 500_000, `${disk.freeBytes} bytes free`);
    assert.deepEqual(disk.files(), [files[3], 'holiday.mp4', 'owner-backup.tar']);
  });

  test('disk full of other data: the command is answered in words, a Catch node gets the error, no file is left', async (t) => {
    if (typeof disk === 'string') { t.skip(disk); return; }
    await helper.load(nodes(), flow(disk.dir));
    const out = collect('out'), caught = collect('caught'), status = lastStatus('rec');
    const camera = (helper.getNode('cam') as Cfg).shared.camera;
    await waitFor(() => camera.status.state === 'watching' && camera.segments.length >= 2, 20_000, 'camera watching');
    disk.fill('owner-backup.tar');
    assert.equal(disk.freeBytes, 0);

    helper.getNode('rec').receive({ topic: 'command', payload: { command: 'record', seconds: 1 }, roomId: '!r:test' });
    const answer = await waitFor(() => out[0], 20_000, 'an answer to the record command');
    const words = `disk full: 0 MB free in ${disk.dir}; free space or lower the size limit`;
    assert.equal(answer.payload, words);
    assert.equal(answer.roomId, '!r:test', 'answered on the command\'s own message');
    const err = await waitFor(() => caught[0], 5000, 'the Catch node');
    assert.equal((err.error as { message: string }).message, words);
    assert.equal(err.roomId, '!r:test');
    assert.ok(status.texts.includes(words), `status: ${status.texts.join(' | ')}`);
    assert.deepEqual(disk.files(), ['.mantis-partial', 'owner-backup.tar'], 'nothing left behind by the failed clip');
    assert.deepEqual(readdirSync(join(disk.dir, '.mantis-partial')), []);
  });

  test('clips fill the disk: the oldest are removed and the write retried, every command gets a clip that plays', async (t) => {
    if (typeof disk === 'string') { t.skip(disk); return; }
    await helper.load(nodes(), flow(disk.dir));
    const out = collect('out'), caught = collect('caught');
    const warnings: string[] = [];
    onCall(helper.getNode('rec'), 'warn', (args) => warnings.push(String(args[0])));
    const camera = (helper.getNode('cam') as Cfg).shared.camera;
    await waitFor(() => camera.status.state === 'watching' && camera.segments.length >= 3, 20_000, 'camera watching');
    // The owner's other data leaves room for about three clips.
    disk.fill('owner-backup.tar', 1_300_000);
    const paths: string[] = [];
    for (let i = 0; i < 8; i++) {
      helper.getNode('rec').receive({ payload: 'record 1', n: i });
      const answer = await waitFor(() => out[i] ?? caught[0], 30_000, `the answer to command ${i}`);
      assert.equal(caught.length, 0, `command ${i} failed: ${String(caught[0]?.payload)}`);
      assert.equal(answer.n, i);
      assert.equal(answer.mimetype, 'video/mp4');
      paths.push(String(answer.payload));
      assert.ok(existsSync(paths[i]), `clip ${i} is there when it is sent`);
    }
    const left = assertAllPlay(disk.dir);
    assert.ok(!existsSync(paths[0]), 'the first clip was removed to make room');
    assert.ok(left.length >= 1 && left.length < 8, `clips left: ${left.join(', ')}`);
    assert.ok(disk.files().includes('owner-backup.tar'), 'the owner\'s data stays');
    assert.deepEqual(disk.files().filter((f) => !f.endsWith('.mp4')), ['.mantis-partial', 'owner-backup.tar']);
    assert.deepEqual(readdirSync(join(disk.dir, '.mantis-partial')), [], 'no partial file');
    assert.ok(warnings.some((w) => /disk full .*removed the \d+ oldest clip/.test(w)), `warnings: ${warnings.join(' | ')}`);
    console.log(`# ${left.length} clips fit beside the owner's data; warnings: ${warnings.length}`);
  });
});

test('retention runs on a timer and touches only Mantis\'s own files', async () => {
  const dir = tempDir('retention-timer');
  const old = (Date.now() - 30 * 24 * 3600_000) / 1000;
  for (const f of ['holiday.mp4', 'photo.jpg', 'hall-2026-01-01T10-00-00-000-motion.mp4']) {
    writeFileSync(join(dir, f), 'x');
    utimesSync(join(dir, f), old, old);
  }
  // An age limit of 8.6 s (0.0001 days): the clip written after the deploy must go without any new clip.
  await helper.load(nodes(), [
    { id: 'cam', type: 'mantis-camera', name: 'hall', source: 'file', input: source },
    { id: 'rec', type: 'record-clip', camera: 'cam', folder: dir, maxAgeDays: 0.0001, wires: [[]] },
  ]);
  await waitFor(() => !existsSync(join(dir, 'hall-2026-01-01T10-00-00-000-motion.mp4')), 10_000, 'the old clip removed at deploy');
  const later = `hall-${new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '')}-command.mp4`;
  writeFileSync(join(dir, later), 'x');
  await waitFor(() => !existsSync(join(dir, later)), 30_000, 'the clip past the age limit removed by the timer');
  assert.deepEqual(readdirSync(dir).sort(), ['.mantis-partial', 'holiday.mp4', 'photo.jpg']);
});

test('fifty record commands at once: one clip, one ffmpeg at a time, every command answered; a command during a clip extends it', async () => {
  const dir = tempDir('flood');
  await helper.load(nodes(), [
    { id: 'cam', type: 'mantis-camera', name: 'hall', source: 'file', input: source },
    { id: 'rec', type: 'record-clip', camera: 'cam', preRoll: 1, folder: dir, output: 'path', wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  const out = collect('out');
  const camera = (helper.getNode('cam') as Cfg).shared.camera;
  await waitFor(() => camera.status.state === 'watching' && camera.segments.length >= 2, 20_000, 'camera watching');
  const watch = new FfmpegJobWatch().start();
  try {
    for (let i = 0; i < 50; i++) helper.getNode('rec').receive({ payload: { command: 'record', seconds: 2 }, n: i });
    await waitFor(() => out.length >= 50, 30_000, 'fifty answers');
    await sleep(500);
    assert.equal(out.length, 50);
    assert.deepEqual(out.map((m) => m.n).sort((a, b) => Number(a) - Number(b)), [...Array(50).keys()]);
    assert.equal(new Set(out.map((m) => m.payload)).size, 1, 'all answered with the same clip');
    assert.deepEqual(assertAllPlay(dir).length, 1);
    // One take: its thumbnail and its join (they may meet for a moment), never seven.
    assert.ok(watch.max <= 2, `${watch.max} ffmpeg jobs side by side`);
    console.log(`# fifty commands: ${watch.max} ffmpeg job(s) at most side by side`);

    // A command 1 s into a 2 s clip asks for 3 s more: one clip of pre-roll + 1 + 3 s.
    out.length = 0;
    helper.getNode('rec').receive({ payload: 'record 2', n: 'a' });
    await sleep(1000);
    helper.getNode('rec').receive({ payload: 'record 3', n: 'b' });
    await waitFor(() => out.length >= 2, 20_000, 'both answers');
    assert.equal(out[0].payload, out[1].payload, 'both commands answered with the one clip');
    const d = ffprobe(String(out[0].payload)).duration;
    assert.ok(d >= 1 + 1 + 3 - 0.5 && d <= 1 + 1 + 3 + 2, `extended clip lasts ${d} s`);
    assert.equal(assertAllPlay(dir).length, 2);
  } finally {
    watch.stop();
  }
});

test('record while the camera is away: an error at once (and to Catch), or the clip once it is back, or an error after the wait', async () => {
  const mjpeg = new MjpegCamera(await freePort(), '320x240');
  await mjpeg.start();
  const dir = tempDir('away');
  try {
    await helper.load(nodes(), [
      { id: 'cam', type: 'mantis-camera', name: 'webcam', source: 'http', input: mjpeg.url },
      { id: 'recNow', type: 'record-clip', camera: 'cam', preRoll: 1, folder: dir, output: 'path', wires: [['outNow']] },
      { id: 'recWait', type: 'record-clip', camera: 'cam', preRoll: 1, folder: dir, output: 'path', whenAway: 'wait', awayWait: 120, wires: [['outWait']] },
      { id: 'recShort', type: 'record-clip', camera: 'cam', preRoll: 1, folder: dir, output: 'path', whenAway: 'wait', awayWait: 2, wires: [['outShort']] },
      { id: 'catcher', type: 'catch', scope: ['recNow', 'recShort'], uncaught: false, wires: [['caught']] },
      { id: 'outNow', type: 'helper' }, { id: 'outWait', type: 'helper' }, { id: 'outShort', type: 'helper' }, { id: 'caught', type: 'helper' },
    ]);
    const outNow = collect('outNow'), outWait = collect('outWait'), outShort = collect('outShort'), caught = collect('caught');
    const waitStatus = lastStatus('recWait');
    const camera = (helper.getNode('cam') as Cfg).shared.camera;
    await waitFor(() => camera.status.state === 'watching', 20_000, 'camera watching');
    await mjpeg.stop();
    await waitFor(() => camera.status.state === 'reconnecting', 20_000, 'camera away');

    const asked = Date.now();
    for (const id of ['recNow', 'recWait', 'recShort']) helper.getNode(id).receive({ payload: { command: 'record', seconds: 2 }, from: { via: 'matrix' } });
    const now = await waitFor(() => outNow[0], 20_000, 'the answer while away');
    assert.ok(Date.now() - asked < 3000, `answered after ${Date.now() - asked} ms`);
    assert.match(String(now.payload), /^camera webcam is away \((?:since \d\d:\d\d|reconnecting in \d+s): .+\); no clip recorded$/);
    assert.deepEqual(now.from, { via: 'matrix' });
    assert.equal((now.error as { code: string }).code, 'camera-away');
    const short = await waitFor(() => outShort[0], 20_000, 'the answer after the 2 s wait');
    assert.equal(short.payload, 'camera webcam did not come back within 2 s; no clip recorded');
    await waitFor(() => caught.length >= 2, 5000, 'both errors at the Catch node');
    assert.deepEqual(caught.map((m) => (m.error as { message: string }).message).sort(), [String(now.payload), String(short.payload)].sort());
    assert.ok(waitStatus.texts.includes('1 record command waiting for the camera'), waitStatus.texts.join(' | '));

    await mjpeg.start();
    await waitFor(() => camera.status.state === 'watching', 30_000, 'camera back');
    const backAt = Date.now();
    assert.equal(outWait.length, 0, 'the waiting command was not answered before the camera was back');
    const clip = await waitFor(() => outWait[0], 30_000, 'the clip of the waiting command');
    assert.equal(clip.mimetype, 'video/mp4');
    assert.deepEqual(clip.from, { via: 'matrix' });
    assert.ok(Number(clip.start) >= backAt - 3000, 'recorded after the camera came back');
    const p = ffprobe(String(clip.payload));
    assert.ok(p.duration >= 1.5, `clip lasts ${p.duration} s`);
    assert.equal(outNow.length + outShort.length, 2, 'no second answer');
  } finally {
    await mjpeg.stop();
  }
});
