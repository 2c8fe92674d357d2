// Loading libsignal (its curve25519 is an emscripten build) must leave the
// process's crash handling alone: no 'uncaughtException' / 'unhandledRejection'
// handlers of its own, and an unrelated error is reported by Node itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, tempDir } from './helpers/paths';

const omemoModule = join(repoRoot, 'dist', 'lib', 'xmpp', 'omemo.js');

/** Runs `then` in a fresh Node after an OMEMO identity was created (which loads libsignal). */
function afterLoading(then: string): { status: number | null; stderr: string; stdout: string } {
  const script = `
    const { Omemo } = require(${JSON.stringify(omemoModule)});
    const count = () => ['uncaughtException', 'unhandledRejection'].map((e) => process.listeners(e).length);
    const before = count();
    new Omemo(${JSON.stringify(tempDir('libsignal'))}).init().then(() => {
      console.log(JSON.stringify({ before, after: count() }));
      ${then}
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('loading libsignal adds no process-wide error handlers', () => {
  const r = afterLoading('');
  assert.equal(r.status, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: number[]; after: number[] };
  assert.deepEqual(after, before);
});

test('an unrelated uncaught error is reported by Node, not by curveasm.js', () => {
  const r = afterLoading("setTimeout(() => { throw new Error('unrelated failure'); });");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Error: unrelated failure\n\s+at Timeout/);
  assert.doesNotMatch(r.stderr, /curveasm|abort\(/);
});

test('an unrelated unhandled rejection is reported by Node, not turned into an abort', () => {
  const r = afterLoading("Promise.reject(new Error('unrelated rejection'));");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Error: unrelated rejection/);
  assert.doesNotMatch(r.stderr, /curveasm|abort\(|RuntimeError/);
});
