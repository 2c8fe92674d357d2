// Detector settings: defaults, and validation that names the bad field.
import { ConfigError, numberSetting, type Range } from '../common/settings';
import { parsePolygons, parseZones, type Polygon, type Zone } from './polygon';

export interface MotionConfig {
  /** The frame is shrunk by this factor (averaging blocks) before anything else; pixel settings below are at that size. */
  downscale: number;
  /** Box blur width in working pixels: 1 = none, 2, or odd (3, 5, ...). Smooths sensor noise.
   *  With downscale 2, blur 2 averages 4×4 frame pixels around each working pixel. */
  blur: number;
  /** Share of the background replaced by each new frame (0..1). 0.05 at 5 fps follows a change in ~4 s. */
  learningRate: number;
  /** The same for pixels that differ from the background: small, so a passing object leaves no trail.
   *  Pixels that differ from the background but stay the same for 8 frames (a parked car, the ghost of
   *  someone who was in the first frame) use learningRate again and fade into the background. */
  foregroundLearningRate: number;
  /** A pixel changed when it differs from the background by more than this (1..254, on 0..255). Lower = more sensitive. */
  threshold: number;
  /** Changed pixels closer than about 2*dilate+1 belong to the same object. */
  dilate: number;
  /** Motion needs changed pixels covering at least this fraction of the watched area (0..1). */
  minArea: number;
  /** Blobs smaller than this fraction of the watched area are ignored (specks of noise). */
  minBlob: number;
  /** Motion must last this long (ms) before `start`. */
  minDuration: number;
  /** No motion for this long (ms) ends the event. */
  endDelay: number;
  /** At most one `update` per this many ms while motion goes on (0 = no updates). */
  updateInterval: number;
  /** When more than this fraction of the picture (masks aside, zones or not) changes at once it is a global
   *  change (light, cloud, exposure): the background is re-learnt instead of reporting motion. */
  globalChange: number;
  /** At most this many boxes per event, largest first. */
  maxBoxes: number;
  /** Learned repetitive motion: a block (8×8 working pixels) that moved in at least this share of
   *  recent frames (leaves, flicker bands, water) is learned; 0 = off. */
  repetitiveLevel: number;
  /** How far back "recent" reaches (ms): a learned block that stops moving is back to full weight after about this long. */
  repetitiveTime: number;
  /** Learned blocks need this many times the threshold (1 = no weighing down); what moves through them with more contrast still counts. */
  repetitiveGain: number;
  /** Light-change rejection: a blob whose pixels correlate with the background at least this much is the
   *  same scene lit differently (a cloud shadow, a sun patch), not an object; 1 = off. */
  shadowCorrelation: number;
  /** Row light compensation: before differencing, each row of the picture gets its own brightness gain against the
   *  background (the median over the row), up to this factor darker or brighter, where it explains most of the row's
   *  change: rolling bands of mains flicker go, a person (a few columns of a row) stays; 1 = off. */
  rowLight: number;
  /** Event cap (ms): an event longer than this whose moving area stopped growing ends, and the background is relearnt; 0 = none. */
  maxEventDuration: number;
  /** Named areas; with zones, only motion inside them counts, and events name the zones hit. */
  zones: Zone[];
  /** Areas never watched. */
  masks: Polygon[];
}

export const DEFAULT_CONFIG: Readonly<MotionConfig> = Object.freeze({
  downscale: 2,
  blur: 2,
  learningRate: 0.05,
  foregroundLearningRate: 0.005,
  threshold: 25,
  dilate: 1,
  minArea: 0.003,
  minBlob: 0.0005,
  minDuration: 400,
  endDelay: 2000,
  updateInterval: 1000,
  globalChange: 0.5,
  maxBoxes: 10,
  repetitiveLevel: 0.12,
  repetitiveTime: 10_000,
  repetitiveGain: 3,
  shadowCorrelation: 0.85,
  rowLight: 2,
  maxEventDuration: 60_000,
  zones: [],
  masks: [],
});

export { ConfigError };

type NumberKey = Exclude<keyof MotionConfig, 'zones' | 'masks'>;
const RANGES: Record<NumberKey, Range> = {
  downscale: { min: 1, max: 8, integer: true, what: 'shrink factor before detection' },
  blur: { min: 1, max: 15, integer: true, what: 'blur box width in pixels: 1 (none), 2 or odd' },
  learningRate: { min: 0.0001, max: 1, what: 'learning rate (fraction per frame)' },
  foregroundLearningRate: { min: 0, max: 1, what: 'learning rate of changed pixels (fraction per frame)' },
  threshold: { min: 1, max: 254, integer: true, what: 'pixel threshold (0..255 scale)' },
  dilate: { min: 0, max: 10, integer: true, what: 'dilate radius in pixels' },
  minArea: { min: 0, max: 1, what: 'minimum area (fraction of the frame, 0.01 = 1 %)' },
  minBlob: { min: 0, max: 1, what: 'minimum blob size (fraction of the frame)' },
  minDuration: { min: 0, max: 600_000, what: 'minimum duration in ms' },
  endDelay: { min: 0, max: 3_600_000, what: 'end delay in ms' },
  updateInterval: { min: 0, max: 3_600_000, what: 'update interval in ms' },
  globalChange: { min: 0.05, max: 1, what: 'global change fraction' },
  maxBoxes: { min: 0, max: 1000, integer: true, what: 'maximum number of boxes' },
  repetitiveLevel: { min: 0, max: 1, what: 'share of recent frames a block must move in to be learned; 0 = off' },
  repetitiveTime: { min: 1000, max: 3_600_000, what: 'memory of repetitive motion in ms' },
  repetitiveGain: { min: 1, max: 10, what: 'threshold factor in learned blocks' },
  shadowCorrelation: { min: 0, max: 1, what: 'correlation with the background above which a blob is a light change; 1 = off' },
  rowLight: { min: 1, max: 4, what: 'largest per-row light gain, as a factor either way (2: half to double); 1 = off' },
  maxEventDuration: { min: 0, max: 86_400_000, what: 'event cap in ms; 0 = none' },
};

/**
 * Merges user settings over the defaults and checks every field.
 * Throws ConfigError with a message that names the field and the allowed range.
 */
export function validateConfig(input: unknown = {}): MotionConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError('motion config must be an object');
  }
  const src = input as Record<string, unknown>;
  const out: MotionConfig = { ...DEFAULT_CONFIG, zones: [], masks: [] };
  for (const key of Object.keys(src)) {
    const value = src[key];
    if (value === undefined) continue;
    if (key === 'zones') {
      out.zones = parseZones(value);
    } else if (key === 'masks') {
      out.masks = parsePolygons(value, 'masks');
    } else if (key in RANGES) {
      out[key as NumberKey] = numberSetting(key, value, RANGES[key as NumberKey]);
    } else {
      throw new ConfigError(`unknown motion setting "${key}" (known: ${[...Object.keys(RANGES), 'zones', 'masks'].join(', ')})`);
    }
  }
  if (out.blur > 2 && out.blur % 2 === 0) throw new ConfigError(`blur: ${out.blur} must be 1 (none), 2 or odd (a box centred on the pixel)`);
  if (out.minBlob > out.minArea && out.minArea > 0) out.minBlob = out.minArea;
  return out;
}
