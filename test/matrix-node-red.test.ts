// The Matrix nodes in a real Node-RED 5 process against a real Synapse:
// verification confirmed through the editor's admin endpoint, alerts and
// commands through the flow, kill -9 and restart (same device, same keys,
// still verified), and the durable outbox across a homeserver outage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Synapse } from './helpers/synapse';
import { MatrixOwner, unrefLongTimers } from './helpers/matrix-owner';
import { NodeRedProcess, matrixTestFlow } from './helpers/matrix-node-red';
import { tempDir } from './helpers/paths';
import { sleep, waitFor } from './helpers/processes';
import { chromium, type Browser } from 'playwright-core';

unrefLongTimers();
const syn = new Synapse();
let owner: MatrixOwner;
let red: NodeRedProcess;
let roomId = '';
let botId = '';
let deviceId = '';
const OWNER = '@owner:localhost';

interface VerificationState { pending: { id: string; emoji: [string, string][] } | null; deviceId: string | null; status: { text: string } }
const state = async (): Promise<VerificationState> => await red.getJson('/mantis/matrix-account/acc/verification') as unknown as VerificationState;
const alert = async (body: Record<string, unknown>): Promise<void> => {
  const r = await red.post('/alert', { roomId, ...body });
  assert.equal(r.status, 200, `POST /alert: ${r.status}\n${red.proc?.output.slice(-3000)}`);
};
const botJoined = (): boolean => owner.client.getRoom(roomId)?.getMember(botId)?.membership === 'join';

before(async () => {
  await syn.start();
  botId = await syn.register('mantis', 'botpass');
  await syn.register('owner', 'ownerpass');
  owner = new MatrixOwner(syn.url, OWNER, 'ownerpass');
  await owner.start();
  roomId = await owner.createEncryptedRoom([botId]);
  const userDir = tempDir('matrix-red');
  red = new NodeRedProcess(userDir, matrixTestFlow(syn.url, botId, OWNER, ''), { acc: { password: 'botpass' } });
  await red.start();
});

after(async () => {
  await red?.stop();
  await owner?.stop();
  await syn.stop();
});

test('joins on invite; the owner verifies with emoji confirmed in the editor dialog (never by itself)', async () => {
  await waitFor(botJoined, 30_000, 'bot joined the room');
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(red.url);
    await page.waitForSelector('#red-ui-workspace-chart', { timeout: 60_000 });
    await page.waitForFunction(() => !!(window as unknown as { RED?: { nodes?: { node(id: string): unknown } } }).RED?.nodes?.node('acc'), undefined, { timeout: 30_000 });
    await owner.verify(botId, roomId, async (names) => {
      const s = await waitFor(async () => (await state()).pending, 20_000, 'emoji at the editor endpoint');
      assert.deepEqual(s.emoji.map((e) => e[1]), names);
      // Without the human's confirmation nothing happens.
      await sleep(1500);
      assert.ok((await state()).pending, 'still waiting for the editor');
      const bad = await red.post('/mantis/matrix-account/acc/verification/confirm', { id: 'wrong' });
      assert.equal(bad.status, 409);
      // The human opens the account's edit dialog, compares, and presses "They match".
      await page.evaluate(() => (window as unknown as { RED: { editor: { editConfig(n: string, t: string, id: string): void } } }).RED.editor.editConfig('', 'matrix-account', 'acc'));
      const box = page.locator('#mantis-matrix-verification');
      await box.getByText(names[0]!, { exact: true }).first().waitFor({ timeout: 20_000 });
      const shown = await box.innerText();
      for (const n of names) assert.ok(shown.includes(n), `${n} shown in the dialog`);
      if (process.env.MANTIS_DEBUG) await page.screenshot({ path: join(red.userDir, 'verification-dialog.png') });
      await box.getByRole('button', { name: 'They match' }).click();
    });
  } finally {
    await browser?.close();
  }
  deviceId = String((await state()).deviceId);
  assert.ok(await owner.isVerified(botId, deviceId));
});

test('alerts from the flow arrive decrypted; commands come out of matrix-e2ee-in and replies go back', async () => {
  const t0 = Date.now() - 1000;
  await alert({ text: 'Motion: front door' });
  await owner.waitForMessage(botId, (c) => c.body === 'Motion: front door', 20_000, t0);
  await owner.send(roomId, '!status');
  await owner.waitForMessage(botId, (c) => c.body === `ack status from ${OWNER}`, 20_000, t0);
  await owner.send(roomId, '!help');
  await owner.waitForMessage(botId, (c) => /Mantis commands/.test(String(c.body)), 20_000, t0);
});

test('the owner arms and disarms the real alarm panel from the room and reads its answers', async () => {
  const t0 = Date.now() - 1000;
  await owner.send(roomId, '!arm home');
  await owner.waitForMessage(botId, (c) => c.body === 'Alarm armed (home)', 20_000, t0);
  const t1 = Date.now();
  await owner.send(roomId, '!is_alarm_system_enabled'); // MANTIS's long form of !status
  await owner.waitForMessage(botId, (c) => c.body === 'Alarm armed (home)', 20_000, t1);
  await owner.send(roomId, '!disarm');
  const off = await owner.waitForMessage(botId, (c) => /disarmed/i.test(String(c.body)), 20_000, t1);
  assert.equal(off.failed, false);
  // The panel itself holds the state the owner set (its file in the user dir).
  const saved = JSON.parse(readFileSync(join(red.userDir, 'mantis', 'alarm-panel.json'), 'utf8')) as Record<string, unknown>;
  assert.match(JSON.stringify(saved), /"disarmed"/);
});

