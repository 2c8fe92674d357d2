// The object stage between motion-detect and the alarm: it looks (crops around the motion boxes,
// the model) only while motion lasts, keeps the objects that count (label, score, box size, zone,
// not stationary) and lets a motion event through only once such an object was seen, enriched
// with it. Plain TypeScript: the object-detect node and `mantis-detect --objects` both run it.
import type { Box, MotionEvent } from '../motion/event';
import { pointInPolygon } from '../motion/polygon';
import type { Detection, ObjectDetector, RgbImage, SeenObject } from './types';
import { StaleLook } from './types';
import type { ObjectSettings } from './settings';

/** A motion event with what object-detect saw. */
export interface ObjectEvent extends MotionEvent { objects: SeenObject[] }

/** A crop of the full-resolution picture: `region` is where it lies in the frame (normalized). */
export interface CropFrame { img: RgbImage; region: Box; t: number }

/** Where the pictures come from: a camera's ring of segments, or a video file. */
export interface FrameSource {
  /**
   * The full-resolution picture nearest time t (ms, the motion events' clock), cropped around the
   * motion boxes (lookRegion). `since`: when the event's motion began (an earlier picture may do, if it is after that).
   */
  crop(camera: string, t: number, boxes: readonly Box[], since?: number): Promise<CropFrame>;
  /** The full picture at t as a JPEG with the objects' boxes and labels drawn. */
  annotate?(camera: string, t: number, objects: SeenObject[]): Promise<Buffer>;
}

/** Intersection over union of two boxes. */
export function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x), y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w), y1 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Boxes of the same object at rest: overlapping by `minIou`, or (small boxes jitter by a few pixels,
 * which costs them much overlap) centres closer than a fifth of the first box's diagonal.
 */
export function samePlace(a: Box, b: Box, minIou: number): boolean {
  if (iou(a, b) >= minIou) return true;
  const dx = a.x + a.w / 2 - (b.x + b.w / 2), dy = a.y + a.h / 2 - (b.y + b.h / 2);
  return Math.hypot(dx, dy) <= 0.2 * Math.hypot(a.w, a.h) && Math.abs(Math.log((b.w * b.h) / (a.w * a.h))) < Math.log(2);
}

function contains(outer: Box, inner: Box): boolean {
  const e = 1e-6;
  return inner.x >= outer.x - e && inner.y >= outer.y - e && inner.x + inner.w <= outer.x + outer.w + e && inner.y + inner.h <= outer.y + outer.h + e;
}

/**
 * The part of the frame to look at: the motion boxes' union with a margin, made square in pixels
 * (the model's input is square) and at least a third of the frame's short side (so a small blob
 * still shows the body around it), moved inside the frame. Normalized to the frame.
 */
export function lookRegion(boxes: readonly Box[], width: number, height: number): Box {
  if (!boxes.length || width <= 0 || height <= 0) return { x: 0, y: 0, w: 1, h: 1 };
  const x0 = Math.min(...boxes.map((b) => b.x)) * width, y0 = Math.min(...boxes.map((b) => b.y)) * height;
  const x1 = Math.max(...boxes.map((b) => b.x + b.w)) * width, y1 = Math.max(...boxes.map((b) => b.y + b.h)) * height;
  const side = Math.max((x1 - x0) * 1.3, (y1 - y0) * 1.3, Math.min(width, height) / 3);
  const w = Math.min(width, side), h = Math.min(height, side);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const x = Math.min(Math.max(0, cx - w / 2), width - w), y = Math.min(Math.max(0, cy - h / 2), height - h);
  // Even pixel numbers: ffmpeg's crop and the encoder's chroma like them.
  const even = (v: number): number => Math.max(0, Math.floor(v / 2) * 2);
  const px = even(x), py = even(y), pw = Math.max(2, Math.min(even(w), width - px)), ph = Math.max(2, Math.min(even(h), height - py));
  return { x: px / width, y: py / height, w: pw / width, h: ph / height };
}

/** A detection in crop coordinates to the full frame. */
export function toFrame(box: Box, region: Box): Box {
  return { x: region.x + box.x * region.w, y: region.y + box.y * region.h, w: box.w * region.w, h: box.h * region.h };
}

