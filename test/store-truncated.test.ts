// Every file read back may be truncated (a power cut on an SD card that lied
// about fsync): a damaged store is never silently replaced (contacts trust the
// keys in it), and it fails with an error that names the file and what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Omemo } from '../lib/xmpp/omemo';
import { OmemoStore } from '../lib/xmpp/store';
import { attachDurableStore } from '../lib/matrix/durable-idb';
import { readSession } from '../lib/matrix/session';
import { tempDir } from './helpers/paths';

const halve = (file: string): void => { const b = readFileSync(file); writeFileSync(file, b.subarray(0, b.length >> 1)); };

test('a truncated OMEMO store fails with its path and the way out, not a JSON error', async () => {
  const dir = tempDir('omemo-trunc');
  const omemo = new Omemo(dir);
  await omemo.init();
  halve(join(dir, 'omemo-store.json'));
  assert.throws(() => new OmemoStore(dir).load(), (e: Error) => e.message.includes('omemo-store.json cannot be read') && /move .* aside to start as a new OMEMO device/.test(e.message));
});

test('a truncated Matrix crypto store or session fails with its path and the way out', () => {
  const dir = tempDir('mx-trunc');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'crypto.bin'), Buffer.from([0xff, 0x0d, 0x6f, 0x22]));
  assert.throws(() => attachDurableStore(join(dir, 'crypto.bin'), 'mantis-trunc-test'), /crypto\.bin cannot be read .*log in as a new device/);
  writeFileSync(join(dir, 'session.json'), '{"userId":"@bot:x","homeserverUrl":"http://x","acc');
  assert.throws(() => readSession({ homeserverUrl: 'http://x', userId: '@bot:x', storeDir: dir } as Parameters<typeof readSession>[0]), /session\.json cannot be read/);
});
