// object-detect: adapts lib/objects/stage.ts (looks while motion lasts, filters, stationary objects)
// to Node-RED. Motion events in; the same events out, with the objects seen, only once a wanted one was.
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { isMotionEvent } from '../../lib/alarm/panel-input';
import type { MotionEvent } from '../../lib/motion/event';
import { acquireDetector, type DetectorHandle } from '../../lib/objects/shared-detector';
import { CameraFrames, LOOK_SIZE } from '../../lib/objects/frames';
import { objectsEnabled, settingsFromEditor, type ObjectEditorFields } from '../../lib/objects/node-config';
import { objectSettings, wantedLabels, type ObjectSettings } from '../../lib/objects/settings';
import { ObjectStage, type ObjectEvent } from '../../lib/objects/stage';
import { ObjectModelMissing, type SeenObject } from '../../lib/objects/types';
import type { SharedCamera } from '../../lib/video/shared-camera';
import { join } from 'node:path';
import { catalogText } from '../../lib/common/catalog';

interface ObjectDetectDef extends NodeDef, ObjectEditorFields { camera: string }

type Msg = NodeMessageInFlow & Record<string, unknown>;
type Fill = 'green' | 'red' | 'yellow' | 'grey' | 'blue';

/** How often the look timer checks for a due look while motion lasts (it does not run otherwise). */
const TICK_MS = 100;

const pct = (s: number): number => Math.round(s * 100);

