// The object model (CenterNet in TensorFlow.js wasm, in the shared detector's worker thread):
// ms per look at 512x512 and at the 320 crop size, with the machine's load beside them; RSS a
// process adds with the model loaded; worker start + model load; what object detection adds to
// the installed package (the install measured with and without the model and runtime).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Report } from './run';
import { installedSize } from './install';
import { acquireDetector, detectorInfo } from '../lib/objects/shared-detector';
import type { RgbImage } from '../lib/objects/types';
import { repoRoot, tempDir } from '../test/helpers/paths';
import { startNodeRedProcess } from '../test/helpers/node-red-process';
import { sleep } from '../test/helpers/processes';
import { median as medianOf, status } from './nodered';


const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const LOOKS = 21;

function frame(seconds: number): RgbImage {
  const out = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-ss', String(seconds), '-i', VTEST,
    '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 16 << 20 });
  return { data: new Uint8Array(out), width: 768, height: 576 };
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (v: number, d = 1): number => Number(v.toFixed(d));

/** A fresh Node process: RSS before and after a detector (one look done), and its start + load time. */
function childRss(inputSize: number): { addedMb: number; baseMb: number; startMs: number; loadMs: number } {
  const shared = join(__dirname, '..', 'lib', 'objects', 'shared-detector.js');
  const script = `
    const { acquireDetector, detectorInfo } = require(${JSON.stringify(shared)});
    const data = new Uint8Array(require('fs').readFileSync(0));
    setTimeout(async () => {
      const base = process.memoryUsage().rss;
      const t0 = performance.now();
      const det = acquireDetector({ inputSize: ${inputSize} });
      await det.ready();
      const startMs = performance.now() - t0;
      for (let i = 0; i < 3; i++) await det.detect({ data: data.slice(), width: 768, height: 576 }, { maxWaitMs: 600000 });
      await new Promise((r) => setTimeout(r, 500));
      console.log(JSON.stringify({ base, rss: process.memoryUsage().rss, startMs, loadMs: detectorInfo({ inputSize: ${inputSize} }).loadMs }));
      det.release();
    }, 200);`;
  const img = frame(5);
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { input: img.data, encoding: 'utf8', timeout: 300_000 }).trim()) as
    { base: number; rss: number; startMs: number; loadMs: number };
  return { addedMb: round((out.rss - out.base) / 1e6), baseMb: round(out.base / 1e6), startMs: Math.round(out.startMs), loadMs: Math.round(out.loadMs) };
}

/**
 * Node-RED 5 with the whole package installed and a bench-only node that, when its inject fires,
 * acquires the shared detector and makes 3 looks: VmRSS (median of 10 s of samples) before and after.
 */
export async function nodeRedRss(inputSize: number): Promise<{ beforeMb: number; afterMb: number }> {
  const userDir = tempDir('bench-objects-nodered');
  const frameFile = join(userDir, 'vtest.rgb');
  writeFileSync(frameFile, frame(5).data);
  const done = join(userDir, 'looked');
  mkdirSync(join(userDir, 'node_modules', '@mantis-alarm'), { recursive: true });
  symlinkSync(repoRoot, join(userDir, 'node_modules', '@mantis-alarm', 'node-red-mantis'));
  const bench = join(userDir, 'node_modules', 'mantis-bench-objects');
  mkdirSync(bench);
  writeFileSync(join(bench, 'package.json'), JSON.stringify({ name: 'mantis-bench-objects', version: '1.0.0', 'node-red': { nodes: { 'bench-objects': 'bench.js' } } }));
  writeFileSync(join(bench, 'bench.html'), '<script type="text/javascript">RED.nodes.registerType("bench-objects",{category:"function",defaults:{},inputs:1,outputs:0});</script>');
  writeFileSync(join(bench, 'bench.js'), `
    const fs = require('fs');
    const { acquireDetector } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'objects', 'shared-detector.js'))});
    module.exports = (RED) => {
      RED.nodes.registerType('bench-objects', function (config) {
        RED.nodes.createNode(this, config);
        let det;
        this.on('input', (msg, send, done) => {
          det ??= acquireDetector({ inputSize: ${inputSize} });
          const data = fs.readFileSync(${JSON.stringify(frameFile)});
          (async () => {
            for (let i = 0; i < 3; i++) await det.detect({ data: new Uint8Array(data), width: 768, height: 576 }, { maxWaitMs: 600000 });
            fs.writeFileSync(${JSON.stringify(done)}, 'ok');
          })().then(() => done(), done);
        });
        this.on('close', () => det?.release());
      });
    };`);
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify([
    { id: 'f1', type: 'tab', label: 'bench' },
    { id: 'i1', type: 'inject', z: 'f1', once: false, wires: [['b1']] },
    { id: 'b1', type: 'bench-objects', z: 'f1', wires: [] },
  ]));
  const { url, server } = await startNodeRedProcess(userDir, 'node-red');
  const rss = async (): Promise<number> => {
    const xs: number[] = [];
    for (let i = 0; i < 20; i++) {
      xs.push(status(server.pid!)?.VmRSS ?? NaN);
      await sleep(500);
    }
    return medianOf(xs) / 1024;
  };
  try {
    await sleep(5000); // the start settles
    const beforeMb = await rss();
    const res = await fetch(`${url}/inject/i1`, { method: 'POST' });
    if (!res.ok) throw new Error(`inject: ${res.status}`);
    const until = Date.now() + 300_000;
    while (!existsSync(done)) {
      if (server.exited || Date.now() > until) throw new Error(`no looks in Node-RED:\n${server.output}`);
      await sleep(200);
    }
    return { beforeMb: round(beforeMb), afterMb: round(await rss()) };
  } finally {
    await server.stop(10_000);
    rmSync(userDir, { recursive: true, force: true });
  }
}

