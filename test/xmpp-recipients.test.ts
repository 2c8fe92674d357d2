// Recipients the server will not let the bot reach, presence subscriptions,
// and media for several recipients, against a real Prosody 0.12 and
// independent OMEMO peers (slixmpp-omemo). carol and dave publish their OMEMO
// nodes the way Profanity does (access model "presence", Prosody's default):
// only contacts subscribed to their presence may read them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { helper, mantisNode } from './helpers/node-red';
import { Prosody, PROSODY_DOMAIN } from './helpers/prosody';
import { OmemoPeer } from './helpers/omemo-peer';
import { BOT, fromBot, record, statusLog } from './helpers/xmpp-nodes';
import { tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import type { XmppAccountNode } from '../lib/xmpp/node-types';

const ALICE = `alice@${PROSODY_DOMAIN}`; // admin, open OMEMO nodes
const CAROL = `carol@${PROSODY_DOMAIN}`; // allowed, OMEMO nodes for presence subscribers only
const DAVE = `dave@${PROSODY_DOMAIN}`; // not listed, OMEMO nodes for presence subscribers only
const GHOST = `ghost@${PROSODY_DOMAIN}`; // a mistyped JID: no such account

const prosody = new Prosody({ uploadLimit: 2 * 1024 * 1024 });
const work = tempDir('xmpp-recipients');
const peers: Record<string, OmemoPeer> = {};
const errors: string[] = [];

const nodes = [mantisNode('xmpp-account'), mantisNode('xmpp-omemo-out')];

function account(): XmppAccountNode { return helper.getNode('acc') as unknown as XmppAccountNode; }

async function loadFlow(): Promise<void> {
  await helper.load(nodes, [
    { id: 'acc', type: 'xmpp-account', jid: BOT, server: '127.0.0.1', port: String(prosody.c2sPort), admins: ALICE, allowed: CAROL, storeDir: join(work, 'bot') },
    { id: 'tab', type: 'tab' },
    { id: 'out', z: 'tab', type: 'xmpp-omemo-out', account: 'acc', to: ALICE, wires: [] },
  ], { acc: { password: 'botpw' } });
  // What the owner reads in the Node-RED log.
  record('acc', 'error', (e) => errors.push(String(e)));
  await waitFor(() => account().account?.isOnline, 20_000, 'bot online');
}

function send(msg: Record<string, unknown>): void { helper.getNode('out').receive(msg); }


async function subscription(peer: OmemoPeer, jid: string): Promise<string> {
  const r = await peer.request({ cmd: 'roster' });
  return (r.roster as Record<string, string>)[jid] ?? 'none';
}

/** Files the upload service (http_file_share) holds, found in Prosody's data folder. */
function uploadedFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string, inShare: boolean): void => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      const share = inShare || /http_file_share|upload/.test(f);
      if (statSync(p).isDirectory()) walk(p, share);
      else if (share && statSync(p).size > 0 && !/\.(list|dat)$/.test(f)) found.push(p);
    }
  };
  walk(join(prosody.dir, 'data'), false);
  return found;
}

before(async () => {
  await prosody.start();
  for (const u of ['bot', 'alice', 'carol', 'dave']) prosody.register(u, `${u}pw`);
  helper.settings({ userDir: work });
  await helper.startServer();
  await Promise.all(['alice', 'carol', 'dave'].map(async (u) => {
    peers[u] = new OmemoPeer({ jid: `${u}@${PROSODY_DOMAIN}`, password: `${u}pw`, port: prosody.c2sPort, store: join(work, `${u}.json`),
      pepAccess: u === 'alice' ? 'open' : 'presence' });
    await peers[u].start();
  }));
  await loadFlow();
});

after(async () => {
  await helper.unload().catch(() => undefined);
  await helper.stopServer().catch(() => undefined);
  await Promise.all(Object.values(peers).map((p) => p.stop()));
  await prosody.stop();
});