export = function (RED: NodeAPI) {
  // Status texts in the runtime's language (locales/<lang>/object-detect.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'object-detect.json'));
  function ObjectDetect(this: Node, def: ObjectDetectDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    let settings: ObjectSettings;
    try {
      settings = settingsFromEditor(def);
    } catch (e) {
      node.status({ fill: 'red', shape: 'ring', text: _('object-detect.status.badSetting', { error: (e as Error).message.slice(0, 60) }) });
      node.error(`object-detect: ${(e as Error).message}`);
      return;
    }
    let statusText = '';
    const setStatus = (fill: Fill, shape: 'dot' | 'ring', text: string): void => {
      if (text === statusText) return;
      statusText = text;
      node.status({ fill, shape, text });
    };
    const toMsg = (ev: MotionEvent, image?: Buffer): NodeMessage => {
      const m: Record<string, unknown> = { topic: 'motion', payload: ev, camera: ev.camera };
      if (image) { m.image = image; m.mimetype = 'image/jpeg'; }
      return m as NodeMessage;
    };

    if (!objectsEnabled(def.enabled)) {
      // Switched off (the demo scene has no real objects): motion passes as it came.
      setStatus('grey', 'ring', _('object-detect.status.off'));
      node.on('input', (msg, send, done) => { send(msg); done(); });
      return;
    }

    const cfg = RED.nodes.getNode(def.camera) as (Node & { shared?: SharedCamera }) | null;
    if (!cfg?.shared) {
      node.status({ fill: 'red', shape: 'ring', text: _('object-detect.status.noCamera') });
      node.error('object-detect: choose a camera (mantis-camera config node): the crops come from its full-resolution video');
      return;
    }
    const shared = cfg.shared;
    const camera = shared.acquire(node.id);
    const frames = new CameraFrames(camera);
    let handle: DetectorHandle | null = acquireDetector({ inputSize: LOOK_SIZE });
    // Set when the model cannot run: motion then passes unfiltered (an alarm must not go blind).
    let missing = '';
    const modelMissing = (e: Error): void => {
      if (missing) return;
      missing = e.message;
      node.warn(`object model not installed: ${e.message}; motion events pass unfiltered`);
      setStatus('yellow', 'ring', _('object-detect.status.missing', { error: e.message }).slice(0, 80));
    };

    let closed = false;
    let lastFailure = '';
    const stage = new ObjectStage(settings, handle, frames, (ev: ObjectEvent, image?: Buffer) => {
      if (closed) return;
      node.send(toMsg(ev, image));
    }, {
      onLook: (_cam: string, _t: number, found: SeenObject[]) => {
        if (closed || missing) return;
        lastFailure = '';
        const best = [...found].sort((a, b) => b.score - a.score)[0];
        if (best) setStatus('blue', 'dot', best.zone ? _('object-detect.status.seenIn', { label: best.label, score: pct(best.score), zone: best.zone }) : _('object-detect.status.seen', { label: best.label, score: pct(best.score) }));
        else if (statusText.startsWith(_('object-detect.status.lookFailed', { error: '' }))) setStatus('blue', 'ring', _('object-detect.status.looking')); // it works again
      },
      onError: (_cam: string, e: Error) => {
        if (closed) return;
        if (e instanceof ObjectModelMissing) { modelMissing(e); return; }
        if (e.message !== lastFailure) node.warn(`object-detect: a look failed: ${e.message}`); // once per kind
        lastFailure = e.message;
        setStatus('red', 'ring', _('object-detect.status.lookFailed', { error: e.message }).slice(0, 80));
      },
    });

    // Looks are due while an event lasts: a timer only then, so an idle camera costs nothing.
    let timer: NodeJS.Timeout | undefined;
    const idle = (): void => {
      if (!missing && !closed) setStatus('green', 'dot', _('object-detect.status.watching', { labels: wantedLabels(settings).join(', ') }));
    };
    const schedule = (): void => {
      if (closed) return;
      const open = stage.openCameras;
      if (!open.length) {
        clearInterval(timer);
        timer = undefined;
        idle();
        return;
      }
      timer ??= setInterval(() => {
        for (const cam of stage.openCameras) {
          stage.lookIfDue(cam, Date.now()).catch((e: Error) => node.warn(`object-detect: ${e.message}`));
        }
        schedule();
      }, TICK_MS);
    };
    setStatus('grey', 'ring', _('object-detect.status.loading'));
    handle.ready().then(idle, (e: Error) => {
      if (closed) return;
      if (e instanceof ObjectModelMissing) modelMissing(e);
      else {
        node.error(`object-detect: the object model failed to load: ${e.message}`);
        setStatus('red', 'ring', _('object-detect.status.modelFailed', { error: e.message }).slice(0, 80));
      }
    });

    node.on('input', (msg: NodeMessageInFlow & { zones?: unknown }, send, done) => {
      const m = msg as Msg;
      if (m.zones !== undefined && !isMotionEvent(m.payload)) {
        // New zones for the objects (the same message may go to motion-detect too).
        try {
          settings = objectSettings({ ...settings, zones: m.zones });
          stage.setSettings(settings);
        } catch (e) {
          node.warn(`object-detect: msg.zones ignored: ${(e as Error).message}`);
        }
        done();
        return;
      }
      if (!isMotionEvent(m.payload)) {
        send(msg); // not ours to judge (camera health, commands): on it goes
        done();
        return;
      }
      const ev = { ...(m.payload as MotionEvent) };
      ev.camera ??= typeof m.camera === 'string' ? m.camera : camera.config.name;
      if (missing) {
        send(msg);
        done();
        return;
      }
      if (ev.event !== 'end' && !stage.objectsOf(ev.camera)) setStatus('blue', 'ring', _('object-detect.status.looking'));
      stage.push(ev).then(() => {
        // This event's look found the model missing: it passes, as the ones after it will.
        if (missing) send(msg);
        schedule();
        done();
      }, (e: Error) => { schedule(); done(e); });
      schedule();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      clearInterval(timer);
      stage.close();
      frames.kill();
      try {
        handle?.release();
      } catch (e) {
        node.warn(`object-detect: releasing the object model: ${(e as Error).message}`);
      }
      handle = null;
      // Whatever fails while stopping, Node-RED gets its done().
      shared.release(node.id)
        .catch((e: Error) => node.warn(`object-detect: closing: ${e.message}`))
        .finally(done)
        .catch((e: Error) => node.error(`object-detect: closing: ${e.message}`));
    });
  }
  RED.nodes.registerType('object-detect', ObjectDetect);
};
