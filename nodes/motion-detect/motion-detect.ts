import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import type { Request, Response } from 'express';
import { MotionDetector, checkFrame } from '../../lib/motion/detector';
import { configFromEditor, type MotionEditorFields } from '../../lib/motion/node-config';
import { validateConfig, type MotionConfig } from '../../lib/motion/config';
import type { MotionEvent } from '../../lib/motion/event';
import type { GrayFrame } from '../../lib/video/frame';
import type { SharedCamera } from '../../lib/video/shared-camera';
import { grayPng } from '../../lib/video/gray-png';
import { upstreamCameras, type FlowNodeConfig } from '../../lib/motion/upstream-camera';
import { join } from 'node:path';
import { catalogText } from '../../lib/common/catalog';

interface MotionDetectDef extends NodeDef, MotionEditorFields {}

/** What the editor's draw view asks of a deployed node (see the endpoints below). */
interface EditorView {
  /** Camera names (msg.topic) of the frames seen, newest first. */
  topics(): string[];
  /** The newest frame of a camera (default: of the camera heard from last). */
  lastFrame(camera?: string): GrayFrame | undefined;
  /** That frame with the motion blocks, learned mask, boxes and zones drawn over it. */
  overlay(camera?: string): { frame: GrayFrame; image: Uint8Array } | undefined;
}
interface MotionDetectNode extends Node { editorView?: EditorView }

/** How long after the last frame an event still going on is closed (the camera went away). */
const STALL_GRACE_MS = 5000;

