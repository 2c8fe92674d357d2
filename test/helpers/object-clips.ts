// Clips for object-detect's tests: real footage with and without people (OpenCV's samples), and
// clips made here of things that move but are no person.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const DATA = '/usr/share/doc/opencv-doc/examples/data';
/** People walking across a campus (768x576, 10 fps, 79.5 s): the clip with people. */
export const VTEST = join(DATA, 'vtest.avi');
/** A tree in the wind (320x240, 29.6 s): motion, no people. */
export const TREE = join(DATA, 'tree.avi');

const H264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '10', '-sc_threshold', '0'];

/** An apple (OpenCV's apple.jpg) sliding across a wall in 5 s, then 5 s of the still wall: a moving object that is no person. 640x480. */
export async function appleClip(dir: string): Promise<string> {
  const out = join(dir, 'apple.mp4');
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=0x8a7a66:s=640x480:r=10', '-loop', '1', '-framerate', '10', '-i', join(DATA, 'apple.jpg'),
    '-filter_complex', "[1:v]scale=140:-2[a];[0:v][a]overlay=x='-140+t*170':y=200:eval=frame:shortest=1[v]", '-map', '[v]', '-t', '10', ...H264, out]);
  return out;
}

/** A still of a building (OpenCV's building.jpg) whose brightness sweeps up and down (clouds, the sun): 640x480, 10 s. */
export async function brightnessClip(dir: string): Promise<string> {
  const out = join(dir, 'brightness.mp4');
  await run('ffmpeg', ['-v', 'error', '-y', '-loop', '1', '-framerate', '10', '-i', join(DATA, 'building.jpg'),
    '-vf', "scale=640:480,eq=brightness='0.25*sin(2*PI*t/5)':eval=frame", '-t', '10', ...H264, out]);
  return out;
}

/** A short piece of vtest.avi (from `from` s, `seconds` long), H.264. */
export async function vtestPiece(dir: string, from: number, seconds: number): Promise<string> {
  const out = join(dir, `vtest-${from}-${seconds}.mp4`);
  await run('ffmpeg', ['-v', 'error', '-y', '-ss', String(from), '-i', VTEST, '-t', String(seconds), '-an', ...H264, out]);
  return out;
}

/** Packed RGB of a JPEG (decoded by ffmpeg, an independent decoder). */
export async function jpegPixels(jpeg: Buffer, dir: string, width: number, height: number): Promise<Uint8Array> {
  const { writeFileSync } = await import('node:fs');
  const file = join(dir, `pic-${Date.now()}-${Math.random().toString(36).slice(2)}.jpg`);
  writeFileSync(file, jpeg);
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { encoding: 'buffer', maxBuffer: 64 << 20 });
  if (stdout.length !== width * height * 3) throw new Error(`decoded ${stdout.length} bytes, expected ${width}x${height}x3`);
  return new Uint8Array(stdout.buffer, stdout.byteOffset, stdout.length);
}
