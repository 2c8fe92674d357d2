// Detection quality on the hard scenes of issue 13 (generated over real backgrounds, see
// test/helpers/phenomena.ts): per clip, events expected, caught, false, and start latency.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Report } from './run';
import { detectFile } from '../lib/motion/detect-file';
import { makePhenomenon, type Phenomenon } from '../test/helpers/phenomena';

const CLIPS: Array<{ what: Phenomenon; entry?: number }> = [
  { what: 'flicker' }, { what: 'flicker', entry: 12 },
  { what: 'shadow' }, { what: 'shadow', entry: 8 },
  { what: 'tree' }, { what: 'tree', entry: 12 },
];

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-quality-'));
  try {
    for (const { what, entry } of CLIPS) {
      const path = await makePhenomenon(dir, `${what}-${entry ?? 0}`, what, 20, entry === undefined ? undefined : { at: entry });
      const starts = (await detectFile(path, {})).events.filter((e) => e.event === 'start');
      // Caught: an event starting within 1 s of the entry; every other start is false.
      const hit = entry === undefined ? undefined : starts.find((s) => s.startedAt >= entry * 1000 && s.startedAt <= entry * 1000 + 1000);
      report({
        name: `motion_quality_${what}${entry === undefined ? '' : '_figure'}`,
        value: hit ? 1 : 0,
        unit: 'caught',
        expected: entry === undefined ? 0 : 1,
        false_events: starts.length - (hit ? 1 : 0),
        latency_s: hit && entry !== undefined ? (hit.startedAt - entry * 1000) / 1000 : null,
        clip: `${what}, 20 s, 320x240${entry === undefined ? '' : `, a figure entering at ${entry} s`}`,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
