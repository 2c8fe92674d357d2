// The durable write-through of fake-indexeddb (the Matrix crypto store): a
// process killed with SIGKILL in the middle of a stream of commits loses no
// committed transaction and leaves a file that loads (indexes included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';

const child = join(__dirname, 'helpers', 'matrix-store-child.js');

test('kill -9 during writes: every acknowledged commit survives', async () => {
  const file = join(tempDir('matrix-store'), 'store.v8');
  let lastAcked = 0;
  for (let round = 0; round < 4; round++) {
    const p = spawn(process.execPath, [child, file, 'write'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const target = lastAcked + 30 + round * 17;
    await waitFor(() => out.split('\n').some((l) => Number(l) >= target), 20_000, 'commits');
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    const acked = Math.max(...out.split('\n').filter(Boolean).map(Number));
    const state = JSON.parse(execFileSync(process.execPath, [child, file, 'read']).toString()) as { counter: number; log: number; index: number };
    // What was reported complete is on disk; at most the transaction in flight is extra.
    assert.ok(state.counter >= acked && state.counter <= acked + 1, `counter ${state.counter}, acknowledged ${acked}`);
    assert.equal(state.log, state.counter);
    assert.equal(state.index, state.counter);
    assert.ok(acked > lastAcked);
    lastAcked = state.counter;
  }
});
