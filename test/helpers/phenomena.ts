// Clips of the hard scenes of issue 13 over a real background (a still of OpenCV's
// vtest.avi, or tree.avi itself): mains flicker (rolling dark bands), a cloud shadow
// (a soft-edged 25 % darkening sweeping across), with an optional hard-edged figure entering.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const DATA = '/usr/share/doc/opencv-doc/examples/data';

export type Phenomenon = 'flicker' | 'shadow' | 'tree';
/** A dark 24x60 px figure walking in from the left at 40 px/s from `at` s. */
export interface Figure { at: number }

const LOOKS: Record<Exclude<Phenomenon, 'tree'>, string> = {
  // Rolling bands: a dark band (up to 35 %) drifting down the picture, 0.4 bands per second.
  flicker: "geq=lum='p(X,Y)*(1-0.35*pow(max(0,sin(2*PI*(Y/H*1.5-T*0.4))),2))'",
  // A shadow front 60 px wide (blurred) moving right at 25 px/s, 25 % darker behind it.
  shadow: "geq=lum='p(X,Y)*(1-0.25*clip((25*T-X)/60,0,1))'",
};

/** Renders a clip (320x240, 10 fps, H.264) of `seconds` s to dir/name.mp4. */
export async function makePhenomenon(dir: string, name: string, what: Phenomenon, seconds: number, figure?: Figure, size = '320x240'): Promise<string> {
  const path = join(dir, `${name}.mp4`);
  const [w] = size.split('x').map(Number);
  const source = what === 'tree'
    ? ['-i', join(DATA, 'tree.avi')]
    : ['-loop', '1', '-framerate', '10', '-i', join(dir, `bg-${size}.png`)];
  if (what !== 'tree') {
    await run('ffmpeg', ['-v', 'error', '-y', '-ss', '3', '-i', join(DATA, 'vtest.avi'), '-frames:v', '1', '-vf', `scale=${size},format=gray`, join(dir, `bg-${size}.png`)]);
  }
  const inputs = [...source];
  let graph = `[0:v]scale=${size},fps=10,format=gray${what === 'tree' ? '' : `,${LOOKS[what]}`}[bg]`;
  let last = 'bg';
  if (figure) {
    const s = w / 320;
    inputs.push('-f', 'lavfi', '-i', `color=c=0x202020:s=${Math.round(24 * s)}x${Math.round(60 * s)}:r=10`);
    graph += `;[bg][1:v]overlay=x='-${Math.round(24 * s)}+(t-${figure.at})*${40 * s}':y=${Math.round(90 * s)}:enable='gte(t,${figure.at})':shortest=1[fig]`;
    last = 'fig';
  }
  graph += `;[${last}]noise=alls=6:allf=t,format=yuv420p[out]`;
  await run('ffmpeg', ['-v', 'error', '-y', ...inputs, '-filter_complex', graph, '-map', '[out]', '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '20', '-g', '20', path]);
  return path;
}
