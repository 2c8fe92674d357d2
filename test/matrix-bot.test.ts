// MatrixBot against a real Synapse, in process: login, cross-signing, SAS
// verification confirmed by a human (here: the test), encrypted text and
// attachments the owner decrypts, commands only from verified devices.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Synapse } from './helpers/synapse';
import { MatrixOwner, unrefLongTimers } from './helpers/matrix-owner';
import { tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { MatrixBot, NotEncryptedError, type CommandMessage, type PendingVerification } from '../lib/matrix/bot';
import type { EncryptedFile } from '../lib/matrix/attachment';

unrefLongTimers();
const syn = new Synapse({ maxUpload: '1M' });
let bot: MatrixBot;
let storeDir = '';
const botLog = (l: string, m: string): void => { if (process.env.MANTIS_DEBUG) console.log(`[bot ${l}] ${m}`); };
let owner: MatrixOwner;
let stranger: MatrixOwner;
let partner: MatrixOwner;
let roomId = '';
let botId = '';
const commands: CommandMessage[] = [];
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

before(async () => {
  await syn.start();
  botId = await syn.register('mantis', 'botpass');
  await syn.register('owner', 'ownerpass');
  await syn.register('stranger', 'strangerpass');
  await syn.register('partner', 'partnerpass');
  owner = new MatrixOwner(syn.url, '@owner:localhost', 'ownerpass');
  stranger = new MatrixOwner(syn.url, '@stranger:localhost', 'strangerpass');
  partner = new MatrixOwner(syn.url, '@partner:localhost', 'partnerpass');
  await Promise.all([owner.start(), stranger.start(), partner.start()]);
  bot = new MatrixBot({
    homeserverUrl: syn.url, userId: botId, password: 'botpass', storeDir: storeDir = tempDir('matrix-bot'),
    adminUsers: ['@owner:localhost'], allowedUsers: ['@stranger:localhost', '@partner:localhost'], log: botLog,
  });
  bot.on('command', (c: CommandMessage) => commands.push(c));
  await bot.start();
});

after(async () => {
  await bot?.stop();
  await owner?.stop();
  await stranger?.stop();
  await partner?.stop();
  await syn.stop();
});

test('joins on invite from an allowed user and verifies by SAS only when a human confirms', async () => {
  roomId = await owner.createEncryptedRoom([botId, '@stranger:localhost']);
  await waitFor(() => bot.joinedRooms().includes(roomId), 20_000, 'bot joined');
  await stranger.join(roomId);
  await owner.verify(botId, roomId, async (names) => {
    const pending = await waitFor(() => bot.pendingVerification, 20_000, 'emoji at the bot') as PendingVerification;
    assert.deepEqual(pending.emoji.map((e) => e[1]), names);
    // not confirmed yet: the owner's side must still be waiting
    await bot.confirmVerification(pending.id);
  });
  assert.ok(await owner.isVerified(botId, bot.deviceId!));
  const profile = await owner.client.getProfileInfo(botId);
  assert.equal(profile.displayname, 'Mantis');
  assert.match(String(profile.avatar_url), /^mxc:\/\//);
});

test('the owner decrypts text, image and clip; attachment bytes are equal', async () => {
  const t0 = Date.now() - 1000;
  await bot.queue([roomId], { kind: 'text', text: 'Motion at the door' });
  const text = await owner.waitForMessage(botId, (c) => c.body === 'Motion at the door', 20_000, t0);
  assert.equal(text.content.msgtype, 'm.text');
  assert.match(String(text.content.formatted_body), /Motion at the door/);

  const jpeg = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=640x360', '-frames:v', '1', '-f', 'mjpeg', 'pipe:1']);
  await bot.queue([roomId], { kind: 'image', data: jpeg, mimetype: 'image/jpeg' });
  const img = await owner.waitForMessage(botId, (c) => c.msgtype === 'm.image', 20_000, t0);
  const info = img.content.info as Record<string, unknown>;
  assert.equal(info.w, 640); assert.equal(info.h, 360); assert.equal(info.size, jpeg.length);
  assert.equal(sha(await owner.download(img.content.file as EncryptedFile)), sha(jpeg));
  assert.ok(await owner.download(info.thumbnail_file as EncryptedFile));

  const clip = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-t', '2',
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart+frag_keyframe+empty_moov', '-f', 'mp4', 'pipe:1']);
  await bot.queue([roomId], { kind: 'video', data: clip, mimetype: 'video/mp4', duration: 2, width: 320, height: 240 });
  const vid = await owner.waitForMessage(botId, (c) => c.msgtype === 'm.video', 20_000, t0);
  assert.equal(sha(await owner.download(vid.content.file as EncryptedFile)), sha(clip));
  assert.equal((vid.content.info as Record<string, unknown>).duration, 2000);
  assert.ok((vid.content.info as Record<string, unknown>).thumbnail_file);

  // Larger than the server's m.upload.size (1 MiB here): the snapshot goes instead, with a note.
  const big = randomBytes(1_500_000);
  await bot.queue([roomId], { kind: 'video', data: big, mimetype: 'video/mp4', thumbnail: jpeg });
  const note = await owner.waitForMessage(botId, (c) => c.msgtype === 'm.image' && /larger than this chat server takes/.test(String(c.body)), 20_000, t0);
  assert.equal(sha(await owner.download(note.content.file as EncryptedFile)), sha(jpeg));

  // Nothing in the clear at the server: room messages are m.room.encrypted, media is ciphertext.
  const events = syn.roomEvents(roomId);
  assert.ok(events.some((e) => e.type === 'm.room.encrypted'));
  // (In-room SAS steps are m.key.verification.* events by design; they carry no alert content.)
  const fromBot = events.filter((e) => e.json.sender === botId && e.json.state_key === undefined && !e.type.startsWith('m.key.verification.'));
  assert.ok(fromBot.length >= 4);
  assert.deepEqual([...new Set(fromBot.map((e) => e.type))], ['m.room.encrypted']);
  const files: string[] = [];
  const walk = (d: string): void => { for (const f of readdirSync(d)) { const p = join(d, f); if (statSync(p).isDirectory()) walk(p); else files.push(p); } };
  walk(syn.mediaPath);
  const needles = [jpeg.subarray(0, 64), clip.subarray(0, 64), clip.subarray(clip.length - 64)];
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const n of needles) assert.equal(bytes.indexOf(n), -1, `plaintext found in ${f}`);
  }
});

