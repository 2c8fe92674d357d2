// The per-frame pixel work of the motion detector, on typed arrays only.
// Every buffer is allocated once per frame size and reused. With the defaults a
// frame costs one pass over the frame (2×2 shrink + 2×2 blur, four pixels per
// 32-bit load), a sparse sample for the tone fit (how the brightness of the whole
// picture moved), one pass of threshold + background update at the shrunk size,
// and work only on the rows that changed (runs, connected components, boxes).
import type { Box } from './event';
import type { MotionConfig } from './config';
import { rasterizePolygon } from './polygon';

/** A changed pixel still for this many frames is something that stopped (or a ghost): learn it normally. */
const STILL_FRAMES = 8;
/** Learned repetitive motion is kept per block of BLOCK×BLOCK working pixels. */
export const BLOCK = 8;
/** A block moved in a frame when at least this many of its pixels changed. */
const BLOCK_MOVED_PIXELS = 3;
/** Row light: histogram bins of the ratio frame / background, from 1 / rowLight to rowLight. */
const RATIO_BINS = 64;
/** Row light: background pixels darker than this give no usable ratio. */
const RATIO_MIN_LEVEL = 16;
/** Row light: about this many samples per row (every other pixel at most): a median needs no more. */
const ROW_SAMPLES = 40;
/** Row light: a row needs this many usable samples for a gain of its own. */
const RATIO_MIN_SAMPLES = 8;
/** Row light: a row whose unchanged pixels are on average lit within this share of the background is not lit differently. */
const ROW_LIT = 0.02;
/** Row light: the middle half of a row's ratios must lie within this share of its median (one gain, not two). */
const ROW_SPREAD = 0.12;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** One connected blob of changed pixels, in pixels (inclusive bounds). */
export interface Blob {
  x0: number; y0: number; x1: number; y1: number;
  /** Changed pixels in the blob (before dilation): its real area. */
  pixels: number;
  /** Bit i set when the blob touches zone i. */
  zoneBits: number;
}

export interface FrameAnalysis {
  /** 'first': the background was just initialised; 'global': a global change, background re-learnt; 'ok' otherwise. */
  kind: 'first' | 'global' | 'ok';
  /** Fraction of the watched pixels over the threshold (every blob, even specks). */
  changed: number;
  /** Fraction of the watched pixels in blobs of at least minBlob: what minArea is compared with. */
  score: number;
  motion: boolean;
  /** Largest blobs first, at most maxBoxes, normalized to the frame. */
  boxes: Box[];
  /** Bits of the zones touched by the counted blobs. */
  zoneBits: number;
  /** Largest brightness shift against the background explained by the tone fit (light, exposure), 0..255. */
  offset: number;
  /** Blobs dropped as a change of light (shadowCorrelation). */
  lightBlobs?: number;
  /** Rows given a light gain of their own (row light compensation). */
  lightRows?: number;
}

/** Per-block state for the debug view and the event logic; arrays are live (reused next frame). */
export interface BlockState {
  cols: number;
  rows: number;
  /** 1 where the block moved in the last analysed frame. */
  moved: Uint8Array;
  /** 1 where repetitive motion is learned (weighed down). */
  learned: Uint8Array;
  /** Per working row: the light gain divided out by row light compensation (1 = none). */
  rowGain: Float32Array;
}

export class FrameAnalyzer {
  // Input frame size, and the working size after shrinking by cfg.downscale.
  private frameW = 0;
  private frameH = 0;
  private scale = 1;
  private width = 0;
  private height = 0;
  private small = new Uint8Array(0);
  private sumRowA = new Uint16Array(0);
  private sumRowB = new Uint16Array(0);
  private hsum = new Uint16Array(0);
  private colSum = new Int32Array(0);
  private blurred = new Uint8Array(0);
  /** The previous frame's `blurred` (the two buffers swap each frame). */
  private previous = new Uint8Array(0);
  /** Per pixel: frames in a row it was changed but still (same as the previous frame). */
  private stillFor = new Uint8Array(0);
  private bg = new Float32Array(0);
  private raw = new Uint8Array(0);
  /** 1 where motion counts: not masked, and inside a zone when zones exist. */
  private active = new Uint8Array(0);
  /** 1 where the picture is seen at all (not masked): what tells a change of light from motion. */
  private seen = new Uint8Array(0);
  private zoneMap = new Uint32Array(0);
  private activeCount = 0;
  private seenCount = 0;
  /** Changed pixels of the last frame outside the zones (not masked): for the global-change share. */
  private changedOutside = 0;
  private rowCount = new Int32Array(0);
  /** Row light compensation: each working row's gain against the tone-fitted background (1 = none). */
  private rowGain = new Float32Array(0);
  private readonly ratioHist = new Int32Array(RATIO_BINS);
  // Tone fit: a difference histogram per band of 16 background levels.
  private readonly hist = new Int32Array(16 * 511);
  private readonly bandSum = new Float64Array(16);
  private readonly bandMedian = new Float64Array(16);
  private readonly bandLevel = new Float64Array(16);
  private readonly bandCount = new Float64Array(16);
  private slope = 0;
  private shift = 0;
  private maxShift = 0;
  private hasBackground = false;
  // Runs of changed pixels (one row each) and their union-find parents; grown on demand.
  private runCap = 0;
  private runX0 = new Int32Array(0);
  private runX1 = new Int32Array(0);
  private runY = new Int32Array(0);
  private runY1 = new Int32Array(0);
  private nRuns = 0;
  private runPix = new Int32Array(0);
  private runZones = new Uint32Array(0);
  private parent = new Int32Array(0);
  private rowFirstRun = new Int32Array(0);
  /** Own span of each run (runX0/runX1 of a root become its blob's bounds). */
  private runS = new Int32Array(0);
  private runE = new Int32Array(0);
  // Per blob (at its root run): sums for the correlation of its pixels with the background.
  private sv = new Float64Array(0);
  private sg = new Float64Array(0);
  private svv = new Float64Array(0);
  private sgg = new Float64Array(0);
  private svg = new Float64Array(0);
  /** Per pixel threshold: the zone's or the detector's, times repetitiveGain in learned blocks. */
  private thrMap = new Uint8Array(0);
  private baseThr = new Uint8Array(0);
  // Learned repetitive motion, per block.
  private cols = 0;
  private rows = 0;
  private blockPix = new Int32Array(0);
  private blockMoved = new Uint8Array(0);
  private blockLearned = new Uint8Array(0);
  private activity = new Float32Array(0);
  /** Frames with block statistics since the start, for a fast first estimate (1/n) of each block's activity. */
  private blockFrames = 0;
  private lastT = NaN;
  // Zones with their own minimum area: pixel counts per zone, zone sizes.
  private zoneArea = new Float64Array(0);
  private zoneCount = new Float64Array(0);
  /** Zones whose pixels count in the detector's minArea (no own minArea). */
  private plainZones = 0;

