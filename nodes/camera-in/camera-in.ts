import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { CameraStatus } from '../../lib/video/camera';
import type { GrayFrame } from '../../lib/video/frame';
import { cameraBadge } from '../../lib/video/shared-camera';
import type { SharedCamera } from '../../lib/video/shared-camera';
import { join } from 'node:path';
import { catalogText, siblingCatalog } from '../../lib/common/catalog';

interface CameraInDef extends NodeDef { camera: string }

/** A snapshot request: payload "snapshot", topic "snapshot", or a chat command {command:'snapshot'}. */
function wantsSnapshot(msg: NodeMessageInFlow): boolean {
  const p = msg.payload as unknown;
  if (typeof p === 'string' && p.trim().toLowerCase() === 'snapshot') return true;
  if (msg.topic === 'snapshot') return true;
  return typeof p === 'object' && p !== null && (p as { command?: unknown }).command === 'snapshot';
}

export = function (RED: NodeAPI) {
  // Status texts in the runtime's language (locales/<lang>/camera-in.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'camera-in.json'));
  const cameraText = siblingCatalog(RED._, __dirname, 'mantis-camera');
  function CameraIn(this: Node, def: CameraInDef) {
    RED.nodes.createNode(this, def);
    const cfg = RED.nodes.getNode(def.camera) as (Node & { shared?: SharedCamera }) | null;
    if (!cfg?.shared) {
      this.status({ fill: 'red', shape: 'ring', text: _('camera-in.status.noCamera') });
      this.error('camera-in: choose a camera (mantis-camera config node)');
      return;
    }
    const shared = cfg.shared;
    const camera = shared.acquire(this.id);
    const name = camera.config.name;
    const onStatus = (s: CameraStatus) => this.status(cameraBadge(s, cameraText));
    const onFrame = (f: GrayFrame) => this.send([{ topic: name, payload: f }, null]);
    camera.on('status', onStatus);
    camera.on('frame', onFrame);
    onStatus(camera.status);

    this.on('input', (msg, send, done) => {
      if (!wantsSnapshot(msg)) { done(); return; }
      const m = msg as NodeMessageInFlow & { preview?: unknown; camera?: unknown };
      if (m.preview === true) {
        // The alarm panel's idle refresh for HA: small and cheap; one per camera, so not ours when named otherwise.
        if (typeof m.camera === 'string' && m.camera !== name) { done(); return; }
        camera.preview().then((jpeg) => {
          send([null, Object.assign(msg, { payload: jpeg, mimetype: 'image/jpeg', camera: name })]);
          done();
        }, (err: Error) => { this.debug(`preview: ${err.message}`); done(); });
        return;
      }
      camera.snapshot().then((snap) => {
        const out = msg as NodeMessageInFlow & Record<string, unknown>;
        out.payload = snap.jpeg;
        out.mimetype = 'image/jpeg';
        out.width = snap.width;
        out.height = snap.height;
        out.camera = name; // which camera took it (the alarm panel files it under that camera in HA)
        out.filename = `${name.replace(/[^\w-]+/g, '_')}-${new Date(snap.t).toISOString().replace(/[:.]/g, '-')}.jpg`;
        send([null, out]);
        done();
      }, (err: Error) => done(err));
    });

    this.on('close', (_removed: boolean, done: () => void) => {
      camera.off('status', onStatus);
      camera.off('frame', onFrame);
      shared.release(this.id).then(done, done);
    });
  }
  RED.nodes.registerType('camera-in', CameraIn);
};