test('commands: verified owner is obeyed, unverified stranger is refused and gets no keys', async () => {
  const t0 = Date.now() - 1000;
  await owner.send(roomId, '!snapshot');
  const c = await waitFor(() => commands.find((x) => x.command.command === 'snapshot'), 20_000, 'command');
  assert.equal(c.from.user, '@owner:localhost');
  assert.equal(c.roomId, roomId);
  await owner.send(roomId, '!help');
  await owner.waitForMessage(botId, (m) => /Mantis commands/.test(String(m.body)), 20_000, t0);

  await stranger.send(roomId, '!snapshot');
  const refusal = await owner.waitForMessage(botId, (m) => /Sorry @stranger/.test(String(m.body)), 20_000, t0);
  assert.match(String(refusal.content.body), /verified/);
  assert.equal(commands.filter((x) => x.from.user === '@stranger:localhost').length, 0);
  // The stranger sees the bot's messages only as undecryptable.
  const seen = await waitFor(() => stranger.received.get(refusal.id), 20_000, 'stranger sees the event');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(stranger.received.get(refusal.id)?.failed ?? seen.failed, true);
});

test('a verified allowed user (not admin) may take snapshots but not disarm', async () => {
  const t0 = Date.now() - 1000;
  await owner.client.invite(roomId, '@partner:localhost');
  await partner.join(roomId);
  await partner.verify(botId, roomId, async () => {
    const p = await waitFor(() => bot.pendingVerification, 20_000, 'emoji at the bot');
    await bot.confirmVerification(p.id);
  });
  await partner.send(roomId, '!disarm 1234');
  await owner.waitForMessage(botId, (m) => /Sorry @partner:localhost, !disarm is for admins only/.test(String(m.body)), 20_000, t0);
  await partner.send(roomId, '!take_picture');
  const c = await waitFor(() => commands.find((x) => x.from.user === '@partner:localhost'), 20_000, 'partner command');
  assert.deepEqual(c.command, { command: 'snapshot' });
  assert.equal(commands.filter((x) => x.command.command === 'disarm').length, 0);
});

test('refuses to send into a room without encryption', async () => {
  const plain = await owner.createPlainRoom([botId]);
  await waitFor(() => bot.joinedRooms().includes(plain), 20_000, 'bot joined the plain room');
  await assert.rejects(bot.queue([plain], { kind: 'text', text: 'secret alarm' }), NotEncryptedError);
  await new Promise((r) => setTimeout(r, 500));
  const leaked = syn.roomEvents(plain).filter((e) => e.json.sender === botId && e.type === 'm.room.message');
  assert.equal(leaked.length, 0);
});