test('kill -9 mid-session and restart: same device and keys, still verified, commands still obeyed', async () => {
  // The default folder is named after the account, so a re-imported flow finds the same device.
  const storeDir = join(red.userDir, 'mantis-matrix', botId.replace(':', '_'));
  const session = JSON.parse(readFileSync(join(storeDir, 'session.json'), 'utf8')) as { deviceId: string };
  assert.equal(session.deviceId, deviceId);
  const t0 = Date.now() - 1000;
  // Kill while the bot is busy: a command in flight and alerts being sent.
  await owner.send(roomId, '!snapshot');
  await alert({ text: 'before crash 1' });
  await alert({ text: 'before crash 2' });
  await sleep(150);
  await red.kill9();
  await red.start();
  await waitFor(async () => (await state()).status.text === 'connected', 60_000, 'bot connected again');
  assert.equal((await state()).deviceId, deviceId);
  // Nothing accepted before the crash is lost (the outbox is on disk).
  await owner.waitForMessage(botId, (c) => c.body === 'Mantis is online.', 30_000, t0);
  await owner.waitForMessage(botId, (c) => c.body === 'before crash 2', 30_000, t0).catch((e: Error) => {
    if (process.env.MANTIS_DEBUG) {
      console.log(red.proc?.output);
      console.log([...owner.received.values()].filter((r) => r.ts >= t0));
    }
    throw e;
  });
  await alert({ text: 'after crash' });
  const after = await owner.waitForMessage(botId, (c) => c.body === 'after crash', 30_000, t0).catch((e: Error) => {
    if (process.env.MANTIS_DEBUG) {
      console.log(red.proc?.output);
      console.log([...owner.received.values()].filter((r) => r.ts >= t0));
    }
    throw e;
  });
  assert.equal(after.failed, false);
  assert.ok(await owner.isVerified(botId, deviceId), 'owner still trusts the same device');
  const devices = await owner.client.getCrypto()!.getUserDeviceInfo([botId], true);
  assert.deepEqual([...(devices.get(botId)?.keys() ?? [])], [deviceId]);
  // The bot still trusts the owner (its cross-signing state survived): commands work.
  const t1 = Date.now() - 500;
  await owner.send(roomId, '!snapshot');
  await owner.waitForMessage(botId, (c) => c.body === `ack snapshot from ${OWNER}`, 30_000, t1);
});

test('homeserver down during an alarm: alerts wait in the outbox and arrive in order', async () => {
  const t0 = Date.now() - 1000;
  await syn.stop();
  for (let i = 1; i <= 3; i++) await alert({ text: `queued alert ${i}` });
  await waitFor(async () => /queued 3/.test((await state()).status.text), 30_000, 'status shows queued 3').catch(async (e: Error) => {
    if (process.env.MANTIS_DEBUG) console.log(JSON.stringify(await state()), red.proc?.output);
    throw e;
  });
  await syn.start();
  await owner.waitForMessage(botId, (c) => c.body === 'queued alert 3', 90_000, t0);
  const order = [...owner.received.values()].filter((r) => r.sender === botId && /^queued alert/.test(String(r.content.body)))
    .sort((a, b) => a.ts - b.ts).map((r) => r.content.body);
  assert.deepEqual(order, ['queued alert 1', 'queued alert 2', 'queued alert 3']);
});

test('Node-RED restarted while the homeserver is down: alerts from before and after the restart all arrive, in order', async () => {
  // A send whose answer the last outage cut off stays queued (and is retried, same transaction id) after the owner
  // already has it: start this outage with an empty queue.
  await waitFor(async () => (await state()).status.text === 'connected', 60_000, 'the queue of the last outage drained');
  const t0 = Date.now() - 1000;
  await syn.stop();
  await alert({ text: 'outage alert 1' });
  await waitFor(async () => /queued 1/.test((await state()).status.text), 30_000, 'status shows queued 1').catch(async (e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(await state())}\n${red.proc?.output.slice(-3000)}`); });
  await red.stop();
  await red.start();
  // Queued while the bot cannot even sync: it must go behind the one left on disk, not replace it.
  await alert({ text: 'outage alert 2' });
  await syn.start();
  await owner.waitForMessage(botId, (c) => c.body === 'outage alert 2', 120_000, t0);
  await owner.waitForMessage(botId, (c) => c.body === 'outage alert 1', 10_000, t0);
  const order = [...owner.received.values()].filter((r) => r.sender === botId && /^outage alert/.test(String(r.content.body)))
    .sort((a, b) => a.ts - b.ts).map((r) => r.content.body);
  assert.deepEqual(order, ['outage alert 1', 'outage alert 2']);
});

test('a new account deployed while the homeserver is down logs in by itself once it is back', async () => {
  const second = await syn.register('mantis2', 'bot2pass');
  await syn.stop();
  const flow = [...matrixTestFlow(syn.url, botId, OWNER, ''),
    { id: 'acc2', type: 'matrix-account', homeserver: syn.url, userId: second, deviceName: 'Mantis 2', displayName: 'Mantis 2', storeDir: '',
      adminUsers: OWNER, allowedUsers: '', credentials: { password: 'bot2pass' } }];
  const r = await red.post('/flows', flow);
  assert.equal(r.status, 204);
  const status2 = async (): Promise<string> => ((await red.getJson('/mantis/matrix-account/acc2/verification')) as unknown as VerificationState).status.text;
  await waitFor(async () => /homeserver unreachable, retrying in \d+ s/.test(await status2()), 30_000, 'acc2 says it will retry');
  await syn.start();
  await waitFor(async () => (await status2()) === 'connected', 90_000, 'acc2 logged in after the homeserver came back');
  const session = JSON.parse(readFileSync(join(red.userDir, 'mantis-matrix', second.replace(':', '_'), 'session.json'), 'utf8')) as { userId: string };
  assert.equal(session.userId, second);
});
