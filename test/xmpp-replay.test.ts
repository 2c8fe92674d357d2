// Stream management (XEP-0198) against a real Prosody 0.12: the bot
// acknowledges every stanza it handled (IQ results included), so a stop puts
// nothing back into the server's offline storage; and what offline storage
// does deliver (sent while the bot was down) is never answered as a command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { helper, mantisNode } from './helpers/node-red';
import { Prosody, PROSODY_DOMAIN } from './helpers/prosody';
import { OmemoPeer, type PeerEvent } from './helpers/omemo-peer';
import { BOT, fromBot as fromBotAt, record } from './helpers/xmpp-nodes';
import { tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import type { XmppAccountNode } from '../lib/xmpp/node-types';

const ALICE = `alice@${PROSODY_DOMAIN}`;

const prosody = new Prosody({ upload: false });
const work = tempDir('xmpp-replay');
let alice: OmemoPeer;
const warnings: string[] = [];

const nodes = [mantisNode('xmpp-account'), mantisNode('xmpp-omemo-out')];

function account(): XmppAccountNode { return helper.getNode('acc') as unknown as XmppAccountNode; }

async function loadFlow(): Promise<void> {
  await helper.load(nodes, [
    { id: 'acc', type: 'xmpp-account', jid: BOT, server: '127.0.0.1', port: String(prosody.c2sPort), admins: ALICE, allowed: '', storeDir: join(work, 'bot') },
    { id: 'tab', type: 'tab' },
    { id: 'out', z: 'tab', type: 'xmpp-omemo-out', account: 'acc', to: ALICE, wires: [] },
  ], { acc: { password: 'botpw' } });
  record('acc', 'warn', (w) => warnings.push(String(w)));
  await waitFor(() => account().account?.isOnline, 20_000, 'bot online');
}

/** What Prosody keeps in offline storage for the bot (mod_offline, internal storage). */
function offlineStore(): string[] {
  const dir = join(prosody.dir, 'data', 'localhost', 'offline');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('bot')) : [];
}

const fromBot = (pred: (body: string) => boolean, since: number, what: string): Promise<PeerEvent> => fromBotAt(alice, pred, since, what);

before(async () => {
  await prosody.start();
  prosody.register('bot', 'botpw');
  prosody.register('alice', 'alicepw');
  helper.settings({ userDir: work });
  alice = new OmemoPeer({ jid: ALICE, password: 'alicepw', port: prosody.c2sPort, store: join(work, 'alice.json') });
  await alice.start();
  await loadFlow();
  // The owner's device, verified in the editor, so that its commands count.
  const mark = alice.mark;
  helper.getNode('out').receive({ payload: 'hello' });
  await fromBot((b) => b === 'hello', mark, 'first alert');
  assert.ok(account().account!.setTrust(ALICE, alice.deviceId, 'trusted'));
});

after(async () => {
  await helper.unload().catch(() => undefined);
  await alice?.stop();
  await prosody.stop();
});

test('messages the bot handled are acknowledged: a stop puts none of them back into offline storage', async () => {
  // Each answer costs the bot IQs (device lists, bundles); their results count as handled stanzas too.
  for (let i = 1; i <= 4; i++) {
    const mark = alice.mark;
    await alice.send(BOT, '!help');
    await fromBot((b) => b.startsWith('Mantis commands'), mark, `help answer ${i}`);
  }
  const mark = alice.mark;
  helper.getNode('out').receive({ payload: 'an alert, acknowledged' });
  await fromBot((b) => b === 'an alert, acknowledged', mark, 'alert');
  await waitFor(() => account().account!.queueLength === 0, 10_000, 'alert acknowledged');
  await alice.send(BOT, '!help'); // the last one handled right before the stop
  await fromBot((b) => b.startsWith('Mantis commands'), mark, 'last help answer');
  await helper.unload();
  // The bot closed its stream with <a h=…/>: what h leaves out, the server re-queues at once.
  await alice.request({ cmd: 'devices', jid: ALICE }); // one more round trip through the server
  assert.deepEqual(offlineStore(), [], 'nothing re-queued for the bot');
  // Back again: none of those messages comes back (no "counter was repeated" from the bot's OMEMO).
  warnings.length = 0;
  await loadFlow();
  const live = alice.mark;
  await alice.send(BOT, '!help');
  await fromBot((b) => b.startsWith('Mantis commands'), live, 'answer after the restart');
  assert.deepEqual(warnings.filter((w) => /incoming stanza/.test(w)), []);
  assert.equal(alice.events.slice(live).filter((e) => e.type === 'message' && String(e.body).startsWith('Mantis commands')).length, 1);
});

test('a plaintext command sent before the bot started gets no answer, whenever it arrives', async () => {
  // Kept by the server while the bot was down ...
  await helper.unload();
  await alice.send(BOT, '!status', true);
  await waitFor(() => offlineStore().length > 0, 5000, 'kept in offline storage');
  const mark = alice.mark;
  await loadFlow();
  await waitFor(() => offlineStore().length === 0, 10_000, 'delivered to the bot');
  // ... or replayed while the bot is online (stamped with when it was first sent).
  await alice.send(BOT, '!disarm', true, new Date(Date.now() - 3_600_000));
  // A later live command is answered; neither earlier one was, not even by a refusal.
  await alice.send(BOT, '!help');
  await fromBot((b) => b.startsWith('Mantis commands'), mark, 'answer to the live command');
  const answers = alice.events.slice(mark).filter((e) => e.type === 'message' && e.from === BOT).map((e) => String(e.body));
  assert.deepEqual(answers.filter((b) => /encrypt/i.test(b)), [], 'no answer to a plaintext command from before the start');
});
