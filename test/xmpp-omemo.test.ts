// The XMPP nodes in the real Node-RED runtime against a real Prosody 0.12 and
// an independent OMEMO client (slixmpp-omemo with the OMEMO 0.3 backend).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { coreNode, helper, mantisNode } from './helpers/node-red';
import { Prosody, PROSODY_DOMAIN } from './helpers/prosody';
import { OmemoPeer } from './helpers/omemo-peer';
import { BOT, fromBot, statusLog } from './helpers/xmpp-nodes';
import { tempDir } from './helpers/paths';
import { sleep, waitFor } from './helpers/processes';
import type { XmppAccountNode } from '../lib/xmpp/node-types';
import type { RefusedEvent } from '../lib/xmpp/account';

const ALICE = `alice@${PROSODY_DOMAIN}`; // admin
const BOB = `bob@${PROSODY_DOMAIN}`; // allowed

const prosody = new Prosody({ uploadLimit: 2 * 1024 * 1024 });
const work = tempDir('xmpp-test');
const storeDir = join(work, 'bot-store');
const peers: Record<string, OmemoPeer> = {};
const received: Record<string, unknown>[] = [];

const nodes = [mantisNode('xmpp-account'), mantisNode('xmpp-omemo-out'), mantisNode('xmpp-omemo-in'), mantisNode('alarm-panel'),
  coreNode('function/10-switch.js'), coreNode('function/15-change.js')];
const flow = (): unknown[] => [
  { id: 'acc', type: 'xmpp-account', jid: BOT, server: '127.0.0.1', port: String(prosody.c2sPort), resource: 'mantis', admins: ALICE, allowed: BOB, storeDir },
  { id: 'tab', type: 'tab' },
  { id: 'out', z: 'tab', type: 'xmpp-omemo-out', account: 'acc', to: ALICE, wires: [] },
  { id: 'in', z: 'tab', type: 'xmpp-omemo-in', account: 'acc', wires: [['sink', 'panel']] },
  // The real alarm panel (local, no MQTT); its answers to chat commands go back to the sender.
  { id: 'panel', z: 'tab', type: 'alarm-panel', name: 'alarm', broker: '', deviceId: 'mantis_xo', deviceName: 'Mantis', cameras: 'camera',
    exitDelay: 0, entryDelay: 0, triggerTime: 0, zonesAway: '', discovery: 'entity', wires: [['asked'], [], []] },
  { id: 'asked', z: 'tab', type: 'switch', property: 'to', propertyType: 'msg', rules: [{ t: 'nnull' }], checkall: 'true', outputs: 1, wires: [['say']] },
  { id: 'say', z: 'tab', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'text', tot: 'msg' }], wires: [['out']] },
  { id: 'sink', z: 'tab', type: 'helper' },
];

function account(): XmppAccountNode { return helper.getNode('acc') as unknown as XmppAccountNode; }

async function loadFlow(): Promise<void> {
  received.length = 0;
  await helper.load(nodes, flow(), { acc: { password: 'botpw' } });
  helper.getNode('sink').on('input', (msg) => { received.push(msg); });
  await waitFor(() => account().account?.isOnline, 20_000, 'bot online');
}

function send(msg: Record<string, unknown>): void { helper.getNode('out').receive(msg); }

const bodyFrom = fromBot;

interface Req { get(u: string): Req; post(u: string): Req; send(b: unknown): Req; expect(n: number): Promise<{ body: unknown }> }
const request = (): Req => (helper as unknown as { request(): Req }).request();

before(async () => {
  await prosody.start();
  prosody.register('bot', 'botpw');
  for (const u of ['alice', 'bob', 'mallory']) prosody.register(u, `${u}pw`);
  helper.settings({ userDir: work });
  await helper.startServer();
  await loadFlow();
  await Promise.all(['alice', 'bob', 'mallory'].map(async (u) => {
    peers[u] = new OmemoPeer({ jid: `${u}@${PROSODY_DOMAIN}`, password: `${u}pw`, port: prosody.c2sPort, store: join(work, `${u}.json`) });
    await peers[u].start();
  }));
});

