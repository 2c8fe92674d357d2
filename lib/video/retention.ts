import { readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isClipName, PARTIAL_DIR } from './clip-names';

export interface RetentionPolicy {
  /** Total size the folder's clips may take, bytes (0 = no limit). */
  maxBytes: number;
  /** Clips older than this go, ms (0 = no limit). */
  maxAgeMs: number;
}

/** A clip still being written is never this old (the join is killed after 60 s): one left over is from a crash. */
const STALE_PART_MS = 10 * 60_000;

interface ClipFile { name: string; size: number; mtime: number }

/** Mantis's clips in dir, oldest first; what a crashed run left half written goes on the way. */
function listClips(dir: string, now: number): ClipFile[] {
  removeStaleParts(join(dir, PARTIAL_DIR), now);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    if (!isClipName(name)) return []; // not ours: the owner's own files stay
    try {
      const st = statSync(join(dir, name));
      return st.isFile() ? [{ name, size: st.size, mtime: st.mtimeMs }] : [];
    } catch {
      return []; // deleted meanwhile
    }
  }).sort((a, b) => a.mtime - b.mtime);
}

function removeStaleParts(partial: string, now: number): void {
  let names: string[];
  try {
    names = readdirSync(partial);
  } catch {
    return;
  }
  for (const name of names.filter(isClipName)) {
    try {
      if (now - statSync(join(partial, name)).mtimeMs > STALE_PART_MS) remove(partial, name);
    } catch { /* deleted meanwhile */ }
  }
}

function remove(dir: string, name: string): boolean {
  try {
    rmSync(join(dir, name), { force: true });
    return true;
  } catch {
    return false; // e.g. a read-only file: retention goes on with the others
  }
}

const baseName = (p: string) => p.replace(/^.*\//, '');

/**
 * Deletes Mantis's clips older than maxAge, then the oldest until its clips
 * fit maxBytes. Files named in `keep` (e.g. the clip just made) survive; files
 * Mantis did not name (the owner's own videos and photos) are never touched.
 * Returns the names deleted.
 */
export function pruneClips(dir: string, policy: RetentionPolicy, keep: readonly string[] = [], now = Date.now()): string[] {
  const files = listClips(dir, now);
  const kept = new Set(keep.map(baseName));
  const deleted: string[] = [];
  let total = files.reduce((s, f) => s + f.size, 0);
  for (const f of files) {
    if (kept.has(f.name)) continue;
    const tooOld = policy.maxAgeMs > 0 && now - f.mtime > policy.maxAgeMs;
    const tooBig = policy.maxBytes > 0 && total > policy.maxBytes;
    if (!tooOld && !tooBig) continue;
    if (!remove(dir, f.name)) continue;
    total -= f.size;
    deleted.push(f.name);
  }
  return deleted;
}

/** Bytes an unprivileged writer may still use on the file system holding dir (Infinity if unknown). */
export function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return Infinity;
  }
}

/**
 * Deletes Mantis's oldest clips until `need` bytes are free in dir (or none is left).
 * Returns the names deleted and how many of Mantis's clips are left.
 */
export function makeRoom(dir: string, need: number, now = Date.now()): { removed: string[]; left: number } {
  const files = listClips(dir, now);
  const removed: string[] = [];
  for (const f of files) {
    if (freeBytes(dir) >= need) break;
    if (remove(dir, f.name)) removed.push(f.name);
  }
  return { removed, left: files.length - removed.length };
}
