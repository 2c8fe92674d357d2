import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UploadLimit, planMedia, refusedForGood } from '../lib/chat/upload-limit';

test('a clip over the advertised limit becomes its snapshot, with a note that says why', () => {
  const limit = new UploadLimit(16);
  limit.setAdvertised(2_000_016);
  assert.deepEqual(planMedia('clip', 1_000_000, 50_000, limit), { send: 'media' });
  const plan = planMedia('clip', 3_000_000, 50_000, limit);
  assert.equal(plan.send, 'snapshot');
  assert.match((plan as { note: string }).note, /clip \(3\.0 MB\) is larger than this chat server takes \(2\.0 MB\); here is a snapshot/);
});

test('a 413 teaches a lower limit than the server said; with no snapshot that fits, a note goes instead', () => {
  const limit = new UploadLimit();
  limit.setAdvertised(10_000_000);
  limit.refused(400_000);
  assert.equal(limit.fits(399_999), true);
  assert.equal(limit.fits(400_000), false);
  assert.equal(planMedia('picture', 500_000, undefined, limit).send, 'note');
  assert.equal(planMedia('clip', 5_000_000, 450_000, limit).send, 'note');
});

test('only a refusal of the message itself is final', () => {
  for (const s of [400, 403, 404, 413]) assert.equal(refusedForGood(s), true, String(s));
  for (const s of [undefined, 401, 408, 429, 500, 502, 503]) assert.equal(refusedForGood(s), false, String(s));
});