export = function (RED: NodeAPI) {
  // Status texts in the runtime's language (locales/<lang>/motion-detect.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'motion-detect.json'));
  function MotionDetect(this: MotionDetectNode, def: MotionDetectDef) {
    RED.nodes.createNode(this, def);
    let config: MotionConfig;
    try {
      config = configFromEditor(def);
    } catch (e) {
      this.status({ fill: 'red', shape: 'ring', text: _('motion-detect.status.badSetting', { error: (e as Error).message.slice(0, 60) }) });
      this.error(`motion-detect: ${(e as Error).message}`);
      return;
    }
    // One detector per camera (msg.topic), so one node can watch several cameras.
    // `stalled`: told the second output (and the log) that this camera sends no frames.
    const detectors = new Map<string, { det: MotionDetector; lastFrameAt: number; stalled: boolean; frame?: GrayFrame }>();
    let warned = '';
    let statusText = '';
    const setStatus = (fill: 'green' | 'red' | 'yellow' | 'grey' | 'blue', shape: 'dot' | 'ring', text: string): void => {
      if (text === statusText) return;
      statusText = text;
      this.status({ fill, shape, text });
    };
    setStatus('grey', 'ring', _('motion-detect.status.waiting'));

    const newest = (camera?: string) => {
      if (camera !== undefined) return detectors.get(camera);
      let best: { det: MotionDetector; lastFrameAt: number; frame?: GrayFrame } | undefined;
      for (const d of detectors.values()) if (d.frame && (!best || d.lastFrameAt > best.lastFrameAt)) best = d;
      return best;
    };
    this.editorView = {
      topics: () => [...detectors.entries()].filter(([k]) => k !== '').sort((a, b) => b[1].lastFrameAt - a[1].lastFrameAt).map(([k]) => k),
      lastFrame: (camera) => newest(camera)?.frame,
      overlay: (camera) => {
        const d = newest(camera);
        return d?.frame ? { frame: d.frame, image: d.det.debugFrame(d.frame) } : undefined;
      },
    };

    const anyMotion = (): boolean => [...detectors.values()].some((d) => d.det.inMotion);
    const toMsg = (ev: MotionEvent): NodeMessage => ({ topic: 'motion', payload: ev, camera: ev.camera } as NodeMessage);
    // Once per change, not per retry of the camera: the alarm panel shows it in Home Assistant.
    const health = (key: string, ok: boolean): void => {
      const camera = key || 'camera';
      const reason = `no frames for ${STALL_GRACE_MS / 1000} s`;
      if (ok) this.log(`camera "${camera}": frames again`);
      else this.warn(`camera "${camera}": ${reason}`);
      this.send([null, { topic: 'camera-health', camera, payload: ok ? { camera, ok } : { camera, ok, reason } } as NodeMessage]);
    };
    const showEvents = (events: MotionEvent[]): void => {
      for (const ev of events) {
        if (ev.event !== 'end') {
          const score = (ev.score * 100).toFixed(1);
          setStatus('blue', 'dot', ev.zones.length ? _('motion-detect.status.motionIn', { score, zones: ev.zones.join(', ') }) : _('motion-detect.status.motion', { score }));
        }
      }
      if (events.length && !anyMotion()) setStatus('green', 'dot', _('motion-detect.status.watching'));
    };

    // A camera that stops sending frames mid-event would leave the event open forever.
    const stallTimer = setInterval(() => {
      const now = Date.now();
      for (const [key, d] of detectors) {
        if (d.det.inMotion && now - d.lastFrameAt > config.endDelay + STALL_GRACE_MS) {
          const events = d.det.reset();
          this.send([events.map(toMsg), null]);
          showEvents(events);
        }
        if (!d.stalled && now - d.lastFrameAt > STALL_GRACE_MS) {
          d.stalled = true;
          health(key, false);
        }
      }
      // "watching" would be a lie once the frames stopped; the next frame sets it again.
      const stalled = detectors.size > 0 && [...detectors.values()].every((d) => now - d.lastFrameAt > STALL_GRACE_MS);
      if (stalled && !anyMotion()) setStatus('yellow', 'ring', _('motion-detect.status.noFrames'));
    }, 1000);

    this.on('input', (msg: NodeMessageInFlow & { reset?: unknown; zones?: unknown }, send, done) => {
      const camera = typeof msg.topic === 'string' && msg.topic !== '' ? msg.topic : undefined;
      const key = camera ?? '';
      if (msg.payload === 'reset mask' || msg.reset === 'mask') {
        // Forget the learned repetitive motion (leaves, flicker), of one camera or all; events go on.
        for (const d of camera ? [detectors.get(key)] : [...detectors.values()]) d?.det.resetMask();
        this.log(`learned repetitive motion forgotten${camera ? ` for "${camera}"` : ''}`);
        done();
        return;
      }
      if (msg.zones !== undefined) {
        // New zones (with their own threshold / minArea) for every camera of this node.
        try {
          config = validateConfig({ ...config, zones: msg.zones });
        } catch (e) {
          this.warn(`motion-detect: msg.zones ignored: ${(e as Error).message}`);
          setStatus('red', 'ring', _('motion-detect.status.badZones', { error: (e as Error).message.slice(0, 50) }));
          done();
          return;
        }
        const events = [...detectors.values()].flatMap((d) => d.det.reset());
        if (events.length) send([events.map(toMsg), null]);
        detectors.clear();
        setStatus('green', 'ring', _('motion-detect.status.zones', { zones: config.zones.map((z) => z.name).join(', ') || _('motion-detect.status.noZones') }));
        done();
        return;
      }
      if (msg.reset) {
        const targets = camera ? [detectors.get(key)] : [...detectors.values()];
        const events = targets.flatMap((d) => (d ? d.det.reset() : []));
        if (events.length) send([events.map(toMsg), null]);
        if (camera) detectors.delete(key); else detectors.clear();
        setStatus('green', 'ring', _('motion-detect.status.reset'));
        done();
        return;
      }
      let frame: GrayFrame;
      try {
        frame = checkFrame(msg.payload);
      } catch (e) {
        const text = (e as Error).message;
        // Warn once per kind of problem, not once per frame.
        if (text !== warned) {
          warned = text;
          this.warn(`motion-detect: ignoring a bad frame: ${text}`);
        }
        setStatus('yellow', 'ring', _('motion-detect.status.badFrame', { error: text.slice(0, 50) }));
        done();
        return;
      }
      warned = '';
      if (frame.t === undefined) frame = { ...frame, t: Date.now() };
      let d = detectors.get(key);
      if (!d) {
        d = { det: new MotionDetector(config, camera), lastFrameAt: 0, stalled: false };
        detectors.set(key, d);
      }
      d.lastFrameAt = Date.now();
      d.frame = frame; // for the editor's draw view; camera-in hands out a new buffer per frame
      if (d.stalled) {
        d.stalled = false;
        health(key, true);
      }
      const events = d.det.push(frame);
      if (events.length) {
        send([events.map(toMsg), null]);
        showEvents(events);
      } else if (!anyMotion()) {
        setStatus('green', 'dot', _('motion-detect.status.watching'));
      }
      done();
    });

    this.on('close', () => {
      clearInterval(stallTimer);
      detectors.clear();
      this.editorView = undefined;
    });
  }
  RED.nodes.registerType('motion-detect', MotionDetect);

  // The edit dialog's draw view: a picture of the camera to draw zones on, and what the detector
  // sees. Admin routes behind the editor's login (no picture of the house without it).
  const detectorNode = (req: Request, res: Response): EditorView | undefined => {
    const id = String(req.params.id);
    const n = RED.nodes.getNode(id) as MotionDetectNode | null;
    if (!n || n.type !== 'motion-detect') {
      res.status(404).json({ error: `no deployed motion-detect node ${id}: deploy first` });
      return undefined;
    }
    if (!n.editorView) {
      res.status(503).json({ error: 'the node is not running (see its status: a bad setting?)' });
      return undefined;
    }
    return n.editorView;
  };
  /** A node that names its camera but sees no frames of its own. */
  const NO_FRAMES: Pick<EditorView, 'topics' | 'lastFrame'> = { topics: () => [], lastFrame: () => undefined };
  const camera = (req: Request): string | undefined => (typeof req.query.camera === 'string' && req.query.camera !== '' ? req.query.camera : undefined);
  const image = (res: Response, type: string, body: Buffer): void => {
    res.set('Cache-Control', 'no-store').type(type).send(body);
  };
  const noFrame = (res: Response, why?: string): void => {
    res.status(503).json({ error: `no frame yet${why ? ` (${why})` : ''}` });
  };

  /**
   * The camera's own picture (colour, at most 640 wide); else the detector's gray frame. For a
   * motion-detect, or any node of the package that names its camera (object-detect's zones).
   */
  const snapshot = async (req: Request, res: Response): Promise<void> => {
    const id = String(req.params.id);
    const flow: FlowNodeConfig[] = [];
    RED.nodes.eachNode((n) => { flow.push(n as unknown as FlowNodeConfig); });
    const own = flow.find((n) => n.id === id);
    const namesCamera = own !== undefined && own.type !== 'motion-detect' && (own.type === 'mantis-camera' || !!own.camera)
      && RED.nodes.getNode(id) !== null;
    const view: Pick<EditorView, 'topics' | 'lastFrame'> | undefined = namesCamera ? NO_FRAMES : detectorNode(req, res);
    if (!view) return;
    const sharedOf = (id: string) => (RED.nodes.getNode(id) as (Node & { shared?: SharedCamera }) | null)?.shared;
    const topics = camera(req) !== undefined ? [camera(req)!] : view.topics();
    let why: string | undefined;
    for (const c of upstreamCameras(flow, id, topics, (cid) => sharedOf(cid)?.camera.config.name)) {
      const cam = sharedOf(c)?.camera;
      if (!cam) continue;
      try {
        image(res, 'image/jpeg', await cam.preview());
        return;
      } catch (e) {
        why = (e as Error).message;
      }
    }
    const frame = view.lastFrame(camera(req));
    if (frame) image(res, 'image/png', grayPng(frame, frame.data));
    else noFrame(res, why);
  };
  RED.httpAdmin.get('/mantis/snapshot/:id', RED.auth.needsPermission('mantis.read'), (req, res) => {
    snapshot(req, res).catch((e: Error) => {
      RED.log.warn(`motion-detect snapshot: ${e.message}`);
      if (!res.headersSent) res.status(500).json({ error: e.message });
    });
  });
  /** The newest detection frame with what the detector saw over it, a PNG; the dialog polls it for a few seconds. */
  RED.httpAdmin.get('/mantis/motion/:id', RED.auth.needsPermission('mantis.read'), (req, res) => {
    try {
      const view = detectorNode(req, res);
      if (!view) return;
      const o = view.overlay(camera(req));
      if (!o) { noFrame(res); return; }
      image(res, 'image/png', grayPng(o.frame, o.image));
    } catch (e) {
      RED.log.warn(`motion-detect motion view: ${(e as Error).message}`);
      if (!res.headersSent) res.status(500).json({ error: (e as Error).message });
    }
  });
};
