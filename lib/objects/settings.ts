// object-detect's settings: defaults and checks that name the bad field (the node, the CLI's
// --objects JSON and the tests share them).
import { ConfigError, numberSetting, type Range } from '../common/settings';
import { parseZones, type Zone } from '../motion/polygon';
import { COCO_LABELS } from './coco-labels';


export interface ObjectSettings {
  /** Labels that count everywhere (in zones without their own list). */
  labels: string[];
  /** A detection below this score is not an object (0..1). */
  minScore: number;
  /** Box size limits, as a fraction of the frame's area: a 2-pixel "person" or one filling the picture is noise. */
  minBox: number;
  maxBox: number;
  /** Named areas (motion-detect's format); with zones, only an object standing in one counts (its box's bottom centre). */
  zones: Zone[];
  /** Per zone, the labels that count there instead of `labels` (e.g. {"door": ["person"], "driveway": ["car"]}). */
  zoneLabels: Record<string, string[]>;
  /** ms between looks while motion lasts. */
  interval: number;
  /** At most this many looks per motion event (0 = no limit). */
  maxLooks: number;
  /** An object whose box has not moved for this long (ms) is stationary (a parked car, a poster) and ignored until it moves. */
  stationaryAfter: number;
  /** Boxes overlapping at least this much (intersection over union) are "the same box" for the stationary test. */
  sameBox: number;
}

export const DEFAULT_OBJECT_SETTINGS: Readonly<ObjectSettings> = Object.freeze({
  labels: ['person'],
  minScore: 0.5,
  minBox: 0.0005,
  maxBox: 0.9,
  zones: [],
  zoneLabels: {},
  interval: 700,
  maxLooks: 20,
  stationaryAfter: 30_000,
  sameBox: 0.6,
});

type NumberKey = 'minScore' | 'minBox' | 'maxBox' | 'interval' | 'maxLooks' | 'stationaryAfter' | 'sameBox';
const RANGES: Record<NumberKey, Range> = {
  minScore: { min: 0.05, max: 1, what: 'minimum score, 0..1' },
  minBox: { min: 0, max: 1, what: 'minimum box area, fraction of the frame' },
  maxBox: { min: 0, max: 1, what: 'maximum box area, fraction of the frame' },
  interval: { min: 100, max: 60_000, integer: true, what: 'ms between looks while motion lasts' },
  maxLooks: { min: 0, max: 10_000, integer: true, what: 'looks per motion event; 0 = no limit' },
  stationaryAfter: { min: 1000, max: 86_400_000, what: 'ms without moving after which an object is stationary' },
  sameBox: { min: 0.3, max: 1, what: 'overlap (IoU) of boxes that count as not moved' },
};

function labelList(value: unknown, key: string): string[] {
  const list = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(list)) throw new ConfigError(`${key}: expected labels, e.g. "person, car"`);
  const out = list.map((l) => (typeof l === 'string' ? l.trim().toLowerCase() : '')).filter((l) => l !== '');
  for (const l of out) {
    if (!COCO_LABELS.includes(l)) throw new ConfigError(`${key}: "${l}" is not a COCO label (e.g. person, car, dog, cat, bicycle, truck)`);
  }
  return [...new Set(out)];
}

function maybeJson(value: unknown, key: string): unknown {
  if (typeof value !== 'string') return value;
  if (value.trim() === '') return undefined;
  try {
    return JSON.parse(value);
  } catch (e) {
    throw new ConfigError(`${key}: not valid JSON (${(e as Error).message})`);
  }
}

/** Merges settings over the defaults; ConfigError names the bad field. */
export function objectSettings(input: unknown = {}): ObjectSettings {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ConfigError('object settings must be an object');
  const src = input as Record<string, unknown>;
  const out: ObjectSettings = { ...DEFAULT_OBJECT_SETTINGS, labels: [...DEFAULT_OBJECT_SETTINGS.labels], zones: [], zoneLabels: {} };
  for (const [key, value] of Object.entries(src)) {
    if (value === undefined || value === null || value === '') continue;
    if (key === 'labels') {
      out.labels = labelList(value, 'labels');
    } else if (key === 'zones') {
      const z = maybeJson(value, 'zones');
      if (z !== undefined) out.zones = parseZones(z);
    } else if (key === 'zoneLabels') {
      const z = maybeJson(value, 'zoneLabels');
      if (z === undefined) continue;
      if (z === null || typeof z !== 'object' || Array.isArray(z)) throw new ConfigError('zoneLabels: expected {"zone name": ["label", ...]}');
      for (const [zone, labels] of Object.entries(z)) out.zoneLabels[zone] = labelList(labels, `zoneLabels.${zone}`);
    } else if (key in RANGES) {
      out[key as NumberKey] = numberSetting(key, value, RANGES[key as NumberKey]);
    } else {
      throw new ConfigError(`unknown object setting "${key}" (known: labels, zones, zoneLabels, ${Object.keys(RANGES).join(', ')})`);
    }
  }
  if (out.maxBox <= out.minBox) throw new ConfigError(`maxBox: ${out.maxBox} must be larger than minBox ${out.minBox}`);
  for (const zone of Object.keys(out.zoneLabels)) {
    if (!out.zones.some((z) => z.name === zone)) {
      throw new ConfigError(`zoneLabels: no zone named "${zone}" (zones: ${out.zones.map((z) => z.name).join(', ') || 'none'})`);
    }
  }
  if (!out.labels.length && !Object.values(out.zoneLabels).some((l) => l.length)) throw new ConfigError('labels: name at least one label (e.g. person)');
  return out;
}

/** Every label some zone or the whole frame wants (the HA sensors and the summary). */
export function wantedLabels(s: ObjectSettings): string[] {
  return [...new Set([...s.labels, ...Object.values(s.zoneLabels).flat()])];
}