  constructor(private readonly cfg: MotionConfig) {}

  get frameWidth(): number { return this.frameW; }
  get frameHeight(): number { return this.frameH; }
  /** The size the pixel work is done at. */
  get workSize(): { width: number; height: number } { return { width: this.width, height: this.height }; }
  /** Frame pixels per working pixel (the effective downscale). */
  get downscale(): number { return this.scale; }
  /** Watched pixels (not masked; inside a zone when zones exist). */
  get watchedPixels(): number { return this.activeCount; }

  /** Blocks moved and learned, for the debug view and the event area. */
  get blocks(): BlockState { return { cols: this.cols, rows: this.rows, moved: this.blockMoved, learned: this.blockLearned, rowGain: this.rowGain }; }

  /** Forget the background and the learned repetitive motion; the next frame becomes the background. */
  reset(): void {
    this.hasBackground = false;
    this.resetMask();
  }

  /** Forget the background only (the learned mask stays): after an event cap. */
  relearn(): void {
    this.hasBackground = false;
  }

  /** Forget the learned repetitive motion: every block at full weight again. */
  resetMask(): void {
    this.activity.fill(0);
    this.blockLearned.fill(0);
    this.blockFrames = 0;
    this.thrMap.set(this.baseThr);
  }

  private resize(frameW: number, frameH: number): void {
    this.frameW = frameW;
    this.frameH = frameH;
    // Shrinking averages k×k blocks: it removes most sensor noise and quarters the work (k = 2).
    let k = this.cfg.downscale;
    while (k > 1 && (frameW < 8 * k || frameH < 8 * k)) k--;
    this.scale = k;
    const width = Math.floor(frameW / k);
    const height = Math.floor(frameH / k);
    const n = width * height;
    this.width = width;
    this.height = height;
    this.small = new Uint8Array(k > 1 ? n : 0);
    this.sumRowA = new Uint16Array(width);
    this.sumRowB = new Uint16Array(width);
    this.hsum = new Uint16Array(n);
    this.colSum = new Int32Array(width);
    this.blurred = new Uint8Array(n);
    this.previous = new Uint8Array(n);
    this.stillFor = new Uint8Array(n);
    this.bg = new Float32Array(n);
    this.raw = new Uint8Array(n);
    this.rowCount = new Int32Array(height);
    this.rowGain = new Float32Array(height).fill(1);
    this.rowFirstRun = new Int32Array(height + 1);
    this.active = new Uint8Array(n);
    this.seen = new Uint8Array(n).fill(1);
    this.zoneMap = new Uint32Array(n);
    const { zones, masks } = this.cfg;
    if (zones.length === 0) this.active.fill(1);
    zones.forEach((z, i) => {
      rasterizePolygon(z.points, width, height, this.zoneMap, 1 << i >>> 0, 'or');
      rasterizePolygon(z.points, width, height, this.active, 1);
    });
    for (const m of masks) {
      rasterizePolygon(m, width, height, this.active, 0);
      rasterizePolygon(m, width, height, this.seen, 0);
    }
    let count = 0;
    let seen = 0;
    for (let i = 0; i < n; i++) { count += this.active[i]; seen += this.seen[i]; }
    this.activeCount = count;
    this.seenCount = seen;
    // Per-zone sensitivity: the lowest threshold of the zones a pixel is in (the detector's where none is set).
    this.baseThr = new Uint8Array(n).fill(this.cfg.threshold);
    this.zoneArea = new Float64Array(zones.length);
    this.zoneCount = new Float64Array(zones.length);
    this.plainZones = 0;
    zones.forEach((z, i) => { if (z.minArea === undefined) this.plainZones |= 1 << i; });
    this.plainZones >>>= 0;
    const zm = this.zoneMap;
    for (let i = 0; i < n; i++) {
      const bits = zm[i];
      if (bits === 0 || this.active[i] === 0) continue;
      let thr = 255;
      for (let z = 0; z < zones.length; z++) {
        if (!(bits & (1 << z))) continue;
        this.zoneArea[z]++;
        thr = Math.min(thr, zones[z].threshold ?? this.cfg.threshold);
      }
      this.baseThr[i] = thr;
    }
    this.thrMap = new Uint8Array(this.baseThr);
    this.cols = Math.ceil(width / BLOCK);
    this.rows = Math.ceil(height / BLOCK);
    const blocks = this.cols * this.rows;
    this.blockPix = new Int32Array(blocks);
    this.blockMoved = new Uint8Array(blocks);
    this.blockLearned = new Uint8Array(blocks);
    this.activity = new Float32Array(blocks);
    this.blockFrames = 0;
    this.hasBackground = false;
  }

