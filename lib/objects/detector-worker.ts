// Worker-thread entry of the shared detector (shared-detector.ts): the model lives here, so
// inference never blocks the Node-RED event loop. One look at a time; the queue is the parent's.
import { parentPort, workerData } from 'node:worker_threads';
import { loadCenterNet, type CenterNet } from './centernet';
import { ObjectModelMissing, type Detection } from './types';

export interface WorkerData { modelDir?: string; inputSize?: number }
export type ToWorker = { type: 'detect'; id: number; width: number; height: number; data: Uint8Array; minScore: number };
export type FromWorker =
  | { type: 'ready'; loadMs: number }
  | { type: 'failed'; missing: boolean; message: string }
  | { type: 'result'; id: number; detections: Detection[]; ms: number }
  | { type: 'error'; id: number; message: string };

const port = parentPort;
if (!port) throw new Error('detector-worker.js is a worker_threads entry, not a module to require');
const post = (m: FromWorker): void => port.postMessage(m);
const { modelDir, inputSize } = (workerData ?? {}) as WorkerData;

const started = performance.now();
const loading: Promise<CenterNet | undefined> = loadCenterNet(modelDir, { inputSize }).then(
  (model) => { post({ type: 'ready', loadMs: performance.now() - started }); return model; },
  (err: Error) => { post({ type: 'failed', missing: err instanceof ObjectModelMissing, message: err.message }); return undefined; },
);

port.on('message', (m: ToWorker) => {
  if (m.type !== 'detect') return;
  loading.then(async (model) => {
    if (!model) throw new Error('object model did not load');
    const t = performance.now();
    const detections = await model.detect({ data: m.data, width: m.width, height: m.height }, m.minScore);
    post({ type: 'result', id: m.id, detections, ms: performance.now() - t });
  }).catch((err: Error) => post({ type: 'error', id: m.id, message: err.message }));
});