export async function run(report: Report): Promise<void> {
  const img = frame(5);
  // 512: the whole 768x576 frame letterboxed; 320: a 280x180 crop around four walkers, as object-detect looks.
  const crop = new Uint8Array(280 * 180 * 3);
  for (let y = 0; y < 180; y++) crop.set(img.data.subarray(((150 + y) * 768 + 340) * 3, ((150 + y) * 768 + 620) * 3), y * 280 * 3);
  for (const [size, look] of [[512, img], [320, { data: crop, width: 280, height: 180 }]] as const) {
    const det = acquireDetector({ inputSize: size });
    try {
      await det.ready();
      const walls: number[] = [];
      const worker: number[] = [];
      const load: number[] = [];
      let persons = 0;
      for (let i = 0; i < LOOKS + 2; i++) {
        const t = performance.now();
        const found = await det.detect({ ...look, data: look.data.slice() }, { maxWaitMs: 600_000 });
        if (i < 2) continue; // warm-up (wasm tier-up, the heap growing to its size)
        walls.push(performance.now() - t);
        worker.push(detectorInfo({ inputSize: size }).lastLookMs ?? NaN);
        load.push(loadavg()[0]);
        persons = found.filter((d) => d.label === 'person' && d.score >= 0.5).length;
      }
      report({
        name: `object_look_ms_${size}x${size}`, value: round(median(walls)), unit: 'ms',
        worker_ms: round(median(worker)), p90_ms: round([...walls].sort((a, b) => a - b)[Math.floor(walls.length * 0.9)]),
        min_ms: round(Math.min(...walls)), looks: walls.length, loadavg_1m: round(median(load), 2), cores: cpus().length,
        image: `${look.width}x${look.height}`, persons_0_5: persons,
        measure: 'wall time of a look through the shared worker (transfer, letterbox, model), median; worker_ms: inside the worker',
      });
    } finally {
      det.release();
    }
  }

  for (const size of [512, 320]) {
    const r = childRss(size);
    report({ name: `object_model_added_rss_${size}`, value: r.addedMb, unit: 'MB', target: 80, base_mb: r.baseMb,
      measure: 'RSS of a fresh Node process after acquiring the detector and 3 looks, minus before' });
    report({ name: `object_worker_start_load_ms_${size}`, value: r.startMs, unit: 'ms', worker_load_ms: r.loadMs,
      measure: 'acquireDetector() to ready(): worker thread start, runtime, model files, graph' });
  }

  // Node-RED's RSS moves by ±10 MB with its collector: three runs per size, interleaved.
  const added: Record<number, number[]> = { 512: [], 320: [] };
  for (let i = 0; i < 3; i++) {
    for (const size of [512, 320]) {
      const r = await nodeRedRss(size);
      added[size].push(round(r.afterMb - r.beforeMb));
    }
  }
  for (const size of [512, 320]) {
    report({ name: `object_model_added_rss_nodered_${size}`, value: median(added[size]), unit: 'MB', target: 80, runs: added[size],
      measure: 'Node-RED 5, whole package installed: VmRSS (median of 10 s) after acquiring the detector and 3 looks, minus before; median of 3 runs' });
  }

  // The install both ways: the package as packed, and the same package without the model and runtime.
  const files = ['models/centernet/centernet.bin', 'models/centernet/centernet.json', 'dist/lib/vendor/tfjs.js',
    'dist/lib/vendor/tfjs-backend-wasm-simd.wasm', 'dist/lib/vendor/tfjs-backend-wasm.wasm'];
  const share = files.reduce((sum, f) => sum + statSync(join(repoRoot, f)).size, 0);
  const withObjects = installedSize();
  const bare = mkdtempSync(join(tmpdir(), 'mantis-bench-bare-'));
  try {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist', 'flows', 'examples', 'icons', 'scripts', 'models']) {
      cpSync(join(repoRoot, f), join(bare, f), { recursive: true, filter: (src) => !/vendor[\\/]tfjs|centernet\.(bin|json)$/.test(src) });
    }
    const without = installedSize(bare);
    report({ name: 'installed_size_with_object_detection', value: withObjects.mb, unit: 'MB', tarball_mb: withObjects.tarballMb, packages: withObjects.packages });
    report({ name: 'installed_size_without_object_detection', value: without.mb, unit: 'MB', tarball_mb: without.tarballMb, packages: without.packages,
      object_files_mb: round(share / 1e6, 2), measure: 'the same package without models/centernet and dist/lib/vendor/tfjs*' });
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
}