  /** @param t the frame's time in ms (for the memory of repetitive motion); without it 5 fps is assumed. */
  analyze(data: Uint8Array, frameW: number, frameH: number, t?: number): FrameAnalysis {
    if (frameW !== this.frameW || frameH !== this.frameH) this.resize(frameW, frameH);
    const dt = t !== undefined && Number.isFinite(this.lastT) && t > this.lastT ? t - this.lastT : 200;
    this.lastT = t ?? NaN;
    const width = this.width;
    const height = this.height;
    const prev = this.blurred;
    this.blurred = this.previous;
    this.previous = prev;
    this.smooth(data);
    if (!this.hasBackground || this.activeCount === 0) {
      this.bg.set(this.blurred);
      this.previous.set(this.blurred);
      this.hasBackground = true;
      this.blockMoved.fill(0);
      this.rowGain.fill(1);
      return { kind: 'first', changed: 0, score: 0, motion: false, boxes: [], zoneBits: 0, offset: 0 };
    }
    this.toneFit();
    // Light that differs from row to row (a quarter of the rows with a gain of their own) is flicker, which
    // the row gains explain: not a global change, so a person in the picture is not learnt into the background.
    const lightRows = this.rowLight();
    const flicker = 4 * lightRows >= height;
    const offset = Math.round(this.maxShift);
    const changedPixels = this.threshold();
    const changed = changedPixels / this.activeCount;
    // Whether the light changed is judged on the whole picture (masks aside), zones or not: a lamp or
    // an exposure change shows everywhere, a person only where they are, even filling a small zone.
    if ((this.maxShift > this.cfg.threshold && !flicker) || (changedPixels + this.changedOutside) / this.seenCount > this.cfg.globalChange) {
      // A light, a cloud, an exposure jump: not motion. Take the new look as the background at once.
      this.bg.set(this.blurred);
      this.blockMoved.fill(0);
      return { kind: 'global', changed, score: 0, motion: false, boxes: [], zoneBits: 0, offset, lightRows };
    }
    this.learnBlocks(dt);
    if (changedPixels === 0) return { kind: 'ok', changed: 0, score: 0, motion: false, boxes: [], zoneBits: 0, offset, lightRows };
    this.components();
    const minBlob = Math.max(1, this.cfg.minBlob * this.activeCount);
    this.blobStats(minBlob);
    let counted = 0;
    let zoneBits = 0;
    let lightBlobs = 0;
    const kept: Blob[] = [];
    const { runX0, runX1, runY, runY1, runPix, runZones, parent } = this;
    for (let r = 0; r < this.nRuns; r++) {
      if (parent[r] !== r || runPix[r] < minBlob) continue;
      if (this.isLight(r)) { lightBlobs++; continue; }
      counted += runPix[r];
      zoneBits |= runZones[r];
      kept.push({ x0: runX0[r], y0: runY[r], x1: runX1[r], y1: runY1[r], pixels: runPix[r], zoneBits: runZones[r] });
    }
    const score = counted / this.activeCount;
    let motion = counted > 0 && score >= this.cfg.minArea;
    if (counted > 0 && this.plainZones !== (2 ** this.cfg.zones.length - 1) >>> 0) {
      // Zones with their own minimum area: each is judged on its own pixels; the others share minArea.
      const own = this.zoneRule(minBlob);
      motion = own.motion;
      zoneBits = own.zoneBits;
    }
    kept.sort((a, b) => b.pixels - a.pixels);
    const boxes: Box[] = [];
    for (let k = 0; k < kept.length && k < this.cfg.maxBoxes; k++) {
      const b = kept[k];
      boxes.push({ x: b.x0 / width, y: b.y0 / height, w: (b.x1 - b.x0 + 1) / width, h: (b.y1 - b.y0 + 1) / height });
    }
    return { kind: 'ok', changed, score, motion, boxes, zoneBits: zoneBits >>> 0, offset, lightBlobs, lightRows };
  }

