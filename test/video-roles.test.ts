// Camera roles (a small detect stream, a full-size record stream) and hardware decoding's fallback,
// with two real RTSP cameras and real ffmpeg, in Node-RED.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Camera, type CameraLog } from '../lib/video/camera';
import type { GrayFrame } from '../lib/video/frame';
import { testSceneGraph } from '../lib/video/source';
import { helper, mantisNode, type TestNode } from './helpers/node-red';
import { cacheDir, tempDir } from './helpers/paths';
import { freePort, waitFor } from './helpers/processes';
import { cameraClip, RtspCamera } from './helpers/rtsp';
import { ffprobe, jpegSize, onCall } from './helpers/video';

type Cfg = TestNode & { shared: { camera: Camera } };

/** The sub-stream: the demo room, crossed by a figure for 3 s of every 8 (16 s, looped seamlessly). */
function subClip(): string {
  const dir = join(cacheDir, 'test-video');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'room-640x360-5fps-16s.mp4');
  if (!existsSync(file)) {
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', testSceneGraph(640, 360, 5), '-t', '16',
      '-c:v', 'libx264', '-preset', 'veryfast', '-g', '5', '-sc_threshold', '0', '-pix_fmt', 'yuv420p', `${file}.tmp.mp4`]);
    renameSync(`${file}.tmp.mp4`, file);
  }
  return file;
}

/** Packet sizes of the first video stream (ffprobe): a copy has the source's, an encode its own. */
function packetSizes(file: string): number[] {
  return execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=size', '-of', 'csv=p=0', file])
    .toString().trim().split('\n').map(Number);
}

function frameRateOf(file: string): string {
  return execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=r_frame_rate', '-of', 'csv=p=0', file]).toString().trim();
}

/**
 * Whether `part` is a run of the looped `source`'s packets. The way through RTP and MPEG-TS adds
 * an access unit delimiter to each packet (6 bytes) and SPS/PPS to keyframes (~40): a few bytes,
 * where an encode would give sizes of its own.
 */
function isCopyOf(part: number[], source: number[]): boolean {
  const loop = [...source, ...source, ...source];
  for (let i = 0; i < source.length; i++) {
    if (part.every((p, j) => p - loop[i + j] >= 0 && p - loop[i + j] <= 64)) return true;
  }
  return false;
}

const mean = (d: Uint8Array) => d.reduce((a, b) => a + b, 0) / d.length;

