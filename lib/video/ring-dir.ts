// Where a camera's ring of segments lives, and cleaning up after a Node-RED that was killed.
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CameraConfig } from './camera-settings';
import { SegmentRing } from './segments';

/** A fresh ring folder for this process (named by its PID), after removing those of dead processes. */
export function openRing(config: CameraConfig): SegmentRing {
  const base = config.ringDir || defaultRingBase();
  mkdirSync(base, { recursive: true });
  removeStaleRings(base);
  return new SegmentRing(mkdtempSync(join(base, `mantis-ring-${process.pid}-`)), config.keepSeconds * 1000);
}

/** Rings left behind by a Node-RED that was killed (its PID is in the name) hold RAM in /dev/shm. */
function removeStaleRings(base: string): void {
  let names: string[] = [];
  try { names = readdirSync(base); } catch { return; }
  for (const name of names) {
    const m = /^mantis-ring-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(base, name), { recursive: true, force: true });
    }
  }
}

/** RAM-backed when possible: the ring is rewritten every second, which wears SD cards. */
function defaultRingBase(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}
