// The debug view of the detector: one gray frame with what the detector saw drawn
// over it, so an owner can see why an event fired or did not. Used by
// `mantis-detect --debug` (and meant for the editor's debug snapshot).
import type { GrayFrame } from '../video/frame';
import type { Box } from './event';
import type { BlockState } from './analyzer';
import type { Zone } from './polygon';

export interface OverlayState {
  /** Blocks of the detector's working picture (BLOCK working pixels each), moved and learned. */
  blocks: BlockState;
  /** Size of one block in frame pixels (BLOCK × the detector's downscale). */
  blockPx: number;
  /** Frame pixels per working pixel (the detector's downscale), for the rows of `blocks.rowGain`. */
  rowPx: number;
  boxes: Box[];
  zones: Zone[];
  /** An event is going on. */
  inMotion: boolean;
}

const WHITE = 255;
const BLACK = 0;

/**
 * A copy of the frame with: learned blocks (repetitive motion) dimmed with a dot grid,
 * blocks that moved outlined in gray, blob boxes in white, zone outlines dashed, row light
 * compensation as a bar from the right edge per compensated row (its length: the gain's
 * distance from 1, 10 % = a twentieth of the width; white = darkened row, gray = brightened),
 * and a square at the top left: white while an event goes on, black otherwise.
 */
export function drawOverlay(frame: GrayFrame, s: OverlayState): Uint8Array {
  const { width: w, height: h } = frame;
  const out = new Uint8Array(frame.data);
  const put = (x: number, y: number, v: number): void => {
    if (x >= 0 && y >= 0 && x < w && y < h) out[y * w + x] = v;
  };
  const rect = (x0: number, y0: number, x1: number, y1: number, v: number, dash = 1): void => {
    for (let x = x0; x <= x1; x++) if (((x - x0) / dash | 0) % 2 === 0 || dash === 1) { put(x, y0, v); put(x, y1, v); }
    for (let y = y0; y <= y1; y++) if (((y - y0) / dash | 0) % 2 === 0 || dash === 1) { put(x0, y, v); put(x1, y, v); }
  };
  const { cols, rows, moved, learned } = s.blocks;
  const bp = s.blockPx;
  for (let b = 0; b < cols * rows; b++) {
    const x0 = (b % cols) * bp;
    const y0 = Math.floor(b / cols) * bp;
    if (learned[b]) {
      for (let y = y0; y < Math.min(h, y0 + bp); y++) {
        for (let x = x0; x < Math.min(w, x0 + bp); x++) {
          const i = y * w + x;
          out[i] = (x + y) % 4 === 0 ? WHITE : out[i] >> 1;
        }
      }
    }
    if (moved[b]) rect(x0, y0, Math.min(w, x0 + bp) - 1, Math.min(h, y0 + bp) - 1, 160);
  }
  const rowGain = s.blocks.rowGain;
  for (let r = 0; r < rowGain.length; r++) {
    const g = rowGain[r];
    if (g === 1) continue;
    const len = Math.min(w >> 2, Math.max(1, Math.round(Math.abs(1 - g) * w / 2)));
    for (let y = r * s.rowPx; y < (r + 1) * s.rowPx; y++) for (let x = w - len; x < w; x++) put(x, y, g < 1 ? WHITE : 160);
  }
  for (const box of s.boxes) {
    rect(Math.round(box.x * w), Math.round(box.y * h), Math.round((box.x + box.w) * w) - 1, Math.round((box.y + box.h) * h) - 1, WHITE);
  }
  for (const z of s.zones) {
    const pts = z.points;
    for (let i = 0; i < pts.length; i++) {
      const [ax, ay] = pts[i];
      const [bx, by] = pts[(i + 1) % pts.length];
      const steps = Math.max(1, Math.ceil(Math.max(Math.abs(bx - ax) * w, Math.abs(by - ay) * h)));
      for (let k = 0; k <= steps; k++) {
        if ((k >> 2) % 2) continue; // dashed
        put(Math.round((ax + (bx - ax) * k / steps) * (w - 1)), Math.round((ay + (by - ay) * k / steps) * (h - 1)), WHITE);
      }
    }
  }
  const size = Math.max(6, Math.round(Math.min(w, h) / 16));
  for (let y = 2; y < 2 + size; y++) for (let x = 2; x < 2 + size; x++) put(x, y, s.inMotion ? WHITE : BLACK);
  rect(1, 1, size + 2, size + 2, s.inMotion ? BLACK : WHITE);
  return out;
}
