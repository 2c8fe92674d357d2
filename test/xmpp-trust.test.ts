// XMPP nodes against a Prosody without an upload service: media falls back to
// a note, BTBV stops after verification, bad configuration never crashes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { helper, mantisNode } from './helpers/node-red';
import { Prosody, PROSODY_DOMAIN } from './helpers/prosody';
import { OmemoPeer } from './helpers/omemo-peer';
import { BOT, record, statusLog } from './helpers/xmpp-nodes';
import { tempDir } from './helpers/paths';
import { sleep, waitFor } from './helpers/processes';
import type { XmppAccountNode } from '../lib/xmpp/node-types';
import type { RefusedEvent } from '../lib/xmpp/account';

const ALICE = `alice@${PROSODY_DOMAIN}`;

const prosody = new Prosody({ upload: false });
const work = tempDir('xmpp-trust');
const received: Record<string, unknown>[] = [];
let phone: OmemoPeer;
let laptop: OmemoPeer | undefined;

const nodes = [mantisNode('xmpp-account'), mantisNode('xmpp-omemo-out'), mantisNode('xmpp-omemo-in')];

function account(): XmppAccountNode { return helper.getNode('acc') as unknown as XmppAccountNode; }


before(async () => {
  await prosody.start();
  prosody.register('bot', 'botpw');
  prosody.register('alice', 'alicepw');
  helper.settings({ userDir: work });
  await helper.load(nodes, [
    { id: 'acc', type: 'xmpp-account', jid: BOT, server: '127.0.0.1', port: String(prosody.c2sPort), admins: ALICE, allowed: '', storeDir: join(work, 'bot') },
    { id: 'tab', type: 'tab' },
    { id: 'out', z: 'tab', type: 'xmpp-omemo-out', account: 'acc', to: ALICE, wires: [] },
    { id: 'in', z: 'tab', type: 'xmpp-omemo-in', account: 'acc', wires: [['sink']] },
    { id: 'sink', z: 'tab', type: 'helper' },
  ], { acc: { password: 'botpw' } });
  helper.getNode('sink').on('input', (msg) => { received.push(msg); });
  phone = new OmemoPeer({ jid: ALICE, password: 'alicepw', port: prosody.c2sPort, store: join(work, 'phone.json') });
  await phone.start();
  await waitFor(() => account().account?.isOnline, 20_000, 'bot online');
});

after(async () => {
  await helper.unload().catch(() => undefined);
  await phone?.stop();
  await laptop?.stop();
  await prosody.stop();
});

test('without an upload service a picture becomes a note and the status says so', async () => {
  assert.equal(account().account!.upload, null);
  const status = statusLog('out');
  const mark = phone.mark;
  helper.getNode('out').receive({ payload: randomBytes(5000), mimetype: 'image/jpeg' });
  const note = await phone.waitFor((e) => e.type === 'message' && e.encrypted === true && /no file upload service/.test(String(e.body)), 15_000, 'note', mark);
  assert.equal(note.from, BOT);
  await waitFor(() => status.includes('no upload service'), 5000, 'status "no upload service"');
});

test('after the owner verified a device, a new device of that contact is not trusted', async () => {
  // The owner marks the phone verified; then its commands count.
  const acc = account().account!;
  assert.ok(acc.setTrust(ALICE, phone.deviceId, 'trusted'));
  await phone.send(BOT, '!status');
  await waitFor(() => received.length === 1, 15_000, 'command from the phone');
  laptop = new OmemoPeer({ jid: ALICE, password: 'alicepw', port: prosody.c2sPort, store: join(work, 'laptop.json') });
  await laptop.start();
  const refused: RefusedEvent[] = [];
  acc.on('refused', (r: RefusedEvent) => refused.push(r));
  await laptop.send(BOT, '!disarm');
  await waitFor(() => refused.find((r) => r.device === laptop!.deviceId), 15_000, 'laptop refused');
  assert.match(refused[0].reason, /undecided/);
  await sleep(300);
  assert.equal(received.length, 1);
  assert.equal(acc.devices().find((d) => d.device === laptop!.deviceId)?.trust, 'undecided');
  // Alerts go to the verified phone only; the laptop cannot read them.
  const pm = phone.mark;
  const lm = laptop.mark;
  helper.getNode('out').receive({ payload: 'only for verified devices' });
  await phone.waitFor((e) => e.type === 'message' && e.body === 'only for verified devices', 15_000, 'phone alert', pm);
  await sleep(500);
  assert.equal(laptop.events.slice(lm).filter((e) => e.type === 'message' && e.body === 'only for verified devices').length, 0);
});

test("alerts are also encrypted for the account's own other devices", async () => {
  // Another client logged in as the bot account (e.g. the owner's phone with the bot's JID).
  const sibling = new OmemoPeer({ jid: BOT, password: 'botpw', port: prosody.c2sPort, store: join(work, 'sibling.json') });
  try {
    await sibling.start();
    const mark = sibling.mark;
    helper.getNode('out').receive({ payload: 'copy for my other device' });
    const c = await sibling.waitFor((e) => e.type === 'carbon' && e.body === 'copy for my other device', 15_000, 'carbon', mark);
    assert.equal(c.to, ALICE);
    assert.equal(c.device, account().account!.omemo.deviceId);
  } finally {
    await sibling.stop();
  }
});

test('bad configuration shows a status and does not crash Node-RED', async () => {
  await helper.unload();
  await helper.load(nodes, [
    { id: 'bad', type: 'xmpp-account', jid: 'not a jid', storeDir: join(work, 'bad') },
    { id: 'tab', type: 'tab' },
    { id: 'out2', z: 'tab', type: 'xmpp-omemo-out', account: 'bad', to: ALICE, wires: [] },
    { id: 'out3', z: 'tab', type: 'xmpp-omemo-out', account: 'missing', to: ALICE, wires: [] },
  ], {});
  const acc = helper.getNode('bad') as unknown as XmppAccountNode;
  assert.equal(acc.account, undefined);
  assert.match(acc.accountStatus().text, /JID/);
  const errors = record('out2', 'error', (e) => e);
  helper.getNode('out2').receive({ payload: 'hello' });
  await waitFor(() => errors.length > 0, 5000, 'error from out2');
  assert.match(String(errors[0]), /not started/);
});

test('two account nodes of the same JID (a flow imported twice): the second says so instead of sharing the keys', async () => {
  await helper.unload();
  await helper.load(nodes, [
    { id: 'first', type: 'xmpp-account', jid: BOT, server: '127.0.0.1', port: String(prosody.c2sPort), storeDir: '' },
    { id: 'second', type: 'xmpp-account', jid: BOT, server: '127.0.0.1', port: String(prosody.c2sPort), storeDir: '' },
  ], { first: { password: 'botpw' }, second: { password: 'botpw' } });
  const first = helper.getNode('first') as unknown as XmppAccountNode;
  const second = helper.getNode('second') as unknown as XmppAccountNode;
  assert.ok(first.account, 'the first one runs');
  assert.equal(second.account, undefined);
  assert.match(second.accountStatus().text, /^another account node \(first\) already uses/);
  // The folder is named after the account, not the node: an imported copy finds the same identity.
  assert.equal(first.account.cfg.storeDir, join(work, 'mantis-xmpp', BOT));
  await waitFor(() => first.account?.isOnline, 20_000, 'first online');
  await helper.unload();
});
