// Boxes and labels drawn into a packed RGB picture (then encoded to JPEG by ffmpeg): a tiny
// bitmap font of our own, so no font file has to be installed for the labels.
import type { RgbImage, SeenObject } from './types';

// 5×7 glyphs, one string of 7 rows of 5 bits ('#' = ink) per character.
const GLYPHS: Record<string, string> = {
  A: '.###.#...##...#######...##...##...#', B: '####.#...#####.#...##...##...#####.', C: '.###.#...##....#....#....#...#.###.',
  D: '####.#...##...##...##...##...#####.', E: '######....####.#....#....#....#####', F: '######....####.#....#....#....#....',
  G: '.###.#...##....#.####...##...#.####', H: '#...##...#######...##...##...##...#', I: '.###...#....#....#....#....#...###.',
  J: '..###...#....#....#....##..#..##...', K: '#...##..#.###..#.#..#..#.#...##...#', L: '#....#....#....#....#....#....#####',
  M: '#...###.###.#.##...##...##...##...#', N: '#...###..##.#.##..###...##...##...#', O: '.###.#...##...##...##...##...#.###.',
  P: '####.#...##...#####.#....#....#....', Q: '.###.#...##...##...##.#.##..#..##.#', R: '####.#...##...#####.#.#..#..#.#...#',
  S: '.#####....#.....###.....#....#####.', T: '#####..#....#....#....#....#....#..', U: '#...##...##...##...##...##...#.###.',
  V: '#...##...##...##...##...#.#.#...#..', W: '#...##...##...##.#.##.#.##.#.#.#.#.', X: '#...##...#.#.#...#...#.#.#...##...#',
  Y: '#...##...#.#.#...#....#....#....#..', Z: '#####....#...#...#...#...#....#####',
  0: '.###.#...##..###.#.###..##...#.###.', 1: '..#...##....#....#....#....#...###.', 2: '.###.#...#....#...#...#...#...#####',
  3: '#####...#...#.....#.....##...#.###.', 4: '...#...##..#.#.#..#.#####...#....#.', 5: '######....####.....#....##...#.###.',
  6: '..##..#...#....####.#...##...#.###.', 7: '#####....#...#...#...#....#....#...', 8: '.###.#...##...#.###.#...##...#.###.',
  9: '.###.#...##...#.####....#...#..##..', '%': '##...##..#...#...#...#...#..##...##', ' ': '...................................',
  '-': '................###................', '.': '..............................##...', ':': '......##...##........##...##.......',
};

const GLYPH_W = 5, GLYPH_H = 7;

/** A bright colour per label (the same label always gets the same one). */
export function labelColour(label: string): [number, number, number] {
  const palette: Array<[number, number, number]> = [[255, 40, 40], [40, 220, 40], [40, 140, 255], [255, 200, 0], [255, 60, 220], [0, 230, 230]];
  if (label === 'person') return palette[0];
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return palette[1 + (h % (palette.length - 1))];
}

/**
 * Draws each object's box (a frame of `thick` pixels) and, above it (inside when at the top
 * edge), its label and score on a filled strip of the box's colour. Works in place, on packed RGB
 * or (channels 4) on RGBA, where what is drawn becomes opaque: an overlay for ffmpeg.
 */
export function drawObjects(img: RgbImage, objects: readonly SeenObject[], channels: 3 | 4 = 3): void {
  const { width: w, height: h, data } = img;
  const thick = Math.max(2, Math.round(Math.min(w, h) / 240));
  const scale = Math.max(1, Math.round(Math.min(w, h) / 240));
  const fill = (x0: number, y0: number, x1: number, y1: number, c: readonly number[]): void => {
    const xa = Math.max(0, x0), ya = Math.max(0, y0), xb = Math.min(w, x1), yb = Math.min(h, y1);
    for (let y = ya; y < yb; y++) {
      for (let x = xa; x < xb; x++) {
        const i = (y * w + x) * channels;
        data[i] = c[0]; data[i + 1] = c[1]; data[i + 2] = c[2];
        if (channels === 4) data[i + 3] = 255;
      }
    }
  };
  for (const o of objects) {
    const c = labelColour(o.label);
    const x0 = Math.round(o.box.x * w), y0 = Math.round(o.box.y * h);
    const x1 = Math.round((o.box.x + o.box.w) * w), y1 = Math.round((o.box.y + o.box.h) * h);
    fill(x0, y0, x1, y0 + thick, c);
    fill(x0, y1 - thick, x1, y1, c);
    fill(x0, y0, x0 + thick, y1, c);
    fill(x1 - thick, y0, x1, y1, c);
    const text = `${o.label} ${Math.round(o.score * 100)}%`.toUpperCase();
    const tw = text.length * (GLYPH_W + 1) * scale + scale * 2, th = (GLYPH_H + 2) * scale;
    const ty = y0 - th >= 0 ? y0 - th : y0 + thick;
    const tx = Math.min(Math.max(0, x0), Math.max(0, w - tw));
    fill(tx, ty, tx + tw, ty + th, c);
    let cx = tx + scale;
    for (const ch of text) {
      const g = GLYPHS[ch] ?? GLYPHS[' '];
      for (let gy = 0; gy < GLYPH_H; gy++) {
        for (let gx = 0; gx < GLYPH_W; gx++) {
          if (g[gy * GLYPH_W + gx] !== '#') continue;
          fill(cx + gx * scale, ty + scale + gy * scale, cx + (gx + 1) * scale, ty + scale + (gy + 1) * scale, [0, 0, 0]);
        }
      }
      cx += (GLYPH_W + 1) * scale;
    }
  }
}
