// One object model per process, shared by every camera: a worker thread (detector-worker.ts) that
// starts on the first acquire and ends when the last handle is released, so a redeploy leaves no
// thread. Looks queue here, one in the worker at a time; a look that waited longer than its
// maxWaitMs is dropped (StaleLook) rather than answered late, so the queue never falls behind.
import { resolve as resolvePath, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DEFAULT_MODEL_DIR, INPUT_SIZE } from './centernet';
import type { FromWorker, ToWorker, WorkerData } from './detector-worker';
import { checkImage } from './letterbox';
import { ObjectModelMissing, StaleLook, type Detection, type ObjectDetector, type RgbImage } from './types';

export const DEFAULT_MIN_SCORE = 0.5;
export const DEFAULT_MAX_WAIT_MS = 1000;

export interface DetectorHandle extends ObjectDetector {
  /**
   * Objects in `img`, best first. The pixels go to the worker without a copy when `img.data` spans
   * its whole ArrayBuffer: that buffer is then transferred (img.data reads empty afterwards).
   */
  detect(img: RgbImage, opts?: { minScore?: number; maxWaitMs?: number }): Promise<Detection[]>;
  /** Resolves when the model is loaded; rejects with ObjectModelMissing when it cannot be. */
  ready(): Promise<void>;
  /** Ends this handle: its pending looks reject; the last release ends the worker. Idempotent. */
  release(): void;
  readonly released: boolean;
}

export interface AcquireOptions {
  /** Folder with centernet.json + centernet.bin (default: the package's models/centernet). */
  modelDir?: string;
  /**
   * Square input the model runs at, a multiple of 32 (default 512): 320 is ~2x faster and needs less
   * memory, enough for crops around motion. One model per size and folder: cameras asking the same share it.
   */
  inputSize?: number;
}

export interface DetectorInfo {
  /** threadId of the worker, while one runs. */
  threadId?: number;
  /** How long the current worker took from start to a loaded model, ms. */
  loadMs?: number;
  handles: number;
  /** Time the worker spent on the last look (letterbox + model), ms. */
  lastLookMs?: number;
}

interface Look {
  id: number;
  handle: Handle;
  img: RgbImage;
  minScore: number;
  maxWaitMs: number;
  /** performance.now() when detect() was called. */
  sent: number;
  timer?: NodeJS.Timeout;
  settled: boolean;
  resolve: (d: Detection[]) => void;
  reject: (e: Error) => void;
}