/** "Person at door (porch), 87 %": what an alert says about the objects of an event. */
export function describeObjects(objects: readonly SeenObject[], camera: string): string {
  if (!objects.length) return `Motion at ${camera}`;
  const best = new Map<string, SeenObject>();
  for (const o of objects) if ((best.get(o.label)?.score ?? -1) < o.score) best.set(o.label, o);
  const parts = [...best.values()].sort((a, b) => b.score - a.score).map((o, i) => {
    const name = i === 0 ? o.label[0].toUpperCase() + o.label.slice(1) : o.label;
    const n = objects.filter((x) => x.label === o.label).length;
    return `${n > 1 ? `${n}× ` : ''}${name}${i === 0 ? ` at ${camera}` : ''}${o.zone ? ` (${o.zone})` : ''}, ${Math.round(o.score * 100)} %`;
  });
  return parts.join('; ');
}

/** An object seen at a place: `since` it has been there, `missed` looks at the place that did not see it. */
interface Track { box: Box; since: number; lastSeen: number; missed: number }

/** Looks at its place that must miss an object before it counts as gone (the model's scores and labels flicker). */
const GONE_AFTER_MISSES = 3;

/** One camera's current motion event as the stage sees it. */
interface CameraEvent {
  /** The last motion event (boxes, zones). */
  last: MotionEvent;
  looks: number;
  lastLookAt: number;
  /** The objects that let the event through (the latest look that found some), once it was let through. */
  objects: SeenObject[] | null;
  /** A look is running (one at a time per camera). */
  busy: Promise<void> | null;
}

/** How much less often an event is looked at once an object let it through. */
export const CONFIRMED_SLOWER = 3;

export interface StageStats { looks: number; stale: number; failed: number; lookMs: number }

/**
 * The filters and the stationary test (synchronous, deterministic: fed detections, it says what
 * counts), and the looks driven around them. `emit` gets the events to send on, in order.
 */
export class ObjectStage {
  private readonly cameras = new Map<string, CameraEvent>();
  private readonly tracks = new Map<string, Track[]>();
  readonly stats: StageStats = { looks: 0, stale: 0, failed: 0, lookMs: 0 };
  private closed = false;

  constructor(
    private settings: ObjectSettings,
    private readonly detector: ObjectDetector,
    private readonly source: FrameSource,
    private readonly emit: (ev: ObjectEvent, image?: Buffer) => void,
    private readonly opts: {
      /** A look waiting longer than this for the model is dropped (the next one is fresher). */
      maxWaitMs?: number;
      /** Told about every look and what it found (status, --trace). */
      onLook?: (camera: string, t: number, found: SeenObject[], all: Detection[], ms: number) => void;
      /** Told when a look fails (no picture, the model broke); the stage goes on. */
      onError?: (camera: string, err: Error) => void;
      now?: () => number;
    } = {},
  ) {}

  /** Cameras with a motion event going on (the node's look timer runs only while there are some). */
  get openCameras(): string[] {
    return [...this.cameras.keys()];
  }

  /** The objects that let a camera's current event through, or null (still looking, or no event). */
  objectsOf(camera: string): SeenObject[] | null {
    return this.cameras.get(camera)?.objects ?? null;
  }

  /** New settings (zones or labels changed): events going on keep their state. */
  setSettings(s: ObjectSettings): void {
    this.settings = s;
  }

  /** A motion event in. Resolves when whatever it caused (a look on start, the end) is done. */
  async push(ev: MotionEvent): Promise<void> {
    const camera = ev.camera ?? '';
    let c = this.cameras.get(camera);
    if (ev.event === 'start' || !c) {
      if (ev.event === 'end') return; // the end of an event we never saw begin
      if (c?.objects) this.emit({ ...c.last, event: 'end', objects: c.objects });
      c = { last: ev, looks: 0, lastLookAt: -Infinity, objects: null, busy: null };
      this.cameras.set(camera, c);
      await this.lookIfDue(camera, ev.t);
      return;
    }
    c.last = { ...ev, startedAt: c.last.startedAt };
    if (ev.event === 'end') {
      // A look still running may let the event through: wait for it, then close.
      await c.busy;
      if (this.cameras.get(camera) === c) this.cameras.delete(camera);
      if (c.objects) this.emit({ ...ev, objects: c.objects });
      return;
    }
    if (c.objects) this.emit({ ...ev, objects: c.objects });
    await this.lookIfDue(camera, ev.t);
  }