describe('camera roles in Node-RED', () => {
  const dir = tempDir('roles');
  const mainFile = cameraClip('1920x1080', 5);
  let main: RtspCamera, sub: RtspCamera;

  before(async () => {
    main = new RtspCamera(await freePort(), mainFile);
    sub = new RtspCamera(await freePort(), subClip());
    await Promise.all([main.start(), sub.start(), helper.startServer()]);
  });
  after(async () => {
    await helper.unload();
    await helper.stopServer();
    await Promise.all([main.close(), sub.close()]);
  });

  test('motion from the 640x360 sub-stream, clips and snapshots copied from the 1080p main stream; the record stream away and back', async () => {
    const flow = [
      { id: 'cam', type: 'mantis-camera', name: 'porch', source: 'rtsp', input: sub.url, record: main.url, detectWidth: 640, detectFps: 5 },
      { id: 'in', type: 'camera-in', camera: 'cam', wires: [['frames', 'motion'], ['snaps']] },
      { id: 'motion', type: 'motion-detect', minDuration: 0.2, endDelay: 1, wires: [['rec', 'events'], []] },
      { id: 'events', type: 'helper' },
      { id: 'rec', type: 'record-clip', camera: 'cam', preRoll: 1, postRoll: 1, maxLength: 8, folder: join(dir, 'clips'), wires: [['clips']] },
      { id: 'frames', type: 'helper' }, { id: 'snaps', type: 'helper' }, { id: 'clips', type: 'helper' },
    ];
    await helper.load([mantisNode('mantis-camera'), mantisNode('camera-in'), mantisNode('motion-detect'), mantisNode('record-clip')], flow);
    const frames: GrayFrame[] = [];
    helper.getNode('frames').on('input', (msg) => { if (frames.length < 50) frames.push(msg.payload as GrayFrame); });
    const snaps: Array<Record<string, unknown>> = [];
    helper.getNode('snaps').on('input', (msg) => snaps.push(msg));
    const clips: Array<Record<string, unknown>> = [];
    helper.getNode('clips').on('input', (msg) => clips.push(msg));
    const statuses: string[] = [];
    onCall(helper.getNode('in'), 'status', (a) => statuses.push(String((a[0] as { text?: string }).text)));
    const camera = (helper.getNode('cam') as Cfg).shared.camera;
    const events: string[] = [];
    helper.getNode('events').on('input', (msg) => events.push((msg.payload as { event: string }).event));

    await waitFor(() => statuses.includes('watching 640x360, recording 1920x1080'), 20_000, 'watching both streams');
    // What the detector sees: the sub-stream's picture (the room, mean gray ~75), not the main stream's test pattern (~128).
    await waitFor(() => frames.length >= 5, 10_000, 'detection frames');
    for (const f of frames) assert.deepEqual([f.width, f.height], [640, 360]);
    assert.ok(mean(frames.at(-1)!.data) < 100, `detection frame mean gray ${mean(frames.at(-1)!.data).toFixed(0)}: not the sub-stream`);

    helper.getNode('in').receive({ payload: 'snapshot' });
    const snap = await waitFor(() => snaps[0], 15_000, 'snapshot');
    assert.deepEqual(jpegSize(snap.payload as Buffer), { width: 1920, height: 1080 });

    // The figure crosses every 8 s: several chances on a loaded machine.
    const first = await waitFor(() => clips[0], 45_000, 'a motion clip')
      .catch((e: Error) => { throw new Error(`${e.message}; events ${events.join(',')}; statuses ${statuses.join(' | ')}; frames ${frames.length}`); });
    const p1 = ffprobe(String(first.path));
    assert.deepEqual([p1.width, p1.height], [1920, 1080]);
    assert.deepEqual([first.width, first.height], [1920, 1080]);
    const src = ffprobe(mainFile);
    assert.equal(p1.codec_name, src.codec_name);
    assert.equal(p1.profile, src.profile);
    assert.equal(frameRateOf(String(first.path)), frameRateOf(mainFile));
    // Not re-encoded: the clip's packets are the camera's packets, byte counts and all.
    assert.ok(isCopyOf(packetSizes(String(first.path)), packetSizes(mainFile)), 'the clip\'s packets are not the main stream\'s');

    // The record stream goes away: the status says so, and clips still come, from the sub-stream.
    // Asked for by a record command (as from the chat): the ring's content is what is checked, not motion's pace.
    // A clip whose 1 s pre-roll reaches back before a switch starts with the other stream's segments: ask again.
    const recordUntil = async (width: number, what: string): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 40_000;
      const seen: string[] = [];
      for (let i = 0; Date.now() < deadline; i++) {
        const n = clips.length;
        helper.getNode('rec').receive({ topic: 'command', payload: { command: 'record', seconds: 1 }, tag: `${what} ${i}` });
        const c = await waitFor(() => clips.slice(n).find((m) => m.tag === `${what} ${i}`), 20_000, `the clip of record command ${i} (${what})`);
        if (c.error || typeof c.path !== 'string') { seen.push(`failed: ${String(c.payload)}`); continue; } // e.g. while the ring switches
        const probed = ffprobe(c.path).width;
        if (c.width === width && probed === width) return c;
        seen.push(`${String(c.width)}/${probed}`);
      }
      throw new Error(`no ${width}-wide clip (${what}) in 40 s: clips (reported/probed width) ${seen.join(', ')}; statuses ${statuses.slice(-4).join(' | ')}`);
    };
    await main.stop();
    await waitFor(() => statuses.includes('watching 640x360, recording 640x360 (record stream away)'), 30_000, 'record stream away status');
    const small = await recordUntil(640, 'record stream away');
    const p2 = ffprobe(String(small.path));
    assert.deepEqual([p2.width, p2.height], [640, 360]);

    // It comes back: 1080p clips again.
    await main.start();
    await waitFor(() => statuses.at(-1) === 'watching 640x360, recording 1920x1080', 30_000, 'recording the record stream again');
    const big = await recordUntil(1920, 'record stream back');
    assert.equal(ffprobe(String(big.path)).height, 1080);
    // Motion was watched all along: the camera never went away.
    assert.ok(!statuses.some((s) => /camera away/.test(s)), statuses.join(' | '));

    const pids = camera.pids();
    assert.equal(pids.length, 2, 'a detect and a record ffmpeg');
    await helper.unload();
  });

  test('hwaccel: a missing device falls back to software with a status and one log line; auto works here', async () => {
    for (const hwaccel of ['vaapi', 'auto']) {
      const cam = new Camera({ name: 'hw', source: 'file', input: subClip(), hwaccel, detectWidth: 160 });
      const logs: CameraLog[] = [];
      const statuses: string[] = [];
      let frames = 0;
      cam.on('log', (l: CameraLog) => logs.push(l));
      cam.on('status', (s: { text: string }) => statuses.push(s.text));
      cam.on('frame', () => frames++);
      cam.start();
      try {
        await waitFor(() => frames >= 5, 20_000, `frames with hwaccel ${hwaccel}`).catch((e: Error) => { throw new Error(`${e.message}: ${statuses.join(' | ')}`); });
        if (hwaccel === 'vaapi' && !existsSync('/dev/dri')) {
          assert.ok(statuses.includes('hwaccel vaapi not available: decoding in software'), statuses.join(' | '));
          assert.match(cam.status.text, /software decoding: hwaccel vaapi not available/);
          const hw = logs.filter((l) => /hardware decoding \(hwaccel vaapi\) failed/.test(l.text));
          assert.equal(hw.length, 1, logs.map((l) => l.text).join(' | '));
        } else {
          assert.equal(cam.status.state, 'watching');
          assert.ok(!statuses.some((s) => /not available|away|error/.test(s)), statuses.join(' | '));
        }
      } finally {
        await cam.stop();
      }
    }
  });
});