test('the bot asks allowed JIDs for a mutual presence subscription, so a contact with presence-only OMEMO nodes gets alerts', async () => {
  // carol's client accepted the bot's request and asked back; the bot accepted hers.
  await waitFor(async () => (await subscription(peers.carol, BOT)) === 'both', 20_000, "carol's roster: bot with subscription both");
  const mark = peers.carol.mark;
  send({ payload: 'Motion in the garden', to: CAROL });
  await fromBot(peers.carol, (b) => b === 'Motion in the garden', mark, 'alert at carol');
});

test('a contact request from a JID that is not allowed is turned down', async () => {
  const mark = peers.dave.mark;
  await peers.dave.request({ cmd: 'subscribe', to: BOT });
  await peers.dave.waitFor((e) => e.type === 'presence' && e.from === BOT && e.ptype === 'unsubscribed', 15_000, 'the bot says no to dave', mark);
  assert.equal(await subscription(peers.dave, BOT), 'none');
});

test('recipients the server will not let the bot reach are reported and do not hold the others', async () => {
  const status = statusLog('out');
  errors.length = 0;
  const mark = peers.alice.mark;
  // dave is no contact of the bot (his device list is forbidden to it); ghost does not exist.
  send({ payload: 'Motion at the back door', to: [DAVE, GHOST, ALICE] });
  await fromBot(peers.alice, (b) => b === 'Motion at the back door', mark, 'alert at alice');
  await waitFor(() => errors.some((e) => e.startsWith(`not sent to ${DAVE}: `)) && errors.some((e) => e.startsWith(`not sent to ${GHOST}: `)), 10_000, 'log lines for dave and ghost');
  assert.match(errors.find((e) => e.startsWith(`not sent to ${DAVE}`))!, /forbidden.*contact/);
  await waitFor(() => status.some((t) => /^not sent/.test(t)), 5000, 'status "not sent: …"');
  await waitFor(() => account().account!.queueLength === 0, 10_000, 'nothing left in the queue');
  // And the queue keeps moving for everybody else.
  const m2 = peers.alice.mark;
  send({ payload: 'second alert', to: [DAVE, ALICE] });
  await fromBot(peers.alice, (b) => b === 'second alert', m2, 'second alert at alice');
});

test('a picture for three recipients is encrypted and uploaded once, under a random name, and survives a restart', async () => {
  const acc = account().account!;
  const uploadsBefore = uploadedFiles().length;
  await prosody.stop();
  await waitFor(() => !acc.isOnline, 15_000, 'bot offline');
  const image = randomBytes(200_000);
  send({ payload: image, mimetype: 'image/jpeg', to: [ALICE, GHOST, CAROL] });
  await waitFor(() => acc.queueLength > 0, 5000, 'queued');
  // Node-RED restarts while the alert waits.
  await helper.unload();
  await prosody.start();
  const am = peers.alice.mark;
  const cm = peers.carol.mark;
  errors.length = 0;
  await loadFlow();
  const hash = createHash('sha256').update(image).digest('hex');
  const [a, c] = await Promise.all([
    peers.alice.waitFor((e) => e.type === 'media' && e.sha256 === hash, 30_000, 'picture at alice', am),
    peers.carol.waitFor((e) => e.type === 'media' && e.sha256 === hash, 30_000, 'picture at carol', cm),
  ]);
  assert.equal(a.url, c.url, 'one upload for both recipients');
  const links = [am, cm].map((m, i) => [peers.alice, peers.carol][i]!.events.slice(m).find((e) => e.type === 'message' && String(e.body).startsWith('aesgcm://'))!.body);
  assert.equal(links[0], links[1], 'the same URL and key in both OMEMO messages');
  const name = new URL(String(a.url)).pathname.split('/').pop()!;
  assert.match(name, /^[0-9a-f]{32}\.jpg$/, `a random name, not "${name}"`);
  assert.equal(uploadedFiles().length, uploadsBefore + 1, 'the upload server holds one more file');
  await waitFor(() => errors.some((e) => e.startsWith(`not sent to ${GHOST}: `)), 10_000, 'ghost reported');
  await waitFor(() => account().account!.queueLength === 0, 10_000, 'the alert done');
});