  /**
   * Learned repetitive motion (Motion's smart mask, per block): each block's activity is the
   * running share of frames it moved in, over about repetitiveTime. A block above repetitiveLevel
   * is learned and needs repetitiveGain × the threshold; below half that level it is back to normal.
   */
  private learnBlocks(dt: number): void {
    const level = this.cfg.repetitiveLevel;
    const moved = this.blockMoved;
    const pix = this.blockPix;
    for (let b = 0; b < pix.length; b++) moved[b] = pix[b] >= BLOCK_MOVED_PIXELS ? 1 : 0;
    if (level <= 0) return;
    this.blockFrames++;
    // The first frames average with equal weights, so a scene that is moving when the camera starts is learned in seconds.
    const rate = Math.max(Math.min(1, dt / this.cfg.repetitiveTime), 1 / this.blockFrames);
    const act = this.activity;
    const learned = this.blockLearned;
    for (let b = 0; b < act.length; b++) {
      const a = act[b] + rate * (moved[b] - act[b]);
      act[b] = a;
      const now = learned[b] ? (a >= level / 2 ? 1 : 0) : (a >= level ? 1 : 0);
      if (now !== learned[b]) {
        learned[b] = now;
        this.fillBlock(b, now === 1);
      }
    }
  }

  private fillBlock(b: number, learned: boolean): void {
    const w = this.width;
    const bx = (b % this.cols) * BLOCK;
    const by = Math.floor(b / this.cols) * BLOCK;
    const gain = this.cfg.repetitiveGain;
    const x1 = Math.min(w, bx + BLOCK);
    const y1 = Math.min(this.height, by + BLOCK);
    for (let y = by; y < y1; y++) {
      for (let i = y * w + bx, end = y * w + x1; i < end; i++) {
        this.thrMap[i] = learned ? Math.min(254, Math.round(this.baseThr[i] * gain)) : this.baseThr[i];
      }
    }
  }

  /** Per candidate blob (at its root): sums of its pixels and the background's under them. */
  private blobStats(minBlob: number): void {
    if (this.cfg.shadowCorrelation >= 1) return;
    const { runS, runE, runY, runPix, raw, blurred: b, bg, sv, sg, svv, sgg, svg } = this;
    const w = this.width;
    for (let r = 0; r < this.nRuns; r++) {
      const root = this.find(r);
      if (root === r) { sv[r] = 0; sg[r] = 0; svv[r] = 0; sgg[r] = 0; svg[r] = 0; }
    }
    for (let r = 0; r < this.nRuns; r++) {
      const root = this.find(r);
      if (runPix[root] < minBlob) continue;
      let a = 0; let c = 0; let aa = 0; let cc = 0; let ac = 0;
      for (let i = runY[r] * w + runS[r], end = runY[r] * w + runE[r]; i <= end; i++) {
        if (raw[i] === 0) continue;
        const v = b[i];
        const g = bg[i];
        a += v; c += g; aa += v * v; cc += g * g; ac += v * g;
      }
      sv[root] += a; sg[root] += c; svv[root] += aa; sgg[root] += cc; svg[root] += ac;
    }
  }

  /**
   * Light-change rule: under a shadow or a patch of sun the scene keeps its texture, only
   * darker or brighter, so the new pixels correlate with the background; an object replaces it.
   * A blob over a featureless background cannot be told apart and counts.
   */
  private isLight(root: number): boolean {
    const limit = this.cfg.shadowCorrelation;
    if (limit >= 1) return false;
    const n = this.runPix[root];
    if (n < 16) return false;
    const mv = this.sv[root] / n;
    const mg = this.sg[root] / n;
    const varV = this.svv[root] / n - mv * mv;
    const varG = this.sgg[root] / n - mg * mg;
    if (varG < 16 || varV < 4) return false;
    const corr = (this.svg[root] / n - mv * mg) / Math.sqrt(varV * varG);
    return corr >= limit;
  }

  /** Zones with an own minArea are judged on the counted pixels inside them; the rest on minArea over the watched area. */
  private zoneRule(minBlob: number): { motion: boolean; zoneBits: number } {
    const { runS, runE, runY, runPix, raw, zoneMap: zm, zoneCount } = this;
    const zones = this.cfg.zones;
    const plain = this.plainZones;
    const w = this.width;
    zoneCount.fill(0);
    let plainCount = 0;
    let plainBits = 0;
    for (let r = 0; r < this.nRuns; r++) {
      const root = this.find(r);
      if (runPix[root] < minBlob || this.isLight(root)) continue;
      for (let i = runY[r] * w + runS[r], end = runY[r] * w + runE[r]; i <= end; i++) {
        if (raw[i] === 0) continue;
        const bits = zm[i];
        if (bits & plain) { plainCount++; plainBits |= bits & plain; }
        const ownBits = bits & ~plain;
        if (ownBits) for (let z = 0; z < zones.length; z++) if (ownBits & (1 << z)) zoneCount[z]++;
      }
    }
    let zoneBits = 0;
    let motion = false;
    if (plainCount > 0 && plainCount / this.activeCount >= this.cfg.minArea) { motion = true; zoneBits |= plainBits; }
    for (let z = 0; z < zones.length; z++) {
      const min = zones[z].minArea;
      if (min === undefined || zoneCount[z] === 0 || this.zoneArea[z] === 0) continue;
      if (zoneCount[z] / this.zoneArea[z] >= min) { motion = true; zoneBits |= 1 << z; }
    }
    return { motion, zoneBits: zoneBits >>> 0 };
  }

  /** Shrink and blur the frame into `blurred`. */
  private smooth(data: Uint8Array): void {
    if (this.scale === 2 && this.cfg.blur === 2 && LITTLE_ENDIAN && this.frameW % 4 === 0 && data.byteOffset % 4 === 0 && this.width >= 2) {
      this.shrink2blur2(data);
    } else {
      this.blur(this.scale > 1 ? this.shrink(data) : data);
    }
  }

