import type { Node, NodeAPI, NodeDef } from 'node-red';
import { Camera, type CameraLog } from '../../lib/video/camera';
import type { CameraSettings, CodecMode, SourceType } from '../../lib/video/camera-settings';
import { SharedCamera } from '../../lib/video/shared-camera';
import { withCredentials } from '../../lib/video/source';

interface MantisCameraDef extends NodeDef {
  source: SourceType;
  input: string;
  record: string;
  hwaccel: string;
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

export = function (RED: NodeAPI) {
  function MantisCamera(this: MantisCameraNode, def: MantisCameraDef) {
    RED.nodes.createNode(this, def);
    const source = def.source || 'test';
    // The camera's one login serves both of its streams.
    const login = (url: string | undefined) => source === 'rtsp' || source === 'http'
      ? withCredentials((url ?? '').trim(), this.credentials?.user, this.credentials?.password)
      : (url ?? '').trim();
    // As typed: the camera checks every field (lib/video/camera-settings.ts) and refuses a bad one.
    const settings: CameraSettings = {
      name: def.name || source,
      source,
      input: login(def.input),
      record: login(def.record),
      hwaccel: def.hwaccel,
      width: def.width,
      height: def.height,
      fps: def.fps,
      inputFormat: def.inputFormat,
      detectWidth: def.detectWidth,
      detectFps: def.detectFps,
      codec: def.codec,
      segmentSeconds: def.segmentSeconds,
      keepSeconds: def.keepSeconds,
      ffmpegPath: def.ffmpegPath,
    };
    const camera = new Camera(settings);
    this.shared = new SharedCamera(camera);
    // Once per change of state (first failure, recovery, another error), not once per retry.
    camera.on('log', (l: CameraLog) => {
      const line = `camera ${camera.config.name}: ${l.text}`;
      if (l.level === 'error') this.error(line);
      else if (l.level === 'warn') this.warn(line);
      else this.log(line);
    });
    this.on('close', (_removed: boolean, done: () => void) => {
      this.shared.close().then(done, done);
    });
  }
  RED.nodes.registerType<MantisCameraNode, MantisCameraDef, unknown, Credentials>('mantis-camera', MantisCamera, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
  });
};
