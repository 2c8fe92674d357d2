// The contract between the object model (detector) and object-detect's pipeline.
import type { Box } from '../motion/event';

/** Packed 8-bit RGB, row-major: width * height * 3 bytes. */
export interface RgbImage { data: Uint8Array; width: number; height: number }

/** One object the model found. `box` is normalized (0..1) to the image it was given. */
export interface Detection { label: string; score: number; box: Box }

/** What object-detect adds to a motion event: `box` normalized to the full frame, `zone` the zone it stands in. */
export interface SeenObject extends Detection { zone?: string }

/**
 * The model: one per process, shared by every camera, running off Node-RED's
 * event loop. A look that waited longer than `maxWaitMs` in the queue is
 * dropped (rejects with StaleLook) rather than answered late.
 */
export interface ObjectDetector {
  detect(img: RgbImage, opts?: { minScore?: number; maxWaitMs?: number }): Promise<Detection[]>;
}

/** The runtime or the model file is not installed: the message says what to run. */
export class ObjectModelMissing extends Error {}
/** The look waited too long in the queue and was dropped. */
export class StaleLook extends Error {}