after(async () => {
  await helper.unload().catch(() => undefined);
  await helper.stopServer().catch(() => undefined);
  await Promise.all(Object.values(peers).map((p) => p.stop()));
  await prosody.stop();
});

test('text from xmpp-omemo-out is decrypted by the OMEMO peer', async () => {
  const mark = peers.alice.mark;
  const status = statusLog('out');
  send({ payload: 'Motion at the front door' });
  const m = await bodyFrom(peers.alice, (b) => b === 'Motion at the front door', mark, 'alert at alice');
  assert.deepEqual(m.namespaces, ['eu.siacs.conversations.axolotl']);
  await waitFor(() => status.includes('sent'), 5000, 'status "sent"');
});

test('a snapshot goes as XEP-0454 encrypted upload; the peer decrypts the same bytes', async () => {
  const image = randomBytes(300_000);
  const mark = peers.alice.mark;
  send({ payload: image, mimetype: 'image/jpeg' });
  const link = await bodyFrom(peers.alice, (b) => b.startsWith('aesgcm://'), mark, 'aesgcm link');
  assert.match(String(link.body), /^aesgcm:\/\/127\.0\.0\.1:\d+\/.+#[0-9a-f]{88}$/, '12-byte IV + 32-byte key');
  const media = await peers.alice.waitFor((e) => e.type === 'media' || (e.type === 'error' && /download/.test(String(e.error))), 20_000, 'media', mark);
  assert.equal(media.type, 'media', JSON.stringify(media));
  assert.equal(media.sha256, createHash('sha256').update(image).digest('hex'));
  assert.equal(media.iv_len, 12);
  // What the server stores is ciphertext, not the picture.
  const stored = Buffer.from(await (await fetch(String(media.url))).arrayBuffer());
  assert.equal(stored.length, image.length + 16);
  assert.notDeepEqual(stored.subarray(0, 64), image.subarray(0, 64));
});

test('a clip too large for the upload service: the snapshot is sent instead and the status says so', async () => {
  const clip = randomBytes(3 * 1024 * 1024);
  const thumb = randomBytes(20_000);
  const mark = peers.alice.mark;
  const status = statusLog('out');
  send({ payload: clip, mimetype: 'video/mp4', thumbnail: thumb });
  const media = await peers.alice.waitFor((e) => e.type === 'media', 20_000, 'thumbnail', mark);
  assert.equal(media.sha256, createHash('sha256').update(thumb).digest('hex'));
  await bodyFrom(peers.alice, (b) => /larger than this chat server takes/.test(b), mark, 'note about the clip');
  await waitFor(() => status.some((t) => /too large/.test(t)), 5000, 'status about the clip');
});

/** What the owner does in the account's edit dialog after comparing fingerprints. */
async function markVerified(jid: string, device: number): Promise<void> {
  await request().post('/mantis/xmpp-account/acc/trust').send({ jid, device, trust: 'trusted' }).expect(200);
}

test('a command from a blindly trusted (not yet verified) device is refused with its fingerprint', async () => {
  const refused: RefusedEvent[] = [];
  account().account!.on('refused', (r: RefusedEvent) => refused.push(r));
  const before = received.length;
  const mark = peers.alice.mark;
  await peers.alice.send(BOT, '!disarm');
  const answer = await bodyFrom(peers.alice, (b) => /not verified/.test(b), mark, 'refusal naming the fingerprint');
  const dev = account().account!.devices().find((d) => d.jid === ALICE && d.device === peers.alice.deviceId)!;
  assert.equal(dev.trust, 'btbv');
  assert.ok(String(answer.body).includes(dev.fingerprint), 'the refusal shows the fingerprint to compare');
  assert.match(refused.find((r) => r.from === ALICE)?.reason ?? '', /btbv/);
  await sleep(300);
  assert.equal(received.length, before, 'no command obeyed');
});

test('commands from an allowed JID come out of xmpp-omemo-in and replies go back encrypted', async () => {
  await markVerified(ALICE, peers.alice.deviceId);
  const mark = peers.alice.mark;
  await peers.alice.send(BOT, '!status');
  const cmd = await waitFor(() => received.find((m) => (m.payload as { command?: string }).command === 'status'), 15_000, 'status command');
  assert.equal(cmd.topic, 'command');
  assert.equal(cmd.to, ALICE);
  assert.deepEqual({ ...(cmd.from as object), device: 0 }, { user: ALICE, device: 0, via: 'xmpp' });
  assert.equal((cmd.from as { device: number }).device, peers.alice.deviceId);
  // A reply wired back into the out node reaches the sender.
  send({ payload: 'Alarm is disarmed', to: cmd.to });
  await bodyFrom(peers.alice, (b) => b === 'Alarm is disarmed', mark, 'reply');
  // The short and long forms, and !help answered by the account itself.
  await peers.alice.send(BOT, '!take_picture');
  await waitFor(() => received.find((m) => (m.payload as { command?: string }).command === 'snapshot'), 15_000, 'snapshot command');
  await peers.alice.send(BOT, '!help');
  await bodyFrom(peers.alice, (b) => b.startsWith('Mantis commands'), mark, 'help text');
  assert.equal(received.filter((m) => (m.payload as { command?: string }).command === 'help').length, 0);
});

test('the owner arms and disarms the real alarm panel by OMEMO chat and gets encrypted answers', async () => {
  const mark = peers.alice.mark;
  await peers.alice.send(BOT, '!arm away');
  await bodyFrom(peers.alice, (b) => b === 'Alarm armed (away)', mark, 'armed answer');
  await peers.alice.send(BOT, '!disable_alarm_system'); // MANTIS's long form of !disarm
  await bodyFrom(peers.alice, (b) => /disarmed/i.test(b), mark, 'disarmed answer');
});

test('an unlisted JID is refused and the new session used a prekey that gets replaced', async () => {
  const acc = account().account!;
  const used: number[] = [];
  acc.omemo.on('prekey-used', (id: number) => used.push(id));
  const published = new Promise<void>((r) => acc.once('bundle-published', () => r()));
  const before = received.length;
  const mark = peers.mallory.mark;
  await peers.mallory.send(BOT, '!disarm');
  await bodyFrom(peers.mallory, (b) => /not allowed/.test(b), mark, 'refusal to mallory');
  assert.equal(received.length, before, 'no command from mallory');
  await published;
  assert.equal(used.length, 1, 'one prekey consumed by mallory\'s new session');
  const bundle = await peers.alice.request({ cmd: 'bundle', jid: BOT, device: acc.omemo.deviceId });
  const ids = bundle.prekeys as number[];
  assert.equal(ids.length, 100);
  assert.ok(!ids.includes(used[0]), `prekey ${used[0]} still published`);
});

test('a plaintext command is not obeyed', async () => {
  const before = received.length;
  const mark = peers.alice.mark;
  await peers.alice.send(BOT, '!disarm', true);
  await bodyFrom(peers.alice, (b) => /only obey end-to-end encrypted/.test(b), mark, 'encrypted refusal');
  assert.equal(received.length, before);
});

test('fingerprints in the editor; a distrusted device is refused', async () => {
  // Blind trust lets bob read alerts; his commands count once the owner verified his device.
  const bm = peers.bob.mark;
  await peers.bob.send(BOT, '!snapshot');
  await bodyFrom(peers.bob, (b) => /not verified/.test(b), bm, 'bob told to get verified');
  assert.equal(received.filter((m) => (m.from as { user: string }).user === BOB).length, 0);
  const res = await request().get('/mantis/xmpp-account/acc/devices').expect(200);
  const body = res.body as { devices: { jid: string; device: number; fingerprint: string; trust: string; own: boolean }[] };
  const own = body.devices.find((d) => d.own)!;
  const botBundle = await peers.bob.request({ cmd: 'bundle', jid: BOT, device: own.device });
  assert.equal(own.fingerprint, Buffer.from(String(botBundle.identity_key), 'base64').subarray(1).toString('hex').match(/.{8}/g)!.join(' '));
  const bobDev = body.devices.find((d) => d.jid === BOB && d.device === peers.bob.deviceId)!;
  assert.equal(bobDev.trust, 'btbv');
  const bobBundle = await peers.bob.request({ cmd: 'bundle', jid: BOB, device: peers.bob.deviceId });
  assert.equal(bobDev.fingerprint.replace(/ /g, ''), Buffer.from(String(bobBundle.identity_key), 'base64').subarray(1).toString('hex'));
  await markVerified(BOB, bobDev.device);
  await peers.bob.send(BOT, '!snapshot');
  await waitFor(() => received.find((m) => (m.from as { user: string }).user === BOB), 15_000, 'bob command once verified');
  await request().post('/mantis/xmpp-account/acc/trust').send({ jid: BOB, device: bobDev.device, trust: 'distrusted' }).expect(200);
  const refused: RefusedEvent[] = [];
  account().account!.on('refused', (r: RefusedEvent) => refused.push(r));
  const before = received.length;
  await peers.bob.send(BOT, '!record 5');
  await waitFor(() => refused.find((r) => r.from === BOB), 15_000, 'refusal of bob');
  assert.match(refused[0].reason, /distrusted/);
  await sleep(300);
  assert.equal(received.length, before);
  // Trusted again from the editor: obeyed.
  await request().post('/mantis/xmpp-account/acc/trust').send({ jid: BOB, device: bobDev.device, trust: 'trusted' }).expect(200);
  await peers.bob.send(BOT, '!record 5');
  await waitFor(() => received.find((m) => (m.payload as { command?: string; seconds?: number }).seconds === 5), 15_000, 'bob record');
});

test('a restart keeps identity, trust and sessions', async () => {
  const acc = account().account!;
  const id = acc.omemo.deviceId;
  const fp = acc.omemo.fingerprint;
  await helper.unload();
  // Sent while Mantis is down: Prosody keeps it offline and delivers it on the next login.
  await peers.alice.send(BOT, '!disarm');
  await sleep(500);
  await loadFlow();
  const acc2 = account().account!;
  assert.notEqual(acc2, acc);
  assert.equal(acc2.omemo.deviceId, id);
  assert.equal(acc2.omemo.fingerprint, fp);
  assert.equal(acc2.devices().find((d) => d.jid === BOB)?.trust, 'trusted');
  const mark = peers.alice.mark;
  send({ payload: 'after restart' });
  const m = await bodyFrom(peers.alice, (b) => b === 'after restart', mark, 'message after restart');
  assert.equal(m.prekey, false, 'the existing session was used');
  await waitFor(() => acc2.queueLength === 0, 10_000, 'acknowledged by the server');
  // The command from while it was down was delivered, decrypted and not obeyed; a new one is.
  const live = peers.alice.mark;
  await peers.alice.send(BOT, '!status');
  await waitFor(() => received.find((c) => (c.payload as { command?: string }).command === 'status'), 15_000, 'a live command');
  assert.deepEqual(received.map((c) => (c.payload as { command?: string }).command), ['status'], 'the stored !disarm was not obeyed');
  await bodyFrom(peers.alice, (b) => b === 'Alarm disarmed', live, "the panel's answer to the live command");
  await waitFor(() => acc2.queueLength === 0, 10_000, 'the answer acknowledged by the server');
});

test('alerts queued while Prosody is down all arrive after it comes back', async () => {
  const acc = account().account!;
  await prosody.stop();
  await waitFor(() => !acc.isOnline, 15_000, 'bot offline');
  const mark = peers.alice.mark;
  const status = statusLog('out');
  for (let i = 1; i <= 3; i++) send({ payload: `queued alert ${i}` });
  await waitFor(() => acc.queueLength === 3, 5000, 'three queued');
  await sleep(2000);
  assert.equal(acc.queueLength, 3);
  assert.ok(status.some((t) => /queued 3/.test(t)), status.join(' | '));
  await prosody.start();
  await waitFor(() => acc.queueLength === 0, 60_000, 'outbox drained');
  for (let i = 1; i <= 3; i++) await bodyFrom(peers.alice, (b) => b === `queued alert ${i}`, mark, `alert ${i}`, 60_000);
  // In the order the stanzas reached the peer (its handlers decrypt concurrently).
  const order = peers.alice.events.slice(mark).filter((e) => e.type === 'message' && /^queued alert/.test(String(e.body)))
    .sort((a, b) => Number(a.n) - Number(b.n)).map((e) => e.body);
  assert.deepEqual(order, ['queued alert 1', 'queued alert 2', 'queued alert 3']);
});
