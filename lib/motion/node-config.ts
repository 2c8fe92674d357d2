// The motion-detect editor's fields (percent, seconds, JSON text) to a detector config.
// Kept out of the node so the same checks run in tests and in the CLI's --config.
import { validateConfig, type MotionConfig } from './config';
import { ConfigError } from './errors';

/** Field values as Node-RED stores them: strings or numbers, empty = default. */
export interface MotionEditorFields {
  threshold?: string | number;
  /** Percent of the frame. */
  minArea?: string | number;
  /** Seconds. */
  minDuration?: string | number;
  endDelay?: string | number;
  updateInterval?: string | number;
  /** JSON text. */
  zones?: string;
  masks?: string;
  /** JSON object text with any other detector setting (blur, learningRate, globalChange, ...). */
  advanced?: string;
}

function num(value: string | number | undefined, field: string): number | undefined {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) throw new ConfigError(`${field}: "${String(value)}" is not a number`);
  return n;
}

export function configFromEditor(f: MotionEditorFields): MotionConfig {
  let advanced: Record<string, unknown> = {};
  if (f.advanced && f.advanced.trim() !== '') {
    try {
      advanced = JSON.parse(f.advanced) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`advanced: not valid JSON (${(e as Error).message})`);
    }
    if (advanced === null || typeof advanced !== 'object' || Array.isArray(advanced)) throw new ConfigError('advanced: must be a JSON object');
  }
  const cfg: Record<string, unknown> = { ...advanced };
  const threshold = num(f.threshold, 'threshold');
  const minArea = num(f.minArea, 'min area %');
  const minDuration = num(f.minDuration, 'min duration');
  const endDelay = num(f.endDelay, 'end delay');
  const updateInterval = num(f.updateInterval, 'update interval');
  if (threshold !== undefined) cfg.threshold = threshold;
  if (minArea !== undefined) cfg.minArea = minArea / 100;
  if (minDuration !== undefined) cfg.minDuration = Math.round(minDuration * 1000);
  if (endDelay !== undefined) cfg.endDelay = Math.round(endDelay * 1000);
  if (updateInterval !== undefined) cfg.updateInterval = Math.round(updateInterval * 1000);
  if (f.zones && f.zones.trim() !== '') cfg.zones = f.zones;
  if (f.masks && f.masks.trim() !== '') cfg.masks = f.masks;
  return validateConfig(cfg);
}
