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

/**
 * People of vtest.avi walking for 4 s, then standing still (the last frame held) for 6 s, then walking
 * back (the piece reversed), and so on: every change is smooth, so each walk is one motion event.
 */
export async function alternating(dir: string): Promise<{ path: string; intervals: Array<[number, number]> }> {
  const enc = ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-r', '10', '-g', '10', '-sc_threshold', '0'];
  const path = join(dir, 'alternating.mp4');
  // One graph: the piece, its first and last frames held, the piece reversed.
  const graph = '[0:v]fps=10,split=4[a][b][c][d];'
    + '[a]trim=end_frame=1,loop=59:1:0,setpts=N/10/TB[h0];'
    + '[b]setpts=N/10/TB[f];'
    + '[c]reverse,trim=end_frame=1,loop=59:1:0,setpts=N/10/TB[h1];'
    + '[d]reverse,setpts=N/10/TB[r];'
    + '[h0][f][h1][r]concat=n=4,split=2[x][y];[x][y]concat=n=2[out]';
  await run('ffmpeg', ['-v', 'error', '-y', '-ss', '20', '-t', '4', '-i', VTEST, '-filter_complex', graph, '-map', '[out]', '-an', ...enc, path]);
  // h0 0-6, f 6-10, h1 10-16, r 16-20, then again from 20: walks at 6-10, 16-20, 26-30, 36-40.
  return { path, intervals: [[6, 10], [16, 20], [26, 30], [36, 40]] };
}
