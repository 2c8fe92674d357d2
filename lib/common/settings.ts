// Checking a user's setting against its allowed range: one mechanism for every
// node (motion-detect, the cameras), so that every bad setting reads the same:
// "threshold: 0 is out of range 1..254 (pixel threshold (0..255 scale))".

/** A setting is wrong; the message names the field and what is allowed. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Range {
  min: number;
  max: number;
  integer?: boolean;
  /** Video sizes: odd ones are refused by the H.264 encoder and most cameras. */
  even?: boolean;
  /** 0 is allowed besides min..max, and means this (e.g. "the camera's default"). */
  zero?: string;
  /** What the number is, for the message. */
  what: string;
}

/**
 * The number a setting holds (a number, or a string such as the editor and
 * environment variables give), or ConfigError naming the field and its range.
 */
export function numberSetting(key: string, value: unknown, r: Range): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  const what = r.zero ? `${r.what}; 0 = ${r.zero}` : r.what;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new ConfigError(`${key}: expected a number (${what}), got ${JSON.stringify(value)}`);
  }
  if (n === 0 && r.zero) return 0;
  if (n < r.min || n > r.max) throw new ConfigError(`${key}: ${n} is out of range ${r.min}..${r.max} (${what})`);
  if (r.integer && !Number.isInteger(n)) throw new ConfigError(`${key}: ${n} must be a whole number (${what})`);
  if (r.even && n % 2 !== 0) throw new ConfigError(`${key}: ${n} must be even (${what})`);
  return n;
}

/** One of a fixed set of words, or ConfigError listing them. */
export function choiceSetting<T extends string>(key: string, value: unknown, choices: readonly T[]): T {
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`${key}: ${JSON.stringify(value)} is not one of ${choices.map((c) => c || '""').join(', ')}`);
}
