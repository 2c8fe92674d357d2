// Zones and masks: polygons in normalized coordinates (0..1 of width and height),
// rasterized once per frame size so the per-frame loop only reads a byte per pixel.
import { ConfigError } from './errors';
import { numberSetting } from '../common/settings';

/** [[x, y], ...] with 0 <= x, y <= 1; at least three points. */
export type Polygon = Array<[number, number]>;
/** A named area; `threshold` and `minArea` (a fraction of the zone's own area) override the detector's inside it. */
export interface Zone { name: string; points: Polygon; threshold?: number; minArea?: number }

/** Even-odd rule; a point exactly on an edge may fall either way. */
export function pointInPolygon(x: number, y: number, poly: Polygon): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * Sets out[i] = value for every pixel whose centre lies inside the polygon.
 * Works row by row on edge crossings, so it costs O(height * edges + covered pixels).
 */
export function rasterizePolygon(poly: Polygon, width: number, height: number, out: Uint8Array | Uint32Array, value: number, mode: 'set' | 'or' = 'set'): void {
  const xs: number[] = [];
  for (let py = 0; py < height; py++) {
    const y = (py + 0.5) / height;
    xs.length = 0;
    for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
      const [xi, yi] = poly[i];
      const [xj, yj] = poly[j];
      if ((yi > y) !== (yj > y)) xs.push(((xj - xi) * (y - yi)) / (yj - yi) + xi);
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // pixel centre (px + 0.5) / width must lie in [xs[k], xs[k+1])
      const from = Math.max(0, Math.ceil(xs[k] * width - 0.5));
      const to = Math.min(width - 1, Math.ceil(xs[k + 1] * width - 0.5) - 1);
      const row = py * width;
      for (let px = from; px <= to; px++) {
        if (mode === 'or') out[row + px] |= value;
        else out[row + px] = value;
      }
    }
  }
}

/** Fraction of the frame a polygon covers (shoelace formula), for display and checks. */
export function polygonArea(poly: Polygon): number {
  let a = 0;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) a += (poly[j][0] + poly[i][0]) * (poly[j][1] - poly[i][1]);
  return Math.abs(a) / 2;
}

function parsePolygon(value: unknown, where: string): Polygon {
  const pts = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as { points?: unknown }).points : value;
  if (!Array.isArray(pts) || pts.length < 3) {
    throw new ConfigError(`${where}: a polygon needs at least 3 points [[x,y],...] in 0..1, got ${JSON.stringify(value)?.slice(0, 80)}`);
  }
  return pts.map((p, i) => {
    let x: unknown; let y: unknown;
    if (Array.isArray(p) && p.length === 2) [x, y] = p;
    else if (p !== null && typeof p === 'object') ({ x, y } = p as { x?: unknown; y?: unknown });
    if (typeof x !== 'number' || typeof y !== 'number' || !Number.isFinite(x) || !Number.isFinite(y)) {
      throw new ConfigError(`${where}: point ${i} must be [x, y] with numbers, got ${JSON.stringify(p)}`);
    }
    if (x < 0 || x > 1 || y < 0 || y > 1) {
      throw new ConfigError(`${where}: point ${i} [${x}, ${y}] is outside 0..1 (coordinates are fractions of width and height)`);
    }
    return [x, y] as [number, number];
  });
}

function maybeJson(value: unknown, what: string): unknown {
  if (typeof value !== 'string') return value;
  if (value.trim() === '') return [];
  try {
    return JSON.parse(value);
  } catch (e) {
    throw new ConfigError(`${what}: not valid JSON (${(e as Error).message})`);
  }
}

/** Masks: a list of polygons, each [[x,y],...] or {points:[[x,y],...]}; a JSON string is accepted. */
export function parsePolygons(value: unknown, what = 'masks'): Polygon[] {
  const v = maybeJson(value, what);
  if (!Array.isArray(v)) throw new ConfigError(`${what}: expected a list of polygons`);
  return v.map((p, i) => parsePolygon(p, `${what}[${i}]`));
}

/** Zones: a list of {name, points:[[x,y],...]}; at most 32 (they share a 32-bit mask per pixel). */
export function parseZones(value: unknown): Zone[] {
  const v = maybeJson(value, 'zones');
  if (!Array.isArray(v)) throw new ConfigError('zones: expected a list of {"name": ..., "points": [[x,y],...]}');
  if (v.length > 32) throw new ConfigError(`zones: at most 32 zones, got ${v.length}`);
  const names = new Set<string>();
  return v.map((z, i) => {
    const name = z !== null && typeof z === 'object' ? (z as { name?: unknown }).name : undefined;
    if (typeof name !== 'string' || name.trim() === '') throw new ConfigError(`zones[${i}]: needs a non-empty "name"`);
    if (names.has(name)) throw new ConfigError(`zones[${i}]: duplicate zone name "${name}"`);
    names.add(name);
    const zone: Zone = { name, points: parsePolygon(z, `zones[${i}] (${name})`) };
    // Per-zone sensitivity; absent, null or "" = the detector's setting.
    const own = z as { threshold?: unknown; minArea?: unknown };
    const given = (v: unknown): boolean => v !== undefined && v !== null && v !== '';
    if (given(own.threshold)) zone.threshold = numberSetting(`zones[${i}] (${name}) threshold`, own.threshold, { min: 1, max: 254, integer: true, what: 'pixel threshold (0..255 scale)' });
    if (given(own.minArea)) zone.minArea = numberSetting(`zones[${i}] (${name}) minArea`, own.minArea, { min: 0, max: 1, what: 'minimum area, fraction of the zone' });
    return zone;
  });
}
