// Encodes the detector's debug frames (gray8) into an H.264 file with ffmpeg.
import { spawn, type ChildProcess } from 'node:child_process';

export class DebugVideo {
  private readonly ff: ChildProcess;
  private readonly done: Promise<void>;
  private stderr = '';

  constructor(readonly path: string, width: number, height: number, fps: number) {
    this.ff = spawn('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0',
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', path], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.ff.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-2000); });
    // A write after ffmpeg died is reported by finish(), not thrown here.
    this.ff.stdin?.on('error', () => {});
    this.done = new Promise((resolve, reject) => {
      this.ff.on('error', (e) => reject(new Error(`cannot run ffmpeg for --debug: ${e.message}`)));
      this.ff.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg could not write ${path}: ${this.stderr.trim() || `exit ${code}`}`))));
    });
    this.done.catch(() => {}); // awaited in finish(); not unhandled meanwhile
  }

  write(frame: Uint8Array): void { this.ff.stdin?.write(frame); }

  async finish(): Promise<void> {
    this.ff.stdin?.end();
    await this.done;
  }

  abort(): void { this.ff.kill('SIGKILL'); }
}
