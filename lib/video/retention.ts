import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface RetentionPolicy {
  /** Total size the folder's clips may take, bytes (0 = no limit). */
  maxBytes: number;
  /** Clips older than this go, ms (0 = no limit). */
  maxAgeMs: number;
}

const CLIP_FILE = /\.(mp4|jpg)$/i;

/**
 * Deletes clips (and their thumbnails) older than maxAge, then the oldest
 * until the folder fits maxBytes. Files named in `keep` (e.g. the clip just
 * made) survive. Only .mp4/.jpg files are touched, so a folder shared with
 * other files is safe. Returns the names deleted.
 */
export function pruneClips(dir: string, policy: RetentionPolicy, keep: readonly string[] = [], now = Date.now()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => CLIP_FILE.test(n));
  } catch {
    return [];
  }
  const files = names.flatMap((name) => {
    try {
      const st = statSync(join(dir, name));
      return st.isFile() ? [{ name, size: st.size, mtime: st.mtimeMs }] : [];
    } catch {
      return []; // deleted meanwhile
    }
  }).sort((a, b) => a.mtime - b.mtime);
  const kept = new Set(keep.map((k) => k.replace(/^.*\//, '')));
  const deleted: string[] = [];
  let total = files.reduce((s, f) => s + f.size, 0);
  for (const f of files) {
    if (kept.has(f.name)) continue;
    const tooOld = policy.maxAgeMs > 0 && now - f.mtime > policy.maxAgeMs;
    const tooBig = policy.maxBytes > 0 && total > policy.maxBytes;
    if (!tooOld && !tooBig) continue;
    rmSync(join(dir, f.name), { force: true });
    total -= f.size;
    deleted.push(f.name);
  }
  return deleted;
}