  /** Sums of 2×2 blocks of working row y (frame rows 2y, 2y+1), four pixels per 32-bit load. */
  private blockSums(words: Uint32Array, src: Uint8Array, y: number, out: Uint16Array): void {
    const fw = this.frameW;
    const w = this.width;
    const wordsPerRow = fw >> 2;
    let i = 2 * y * wordsPerRow;
    let j = i + wordsPerRow;
    const pairs = w >> 1;
    for (let x = 0, o = 0; x < pairs; x++, i++, j++, o += 2) {
      const a = words[i];
      const b = words[j];
      // Pair sums land in two 16-bit lanes; the two rows are added lane-wise.
      const sum = (a & 0x00ff00ff) + ((a >>> 8) & 0x00ff00ff) + (b & 0x00ff00ff) + ((b >>> 8) & 0x00ff00ff);
      out[o] = sum & 0xffff;
      out[o + 1] = sum >>> 16;
    }
    if (w & 1) {
      const r0 = 2 * y * fw + 2 * (w - 1);
      out[w - 1] = src[r0] + src[r0 + 1] + src[r0 + fw] + src[r0 + fw + 1];
    }
  }

  /**
   * The default path in one pass: 2×2 block sums of two working rows, then a 2×2 box
   * over them, i.e. a 4×4 average of the frame every 2 pixels (last row and column repeated).
   */
  private shrink2blur2(src: Uint8Array): void {
    const w = this.width;
    const h = this.height;
    const words = new Uint32Array(src.buffer, src.byteOffset, (this.frameW * this.frameH) >> 2);
    let a = this.sumRowA;
    let b = this.sumRowB;
    const out = this.blurred;
    this.blockSums(words, src, 0, a);
    for (let y = 0, row = 0; y < h; y++, row += w) {
      if (y + 1 < h) this.blockSums(words, src, y + 1, b);
      else b.set(a);
      const last = w - 1;
      let left = a[0] + b[0];
      for (let x = 0; x < last; x++) {
        const right = a[x + 1] + b[x + 1];
        out[row + x] = (left + right + 8) >> 4;
        left = right;
      }
      out[row + last] = (2 * left + 8) >> 4;
      const t = a; a = b; b = t;
    }
  }

  /** Averages scale×scale blocks of the frame into `small`. */
  private shrink(src: Uint8Array): Uint8Array {
    const k = this.scale;
    const w = this.width;
    const h = this.height;
    const fw = this.frameW;
    const out = this.small;
    if (k === 2) {
      for (let y = 0, o = 0; y < h; y++) {
        let i = 2 * y * fw;
        let j = i + fw;
        for (let x = 0; x < w; x++, o++, i += 2, j += 2) out[o] = (src[i] + src[i + 1] + src[j] + src[j + 1] + 2) >> 2;
      }
      return out;
    }
    const area = k * k;
    for (let y = 0, o = 0; y < h; y++) {
      for (let x = 0; x < w; x++, o++) {
        let s = 0;
        for (let dy = 0; dy < k; dy++) {
          const row = (y * k + dy) * fw + x * k;
          for (let dx = 0; dx < k; dx++) s += src[row + dx];
        }
        out[o] = ((s + (area >> 1)) / area) | 0;
      }
    }
    return out;
  }

  /** Box blur of cfg.blur × cfg.blur pixels (1 = none, 2, or odd), replicated borders, integer sums; result in `blurred`. */
  private blur(src: Uint8Array): void {
    const w = this.width;
    const h = this.height;
    const size = this.cfg.blur;
    const out0 = this.blurred;
    if (size <= 1 || w < 2 || h < 2) {
      out0.set(src);
      return;
    }
    if (size === 2) {
      for (let y = 0, row = 0; y < h; y++, row += w) {
        const down = y < h - 1 ? row + w : row;
        const last = w - 1;
        for (let x = 0; x < last; x++) out0[row + x] = (src[row + x] + src[row + x + 1] + src[down + x] + src[down + x + 1] + 2) >> 2;
        out0[row + last] = (2 * (src[row + last] + src[down + last]) + 2) >> 2;
      }
      return;
    }
    const r = (size - 1) >> 1;
    const hs = this.hsum;
    if (r === 1) {
      // 3×3, without running sums: fewer loads and stores per pixel.
      for (let y = 0, row = 0; y < h; y++, row += w) {
        const end = row + w - 1;
        hs[row] = 2 * src[row] + src[row + 1];
        for (let i = row + 1; i < end; i++) hs[i] = src[i - 1] + src[i] + src[i + 1];
        hs[end] = src[end - 1] + 2 * src[end];
      }
      const out = this.blurred;
      for (let y = 0, row = 0; y < h; y++, row += w) {
        const up = y > 0 ? row - w : row;
        const down = y < h - 1 ? row + w : row;
        for (let x = 0; x < w; x++) out[row + x] = ((hs[up + x] + hs[row + x] + hs[down + x]) * 7281 + 32768) >>> 16;
      }
      return;
    }
    // Horizontal running sums. The three loops avoid bounds tests per pixel.
    for (let y = 0, row = 0; y < h; y++, row += w) {
      const first = src[row];
      const last = src[row + w - 1];
      let s = first * (r + 1);
      for (let k = 1; k <= r; k++) s += k < w ? src[row + k] : last;
      let x = 0;
      const lead = Math.min(r + 1, w);
      for (; x < lead; x++) { // left part: the outgoing pixel is the replicated first one
        hs[row + x] = s;
        s += (x + r + 1 < w ? src[row + x + r + 1] : last) - first;
      }
      const mid = w - r - 1;
      for (; x < mid; x++) {
        hs[row + x] = s;
        s += src[row + x + r + 1] - src[row + x - r];
      }
      for (; x < w; x++) { // right part: the incoming pixel is the replicated last one
        hs[row + x] = s;
        s += last - src[row + x - r];
      }
    }
    // Vertical running sums over the horizontal ones, then scale back to 0..255.
    const cs = this.colSum;
    const out = this.blurred;
    const mul = Math.floor(65536 / ((2 * r + 1) * (2 * r + 1)));
    const lastRow = (h - 1) * w;
    for (let x = 0; x < w; x++) {
      let s = hs[x] * (r + 1);
      for (let k = 1; k <= r; k++) s += hs[Math.min(k, h - 1) * w + x];
      cs[x] = s;
    }
    for (let y = 0, row = 0; y < h; y++, row += w) {
      const addRow = y + r + 1 < h ? (y + r + 1) * w : lastRow;
      const subRow = y - r > 0 ? (y - r) * w : 0;
      for (let x = 0; x < w; x++) {
        const s = cs[x];
        out[row + x] = (s * mul + 32768) >>> 16;
        cs[x] = s + hs[addRow + x] - hs[subRow + x];
      }
    }
  }

