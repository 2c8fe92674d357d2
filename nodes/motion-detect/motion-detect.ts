import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { MotionDetector, checkFrame } from '../../lib/motion/detector';
import { configFromEditor, type MotionEditorFields } from '../../lib/motion/node-config';
import { validateConfig, type MotionConfig } from '../../lib/motion/config';
import type { MotionEvent } from '../../lib/motion/event';
import type { GrayFrame } from '../../lib/video/frame';

interface MotionDetectDef extends NodeDef, MotionEditorFields {}

/** How long after the last frame an event still going on is closed (the camera went away). */
const STALL_GRACE_MS = 5000;

export = function (RED: NodeAPI) {
  function MotionDetect(this: Node, def: MotionDetectDef) {
    RED.nodes.createNode(this, def);
    let config: MotionConfig;
    try {
      config = configFromEditor(def);
    } catch (e) {
      this.status({ fill: 'red', shape: 'ring', text: `bad setting: ${(e as Error).message.slice(0, 60)}` });
      this.error(`motion-detect: ${(e as Error).message}`);
      return;
    }
    // One detector per camera (msg.topic), so one node can watch several cameras.
    // `stalled`: told the second output (and the log) that this camera sends no frames.
    const detectors = new Map<string, { det: MotionDetector; lastFrameAt: number; stalled: boolean }>();
    let warned = '';
    let statusText = '';
    const setStatus = (fill: 'green' | 'red' | 'yellow' | 'grey' | 'blue', shape: 'dot' | 'ring', text: string): void => {
      if (text === statusText) return;
      statusText = text;
      this.status({ fill, shape, text });
    };
    setStatus('grey', 'ring', 'waiting for frames');

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
        if (ev.event !== 'end') setStatus('blue', 'dot', `motion ${(ev.score * 100).toFixed(1)}%${ev.zones.length ? ` in ${ev.zones.join(', ')}` : ''}`);
      }
      if (events.length && !anyMotion()) setStatus('green', 'dot', 'watching');
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
      if (stalled && !anyMotion()) setStatus('yellow', 'ring', 'no frames');
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
          setStatus('red', 'ring', `bad zones: ${(e as Error).message.slice(0, 50)}`);
          done();
          return;
        }
        const events = [...detectors.values()].flatMap((d) => d.det.reset());
        if (events.length) send([events.map(toMsg), null]);
        detectors.clear();
        setStatus('green', 'ring', `zones: ${config.zones.map((z) => z.name).join(', ') || 'none'}`);
        done();
        return;
      }
      if (msg.reset) {
        const targets = camera ? [detectors.get(key)] : [...detectors.values()];
        const events = targets.flatMap((d) => (d ? d.det.reset() : []));
        if (events.length) send([events.map(toMsg), null]);
        if (camera) detectors.delete(key); else detectors.clear();
        setStatus('green', 'ring', 'reset, learning background');
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
        setStatus('yellow', 'ring', `bad frame: ${text.slice(0, 50)}`);
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
      if (d.stalled) {
        d.stalled = false;
        health(key, true);
      }
      const events = d.det.push(frame);
      if (events.length) {
        send([events.map(toMsg), null]);
        showEvents(events);
      } else if (!anyMotion()) {
        setStatus('green', 'dot', 'watching');
      }
      done();
    });

    this.on('close', () => {
      clearInterval(stallTimer);
      detectors.clear();
    });
  }
  RED.nodes.registerType('motion-detect', MotionDetect);
};