  /** Looks when a look is due for the camera's event at time t (the node's timer, the CLI's clock). */
  async lookIfDue(camera: string, t: number): Promise<void> {
    const c = this.cameras.get(camera);
    if (!c || c.busy || this.closed) return;
    const s = this.settings;
    if (s.maxLooks > 0 && c.looks >= s.maxLooks) return;
    // Once the event was let through, looks only keep its objects current: a third as often.
    if (t - c.lastLookAt < (c.objects ? s.interval * CONFIRMED_SLOWER : s.interval)) return;
    c.looks++;
    c.lastLookAt = t;
    const run = this.look(camera, c, t).finally(() => { c.busy = null; });
    c.busy = run;
    await run;
  }

  private async look(camera: string, c: CameraEvent, t: number): Promise<void> {
    const boxes = c.last.boxes;
    const now = this.opts.now ?? Date.now;
    const began = now();
    let frame: CropFrame;
    let found: Detection[];
    try {
      frame = await this.source.crop(camera, t, boxes, c.last.startedAt);
      if (this.closed) return;
      found = await this.detector.detect(frame.img, { minScore: Math.min(this.settings.minScore, 0.3), maxWaitMs: this.opts.maxWaitMs ?? 2000 });
    } catch (e) {
      if (e instanceof StaleLook) this.stats.stale++;
      else { this.stats.failed++; this.opts.onError?.(camera, e as Error); }
      return;
    }
    if (this.closed) return;
    this.stats.looks++;
    const all = found.map((d) => ({ ...d, box: toFrame(d.box, frame.region) }));
    const counted = this.judge(camera, frame.t, all, frame.region);
    const ms = now() - began;
    this.stats.lookMs += ms;
    this.opts.onLook?.(camera, frame.t, counted, all, ms);
    if (!counted.length || this.cameras.get(camera) !== c) return;
    if (c.objects !== null) {
      c.objects = counted;
      return;
    }
    let image: Buffer | undefined;
    if (this.source.annotate) {
      try {
        image = await this.source.annotate(camera, frame.t, counted);
      } catch (e) {
        this.opts.onError?.(camera, e as Error);
      }
    }
    if (this.closed) return;
    // Only now: an update arriving while the picture was drawn must not overtake the start.
    c.objects = counted;
    this.emit({ ...c.last, event: 'start', objects: counted }, image);
  }

  /**
   * Which of a look's detections (boxes in frame coordinates) count: wanted label in its zone,
   * score, size, and not stationary. Updates the camera's tracks of objects seen.
   */
  judge(camera: string, t: number, detections: readonly Detection[], region: Box): SeenObject[] {
    const s = this.settings;
    const tracks = this.tracks.get(camera) ?? [];
    const matched = new Set<Track>();
    const out: SeenObject[] = [];
    for (const d of detections) {
      // Every detection keeps the tracks up to date, also one that does not count now (a score
      // flickering around the minimum must not make a poster "new" again).
      // By place, not label: a parked van the model calls a car, then a truck, is the same object.
      let track = tracks.find((tr) => !matched.has(tr) && samePlace(tr.box, d.box, s.sameBox));
      if (!track) {
        track = { box: d.box, since: t, lastSeen: t, missed: 0 };
        tracks.push(track);
      }
      matched.add(track);
      track.lastSeen = t;
      track.missed = 0;
      if (d.score < s.minScore) continue;
      const area = d.box.w * d.box.h;
      if (area < s.minBox || area > s.maxBox) continue;
      const zone = this.zoneOf(d.box);
      if (s.zones.length && zone === undefined) continue;
      const wanted = zone !== undefined && s.zoneLabels[zone] ? s.zoneLabels[zone] : s.labels;
      if (!wanted.includes(d.label)) continue;
      // The same box as an object seen there before: stationary once it has been there long enough.
      if (t - track.since >= s.stationaryAfter) continue;
      out.push(zone !== undefined ? { ...d, zone } : { ...d });
    }
    // An object no longer where it was, though we looked there a few times, has gone (or moved): forget it.
    for (const tr of tracks) if (!matched.has(tr) && contains(region, tr.box) && t >= tr.lastSeen) tr.missed++;
    const kept = tracks.filter((tr) => tr.missed < GONE_AFTER_MISSES);
    // Bounded: the oldest go first.
    this.tracks.set(camera, kept.slice(-64));
    return out;
  }

  private zoneOf(box: Box): string | undefined {
    // Where it stands: the bottom centre of its box (a little inside, not on the frame's edge).
    const x = box.x + box.w / 2, y = box.y + box.h * 0.95;
    return this.settings.zones.find((z) => pointInPolygon(x, y, z.points))?.name;
  }

  /** Stops looking; looks still running finish without emitting. */
  close(): void {
    this.closed = true;
    this.cameras.clear();
  }
}
