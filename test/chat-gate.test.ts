import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandGate, type DeviceCheck } from '../lib/chat/gate';

const verified = (): DeviceCheck => ({ ok: true });
const msg = (sender: string, text: string, extra: { encrypted?: boolean; sentAt?: number } = {}) =>
  ({ sender, text, encrypted: extra.encrypted ?? true, sentAt: extra.sentAt });

function gate(admins: string[] = ['@owner:x'], allowed: string[] = ['@friend:x']): CommandGate {
  const g = new CommandGate({ allowed, admins });
  g.start(1000);
  return g;
}

test('an admin on a verified device arms; plain text is not a command', async () => {
  const g = gate();
  assert.deepEqual(await g.decide(msg('@owner:x', '!arm night 1234'), verified), { act: 'command', command: { command: 'arm', mode: 'night', code: '1234' } });
  assert.deepEqual(await g.decide(msg('@owner:x', 'hello'), verified), { act: 'ignore' });
});

test('with no admin listed nobody may arm, and the refusal says how to fix it', async () => {
  const g = gate([], ['@friend:x']);
  const d = await g.decide(msg('@friend:x', '!arm'), verified);
  assert.equal(d.act, 'reply');
  assert.match((d as { text: string }).text, /admins only.*adds admins/);
  assert.equal((await g.decide(msg('@friend:x', '!snapshot'), verified)).act, 'command');
});

test('strangers are refused before their device is even looked at', async () => {
  let asked = 0;
  const d = await gate().decide(msg('@evil:x', '!disarm'), () => { asked++; return { ok: true }; });
  assert.equal(d.act, 'reply');
  assert.match((d as { log: string }).log, /not an allowed user/);
  assert.equal(asked, 0);
});

test('an unverified session gets the reason in words and what to do; one that cannot read a reply gets none', async () => {
  const g = gate();
  const d = await g.decide(msg('@owner:x', '!disarm'), () => ({ ok: false, why: 'your session is not cross-signed by you', advice: 'Verify this session from another one of yours.' }));
  assert.equal(d.act, 'reply');
  assert.match((d as { text: string }).text, /not cross-signed by you\. Verify this session/);
  const quiet = await g.decide(msg('@owner:x', '!disarm'), () => ({ ok: false, why: 'device distrusted', advice: '', canReply: false }));
  assert.equal(quiet.act, 'ignore');
  assert.match((quiet as { log: string }).log, /distrusted/);
});

test('history and unencrypted commands are never obeyed', async () => {
  const g = gate();
  const old = await g.decide(msg('@owner:x', '!disarm', { sentAt: 999 }), verified);
  assert.equal(old.act, 'ignore');
  assert.match((old as { log: string }).log, /before Mantis started/);
  // History stays quiet even when it was unencrypted (a replay must not be answered again).
  assert.equal((await g.decide(msg('@owner:x', '!disarm', { sentAt: 999, encrypted: false }), verified)).act, 'ignore');
  const plain = await g.decide(msg('@owner:x', '!disarm', { encrypted: false, sentAt: 2000 }), verified);
  assert.equal(plain.act, 'reply');
  assert.match((plain as { text: string }).text, /encrypted/);
  assert.equal((await g.decide(msg('@evil:x', '!disarm', { encrypted: false }), verified)).act, 'ignore');
});

test('after !exit only a restart brings commands back; help and errors are answers, not commands', async () => {
  const g = gate();
  assert.equal((await g.decide(msg('@owner:x', '!help'), verified)).act, 'reply');
  assert.match((await g.decide(msg('@owner:x', '!record 9999'), verified) as { text: string }).text, /seconds/);
  const exit = await g.decide(msg('@owner:x', '!exit'), verified);
  assert.equal(exit.act, 'command');
  assert.equal((await g.decide(msg('@owner:x', '!status'), verified)).act, 'ignore');
  g.start(5000);
  assert.equal((await g.decide(msg('@owner:x', '!status'), verified)).act, 'command');
});

test('a transport can compare ids its own way (bare, lower-case JIDs)', async () => {
  const g = new CommandGate({ allowed: [], admins: ['Owner@Example.org'], normalize: (u) => u.split('/')[0]!.toLowerCase() });
  g.start(0);
  assert.equal((await g.decide(msg('owner@example.org/phone', '!status'), verified)).act, 'command');
});