  /**
   * How the whole picture's brightness moved against the background: per band of
   * background brightness, the median difference; then a weighted line through
   * those medians, diff ≈ a·bg + b. Medians per band ignore moving objects (a
   * minority of each band); the line covers offsets (brightness), gains (a light,
   * exposure) and mixtures, so a global change is explained rather than reported.
   */
  private toneFit(): void {
    const w = this.width;
    const h = this.height;
    const b = this.blurred;
    const bg = this.bg;
    const seen = this.seen;
    const hist = this.hist;
    const bandSum = this.bandSum;
    const count = this.bandCount;
    hist.fill(0);
    bandSum.fill(0);
    count.fill(0);
    // Every 4th pixel of every other row: a statistic of the whole picture needs no more.
    let samples = 0;
    for (let y = 0; y < h; y += 2) {
      const end = y * w + w;
      for (let i = y * w + (y & 2); i < end; i += 4) {
        if (seen[i] === 0) continue;
        const g = bg[i];
        const band = (g | 0) >> 4;
        hist[band * 511 + ((b[i] - g) | 0) + 255]++;
        bandSum[band] += g;
        count[band]++;
        samples++;
      }
    }
    const minCount = Math.max(8, samples * 0.005);
    const med = this.bandMedian;
    const level = this.bandLevel;
    for (let k = 0; k < 16; k++) {
      const total = count[k];
      if (total < minCount) { count[k] = 0; continue; }
      level[k] = bandSum[k] / total;
      const base = k * 511;
      const half = total / 2;
      let acc = 0;
      let j = 0;
      for (; j < 511; j++) { acc += hist[base + j]; if (acc >= half) break; }
      med[k] = j - 255;
    }
    this.fitLine(-1);
    // Once more without the bands the line does not explain (an object filling most of one band).
    this.fitLine(this.cfg.threshold / 2);
  }

  private fitLine(maxResidual: number): void {
    const { bandMedian: med, bandLevel: level, bandCount: count } = this;
    let sw = 0; let sx = 0; let sy = 0;
    const use = (k: number): boolean => count[k] > 0 && (maxResidual < 0 || Math.abs(med[k] - (this.slope * level[k] + this.shift)) <= maxResidual);
    for (let k = 0; k < 16; k++) if (use(k)) { sw += count[k]; sx += count[k] * level[k]; sy += count[k] * med[k]; }
    if (sw === 0) { if (maxResidual < 0) { this.slope = 0; this.shift = 0; } return; }
    const mx = sx / sw;
    const my = sy / sw;
    let sxx = 0; let sxy = 0;
    for (let k = 0; k < 16; k++) if (use(k)) { const dx = level[k] - mx; sxx += count[k] * dx * dx; sxy += count[k] * dx * (med[k] - my); }
    // A picture of (nearly) one brightness says nothing about gain: offset only.
    const slope = sxx > sw * 64 ? sxy / sxx : 0;
    this.slope = slope;
    this.shift = my - slope * mx;
    let worst = 0;
    for (let k = 0; k < 16; k++) if (count[k] > 0) worst = Math.max(worst, Math.abs(slope * level[k] + this.shift));
    this.maxShift = worst;
  }

