// `mantis-detect FILE --objects` as an owner runs it on their footage: the node's stage over a file,
// with the real model. People in vtest.avi; none in tree.avi or the sliding apple.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, tempDir } from './helpers/paths';
import { alternating, appleClip, TREE, vtestPiece } from './helpers/object-clips';
import type { Box } from '../lib/motion/event';

const run = promisify(execFile);
const CLI = join(repoRoot, 'dist', 'bin', 'mantis-detect.js');

interface Line { event: string; t: number; boxes: Box[]; objects: Array<{ label: string; score: number; box: Box }> }

async function objects(file: string, ...args: string[]): Promise<{ lines: Line[]; stderr: string }> {
  const { stdout, stderr } = await run(process.execPath, [CLI, file, '--objects', ...args], { maxBuffer: 16 << 20, timeout: 300_000 });
  return { lines: stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line), stderr };
}

test('mantis-detect --objects: the people of vtest.avi, per event, with their boxes; --trace shows each look', async () => {
  const clip = await vtestPiece(tempDir('objects-cli'), 10, 12);
  const { lines, stderr } = await objects(clip, '{"labels":"person","minScore":0.5,"maxLooks":6}', '--trace');
  assert.equal(lines[0]?.event, 'start');
  assert.ok(lines.every((l) => l.objects.length >= 1 && l.objects.every((o) => o.label === 'person' && o.score >= 0.5)), 'every event printed has people');
  assert.equal(lines.at(-1)?.event, 'end');
  const looks = stderr.trim().split('\n').filter((l) => l.startsWith('{"look"'));
  assert.ok(looks.length >= 2 && looks.length <= 6, `${looks.length} looks (at most 6 for the one event)`);
});

test('mantis-detect --objects: nothing for a tree in the wind or a sliding apple, though there was motion', async () => {
  const apple = await appleClip(tempDir('objects-cli'));
  for (const [file, config] of [[TREE, '{"repetitiveLevel":0,"shadowCorrelation":1}'], [apple, '{}']] as const) {
    const motion = await run(process.execPath, [CLI, file, '--config', config], { maxBuffer: 16 << 20 });
    assert.match(motion.stdout, /"event":"start"/, `${file}: motion to look at`);
    const { lines, stderr } = await objects(file, '--config', config, '--trace');
    assert.deepEqual(lines, [], `${file}: no person`);
    assert.match(stderr, /\{"look"/, `${file}: it looked`);
  }
});

test('mantis-detect --objects: parked cars do not re-trigger (stationary), walking people do', async () => {
  // vtest.avi's people walk four times, standing still between; two cars stay parked at the top right all along.
  const { path } = await alternating(tempDir('objects-cli'));
  const starts = async (settings: string): Promise<Line[]> => (await objects(path, settings)).lines.filter((l) => l.event === 'start');
  const cars = await starts('{"labels":"car,truck","minScore":0.4,"stationaryAfter":5000}');
  assert.equal(cars.length, 1, `only the first event has the cars: ${JSON.stringify(cars.map((l) => l.t))}`);
  assert.ok(cars[0]!.objects.every((o) => o.box.y < 0.2 && o.box.x > 0.8), 'the parked cars, top right');
  const people = await starts('{"labels":"person","stationaryAfter":5000}');
  assert.equal(people.length, 4, 'each walk is an event with people');
});

test('mantis-detect --objects: a bad setting is named before anything runs', async () => {
  await assert.rejects(run(process.execPath, [CLI, TREE, '--objects', '{"labels":"unicorn"}']), (e: Error & { code?: number; stderr?: string }) => {
    assert.equal(e.code, 2);
    assert.match(String(e.stderr), /bad setting: labels: "unicorn" is not a COCO label/);
    return true;
  });
});
