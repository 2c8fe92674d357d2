/** A box in normalized coordinates (0..1 of the frame width and height). */
export interface Box { x: number; y: number; w: number; h: number }

/**
 * What motion-detect emits (as msg.payload, msg.topic = "motion").
 * `start` after motion lasted the minimum duration, `update` while it goes on,
 * `end` after the end delay without motion.
 */
export interface MotionEvent {
  event: 'start' | 'update' | 'end';
  /** Time of this event in ms, on the clock of the frames (GrayFrame.t). */
  t: number;
  /** Time the motion began, ms. */
  startedAt: number;
  /** Fraction of the frame that changed, 0..1 (largest so far for `end`). */
  score: number;
  boxes: Box[];
  /** Names of the zones the motion touched (empty when no zones are configured). */
  zones: string[];
  /** Name of the camera the frames came from, when known. */
  camera?: string;
  /** `end` only: time of the last frame that had motion, ms (t is when the end delay ran out). */
  lastMotionAt?: number;
}
