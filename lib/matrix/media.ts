// Small media helpers for attachments: image dimensions from the header, and
// JPEG thumbnails made by ffmpeg (already needed by the camera nodes).
import { spawn } from 'node:child_process';

/** Width and height of a JPEG or PNG, or undefined for anything else. */
export function imageSize(buf: Uint8Array): { width: number; height: number } | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length > 24 && b.readUInt32BE(0) === 0x89504e47) return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) { i++; continue; }
    const marker = b[i + 1]!;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
    const len = b.readUInt16BE(i + 2);
    // SOF0..SOF15 except DHT (c4), JPG (c8), DAC (cc)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    }
    i += 2 + len;
  }
  return undefined;
}

/** A JPEG at most `maxWidth` wide from an image or the first frame of a clip. */
export function thumbnail(input: Uint8Array, maxWidth = 320, ffmpeg = 'ffmpeg'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-i', 'pipe:0', '-frames:v', '1',
      '-vf', `scale='min(${maxWidth},iw)':-2`, '-q:v', '5', '-f', 'mjpeg', 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    // ffmpeg may stop reading once it has a frame: ignore EPIPE on its stdin.
    p.stdin.on('error', () => undefined);
    p.on('close', (code) => {
      const jpeg = Buffer.concat(out);
      if (code === 0 && jpeg.length) resolve(jpeg);
      else reject(new Error(`ffmpeg thumbnail failed (${code}): ${err.trim().slice(-300)}`));
    });
    p.stdin.end(Buffer.from(input));
  });
}
