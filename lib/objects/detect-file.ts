// object-detect over a video file: the motion detector first, then the object stage (the node's
// code) with looks on the file's own clock: what `mantis-detect --objects`, tests and the benchmark run.
import { detectFile } from '../motion/detect-file';
import type { MotionEvent } from '../motion/event';
import { probe } from '../video/ffmpeg';
import { FileFrames, LOOK_SIZE } from './frames';
import { objectSettings } from './settings';
import { acquireDetector } from './shared-detector';
import { ObjectStage, type ObjectEvent, type StageStats } from './stage';
import { ObjectModelMissing, type Detection, type ObjectDetector, type SeenObject } from './types';

export interface LookRecord { t: number; counted: SeenObject[]; all: Detection[]; ms: number }

export interface FileObjects {
  /** What object-detect sends on: the events it let through, with their objects. */
  events: ObjectEvent[];
  /** Every motion event the detector made (the stage's input). */
  motion: MotionEvent[];
  looks: LookRecord[];
  /** The annotated picture of each event let through (its start), in order. */
  images: Buffer[];
  stats: StageStats;
}

export interface FileObjectOptions {
  fps?: number;
  width?: number;
  ffmpeg?: string;
  /** Another detector (tests); default the shared one of this process, released at the end. */
  detector?: ObjectDetector;
  /** Draw the boxes on each let-through event's picture (one more decode per event). */
  annotate?: boolean;
  onEvent?: (e: ObjectEvent) => void;
  onLook?: (l: LookRecord) => void;
  onWarning?: (text: string) => void;
}

/** Settings errors (ConfigError) are thrown before any ffmpeg starts. */
export async function detectObjectsInFile(path: string, motionConfig: unknown, settingsInput: unknown, opts: FileObjectOptions = {}): Promise<FileObjects> {
  const settings = objectSettings(settingsInput);
  const ffmpeg = opts.ffmpeg ?? 'ffmpeg';
  const { events: motion } = await detectFile(path, motionConfig, { fps: opts.fps ?? 5, width: opts.width ?? 320, ffmpeg });
  const info = await probe(ffmpeg.replace(/ffmpeg$/, 'ffprobe'), path);
  const frames = new FileFrames(path, info.width, info.height, ffmpeg);
  const source = opts.annotate ? frames : { crop: frames.crop.bind(frames) };
  const handle = opts.detector ? null : acquireDetector({ inputSize: LOOK_SIZE });
  const detector: ObjectDetector = opts.detector ?? handle!;
  const out: FileObjects = { events: [], motion, looks: [], images: [], stats: { looks: 0, stale: 0, failed: 0, lookMs: 0 } };
  let failure: Error | undefined;
  const stage = new ObjectStage(settings, detector, source, (e, image) => {
    out.events.push(e);
    if (image) out.images.push(image);
    opts.onEvent?.(e);
  }, {
    // The file waits for the model: no look is ever too late here.
    maxWaitMs: 600_000,
    onLook: (_camera, t, counted, all, ms) => {
      const l = { t, counted, all, ms };
      out.looks.push(l);
      opts.onLook?.(l);
    },
    // A look that fails (a frame past the file's end) is counted in stats.failed; a missing model ends it.
    onError: (_camera, e) => { if (e instanceof ObjectModelMissing) failure ??= e; else opts.onWarning?.(e.message); },
  });
  try {
    if (handle) await handle.ready();
    for (let i = 0; i < motion.length && !failure; i++) {
      const ev = motion[i];
      await stage.push(ev);
      // Looks while the event goes on, on the file's clock, until the detector's next event.
      const until = motion[i + 1]?.t ?? ev.t;
      for (let t = ev.t + 100; t < until && stage.openCameras.length && !failure; t += 100) {
        for (const camera of stage.openCameras) await stage.lookIfDue(camera, t);
      }
    }
  } finally {
    stage.close();
    handle?.release();
  }
  if (failure) throw failure;
  out.stats = { ...stage.stats };
  return out;
}