  /**
   * Row light compensation. Mains flicker on a rolling shutter (a lamp beating against the frame
   * rate) darkens whole rows at once, by a factor that drifts down the picture. Per row, the median
   * of frame / expected background over about ROW_SAMPLES pixels is that factor, whatever a person
   * covering a few columns does to the row. Rows that do not change, or change both ways, or whose
   * unchanged pixels are lit as before, are left alone. It is used only where it is one gain: the middle half of the row's
   * ratios within ROW_SPREAD of it, 3/4 of the samples within half the threshold of it, at most half
   * as many changed as before (a shadow over part of a row, or an object filling it, is not one gain);
   * and at most rowLight times darker or brighter. Returns the number of rows with a gain of their own.
   */
  private rowLight(): number {
    const rowGain = this.rowGain;
    rowGain.fill(1);
    const max = this.cfg.rowLight;
    if (max <= 1) return 0;
    let rows = 0;
    const w = this.width;
    const h = this.height;
    const gain = 1 + this.slope;
    const shift = this.shift;
    // The whole picture (masks aside): flicker is a property of the light, not of the zones.
    const { blurred: b, bg, seen: act, thrMap, ratioHist: hist } = this;
    const lo = 1 / max;
    const scale = (RATIO_BINS - 1) / (max - lo);
    const step = Math.max(2, Math.round(w / ROW_SAMPLES));
    const all = this.seenCount === w * h;
    for (let y = 0, row = 0; y < h; y++, row += w) {
      const end = row + w;
      const first = row + y % step;
      // First: does the row change at all? (Most rows of a quiet scene do not: no more work for them.)
      // A gain darkens (or brightens) every changed pixel of the row alike: both ways at once is not one gain.
      // The unchanged samples tell whether the row as a whole is lit differently: a row with a person
      // in it and no light change is skipped here, before the histogram.
      let darker = 0;
      let brighter = 0;
      let quiet = 0;
      let sumE = 0;
      let sumEx = 0;
      for (let i = first; i < end; i += step) {
        if (!all && act[i] === 0) continue;
        const ex = gain * bg[i] + shift;
        const e = b[i] - ex;
        const t = thrMap[i];
        if (e > t) brighter++;
        else if (e < -t) darker++;
        else { quiet++; sumE += e; sumEx += ex; }
      }
      const before = darker + brighter;
      if (before === 0 || 4 * Math.min(darker, brighter) > before) continue;
      if (before < quiet && Math.abs(sumE) < ROW_LIT * sumEx) continue;
      hist.fill(0);
      let n = 0;
      for (let i = first; i < end; i += step) {
        const ex = gain * bg[i] + shift;
        if (ex < RATIO_MIN_LEVEL || act[i] === 0) continue;
        let k = ((b[i] / ex - lo) * scale) | 0;
        if (k < 0) k = 0; else if (k >= RATIO_BINS) k = RATIO_BINS - 1;
        hist[k]++;
        n++;
      }
      if (n < RATIO_MIN_SAMPLES) continue;
      // Quartiles and median of the ratio: one light gain is a narrow peak; a shadow over part of the
      // row (two gains) or an object filling it (any ratio) is spread out.
      let acc = 0;
      let k = 0;
      let q1 = -1;
      let q2 = -1;
      let below = 0;
      for (; k < RATIO_BINS; k++) {
        acc += hist[k];
        if (q1 < 0 && 4 * acc >= n) q1 = k;
        if (q2 < 0 && 2 * acc >= n) { q2 = k; below = acc - hist[k]; }
        if (4 * acc >= 3 * n) break;
      }
      if (q2 <= 0 || q2 >= RATIO_BINS - 1) continue; // beyond rowLight either way: not a gain we allow
      // The median inside its bin, by the share of the bin's samples below it.
      const r = lo + (q2 + (n / 2 - below) / hist[q2]) / scale;
      if ((k - q1) / scale > ROW_SPREAD * r) continue;
      const gainR = r * gain;
      const shiftR = r * shift;
      let after = 0;
      let loose = 0;
      for (let i = first; i < end; i += step) {
        if (act[i] === 0) continue;
        const e = b[i] - gainR * bg[i] - shiftR;
        const t = thrMap[i];
        if (e > t || e < -t) after++;
        if (2 * e > t || 2 * e < -t) loose++;
      }
      if (2 * after <= before && 4 * loose <= n) { rowGain[y] = r; rows++; }
    }
    return rows;
  }

  /**
   * raw = |blurred - expected| > threshold on watched pixels (expected from the tone fit); updates the background.
   * Changed pixels seen outside the zones learn as those inside do and are counted in changedOutside.
   */
  private threshold(): number {
    const w = this.width;
    const h = this.height;
    const thr = this.cfg.threshold;
    const thrMap = this.thrMap;
    const cols = this.cols;
    const blockPix = this.blockPix;
    blockPix.fill(0);
    const gain = 1 + this.slope;
    const shift = this.shift;
    const lr = this.cfg.learningRate;
    const lrFg = this.cfg.foregroundLearningRate;
    const raw = this.raw;
    const act = this.active;
    const seen = this.seen;
    const bg = this.bg;
    const b = this.blurred;
    const p = this.previous;
    const still = thr >> 1;
    const stillFor = this.stillFor;
    const rowCount = this.rowCount;
    let total = 0;
    let outside = 0;
    const all = this.seenCount === w * h;
    const zonesAll = this.activeCount === this.seenCount;
    const rowGain = this.rowGain;
    for (let y = 0, row = 0; y < h; y++, row += w) {
      let count = 0;
      const end = row + w;
      const blockRow = (y >> 3) * cols;
      // Expected pixel: the tone fit times the row's light gain.
      const rg = rowGain[y];
      const gainY = rg * gain;
      const shiftY = rg * shift;
      for (let i = row; i < end; i++) {
        const v = b[i];
        const g = bg[i];
        const e = v - gainY * g - shiftY;
        const t = thrMap[i];
        if ((e <= t && e >= -t) || (!all && seen[i] === 0)) {
          raw[i] = 0;
          stillFor[i] = 0;
          bg[i] = g + lr * (v - g);
          continue;
        }
        if (zonesAll || act[i] !== 0) {
          raw[i] = 1;
          count++;
          blockPix[blockRow + ((i - row) >> 3)]++;
        } else {
          raw[i] = 0;
          outside++;
        }
        // Changed pixels learn slowly, so a passing object leaves no trail; but changed pixels that stay
        // the same for STILL_FRAMES frames (an object that stopped, or the ghost of one that was in the
        // first frame) learn at the normal rate and fade into the background.
        const d = v - p[i];
        const n = d <= still && d >= -still ? stillFor[i] + 1 : 0;
        stillFor[i] = n > 255 ? 255 : n;
        bg[i] = g + (n >= STILL_FRAMES ? lr : lrFg) * (v - g);
      }
      rowCount[y] = count;
      total += count;
    }
    this.changedOutside = outside;
    return total;
  }