const WORKER_FILE = join(__dirname, 'detector-worker.js');
/**
 * The worker's JS heap stays small (the model and its tensors live in wasm memory): a small young
 * generation saves ~5 MB of RSS; a runaway heap ends the worker (the looks reject), not Node-RED.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 256 };

class Runner {
  readonly handles = new Set<Handle>();
  private worker?: Worker;
  private loaded?: Promise<void>;
  private loadedSettle?: { resolve: () => void; reject: (e: Error) => void };
  private isReady = false;
  private loadMs?: number;
  private lastLookMs?: number;
  /** Why the model could not load; sticky until the last handle goes (reinstall, then redeploy). */
  private failure?: Error;
  private readonly queue: Look[] = [];
  private busy?: Look;
  private nextId = 1;

  constructor(readonly key: string, readonly modelDir: string, readonly inputSize: number | undefined) {}

  info(): DetectorInfo {
    return { threadId: this.worker?.threadId, loadMs: this.isReady ? this.loadMs : undefined, handles: this.handles.size, lastLookMs: this.lastLookMs };
  }

  ready(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.worker) this.start();
    return this.loaded ?? Promise.reject(new Error('object detector did not start'));
  }

  /** Starts the worker; an Error when no thread could be had (the next look tries again). */
  start(): Error | undefined {
    this.isReady = false;
    this.loadMs = undefined;
    this.loaded = new Promise<void>((resolve, reject) => { this.loadedSettle = { resolve, reject }; });
    this.loaded.catch(() => { /* seen through ready() and the looks */ });
    const data: WorkerData = { modelDir: this.modelDir, inputSize: this.inputSize };
    let w: Worker;
    try {
      w = new Worker(WORKER_FILE, { workerData: data, name: 'mantis-objects', resourceLimits: WORKER_LIMITS });
    } catch (err) {
      // No thread to be had (e.g. out of resources): this start fails like a crashed worker.
      const failed = new Error(`object detector worker did not start: ${(err as Error).message}`);
      this.loadedSettle?.reject(failed);
      this.loadedSettle = undefined;
      return failed;
    }
    this.worker = w;
    w.on('message', (m: FromWorker) => this.onMessage(w, m));
    w.on('error', (err: Error) => this.onStopped(w, new Error(`object detector worker failed: ${err.message}`)));
    w.on('exit', (code: number) => this.onStopped(w, new Error(`object detector worker stopped (exit code ${code}); the next look starts a new one`)));
    return undefined;
  }

  detect(handle: Handle, img: RgbImage, opts: { minScore?: number; maxWaitMs?: number } = {}): Promise<Detection[]> {
    if (handle.released) return Promise.reject(new Error('object detector handle released'));
    if (this.failure) return Promise.reject(this.failure);
    try {
      checkImage(img);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const failed = this.worker ? undefined : this.start();
    if (failed) return Promise.reject(failed);
    const maxWaitMs = Math.max(0, opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
    return new Promise<Detection[]>((resolve, reject) => {
      const look: Look = {
        id: this.nextId++, handle, img, minScore: opts.minScore ?? DEFAULT_MIN_SCORE, maxWaitMs,
        sent: performance.now(), settled: false, resolve, reject,
      };
      look.timer = setTimeout(() => this.expire(look), maxWaitMs);
      this.queue.push(look);
      this.worker?.ref(); // a pending look keeps the process alive; an idle detector does not
      this.pump();
    });
  }

  release(handle: Handle): void {
    this.handles.delete(handle);
    const gone = new Error('object detector handle released');
    for (const look of this.queue.filter((l) => l.handle === handle)) this.drop(look, gone);
    if (this.busy?.handle === handle) this.settle(this.busy, gone); // its answer is ignored when it comes
    if (this.handles.size > 0) return;
    runners.delete(this.key);
    for (const look of [...this.queue]) this.drop(look, gone);
    this.stop();
  }

  /** Ends the worker the way a crash would (tests, diagnostics): pending looks reject, the next look starts a new one. */
  kill(): Promise<void> {
    const w = this.worker;
    if (!w) return Promise.resolve();
    return new Promise<void>((resolve) => {
      w.once('exit', () => resolve());
      w.terminate().catch(() => resolve());
    });
  }

  private stop(): void {
    const w = this.worker;
    this.worker = undefined;
    this.busy = undefined;
    this.isReady = false;
    this.failure = undefined;
    this.loadedSettle?.reject(new Error('object detector released'));
    this.loadedSettle = undefined;
    w?.terminate().catch(() => { /* already gone */ });
  }

  private onMessage(w: Worker, m: FromWorker): void {
    if (w !== this.worker) return;
    switch (m.type) {
      case 'ready':
        this.isReady = true;
        this.loadMs = m.loadMs;
        this.loadedSettle?.resolve();
        this.loadedSettle = undefined;
        this.pump();
        break;
      case 'failed': {
        const err = m.missing ? new ObjectModelMissing(m.message) : new Error(`object model did not load: ${m.message}`);
        this.failure = err;
        this.loadedSettle?.reject(err);
        this.loadedSettle = undefined;
        for (const look of [...this.queue]) this.drop(look, err);
        this.worker = undefined; // no idle thread for a model that cannot run
        w.terminate().catch(() => { /* already gone */ });
        break;
      }
      case 'result':
      case 'error': {
        const look = this.busy;
        if (!look || look.id !== m.id) return;
        this.busy = undefined;
        if (m.type === 'result') {
          this.lastLookMs = m.ms;
          this.settle(look, undefined, m.detections);
        }
        else this.settle(look, new Error(`object detection failed: ${m.message}`));
        this.pump();
        break;
      }
    }
  }

  private onStopped(w: Worker, err: Error): void {
    if (w !== this.worker) return;
    this.worker = undefined;
    this.isReady = false;
    this.loadedSettle?.reject(err);
    this.loadedSettle = undefined;
    if (this.busy) this.settle(this.busy, err);
    this.busy = undefined;
    for (const look of [...this.queue]) this.drop(look, err);
  }

  private pump(): void {
    const w = this.worker;
    if (!w || !this.isReady || this.busy) return this.idle();
    while (this.queue.length > 0) {
      const look = this.queue.shift() as Look;
      clearTimeout(look.timer);
      // Whole ms: a look sent to an idle worker at once has waited 0 ms, even with maxWaitMs 0.
      if (Math.floor(performance.now() - look.sent) > look.maxWaitMs) {
        this.settle(look, stale(look));
        continue;
      }
      if (!this.send(w, look)) continue;
      this.busy = look;
      return;
    }
    this.idle();
  }

  /** Hands the look to the worker; false when it could not be posted (the look is rejected). */
  private send(w: Worker, look: Look): boolean {
    const { data, width, height } = look.img;
    const bytes = width * height * 3;
    // Zero copy when the view is its buffer's only content; else copy the pixels into one that is.
    const own = data.byteOffset === 0 && data.byteLength === bytes && data.buffer.byteLength === bytes
      && !(data.buffer instanceof SharedArrayBuffer);
    const msg: ToWorker = { type: 'detect', id: look.id, width, height, data: own ? data : data.slice(0, bytes), minScore: look.minScore };
    try {
      w.postMessage(msg, [msg.data.buffer as ArrayBuffer]);
      return true;
    } catch {
      // A buffer Node does not let go of (e.g. from its pool): send a copy instead.
    }
    try {
      w.postMessage({ ...msg, data: data.slice(0, bytes) });
      return true;
    } catch (err) {
      this.settle(look, new Error(`object detector: the look could not be sent (${(err as Error).message})`));
      return false;
    }
  }

  /** An idle, loaded detector does not keep the process alive (a loading one does: someone waits for it). */
  private idle(): void {
    if (this.isReady && this.queue.length === 0 && !this.busy) this.worker?.unref();
  }

  private expire(look: Look): void {
    const i = this.queue.indexOf(look);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.settle(look, stale(look));
    this.idle();
  }

  private drop(look: Look, err: Error): void {
    const i = this.queue.indexOf(look);
    if (i >= 0) this.queue.splice(i, 1);
    this.settle(look, err);
  }

  private settle(look: Look, err?: Error, detections?: Detection[]): void {
    clearTimeout(look.timer);
    if (look.settled) return;
    look.settled = true;
    if (err) look.reject(err);
    else look.resolve(detections ?? []);
  }
}

const stale = (look: Look): StaleLook =>
  new StaleLook(`look dropped: waited more than ${look.maxWaitMs} ms for the object detector`);

class Handle implements DetectorHandle {
  released = false;
  constructor(private readonly runner: Runner) {}
  detect(img: RgbImage, opts?: { minScore?: number; maxWaitMs?: number }): Promise<Detection[]> {
    return this.runner.detect(this, img, opts);
  }
  ready(): Promise<void> {
    if (this.released) return Promise.reject(new Error('object detector handle released'));
    return this.runner.ready();
  }
  release(): void {
    if (this.released) return;
    this.released = true;
    this.runner.release(this);
  }
}

const runners = new Map<string, Runner>();

const keyOf = (opts: AcquireOptions): string => `${resolvePath(opts.modelDir ?? DEFAULT_MODEL_DIR)}@${opts.inputSize ?? INPUT_SIZE}`;

/** A handle on the process's shared detector for these options (starts its worker if none runs). */
export function acquireDetector(opts: AcquireOptions = {}): DetectorHandle {
  const key = keyOf(opts);
  let runner = runners.get(key);
  if (!runner) {
    runner = new Runner(key, resolvePath(opts.modelDir ?? DEFAULT_MODEL_DIR), opts.inputSize);
    runners.set(key, runner);
  }
  const handle = new Handle(runner);
  runner.handles.add(handle);
  runner.ready().catch(() => { /* seen through ready() and the looks */ });
  return handle;
}

/** The shared detector's worker and handles (for status and the benchmark). */
export function detectorInfo(opts: AcquireOptions = {}): DetectorInfo {
  return runners.get(keyOf(opts))?.info() ?? { handles: 0 };
}

/** Ends the shared detector's worker as a crash would: pending looks reject, the next look starts a new worker. */
export function killDetectorWorker(opts: AcquireOptions = {}): Promise<void> {
  return runners.get(keyOf(opts))?.kill() ?? Promise.resolve();
}
