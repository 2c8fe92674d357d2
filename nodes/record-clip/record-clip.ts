import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, basename } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { CameraStatus } from '../../lib/video/camera';
import { Recorder, type Answer, type ClipFailed, type ClipReady } from '../../lib/video/recorder';
import { isMotionEvent, recordSeconds } from '../../lib/video/record-input';
import { ClipFailure } from '../../lib/video/clip-failure';
import { cameraBadge } from '../../lib/video/shared-camera';
import type { SharedCamera } from '../../lib/video/shared-camera';
import { catalogText, siblingCatalog } from '../../lib/common/catalog';

interface RecordClipDef extends NodeDef {
  camera: string;
  preRoll: string | number;
  postRoll: string | number;
  maxLength: string | number;
  folder: string;
  output: 'buffer' | 'path';
  maxSizeMB: string | number;
  maxAgeDays: string | number;
  whenAway: 'error' | 'wait';
  awayWait: string | number;
}

type Msg = NodeMessageInFlow & Record<string, unknown>;

function num(v: string | number | undefined, dflt: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : dflt;
}

export = function (RED: NodeAPI) {
  // Status texts in the runtime's language (locales/<lang>/record-clip.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'record-clip.json'));
  const cameraText = siblingCatalog(RED._, __dirname, 'mantis-camera');
  function RecordClip(this: Node, def: RecordClipDef) {
    RED.nodes.createNode(this, def);
    const cfg = RED.nodes.getNode(def.camera) as (Node & { shared?: SharedCamera }) | null;
    if (!cfg?.shared) {
      this.status({ fill: 'red', shape: 'ring', text: _('record-clip.status.noCamera') });
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
      whenAway: def.whenAway === 'wait' ? 'wait' : 'error',
      awayWaitMs: Math.max(1, num(def.awayWait, 300)) * 1000,
    });
    if (recorder.options.preRollMs > (camera.config.keepSeconds - 2) * 1000) {
      this.warn(`pre-roll ${recorder.options.preRollMs / 1000} s is longer than the camera keeps (${camera.config.keepSeconds} s)`);
    }
    let lastClip = '';
    const idle = (s: CameraStatus) => {
      if (recorder.active > 0 || recorder.waitingCommands > 0) return;
      if (s.state === 'watching') this.status({ fill: 'green', shape: 'dot', text: lastClip || _('record-clip.status.ready') });
      else this.status(cameraBadge(s, cameraText));
    };
    camera.on('status', idle);
    idle(camera.status);
    recorder.on('recording', (n: number) => {
      if (n > 0) this.status({ fill: 'blue', shape: 'dot', text: n > 1 ? _('record-clip.status.recordingN', { n }) : _('record-clip.status.recording') });
      else idle(camera.status);
    });
    recorder.on('waiting', (n: number) => {
      if (n > 0) this.status({ fill: 'yellow', shape: 'ring', text: n > 1 ? _('record-clip.status.waitingN', { n }) : _('record-clip.status.waiting') });
      else idle(camera.status);
    });
    // A command's clip (or failure) goes out on the command's own message, so a chat reply goes back to where it came from.
    const answerMsg = (a: Answer<Msg | null>): Msg => a.ctx ?? ({ _msgid: RED.util.generateId(), topic: camera.config.name } as Msg);
    const fail = (error: ClipFailure, answers: Array<Answer<Msg | null>>) => {
      this.status({ fill: 'red', shape: 'ring', text: error.message });
      for (const a of answers) {
        const msg = answerMsg(a);
        msg.payload = error.message;
        this.error(error.message, msg); // for a Catch node (Node-RED copies the message here)
        msg.error = { message: error.message, code: error.code };
        if (a.kind === 'command') this.send(msg);
      }
    };
    recorder.on('failed', ({ error, answers }: ClipFailed<Msg | null>) => fail(error, answers));
    recorder.on('clip', ({ clip, answers }: ClipReady<Msg | null>) => {
      let payload: Buffer | string;
      try {
        payload = def.output === 'path' ? clip.path : readFileSync(clip.path);
      } catch (e) {
        fail(new ClipFailure('failed', `clip failed: cannot read ${clip.path} back (${(e as Error).message})`), answers);
        return;
      }
      lastClip = `clip ${Math.round(clip.duration)} s ready`;
      if (recorder.active === 0) this.status({ fill: 'green', shape: 'dot', text: lastClip });
      for (const a of answers) {
        this.send(Object.assign(answerMsg(a), {
          payload, filename: basename(clip.path), mimetype: 'video/mp4', thumbnail: clip.thumbnail, duration: clip.duration,
          width: clip.width, height: clip.height, size: clip.size, path: clip.path, start: clip.start, end: clip.end,
        }));
      }
    });
    recorder.on('warning', (text: string) => this.warn(text));
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