  private growRuns(min: number): void {
    const cap = Math.max(min, this.runCap * 2, 256);
    const grow = <T extends Int32Array | Uint32Array>(a: T, make: (n: number) => T): T => { const b = make(cap); b.set(a); return b; };
    this.runX0 = grow(this.runX0, (n) => new Int32Array(n));
    this.runX1 = grow(this.runX1, (n) => new Int32Array(n));
    this.runY = grow(this.runY, (n) => new Int32Array(n));
    this.runY1 = grow(this.runY1, (n) => new Int32Array(n));
    this.runPix = grow(this.runPix, (n) => new Int32Array(n));
    this.runZones = grow(this.runZones, (n) => new Uint32Array(n));
    this.parent = grow(this.parent, (n) => new Int32Array(n));
    this.runS = grow(this.runS, (n) => new Int32Array(n));
    this.runE = grow(this.runE, (n) => new Int32Array(n));
    const f64 = (a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => { const b = new Float64Array(cap); b.set(a); return b; };
    this.sv = f64(this.sv); this.sg = f64(this.sg); this.svv = f64(this.svv); this.sgg = f64(this.sgg); this.svg = f64(this.svg);
    this.runCap = cap;
  }

  private find(i: number): number {
    const p = this.parent;
    while (p[i] !== i) {
      p[i] = p[p[i]];
      i = p[i];
    }
    return i;
  }

  /**
   * Connected components on runs. Dilation by d is folded into the connectivity:
   * changed pixels up to 2d+1 apart (in x and y) join, which is what a (2d+1)²
   * dilation followed by 8-connected labelling gives, without touching the unchanged rows.
   */
  private components(): void {
    const w = this.width;
    const h = this.height;
    const raw = this.raw;
    const zm = this.zoneMap;
    const gapMax = 2 * this.cfg.dilate;
    const reach = gapMax + 1;
    const first = this.rowFirstRun;
    let nRuns = 0;
    for (let y = 0, row = 0; y < h; y++, row += w) {
      first[y] = nRuns;
      if (this.rowCount[y] === 0) continue;
      let x = 0;
      while (x < w) {
        if (raw[row + x] === 0) { x++; continue; }
        const x0 = x;
        let x1 = x;
        let pix = 0;
        let zones = 0;
        let gap = 0;
        for (; x < w; x++) {
          const i = row + x;
          if (raw[i] !== 0) {
            x1 = x;
            pix++;
            zones |= zm[i];
            gap = 0;
          } else if (++gap > gapMax) break;
        }
        if (nRuns >= this.runCap) this.growRuns(nRuns + 1);
        const r = nRuns++;
        this.runX0[r] = x0;
        this.runX1[r] = x1;
        this.runS[r] = x0;
        this.runE[r] = x1;
        this.runY[r] = y;
        this.runY1[r] = y;
        this.runPix[r] = pix;
        this.runZones[r] = zones;
        this.parent[r] = r;
        // Join with runs of the rows above within reach.
        const fromRow = Math.max(0, y - reach);
        for (let s = first[fromRow]; s < first[y]; s++) {
          if (this.runX0[s] <= x1 + reach && x0 <= this.runX1[s] + reach) {
            const a = this.find(s);
            const c = this.find(r);
            if (a !== c) this.parent[Math.max(a, c)] = Math.min(a, c);
          }
        }
      }
    }
    first[h] = nRuns;
    // Sum each set into its root (the smallest index of the set, so it comes first and
    // is never read again as a member): bounds, pixels, zones; y0 of the root is the top.
    const { runX0, runX1, runY1, runPix, runZones } = this;
    for (let r = 0; r < nRuns; r++) {
      const root = this.find(r);
      if (root === r) continue;
      if (runX0[r] < runX0[root]) runX0[root] = runX0[r];
      if (runX1[r] > runX1[root]) runX1[root] = runX1[r];
      if (runY1[r] > runY1[root]) runY1[root] = runY1[r];
      runPix[root] += runPix[r];
      runZones[root] |= runZones[r];
    }
    this.nRuns = nRuns;
  }
}
