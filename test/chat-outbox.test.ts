import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox, PermanentSendError } from '../lib/chat/outbox';
import { tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';

interface Alert { text: string; image?: Buffer }

test('items wait while the server is down and go out in order when it is back', async () => {
  const dir = tempDir('outbox');
  const delivered: string[] = [];
  let serverUp = false;
  const box = new Outbox<Alert>(dir, async (a) => {
    if (!serverUp) throw new Error('connection refused');
    delivered.push(a.text);
  }, { minDelayMs: 20, maxDelayMs: 100 });
  box.start();
  for (const text of ['one', 'two', 'three']) await box.enqueue({ text });
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(box.length, 3);
  assert.deepEqual(delivered, []);
  serverUp = true;
  await waitFor(() => box.length === 0, 5000, 'drained');
  assert.deepEqual(delivered, ['one', 'two', 'three']);
  box.stop();
});

test('a queue survives a restart with its binary attachments intact', async () => {
  const dir = tempDir('outbox');
  const image = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x01, 0x02]);
  const first = new Outbox<Alert>(dir, async () => { throw new Error('down'); }, { minDelayMs: 1000 });
  first.start();
  await first.enqueue({ text: 'motion', image });
  await first.enqueue({ text: 'later' });
  first.stop();
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.json')).length, 2);

  const got: Alert[] = [];
  const second = new Outbox<Alert>(dir, async (a) => { got.push(a); });
  second.start();
  await waitFor(() => got.length === 2, 2000, 'delivery after restart');
  assert.equal(got[0]!.text, 'motion');
  assert.ok(Buffer.isBuffer(got[0]!.image));
  assert.deepEqual(got[0]!.image, image);
  assert.equal(got[1]!.text, 'later');
  second.stop();
});

test('an item that can never be sent is dropped instead of blocking the rest', async () => {
  const dir = tempDir('outbox');
  const got: string[] = [];
  const dropped: string[] = [];
  const box = new Outbox<Alert>(dir, async (a) => {
    if (a.text === 'bad') throw new PermanentSendError('room is not encrypted');
    got.push(a.text);
  });
  box.on('dropped', (a: Alert) => dropped.push(a.text));
  box.start();
  await box.enqueue({ text: 'bad' });
  await box.enqueue({ text: 'good' });
  await waitFor(() => box.length === 0, 2000, 'drained');
  assert.deepEqual(dropped, ['bad']);
  assert.deepEqual(got, ['good']);
  box.stop();
});

test('an alert queued after a restart but before sending resumes neither replaces nor overtakes the older ones', async () => {
  // The Matrix bot queues while it is still logging in (server down): start() comes later.
  const dir = tempDir('outbox');
  const first = new Outbox<Alert>(dir, async () => { throw new Error('down'); }, { minDelayMs: 1000 });
  first.start();
  await first.enqueue({ text: 'before the restart 1' });
  await first.enqueue({ text: 'before the restart 2' });
  first.stop();

  const got: string[] = [];
  const second = new Outbox<Alert>(dir, async (a) => { got.push(a.text); });
  await second.enqueue({ text: 'after the restart' });
  assert.equal(second.length, 3, 'all three wait');
  second.start();
  await waitFor(() => second.length === 0, 5000, 'drained');
  assert.deepEqual(got, ['before the restart 1', 'before the restart 2', 'after the restart']);
  second.stop();
});

test('queued alerts are readable by the Node-RED user only', async () => {
  const dir = tempDir('outbox');
  const box = new Outbox<Alert>(dir, async () => { throw new Error('down'); }, { minDelayMs: 1000 });
  await box.enqueue({ text: 'the front door' });
  const [file] = readdirSync(dir);
  assert.equal(statSync(join(dir, file!)).mode & 0o777, 0o600);
});

test('a file truncated by a power cut is moved to bad/ and reported once; the items behind it go out', async () => {
  const dir = tempDir('outbox');
  const first = new Outbox<Alert>(dir, async () => { throw new Error('down'); }, { minDelayMs: 1000 });
  for (const text of ['one', 'two', 'three']) await first.enqueue({ text });
  const [, second] = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const whole = readFileSync(join(dir, second!), 'utf8');
  writeFileSync(join(dir, second!), whole.slice(0, whole.length >> 1));

  const got: string[] = [];
  const bad: string[] = [];
  const box = new Outbox<Alert>(dir, async (a) => { got.push(a.text); });
  box.on('bad', (path: string) => bad.push(path));
  box.start();
  await waitFor(() => box.length === 0, 2000, 'drained');
  assert.deepEqual(got, ['one', 'three']);
  assert.equal(bad.length, 1);
  assert.deepEqual(readdirSync(join(dir, 'bad')).map((f) => readFileSync(join(dir, 'bad', f), 'utf8')), [whole.slice(0, whole.length >> 1)]);
  await box.stop();
});

test('stop() during a send waits for it and then touches nothing, even when a newer outbox sent and removed the file', async () => {
  const dir = tempDir('outbox');
  let release!: () => void;
  const inFlight = new Promise<void>((r) => { release = r; });
  let oldSends = 0;
  const old = new Outbox<Alert>(dir, async () => { oldSends++; await inFlight; }, { minDelayMs: 10 });
  old.start();
  await old.enqueue({ text: 'alert' });
  await old.enqueue({ text: 'next' });
  await waitFor(() => oldSends === 1, 2000, 'old send in flight');
  let stopped = false;
  const stopping = old.stop().then(() => { stopped = true; });

  // The redeployed account's outbox on the same folder sends everything and removes the files.
  const got: string[] = [];
  const fresh = new Outbox<Alert>(dir, async (a) => { got.push(a.text); });
  fresh.start();
  await waitFor(() => fresh.length === 0, 2000, 'new outbox drained');
  assert.equal(stopped, false, 'stop() waits for the send in flight');
  release();
  await stopping;
  assert.equal(oldSends, 1, 'the stopped outbox sends nothing more');
  assert.deepEqual(got, ['alert', 'next']);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.json')), []);
  await fresh.stop();
});
