// Matrix alert latency on loopback against a real Synapse: motion event ->
// decrypted text at the owner's client, and -> decrypted snapshot (image event
// decrypted, attachment downloaded and decrypted); RSS of a Node-RED process
// with one Matrix account.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from './run';
import { Synapse } from '../test/helpers/synapse';
import { MatrixOwner, unrefLongTimers } from '../test/helpers/matrix-owner';
import { NodeRedProcess, matrixTestFlow } from '../test/helpers/matrix-node-red';
import { tempDir } from '../test/helpers/paths';
import { sleep, waitFor } from '../test/helpers/processes';
import { MatrixBot } from '../lib/matrix/bot';
import type { EncryptedFile } from '../lib/matrix/attachment';
import type { MotionEvent } from '../lib/motion/event';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function alertText(e: MotionEvent): string {
  return `Motion on ${e.camera ?? "camera"} (score ${e.score.toFixed(2)}${e.zones.length ? `, ${e.zones.join(', ')}` : ''})`;
}

export async function run(report: Report): Promise<void> {
  unrefLongTimers();
  const syn = new Synapse();
  await syn.start();
  let bot: MatrixBot | undefined;
  let owner: MatrixOwner | undefined;
  let red: NodeRedProcess | undefined;
  try {
    const botId = await syn.register('mantis', 'botpass');
    await syn.register('owner', 'ownerpass');
    owner = new MatrixOwner(syn.url, '@owner:localhost', 'ownerpass');
    await owner.start();
    const storeDir = tempDir('bench-matrix');
    bot = new MatrixBot({ homeserverUrl: syn.url, userId: botId, password: 'botpass', storeDir, adminUsers: ['@owner:localhost'] });
    await bot.start();
    const roomId = await owner.createEncryptedRoom([botId]);
    await waitFor(() => bot!.joinedRooms().includes(roomId), 20_000, 'bot joined');
    // The bench plays the human who compares the emoji.
    await owner.verify(botId, roomId, async () => {
      const p = await waitFor(() => bot!.pendingVerification, 20_000, 'emoji');
      await bot!.confirmVerification(p.id);
    });

    const text: number[] = [];
    for (let i = 0; i < 10; i++) {
      const ev: MotionEvent = { event: 'start', t: Date.now(), startedAt: Date.now(), score: 0.2 + i / 100, boxes: [], zones: ['door'], camera: `cam${i}` };
      const t0 = performance.now();
      const body = alertText(ev);
      await bot.queue([roomId], { kind: 'text', text: body });
      await waitFor(() => [...owner!.received.values()].some((r) => r.content.body === body), 20_000, 'text');
      text.push(performance.now() - t0);
      await sleep(100);
    }
    report({ name: 'matrix motion -> decrypted text at owner', value: Math.round(median(text)), unit: 'ms', target: 500, runs: text.length });

    const jpeg = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=1280x720', '-frames:v', '1', '-q:v', '4', '-f', 'mjpeg', 'pipe:1']);
    const snap: number[] = [];
    for (let i = 0; i < 5; i++) {
      const name = `snapshot-${i}.jpg`;
      const t0 = performance.now();
      await bot.queue([roomId], { kind: 'image', data: jpeg, mimetype: 'image/jpeg', name });
      const ev = await waitFor(() => [...owner!.received.values()].find((r) => r.content.body === name), 20_000, 'image');
      const bytes = await owner.download(ev.content.file as EncryptedFile);
      if (!bytes.equals(jpeg)) throw new Error('snapshot bytes differ');
      snap.push(performance.now() - t0);
      await sleep(100);
    }
    report({ name: 'matrix motion -> decrypted snapshot at owner', value: Math.round(median(snap)), unit: 'ms', target: 1000, runs: snap.length, bytes: jpeg.length });

    // What the write-through rewrites (atomically, with fsync) on every committed store transaction.
    report({ name: 'matrix crypto store file after the runs', value: Math.round(statSync(join(storeDir, 'crypto-store.v8')).size / 1024), unit: 'KB' });

    // RSS of a Node-RED process with one account (connected, synced, idle).
    await syn.register('mantis2', 'botpass');
    red = new NodeRedProcess(tempDir('bench-matrix-red'), matrixTestFlow(syn.url, '@mantis2:localhost', '@owner:localhost', ''), { acc: { password: 'botpass' } });
    await red.start();
    await waitFor(async () => ((await red!.getJson('/mantis/matrix-account/acc/verification')).status as { text: string }).text === 'connected', 60_000, 'node-red account connected');
    await sleep(5000);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${red.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    report({ name: 'matrix node-red RSS with one account', value: Math.round(rss), unit: 'MB', target: 200 });
  } finally {
    await red?.stop();
    await bot?.stop();
    await owner?.stop();
    await syn.stop();
  }
}
