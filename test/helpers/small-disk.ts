// A real, small file system for clips folders: a tmpfs of a few MB that fills up.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './paths';

export class SmallDisk {
  private constructor(readonly dir: string) {}

  /**
   * Mounts a tmpfs of `size` (e.g. '2m') on a fresh folder. Returns the reason
   * instead when the machine refuses (not root, no mount in a container): the
   * caller skips then, since a big disk cannot be filled safely.
   */
  static mount(size: string): SmallDisk | string {
    const dir = tempDir('small-disk');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      return `cannot mount a tmpfs here: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`;
    }
    return new SmallDisk(dir);
  }

  get freeBytes(): number {
    const s = statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  /** Writes other data (the owner's) until only `leave` bytes are free. */
  fill(name: string, leave = 0): void {
    const size = Math.max(0, this.freeBytes - leave);
    writeFileSync(join(this.dir, name), Buffer.alloc(size, 1));
  }

  files(): string[] {
    return readdirSync(this.dir).sort();
  }

  /** Empties the disk (other tests of the file share it). */
  clear(): void {
    for (const f of readdirSync(this.dir)) rmSync(join(this.dir, f), { recursive: true, force: true });
  }

  unmount(): void {
    try {
      execFileSync('umount', [this.dir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' }); // still busy: detach it
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Counts, many times a second, the short ffmpeg jobs (snapshots, thumbnails, clip
 * joins) that children of this process run side by side: read from /proc, not
 * from the product's own bookkeeping.
 */
export class FfmpegJobWatch {
  max = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly pattern = /-frames:v|concat:/) {}

  start(): this {
    this.timer = setInterval(() => { this.max = Math.max(this.max, this.count()); }, 15);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  count(): number {
    let n = 0;
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid !== process.pid) continue;
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (/ffmpeg$/.test(cmd[0]) && this.pattern.test(cmd.join(' '))) n++;
      } catch { /* gone meanwhile */ }
    }
    return n;
  }
}
