import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, basename } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { CameraStatus } from '../../lib/video/camera';
import type { MotionEvent } from '../../lib/motion/event';
import { Recorder, type ClipReady } from '../../lib/video/recorder';
import { cameraBadge } from '../../lib/video/shared-camera';
import type { SharedCamera } from '../../lib/video/shared-camera';

interface RecordClipDef extends NodeDef {
  camera: string;
  preRoll: string | number;
  postRoll: string | number;
  maxLength: string | number;
  folder: string;
  output: 'buffer' | 'path';
  maxSizeMB: string | number;
  maxAgeDays: string | number;
}

type Msg = NodeMessageInFlow & Record<string, unknown>;

const DEFAULT_COMMAND_SECONDS = 10;

function num(v: string | number | undefined, dflt: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : dflt;
}

function isMotionEvent(p: unknown): p is MotionEvent {
  const e = (p as { event?: unknown } | null)?.event;
  return typeof p === 'object' && p !== null && (e === 'start' || e === 'update' || e === 'end');
}

/** Seconds asked for by a record command, or null when the message is not one. */
function recordSeconds(p: unknown): number | null {
  if (typeof p === 'number' && p > 0) return p;
  if (typeof p === 'string') {
    const m = /^\s*!?record(?:\s+(\d+(?:\.\d+)?))?\s*$/i.exec(p);
    if (m) return m[1] ? Number(m[1]) : DEFAULT_COMMAND_SECONDS;
    return null;
  }
  if (typeof p === 'object' && p !== null && (p as { command?: unknown }).command === 'record') {
    const s = Number((p as { seconds?: unknown }).seconds);
    return Number.isFinite(s) && s > 0 ? s : DEFAULT_COMMAND_SECONDS;
  }
  return null;
}

export = function (RED: NodeAPI) {
  function RecordClip(this: Node, def: RecordClipDef) {
    RED.nodes.createNode(this, def);
    const cfg = RED.nodes.getNode(def.camera) as (Node & { shared?: SharedCamera }) | null;
    if (!cfg?.shared) {
      this.status({ fill: 'red', shape: 'ring', text: 'no camera configured' });
      this.error('record-clip: choose a camera (mantis-camera config node)');
      return;
    }
    const shared = cfg.shared;
    const camera = shared.acquire(this.id);
    const userDir = (RED.settings as { userDir?: string }).userDir ?? tmpdir();
    const folder = def.folder ? (isAbsolute(def.folder) ? def.folder : join(userDir, def.folder)) : join(userDir, 'mantis-clips');
    const recorder = new Recorder<Msg | null>(camera, {
      folder,
      prefix: camera.config.name,
      preRollMs: num(def.preRoll, 5) * 1000,
      postRollMs: num(def.postRoll, 3) * 1000,
      maxLengthMs: Math.max(1, num(def.maxLength, 60)) * 1000,
      maxBytes: num(def.maxSizeMB, 1024) * 1024 * 1024,
      maxAgeMs: num(def.maxAgeDays, 7) * 24 * 3600_000,
    });
    if (recorder.options.preRollMs > (camera.config.keepSeconds - 2) * 1000) {
      this.warn(`pre-roll ${recorder.options.preRollMs / 1000} s is longer than the camera keeps (${camera.config.keepSeconds} s)`);
    }
    let lastClip = '';
    const idle = (s: CameraStatus) => {
      if (recorder.active > 0) return;
      if (s.state === 'watching') this.status({ fill: 'green', shape: 'dot', text: lastClip || 'ready' });
      else this.status(cameraBadge(s));
    };
    camera.on('status', idle);
    idle(camera.status);
    recorder.on('recording', (n: number) => {
      if (n > 0) this.status({ fill: 'blue', shape: 'dot', text: n > 1 ? `recording (${n})` : 'recording' });
      else idle(camera.status);
    });
    recorder.on('clip', ({ clip, ctx }: ClipReady<Msg | null>) => {
      const msg: Msg = ctx ?? ({ _msgid: RED.util.generateId(), topic: camera.config.name } as Msg);
      msg.payload = def.output === 'path' ? clip.path : readFileSync(clip.path);
      msg.filename = basename(clip.path);
      msg.mimetype = 'video/mp4';
      msg.thumbnail = clip.thumbnail;
      msg.duration = clip.duration;
      msg.width = clip.width;
      msg.height = clip.height;
      msg.size = clip.size;
      msg.path = clip.path;
      msg.start = clip.start;
      msg.end = clip.end;
      lastClip = `clip ${Math.round(clip.duration)} s ready`;
      if (recorder.active === 0) this.status({ fill: 'green', shape: 'dot', text: lastClip });
      this.send(msg);
    });
    recorder.on('error', ({ error }: { error: Error }) => {
      this.status({ fill: 'red', shape: 'ring', text: `clip failed: ${error.message.slice(0, 40)}` });
      this.error(`record-clip: ${error.message}`);
    });
    recorder.start();

    this.on('input', (msg, _send, done) => {
      const p = msg.payload as unknown;
      if (isMotionEvent(p)) {
        recorder.motion(p, null);
      } else {
        const seconds = recordSeconds(p);
        if (seconds === null) {
          this.warn('record-clip: expected a motion event or a record command');
        } else {
          recorder.record(seconds, msg as Msg);
        }
      }
      done();
    });

    this.on('close', (_removed: boolean, done: () => void) => {
      recorder.stop();
      camera.off('status', idle);
      shared.release(this.id).then(done, done);
    });
  }
  RED.nodes.registerType('record-clip', RecordClip);
};
