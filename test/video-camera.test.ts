import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateLog } from '../lib/common/state-log';
import { Camera } from '../lib/video/camera';
import type { GrayFrame } from '../lib/video/frame';
import { cameraConfig } from '../lib/video/camera-settings';
import { buildCameraCommands } from '../lib/video/source';
import { helper, mantisNode, type TestNode } from './helpers/node-red';
import { tempDir } from './helpers/paths';
import { freePort, sleep, waitFor } from './helpers/processes';
import { RtspCamera } from './helpers/rtsp';
import { barColumn, ffprobe, jpegSize, makeBarVideo, MjpegCamera, onCall, pidAlive } from './helpers/video';

const nodes = () => [mantisNode('mantis-camera'), mantisNode('camera-in')];
type Cfg = TestNode & { shared: { camera: Camera } };

function frameRate(frames: GrayFrame[]): number {
  return (frames.length - 1) / ((frames.at(-1)!.t - frames[0].t) / 1000);
}

test('the ffmpeg command thins before scaling, copies H.264 and encodes the rest once', () => {
  const ring = '/ring';
  const file = buildCameraCommands(cameraConfig({ source: 'file', input: '/v.mp4' }), { ringDir: ring, encode: false, startNumber: 7 });
  const a = file.main.args;
  assert.equal(file.feeder, undefined);
  assert.deepEqual(a.slice(a.indexOf('-stream_loop'), a.indexOf('-i') + 2), ['-stream_loop', '-1', '-re', '-threads', '1', '-i', '/v.mp4']);
  assert.equal(a[a.indexOf('-vf') + 1], 'fps=5,scale=320:-2:flags=area,format=gray');
  assert.equal(a[a.indexOf('-c:v') + 1], 'copy');
  assert.equal(a[a.indexOf('-segment_start_number') + 1], '7');
  assert.equal(a.at(-1), '/ring/seg%09d.ts');

  const http = buildCameraCommands(cameraConfig({ source: 'http', input: 'http://cam/x.mjpg', detectWidth: 160, detectFps: 2 }), { ringDir: ring, encode: true, startNumber: 0 });
  const h = http.main.args;
  assert.equal(h[h.indexOf('-vf') + 1], 'fps=2,scale=160:-2:flags=area,format=gray');
  assert.equal(h[h.indexOf('-c:v') + 1], 'libx264');
  assert.equal(h[h.indexOf('-profile:v') + 1], 'baseline');
  assert.equal(h[h.indexOf('-pix_fmt', h.indexOf('-c:v')) + 1], 'yuv420p');

  const rtsp = buildCameraCommands(cameraConfig({ source: 'rtsp', input: 'rtsp://cam/1' }), { ringDir: ring, encode: false, startNumber: 0 }).main.args;
  assert.equal(rtsp[rtsp.indexOf('-rtsp_transport') + 1], 'tcp');

  const pi = buildCameraCommands(cameraConfig({ source: 'rpicam', width: 1920, height: 1080, fps: 30 }), { ringDir: ring, encode: false, startNumber: 0 });
  assert.equal(pi.feeder?.cmd, 'rpicam-vid');
  assert.deepEqual(pi.feeder?.args.slice(0, 4), ['-t', '0', '--codec', 'h264']);
  assert.ok(pi.main.args.includes('pipe:0'));

  const v4l2 = buildCameraCommands(cameraConfig({ source: 'v4l2', input: '/dev/video0', inputFormat: 'mjpeg', width: 640, height: 480, fps: 30 }), { ringDir: ring, encode: true, startNumber: 0 }).main.args;
  assert.deepEqual(v4l2.slice(v4l2.indexOf('-input_format'), v4l2.indexOf('-i') + 2),
    ['-input_format', 'mjpeg', '-video_size', '640x480', '-framerate', '30', '-threads', '1', '-i', '/dev/video0']);

  const scene = buildCameraCommands(cameraConfig({ source: 'test' }), { ringDir: ring, encode: false, startNumber: 0 });
  assert.ok(scene.feeder?.args.includes('libx264'));
  assert.equal(scene.main.args[scene.main.args.indexOf('-c:v') + 1], 'copy');
});

