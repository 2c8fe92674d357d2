import type { Node, NodeAPI, NodeDef } from 'node-red';
import { Camera } from '../../lib/video/camera';
import { SharedCamera } from '../../lib/video/shared-camera';
import { withCredentials, type CameraConfig, type CodecMode, type SourceType } from '../../lib/video/source';

interface MantisCameraDef extends NodeDef {
  source: SourceType;
  input: string;
  width: string | number;
  height: string | number;
  fps: string | number;
  inputFormat: string;
  detectWidth: string | number;
  detectFps: string | number;
  codec: CodecMode;
  segmentSeconds: string | number;
  keepSeconds: string | number;
  ffmpegPath: string;
}

interface Credentials { user?: string; password?: string }

/** camera-in and record-clip find `shared` on their config node. */
interface MantisCameraNode extends Node<Credentials> {
  shared: SharedCamera;
}

function num(v: string | number | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export = function (RED: NodeAPI) {
  function MantisCamera(this: MantisCameraNode, def: MantisCameraDef) {
    RED.nodes.createNode(this, def);
    const source = def.source || 'test';
    const input = source === 'rtsp' || source === 'http'
      ? withCredentials((def.input ?? '').trim(), this.credentials?.user, this.credentials?.password)
      : (def.input ?? '').trim();
    const config: Partial<CameraConfig> = {
      name: def.name || source,
      source,
      input,
      width: num(def.width),
      height: num(def.height),
      fps: num(def.fps),
      inputFormat: def.inputFormat || '',
      detectWidth: num(def.detectWidth),
      detectFps: num(def.detectFps),
      codec: def.codec || 'auto',
      segmentSeconds: num(def.segmentSeconds),
      keepSeconds: num(def.keepSeconds),
      ffmpegPath: def.ffmpegPath || undefined,
    };
    const camera = new Camera(config);
    this.shared = new SharedCamera(camera);
    camera.on('status', (s: { state: string; text: string }) => {
      if (s.state === 'error') this.warn(`camera ${camera.config.name}: ${s.text}`);
    });
    this.on('close', (_removed: boolean, done: () => void) => {
      this.shared.close().then(done, done);
    });
  }
  RED.nodes.registerType<MantisCameraNode, MantisCameraDef, unknown, Credentials>('mantis-camera', MantisCamera, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
  });
};