test('an invite from a user who is not allowed is declined', async () => {
  await syn.register('intruder', 'intruderpass');
  const intruder = new MatrixOwner(syn.url, '@intruder:localhost', 'intruderpass');
  await intruder.start();
  try {
    const trap = await intruder.createEncryptedRoom([botId]);
    await waitFor(() => intruder.client.getRoom(trap)?.getMember(botId)?.membership === 'leave', 20_000, 'the bot to decline the invite');
    assert.ok(!bot.joinedRooms().includes(trap));
  } finally {
    await intruder.stop();
  }
});

test('a message the server refuses (no permission to post) is dropped and does not hold back later alerts', async () => {
  // A room where only the owner may speak: Synapse answers the bot's send with 403.
  const { room_id: muted } = await owner.client.createRoom({
    invite: [botId], preset: 'private_chat' as never, name: 'read only',
    initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    power_level_content_override: { events_default: 100 },
  });
  await waitFor(() => bot.joinedRooms().includes(muted), 20_000, 'bot joined the read-only room');
  const dropped: [string, string][] = [];
  const onDropped = (room: string, reason: string): void => { dropped.push([room, reason]); };
  bot.on('dropped', onDropped);
  try {
    const t0 = Date.now() - 500;
    await bot.queue([muted], { kind: 'text', text: 'into the read-only room' });
    await bot.queue([roomId], { kind: 'text', text: 'the next alert' });
    await owner.waitForMessage(botId, (c) => c.body === 'the next alert', 20_000, t0);
    const [room, reason] = await waitFor(() => dropped[0], 5_000, 'the refused message reported');
    assert.equal(room, muted);
    assert.match(reason, /403/);
    assert.equal(bot.queueLength, 0);
  } finally {
    bot.off('dropped', onDropped);
  }
});

test('stop and start in the same process (a redeploy): same device, says online, old commands are not replayed', async () => {
  const device = bot.deviceId;
  await bot.stop();
  const t0 = Date.now() - 500;
  await owner.send(roomId, '!record 5');
  await new Promise((r) => setTimeout(r, 500));
  commands.length = 0;
  bot = new MatrixBot({ homeserverUrl: syn.url, userId: botId, password: 'botpass', storeDir, adminUsers: ['@owner:localhost'], log: botLog });
  bot.on('command', (c: CommandMessage) => commands.push(c));
  await bot.start();
  assert.equal(bot.deviceId, device);
  await owner.waitForMessage(botId, (c) => c.body === 'Mantis is online.', 20_000, t0).catch((e: Error) => {
    if (process.env.MANTIS_DEBUG) console.log([...owner.received.values()].filter((r) => r.ts >= t0));
    throw e;
  });
  await owner.send(roomId, '!snapshot');
  await waitFor(() => commands.find((c) => c.command.command === 'snapshot'), 20_000, 'new command');
  assert.equal(commands.filter((c) => c.command.command === 'record').length, 0, 'command sent while stopped is not replayed');
  assert.ok(await owner.isVerified(botId, device!));
});

test('a fresh store on the same account re-bootstraps cross-signing through user-interactive auth (password)', async () => {
  // The server already has cross-signing keys for the account: replacing them needs UIA.
  const second = new MatrixBot({ homeserverUrl: syn.url, userId: botId, password: 'botpass', storeDir: tempDir('matrix-bot-2'), onlineMessage: false,
    log: (l, m) => { logs.push(m); botLog(l, m); } });
  const logs: string[] = [];
  try {
    await second.start();
    assert.notEqual(second.deviceId, bot.deviceId);
    const crypto = second.matrixClient!.getCrypto()!;
    assert.ok(await crypto.isCrossSigningReady());
    const status = await crypto.getDeviceVerificationStatus(botId, second.deviceId!);
    assert.ok(status?.signedByOwner, 'new device signed by the new self-signing key');
    assert.ok(logs.some((m) => /user-interactive auth/.test(m)), 'UIA was asked for and answered');
  } finally {
    await second.stop();
  }
});

test('a session without its crypto store is refused instead of reusing the device id with new keys', async () => {
  const dir = tempDir('matrix-bot-nostore');
  copyFileSync(join(storeDir, 'session.json'), join(dir, 'session.json'));
  const orphan = new MatrixBot({ homeserverUrl: syn.url, userId: botId, password: 'botpass', storeDir: dir, onlineMessage: false });
  await assert.rejects(orphan.start(), /crypto store .* is missing/);
  await orphan.stop();
});
