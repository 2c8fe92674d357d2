import { rmSync } from 'node:fs';
import { join } from 'node:path';

/** One finished ring segment with its wall-clock span. */
export interface Segment {
  path: string;
  /** Wall-clock ms. */
  start: number;
  end: number;
  /** Media duration in seconds, as ffmpeg wrote it. */
  duration: number;
}

/**
 * Tracks the ring's finished segments in wall-clock time and deletes the ones
 * nobody needs any more.
 *
 * ffmpeg reports each segment as "name,start,end" in stream seconds the moment
 * the next keyframe closes it, so `now - end` is the offset from stream time to
 * wall clock plus a small, varying delay. The smallest offset seen is the
 * best estimate; it follows larger values slowly so that a camera clock that
 * drifts from ours cannot pull clips off by more than a frame or two.
 */
export class SegmentRing {
  private segments: Segment[] = [];
  private offset: number | null = null;
  private holds = new Map<number, number>();
  private nextHold = 1;
  private waiters: Array<() => void> = [];

  constructor(readonly dir: string, private keepMs: number) {}

  /** A new ffmpeg run starts its stream clock anew. */
  newRun(): void {
    this.offset = null;
  }

  /** Feeds one CSV line from ffmpeg's segment list. Returns the segment, if the line was one. */
  addListLine(line: string, now = Date.now()): Segment | null {
    const m = /^(.+),(-?[\d.]+),(-?[\d.]+)\s*$/.exec(line.trim());
    if (!m) return null;
    const [, name, s, e] = m;
    const start = Number(s) * 1000, end = Number(e) * 1000;
    const candidate = now - end;
    if (this.offset === null || candidate < this.offset) this.offset = candidate;
    else this.offset += (candidate - this.offset) * 0.02;
    const seg: Segment = {
      path: join(this.dir, name.replace(/^.*\//, '')), start: this.offset + start, end: this.offset + end, duration: (end - start) / 1000,
    };
    // A restart may overlap the last segment of the previous run by a few ms.
    const last = this.segments.at(-1);
    if (last && seg.start < last.end) seg.start = Math.min(last.end, seg.end);
    this.segments.push(seg);
    this.prune(now);
    for (const w of this.waiters.splice(0)) w();
    return seg;
  }

  get list(): readonly Segment[] {
    return this.segments;
  }

  get latest(): Segment | undefined {
    return this.segments.at(-1);
  }

  /** Segments overlapping [from, to] (wall-clock ms), oldest first. */
  overlapping(from: number, to: number): Segment[] {
    return this.segments.filter((s) => s.end > from && s.start < to);
  }

  /** Keeps segments from `from` on until the returned release is called. */
  hold(from: number): () => void {
    const id = this.nextHold++;
    this.holds.set(id, from);
    return () => { this.holds.delete(id); };
  }

  /** Resolves when a segment reaching `to` is finished, or after timeoutMs. */
  async waitUntilCovered(to: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((this.latest?.end ?? -Infinity) < to) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return true;
  }

  prune(now = Date.now()): void {
    let keepFrom = now - this.keepMs;
    for (const from of this.holds.values()) keepFrom = Math.min(keepFrom, from);
    while (this.segments.length > 1 && this.segments[0].end < keepFrom) {
      const old = this.segments.shift()!;
      rmSync(old.path, { force: true });
    }
  }

  /** Wakes every waiter (used when the camera stops). */
  wakeAll(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
