// The TensorFlow.js runtime (tfjs-core + converter + the wasm backend): the same code and the same
// wasm on x86, arm64 and armv7. Installs carry it bundled (scripts/bundle-vendor.mjs writes
// dist/lib/vendor/tfjs.js and the .wasm files beside it), so the tfjs packages are build-time
// dependencies only; a checkout compiled by tsc alone falls back to the packages.
import { dirname, join } from 'node:path';
import type * as TfCore from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { ObjectModelMissing } from './types';

export interface TfRuntime {
  tf: typeof TfCore;
  GraphModel: typeof GraphModel;
  setWasmPaths: typeof setWasmPaths;
  /** Folder holding tfjs-backend-wasm*.wasm, with a trailing separator. */
  wasmDir: string;
}

type Bundle = Omit<TfRuntime, 'wasmDir'>;
type Listener = (...args: unknown[]) => void;
const HIJACKED: readonly string[] = ['uncaughtException', 'unhandledRejection'];

let runtime: Promise<TfRuntime> | undefined;

/** The runtime with its wasm backend started, once per thread. Rejects with ObjectModelMissing when absent. */
export function tfjs(): Promise<TfRuntime> {
  runtime ??= start().catch((err: unknown) => {
    runtime = undefined; // a later call may find it (e.g. after a build)
    throw err;
  });
  return runtime;
}

function requireRuntime(): TfRuntime {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bundle = require('../vendor/tfjs.js') as Bundle;
    return { ...bundle, wasmDir: join(__dirname, '..', 'vendor') + '/' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' || !/vendor[\\/]tfjs/.test((err as Error).message)) throw err;
  }
  try {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const tf = require('@tensorflow/tfjs-core') as typeof TfCore;
    const converter = require('@tensorflow/tfjs-converter') as { GraphModel: typeof GraphModel };
    const wasmMain = require.resolve('@tensorflow/tfjs-backend-wasm');
    const wasm = require('@tensorflow/tfjs-backend-wasm') as { setWasmPaths: typeof setWasmPaths };
    /* eslint-enable @typescript-eslint/no-require-imports */
    return { tf, GraphModel: converter.GraphModel, setWasmPaths: wasm.setWasmPaths, wasmDir: dirname(wasmMain) + '/' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new ObjectModelMissing('object detection runtime not installed (dist/lib/vendor/tfjs.js is missing): '
      + 'reinstall the package, or in a checkout run npm run build');
  }
}

async function start(): Promise<TfRuntime> {
  const rt = requireRuntime();
  // The wasm glue (emscripten) adds process-wide crash handlers when it starts: take them off again,
  // so a fault elsewhere is reported as itself (as lib/xmpp/libsignal.ts does for its emscripten code).
  const listeners = (e: string): Listener[] => (process.listeners as (e: string) => Listener[])(e);
  const before = HIJACKED.map((e) => new Set(listeners(e)));
  try {
    rt.setWasmPaths(rt.wasmDir);
    const ok = await rt.tf.setBackend('wasm');
    if (!ok) throw new ObjectModelMissing(`object detection runtime: the wasm backend did not start (files in ${rt.wasmDir})`);
    await rt.tf.ready();
  } finally {
    HIJACKED.forEach((e, i) => {
      for (const l of listeners(e)) if (!before[i].has(l)) process.removeListener(e, l);
    });
  }
  return rt;
}
