// object-detect's editor fields (percent, seconds, text) to ObjectSettings; the CLI takes the same JSON.
import { ConfigError } from '../common/settings';
import { objectSettings, type ObjectSettings } from './settings';

/** Field values as Node-RED stores them: strings or numbers, empty = default. */
export interface ObjectEditorFields {
  /** "on" / "off" (the default flow: ${MANTIS_OBJECTS}); empty = on. */
  enabled?: string | boolean;
  /** "person, car". */
  labels?: string;
  /** Percent. */
  minScore?: string | number;
  /** Percent of the frame's area. */
  minBox?: string | number;
  maxBox?: string | number;
  /** JSON, motion-detect's format. */
  zones?: string;
  /** "door: person; driveway: car, person" or JSON {"door": ["person"]}. */
  zoneLabels?: string;
  /** Seconds. */
  interval?: string | number;
  maxLooks?: string | number;
  /** Seconds. */
  stationary?: string | number;
}

function num(value: string | number | undefined, field: string): number | undefined {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) throw new ConfigError(`${field}: "${String(value)}" is not a number`);
  return n;
}

/** "door: person; driveway: car, person" (or JSON) to {zone: labels}. */
export function parseZoneLabels(text: string): Record<string, string[]> | string {
  const t = text.trim();
  if (t === '' || t.startsWith('{')) return t;
  const out: Record<string, string[]> = {};
  for (const part of t.split(/[;\n]/).map((p) => p.trim()).filter(Boolean)) {
    const i = part.indexOf(':');
    if (i <= 0) throw new ConfigError(`zone labels: "${part}" should read "zone: label, label"`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).split(',').map((l) => l.trim()).filter(Boolean);
  }
  return out;
}

/** Whether object detection is on: "off", "false", "0", "no" switch it off (an environment variable may say so). */
export function objectsEnabled(v: string | boolean | undefined): boolean {
  if (typeof v === 'boolean') return v;
  return !/^\s*(off|false|0|no)\s*$/i.test(v ?? '');
}

export function settingsFromEditor(f: ObjectEditorFields): ObjectSettings {
  const cfg: Record<string, unknown> = {};
  const minScore = num(f.minScore, 'minimum score %');
  const minBox = num(f.minBox, 'minimum box %');
  const maxBox = num(f.maxBox, 'maximum box %');
  const interval = num(f.interval, 'look every (s)');
  const maxLooks = num(f.maxLooks, 'looks per event');
  const stationary = num(f.stationary, 'stationary after (s)');
  if (f.labels !== undefined && f.labels.trim() !== '') cfg.labels = f.labels;
  if (minScore !== undefined) cfg.minScore = minScore / 100;
  if (minBox !== undefined) cfg.minBox = minBox / 100;
  if (maxBox !== undefined) cfg.maxBox = maxBox / 100;
  if (interval !== undefined) cfg.interval = Math.round(interval * 1000);
  if (maxLooks !== undefined) cfg.maxLooks = maxLooks;
  if (stationary !== undefined) cfg.stationaryAfter = Math.round(stationary * 1000);
  if (f.zones && f.zones.trim() !== '') cfg.zones = f.zones;
  if (f.zoneLabels && f.zoneLabels.trim() !== '') cfg.zoneLabels = parseZoneLabels(f.zoneLabels);
  return objectSettings(cfg);
}
