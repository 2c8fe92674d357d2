// An image of any size scaled (bilinear, aspect kept) into the model's square input, padded
// around; and the way back: a box in input pixels to a box normalized to the image.
import type { Box } from '../motion/event';
import type { RgbImage } from './types';

/** Where the image sits inside the square input. */
export interface Letterbox {
  /** size * size * 3 floats, RGB 0..255, row-major (NHWC without the batch). */
  input: Float32Array;
  size: number;
  /** Input pixels per image pixel. */
  scale: number;
  /** Input pixels of padding left and above the image. */
  padX: number;
  padY: number;
  /** The image's size. */
  width: number;
  height: number;
}

/** Grey padding: the middle of the range, the least like an edge or an object. */
const PAD = 114;

export function checkImage(img: RgbImage): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new Error(`image size ${img.width}x${img.height} is not a positive whole size`);
  }
  if (img.data.length < img.width * img.height * 3) {
    throw new Error(`image data has ${img.data.length} bytes, ${img.width}x${img.height} RGB needs ${img.width * img.height * 3}`);
  }
}

/** Scales `img` into a `size`x`size` input (reusing `out` when it has the right length). */
export function letterbox(img: RgbImage, size: number, out?: Float32Array): Letterbox {
  checkImage(img);
  const { width: w, height: h, data } = img;
  const input = out && out.length === size * size * 3 ? out : new Float32Array(size * size * 3);
  const scale = Math.min(size / w, size / h);
  const cw = Math.max(1, Math.min(size, Math.round(w * scale)));
  const ch = Math.max(1, Math.min(size, Math.round(h * scale)));
  const padX = Math.floor((size - cw) / 2);
  const padY = Math.floor((size - ch) / 2);
  input.fill(PAD);
  // Source x for each output column, computed once (half-pixel centres, as image resizers do).
  const x0 = new Int32Array(cw);
  const x1 = new Int32Array(cw);
  const fx = new Float32Array(cw);
  const sx = w / cw;
  for (let ox = 0; ox < cw; ox++) {
    const x = Math.min(Math.max((ox + 0.5) * sx - 0.5, 0), w - 1);
    x0[ox] = Math.floor(x) * 3;
    x1[ox] = Math.min(Math.floor(x) + 1, w - 1) * 3;
    fx[ox] = x - Math.floor(x);
  }
  const sy = h / ch;
  const stride = w * 3;
  for (let oy = 0; oy < ch; oy++) {
    const y = Math.min(Math.max((oy + 0.5) * sy - 0.5, 0), h - 1);
    const ya = Math.floor(y);
    const r0 = ya * stride;
    const r1 = Math.min(ya + 1, h - 1) * stride;
    const fy = y - ya;
    let o = ((oy + padY) * size + padX) * 3;
    for (let ox = 0; ox < cw; ox++) {
      const a = x0[ox];
      const b = x1[ox];
      const f = fx[ox];
      for (let c = 0; c < 3; c++) {
        const top = data[r0 + a + c] + (data[r0 + b + c] - data[r0 + a + c]) * f;
        const bottom = data[r1 + a + c] + (data[r1 + b + c] - data[r1 + a + c]) * f;
        input[o++] = top + (bottom - top) * fy;
      }
    }
  }
  return { input, size, scale, padX, padY, width: w, height: h };
}

/** A box in input pixels (corners) back to the image, normalized 0..1 and clipped to it. */
export function toImageBox(lb: Letterbox, x1: number, y1: number, x2: number, y2: number): Box {
  const clip = (v: number): number => Math.min(Math.max(v, 0), 1);
  const nx1 = clip((x1 - lb.padX) / lb.scale / lb.width);
  const ny1 = clip((y1 - lb.padY) / lb.scale / lb.height);
  const nx2 = clip((x2 - lb.padX) / lb.scale / lb.width);
  const ny2 = clip((y2 - lb.padY) / lb.scale / lb.height);
  return { x: nx1, y: ny1, w: Math.max(0, nx2 - nx1), h: Math.max(0, ny2 - ny1) };
}