test('a looped H.264 file gives gray frames at detection size and rate, and full-resolution snapshots', async () => {
  const dir = tempDir('video');
  const file = join(dir, 'bar.mp4');
  makeBarVideo(file, { width: 1280, height: 720, fps: 15, seconds: 16, speed: 80 });
  const cam = new Camera({ name: 'bar', source: 'file', input: file });
  const frames: GrayFrame[] = [];
  cam.on('frame', (f: GrayFrame) => frames.push(f));
  cam.start();
  try {
    await waitFor(() => frames.length >= 16, 20_000, '16 detection frames');
    assert.equal(cam.status.state, 'watching');
    for (const f of frames) {
      assert.equal(f.width, 320);
      assert.equal(f.height, 180);
      assert.equal(f.data.length, 320 * 180);
    }
    const steady = frames.slice(4);
    const rate = frameRate(steady);
    assert.ok(rate > 4 && rate < 6, `detection rate ${rate.toFixed(2)} fps, expected about 5`);
    // The bar moves 80 px/s at 1280 wide = 20 px/s at 320: the frames show real, moving video.
    const a = steady[0], b = steady.at(-1)!;
    const moved = (barColumn(b.data, 320, 180) - barColumn(a.data, 320, 180) + 320) % 320;
    const expected = ((b.t - a.t) / 1000) * 20;
    assert.ok(Math.abs(moved - expected) < 6, `bar moved ${moved} px, expected ${expected.toFixed(1)}`);

    const snap = await cam.snapshot();
    assert.equal(snap.jpeg[0], 0xff);
    assert.equal(snap.jpeg[1], 0xd8);
    assert.deepEqual(jpegSize(snap.jpeg), { width: 1280, height: 720 });
    assert.equal(snap.width, 1280);
    assert.equal(snap.height, 720);
  } finally {
    const pids = cam.pids();
    await cam.stop();
    for (const pid of pids) assert.equal(pidAlive(pid), false, `ffmpeg ${pid} still running`);
  }
});

test('rpicam: the raw H.264 piped by the camera program is watched and recorded without re-encoding', async () => {
  // No Pi camera here: a stand-in for rpicam-vid that writes what it writes, raw H.264 on stdout.
  const dir = tempDir('rpicam');
  const fake = join(dir, 'rpicam-vid');
  writeFileSync(fake, '#!/bin/sh\n# args: -t 0 --codec h264 ... -o -\n' +
    'exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=640x480:rate=15 ' +
    '-c:v libx264 -preset ultrafast -tune zerolatency -g 15 -f h264 -\n');
  chmodSync(fake, 0o755);
  const cam = new Camera({ name: 'pi', source: 'rpicam', rpicamPath: fake, width: 640, height: 480, fps: 15 });
  const frames: GrayFrame[] = [];
  cam.on('frame', (f: GrayFrame) => frames.push(f));
  cam.start();
  try {
    await waitFor(() => cam.segments.length >= 3, 20_000, 'three segments');
    assert.deepEqual([frames[0].width, frames[0].height], [320, 240]);
    assert.equal(cam.sourceCodec, 'h264');
    const now = Date.now();
    const clip = await cam.clip(now - 2000, now, join(dir, 'pi.mp4'));
    const p = ffprobe(clip.path);
    assert.equal(p.codec_name, 'h264');
    assert.equal(p.profile, 'Constrained Baseline');
    assert.deepEqual([p.width, p.height], [640, 480]);
    // Whole segments on both sides of the window, and a loaded machine stretches the stand-in camera's pace.
    assert.ok(p.duration >= 1.8 && p.duration <= 6, `duration ${p.duration}`);
  } finally {
    await cam.stop();
  }
});

