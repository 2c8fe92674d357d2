// object-detect redeployed 20 times in a real Node-RED process (red.js of Node-RED 4.1 and of 5),
// every fifth time looking at people with the real model before the next deploy, the others replaced
// while they start: afterwards no model
// worker thread, no ffmpeg, no file descriptor and no memory is left behind (read from /proc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { openComms, startNodeRedProcess, type NodeRedProcess } from './helpers/node-red-process';
import { vtestPiece } from './helpers/object-clips';

function flow(clip: string, i: number): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: `objects ${i}` },
    { id: 'cam', type: 'mantis-camera', name: `walkway${i}`, source: 'file', input: clip, width: 0, height: 0, fps: 0, detectWidth: 320, detectFps: 5 },
    { id: 'in', z: 'tab', type: 'camera-in', camera: 'cam', wires: [['md'], []] },
    { id: 'md', z: 'tab', type: 'motion-detect', threshold: 25, minArea: 0.3, minDuration: 0.4, endDelay: 2, updateInterval: 1, zones: '', masks: '', advanced: '', wires: [['od'], []] },
    { id: 'od', z: 'tab', type: 'object-detect', camera: 'cam', enabled: 'on', labels: 'person', interval: 0.5, wires: [[]] },
  ];
}

async function deploy(red: NodeRedProcess, nodes: unknown[]): Promise<void> {
  const r = await fetch(`${red.url}/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full', 'node-red-api-version': 'v2' },
    body: JSON.stringify({ flows: nodes }),
  });
  assert.equal(r.status, 200, await r.text());
}

interface Proc { threads: number; fds: number; rssMB: number; children: number[] }

function proc(pid: number): Proc {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  const children = readdirSync(`/proc/${pid}/task`).flatMap((t) => {
    try { return readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
  });
  return { threads: field('Threads'), fds: readdirSync(`/proc/${pid}/fd`).length, rssMB: field('VmRSS') / 1024, children };
}

for (const nodeRed of ['node-red-4', 'node-red']) {
  test(`${nodeRed === 'node-red' ? 'Node-RED 5' : 'Node-RED 4.1'}: 20 redeploys, some looking at people, some replaced while they start; nothing left behind`, async (t) => {
    const work = tempDir('objects-redeploy');
    mkdirSync(join(work, 'nodes'));
    for (const n of ['mantis-camera', 'camera-in', 'motion-detect', 'object-detect']) symlinkSync(join(repoRoot, 'dist', 'nodes', n), join(work, 'nodes', n));
    const clip = await vtestPiece(work, 5, 8);
    const red = await startNodeRedProcess(work, nodeRed);
    const comms = await openComms(red.url, ['status/#']);
    t.after(async () => { comms.close(); await red.server.stop(); });
    const pid = red.server.pid!;

    // What the process holds with an empty flow, before and after: the difference is what a deploy leaves.
    const empty = [{ id: 'tab', type: 'tab', label: 'empty' }];
    const settle = async (what: string): Promise<Proc> => {
      await deploy(red, empty);
      // The worker thread and the ffmpegs go once the nodes have closed.
      return waitFor(() => { const p = proc(pid); return p.children.length === 0 && p.threads <= base.threads ? p : undefined; }, 30_000, what);
    };
    await deploy(red, empty);
    const base = proc(pid);
    let afterFirst: Proc | undefined;
    for (let i = 1; i <= 20; i++) {
      const from = comms.messages.length;
      await deploy(red, flow(clip, i));
      // Every fifth deploy (and the first) looks and sees a person (the model was loaded and ran) before
      // the next; the others are replaced as soon as the node shows a status: mid-start, the model loading.
      const looks = i === 1 || i % 5 === 0;
      await waitFor(() => comms.messages.slice(from).some((m) => m.topic === 'status/od' && (!looks || /^person \d+ %/.test(m.data.text ?? ''))) || red.server.exited,
        60_000, `deploy ${i}: ${looks ? 'a look that saw a person' : 'a status'}`);
      assert.ok(!red.server.exited, red.server.output);
      if (i === 1) afterFirst = await settle('the first deploy to be gone');
    }
    const end = await settle('the last deploy to be gone');
    assert.equal(end.children.length, 0, 'no ffmpeg left');
    assert.ok(end.threads <= base.threads, `threads ${end.threads}, before ${base.threads}: no model worker left`);
    assert.ok(end.fds <= afterFirst!.fds + 3, `fds ${end.fds}, after the first deploy ${afterFirst!.fds}`);
    assert.ok(end.rssMB - afterFirst!.rssMB < 60, `RSS ${end.rssMB.toFixed(0)} MB after 20 deploys, ${afterFirst!.rssMB.toFixed(0)} MB after the first`);
    assert.doesNotMatch(red.server.output, /Unhandled|uncaught|\[error\]/i);
    process.stdout.write(`# ${nodeRed}: base ${JSON.stringify(base)} first ${JSON.stringify(afterFirst)} end ${JSON.stringify(end)}\n`);
  });
}