test('the state log: a change is logged, a repeat or a flap back within 10 min is not, a reminder after 10 min', () => {
  let now = Date.parse('2026-12-02T10:00:00Z');
  const log = new StateLog(600_000, () => now);
  const tick = (s: number) => { now += s * 1000; };
  assert.equal(log.note('away:refused', 'away: refused'), 'away: refused');
  for (let i = 0; i < 20; i++) { tick(8); assert.equal(log.note('away:refused', 'away: refused'), null, 'a retry'); }
  assert.equal(log.note('error:401', '401'), '401', 'a different failure');
  assert.equal(log.note('watching', 'watching again'), 'watching again', 'the recovery');
  tick(30);
  assert.equal(log.note('away:refused', 'away: refused'), null, 'a flap back to a state logged 3 min ago');
  assert.equal(log.note('watching', 'watching again'), null);
  tick(600);
  assert.match(log.note('watching', 'watching again') ?? '', /^watching again \(still so since .*\) \(2 more changes in the last 10 min not logged\)$/);
});

describe('camera-in in Node-RED', () => {
  before(() => helper.startServer());
  // Also after a failed test: a camera left running would keep the test process alive.
  afterEach(() => helper.unload());
  after(() => helper.stopServer());

  test('the test scene gives frames as messages and a snapshot on a chat command; closing leaves no ffmpeg', async () => {
    const flow = [
      { id: 'cam', type: 'mantis-camera', name: 'yard', source: 'test', detectWidth: 240, detectFps: 4 },
      { id: 'in', type: 'camera-in', camera: 'cam', wires: [['frames'], ['snaps']] },
      { id: 'frames', type: 'helper' },
      { id: 'snaps', type: 'helper' },
    ];
    await helper.load(nodes(), flow);
    const frames: GrayFrame[] = [];
    const topics = new Set<unknown>();
    helper.getNode('frames').on('input', (msg) => { frames.push(msg.payload as GrayFrame); topics.add(msg.topic); });
    const snaps: Array<Record<string, unknown>> = [];
    helper.getNode('snaps').on('input', (msg) => snaps.push(msg));
    const camera = (helper.getNode('cam') as Cfg).shared.camera;
    await waitFor(() => frames.length >= 14, 20_000, 'frames from the test scene');
    assert.deepEqual([...topics], ['yard']);
    assert.deepEqual([frames[0].width, frames[0].height], [240, 136]);
    const rate = frameRate(frames.slice(3));
    assert.ok(rate > 3 && rate < 5, `rate ${rate.toFixed(2)} fps, expected about 4`);

    helper.getNode('in').receive({ topic: 'command', payload: { command: 'snapshot' }, roomId: '!room:test' });
    const snap = await waitFor(() => snaps[0], 10_000, 'snapshot');
    assert.equal(snap.roomId, '!room:test', 'the command message is reused');
    assert.equal(snap.mimetype, 'image/jpeg');
    assert.ok(Buffer.isBuffer(snap.payload));
    assert.deepEqual(jpegSize(snap.payload as Buffer), { width: 1280, height: 720 });
    assert.deepEqual([snap.width, snap.height], [1280, 720]);
    assert.match(String(snap.filename), /^yard-.*\.jpg$/);

    helper.getNode('in').receive({ payload: 'snapshot' });
    await waitFor(() => snaps.length === 2, 10_000, 'second snapshot');

    // The alarm panel's idle refresh for HA: a small preview; another camera's request is not ours.
    helper.getNode('in').receive({ topic: 'snapshot', payload: 'snapshot', camera: 'other', preview: true });
    helper.getNode('in').receive({ topic: 'snapshot', payload: 'snapshot', camera: 'yard', preview: true });
    const preview = await waitFor(() => snaps[2], 10_000, 'preview');
    assert.equal(preview.camera, 'yard');
    assert.deepEqual(jpegSize(preview.payload as Buffer), { width: 640, height: 360 });
    helper.getNode('in').receive({ payload: 'snapshot' });
    await waitFor(() => snaps.length === 4, 10_000, 'a snapshot after the preview');
    assert.equal(snaps[3]!.preview, undefined, 'no preview for the other camera came in between');

    const pids = camera.pids();
    assert.equal(pids.length, 2, 'one feeder (scene encoder) and one camera ffmpeg');
    await helper.unload();
    for (const pid of pids) assert.equal(pidAlive(pid), false, `process ${pid} survived the redeploy`);
    assert.equal(camera.ringDir, null);
  });

  test('a bad URL, a missing file and a missing ffmpeg are errors, not crashes', async () => {
    const flow = [
      { id: 'c1', type: 'mantis-camera', name: 'bad url', source: 'rtsp', input: 'htp:/nowhere' },
      { id: 'c2', type: 'mantis-camera', name: 'no file', source: 'file', input: '/nonexistent/clip.mp4' },
      { id: 'c3', type: 'mantis-camera', name: 'no ffmpeg', source: 'test', ffmpegPath: '/nonexistent/ffmpeg' },
      { id: 'i1', type: 'camera-in', camera: 'c1', wires: [[], []] },
      { id: 'i2', type: 'camera-in', camera: 'c2', wires: [[], []] },
      { id: 'i3', type: 'camera-in', camera: 'c3', wires: [[], []] },
    ];
    await helper.load(nodes(), flow);
    const status = (id: string) => (helper.getNode(id) as Cfg).shared.camera.status;
    await waitFor(() => ['c1', 'c2', 'c3'].every((id) => status(id).state === 'error'), 10_000, 'three errors');
    assert.match(status('c1').text, /not an rtsp:\/\/ or rtsps:\/\/ URL/);
    assert.match(status('c2').text, /file not found: \/nonexistent\/clip\.mp4/);
    assert.match(status('c3').text, /not found/);
    // A snapshot asked of a broken camera is a node error, not a crash.
    const errors: unknown[] = [];
    onCall(helper.getNode('i2'), 'error', (args) => errors.push(args[0]));
    helper.getNode('i2').receive({ payload: 'snapshot' });
    await waitFor(() => errors.length > 0, 5000, 'snapshot error');
    await helper.unload();
  });

  test('an MJPEG camera that goes away is reconnected within 10 s of coming back', async () => {
    const mjpeg = new MjpegCamera(await freePort());
    await mjpeg.start();
    try {
      const flow = [
        { id: 'cam', type: 'mantis-camera', name: 'porch', source: 'http', input: mjpeg.url },
        { id: 'in', type: 'camera-in', camera: 'cam', wires: [['frames'], []] },
        { id: 'frames', type: 'helper' },
      ];
      await helper.load(nodes(), flow);
      const statuses: string[] = [];
      onCall(helper.getNode('in'), 'status', (args) => statuses.push(String((args[0] as { text?: string }).text)));
      let lastFrame = 0;
      helper.getNode('frames').on('input', () => { lastFrame = Date.now(); });
      await waitFor(() => lastFrame > 0, 20_000, 'frames from the MJPEG camera');
      assert.match((helper.getNode('cam') as Cfg).shared.camera.status.text, /encoding H\.264/);

      await mjpeg.stop();
      await waitFor(() => statuses.some((s) => /^camera away since \d\d:\d\d: /.test(s)), 15_000, 'reconnecting status');
      await new Promise((r) => setTimeout(r, 4000)); // let the back-off grow
      await mjpeg.start();
      const back = Date.now();
      await waitFor(() => lastFrame > back, 10_000, 'frames again within 10 s');
      console.log(`# frames again ${lastFrame - back} ms after the camera came back; statuses: ${statuses.join(' | ')}`);
      assert.ok(statuses.at(-1)?.startsWith('watching'), `status is "${statuses.at(-1)}"`);
      await helper.unload();
    } finally {
      await mjpeg.stop();
    }
  });

  test('a camera setting out of its range is refused with a status and a log line that name it', async () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ width: 0, height: 0 }, /^bad setting: width: 0 means the camera's default/],
      [{ width: 'abc', height: '-5' }, /^bad setting: width: expected a number .*got "abc"/],
      [{ fps: -1 }, /^bad setting: fps: -1 is out of range 1\.\.120/],
      [{ fps: 0.001 }, /^bad setting: fps: 0\.001 is out of range 1\.\.120/],
      [{ width: 99999, height: 99999 }, /^bad setting: width: 99999 is out of range 16\.\.7680/],
      [{ detectFps: '0' }, /^bad setting: detectFps: 0 is out of range 0\.1\.\.60/],
      [{ keepSeconds: 1 }, /^bad setting: keepSeconds: 1 is out of range 2\.\.3600/],
    ];
    const flow = bad.flatMap(([settings], i) => [
      { id: `c${i}`, type: 'mantis-camera', name: `cam${i}`, source: 'test', ...settings },
      { id: `i${i}`, type: 'camera-in', camera: `c${i}`, wires: [[], []] },
    ]);
    await helper.load(nodes(), flow);
    const lines = () => helper.log().args.map((a) => a[0] as { level?: number; msg?: unknown; id?: string });
    await waitFor(() => bad.every((_, i) => lines().some((l) => l.id === `c${i}` && String(l.msg).includes('bad setting'))), 10_000, 'a log line per camera');
    bad.forEach(([settings, expected], i) => {
      const camera = (helper.getNode(`c${i}`) as Cfg).shared.camera;
      assert.equal(camera.status.state, 'error', `${JSON.stringify(settings)}: ${camera.status.text}`);
      assert.match(camera.status.text, expected);
      const msgs = lines().filter((l) => l.id === `c${i}`).map((l) => String(l.msg));
      assert.equal(msgs.length, 1, `one line for ${JSON.stringify(settings)}: ${msgs.join(' | ')}`);
      assert.match(msgs[0]!, new RegExp(`^camera cam${i}: ${expected.source.slice(1)}`));
      assert.equal(camera.pids().length, 0, 'no ffmpeg for a camera that cannot work');
    });
    // The camera-in shows it in red. Its first status came during the deploy: read Node-RED's spy of it.
    type Spy = { getCalls(): Array<{ thisValue: { id: string }; args: unknown[] }> };
    const calls = (helper.getNode('i2').status as Spy).getCalls().filter((c) => c.thisValue.id === 'i2');
    const last = calls.at(-1)?.args[0] as { fill?: string; shape?: string; text?: string };
    assert.equal(last.fill, 'red');
    assert.match(String(last.text), /^bad setting: fps: -1 is out of range/);
  });

  test('a failure that is retried is logged once, then its recovery, then a different failure', async () => {
    const mjpeg = new MjpegCamera(await freePort());
    mjpeg.refuse = 401;
    await mjpeg.start();
    const device = `/dev/mantis-test-video-${process.pid}`;
    try {
      const flow = [
        { id: 'web', type: 'mantis-camera', name: 'porch', source: 'http', input: mjpeg.url },
        { id: 'usb', type: 'mantis-camera', name: 'desk', source: 'v4l2', input: device },
        { id: 'i1', type: 'camera-in', camera: 'web', wires: [[], []] },
        { id: 'i2', type: 'camera-in', camera: 'usb', wires: [[], []] },
      ];
      await helper.load(nodes(), flow);
      const lines = (id: string) => helper.log().args.map((a) => a[0] as { id?: string; msg?: unknown })
        .filter((l) => l.id === id).map((l) => String(l.msg));
      // The camera's own retries, counted by the camera server: 1, 2, 4 s apart, two requests each.
      await waitFor(() => mjpeg.requests >= 8, 30_000, 'four attempts at the camera');
      assert.deepEqual(lines('web').length, 1, lines('web').join('\n'));
      assert.match(lines('web')[0]!, /^camera porch: .*401 Unauthorized/);
      // The missing device was retried as long, and said so once.
      assert.equal(lines('usb').length, 1, lines('usb').join('\n'));
      assert.match(lines('usb')[0]!, /^camera desk: .*No such file or directory/);

      mjpeg.refuse = null;
      const camera = (helper.getNode('web') as Cfg).shared.camera;
      await waitFor(() => camera.status.state === 'watching', 20_000, 'watching once the login is right');
      await waitFor(() => lines('web').length === 2, 5000, 'the recovery logged');
      assert.match(lines('web')[1]!, /^camera porch: watching 640x360 .*again after \d+ s away/);

      await mjpeg.stop();
      await waitFor(() => lines('web').length === 3, 20_000, 'the new failure logged');
      assert.match(lines('web')[2]!, /^camera porch: camera away: /);
      assert.match(camera.status.text, /^camera away since \d\d:\d\d: /);
      assert.equal(lines('usb').length, 1, lines('usb').join('\n'));
      await helper.unload();
    } finally {
      await mjpeg.stop();
    }
  });

  test('an RTSP camera that goes away or freezes is watched again, with no ffmpeg per second while away', async () => {
    const rtsp = new RtspCamera(await freePort());
    await rtsp.start();
    // Every ffmpeg the camera starts goes through this wrapper, which counts it on disk.
    const dir = tempDir('ffmpeg-count');
    const count = join(dir, 'spawns');
    const wrapper = join(dir, 'ffmpeg');
    writeFileSync(wrapper, `#!/bin/sh\necho x >> '${count}'\nexec ffmpeg "$@"\n`);
    chmodSync(wrapper, 0o755);
    const spawns = () => { try { return readFileSync(count, 'utf8').length / 2; } catch { return 0; } };
    try {
      const flow = [
        { id: 'cam', type: 'mantis-camera', name: 'drive', source: 'rtsp', input: rtsp.url, ffmpegPath: wrapper },
        { id: 'in', type: 'camera-in', camera: 'cam', wires: [['frames'], []] },
        { id: 'frames', type: 'helper' },
      ];
      await helper.load(nodes(), flow);
      const camera = (helper.getNode('cam') as Cfg).shared.camera;
      let lastFrame = 0;
      helper.getNode('frames').on('input', () => { lastFrame = Date.now(); });
      await waitFor(() => lastFrame > 0, 20_000, 'frames from the RTSP camera');
      assert.match(camera.status.text, /^watching 1280x720$/);

      await rtsp.stop();
      await waitFor(() => camera.status.state === 'reconnecting', 15_000, 'the camera away');
      const before = spawns();
      const awayFrom = Date.now();
      await sleep(6000); // the camera stays off this long
      const awaySpawns = spawns() - before;
      assert.equal(awaySpawns, 0, `${awaySpawns} ffmpeg started in ${Date.now() - awayFrom} ms while nothing answered`);
      await rtsp.start();
      const back = Date.now();
      await waitFor(() => lastFrame > back, 20_000, 'frames again after the camera came back');
      console.log(`# RTSP: frames again ${lastFrame - back} ms after the camera came back`);

      rtsp.freeze();
      await waitFor(() => camera.status.state === 'reconnecting', 30_000, 'the frozen camera away');
      const frozenFrom = Date.now(), frozenSpawns = spawns();
      await sleep(12_000); // frozen this long
      const n = spawns() - frozenSpawns;
      // An attempt waits on the frozen camera for the stall timeout (10 s) before the next one starts.
      assert.ok(n <= 2, `${n} ffmpeg started in ${Date.now() - frozenFrom} ms while the camera was frozen`);
      rtsp.thaw();
      const thawed = Date.now();
      await waitFor(() => lastFrame > thawed && camera.status.state === 'watching', 30_000, 'frames again after the freeze');
      console.log(`# RTSP: frames again ${lastFrame - thawed} ms after the freeze ended; ${spawns()} ffmpeg in all`);
      await helper.unload();
    } finally {
      await rtsp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
