// A redeploy while the xmpp-account is still starting (the first OMEMO key
// generation of a fresh store) in a real Node-RED process (red.js) against a
// real Prosody: the old account acquires nothing once stopped, the process
// survives, and alerts arrive exactly once. And a queue file truncated by a
// power cut: moved aside and reported, never a crash loop at every start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Prosody, PROSODY_DOMAIN } from './helpers/prosody';
import { OmemoPeer } from './helpers/omemo-peer';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { startNodeRedProcess, type NodeRedProcess } from './helpers/node-red-process';

const BOT = `bot@${PROSODY_DOMAIN}`;
const ALICE = `alice@${PROSODY_DOMAIN}`;

const prosody = new Prosody({ upload: false });
const work = tempDir('xmpp-redeploy');
let red: NodeRedProcess;
let alice: OmemoPeer;

function flow(storeDir: string, label: string): unknown[] {
  return [
    { id: 'tab', type: 'tab', label },
    { id: 'acc', type: 'xmpp-account', jid: BOT, server: '127.0.0.1', port: String(prosody.c2sPort), resource: 'mantis', admins: ALICE, allowed: '', storeDir,
      credentials: { password: 'botpw' } },
    { id: 'out', z: 'tab', type: 'xmpp-omemo-out', account: 'acc', to: ALICE, wires: [] },
    { id: 'http', z: 'tab', type: 'http in', url: '/alert', method: 'post', wires: [['text', 'ok']] },
    { id: 'text', z: 'tab', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'payload.text', tot: 'msg' }], wires: [['out']] },
    { id: 'ok', z: 'tab', type: 'http response', statusCode: '200', wires: [] },
  ];
}

async function deploy(nodes: unknown[]): Promise<void> {
  const r = await fetch(`${red.url}/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full', 'node-red-api-version': 'v2' },
    body: JSON.stringify({ flows: nodes }),
  });
  assert.equal(r.status, 200, await r.text());
}

/** Posts an alert to the flow's http-in node (404 until the deployed flow has started). */
async function alert(text: string): Promise<void> {
  await waitFor(async () => {
    const r = await fetch(`${red.url}/alert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    return r.status === 200;
  }, 20_000, `POST /alert ${text}`);
}

function arrived(text: string): number {
  return alice.events.filter((e) => e.type === 'message' && e.from === BOT && e.body === text).length;
}

before(async () => {
  await prosody.start();
  prosody.register('bot', 'botpw');
  prosody.register('alice', 'alicepw');
  alice = new OmemoPeer({ jid: ALICE, password: 'alicepw', port: prosody.c2sPort, store: join(work, 'alice.json') });
  await alice.start();
  // Node-RED loads the nodes in <userDir>/nodes, as a user's own nodes.
  mkdirSync(join(work, 'nodes'));
  for (const n of ['xmpp-account', 'xmpp-omemo-out']) symlinkSync(join(repoRoot, 'dist', 'nodes', n), join(work, 'nodes', n));
  red = await startNodeRedProcess(work);
});

after(async () => {
  await red?.server.stop();
  await alice?.stop();
  await prosody.stop();
});

test('a redeploy during the first OMEMO key generation: Node-RED survives and every alert arrives once', async () => {
  const storeDir = join(work, 'bot-store');
  const storeFile = join(storeDir, 'omemo-store.json');
  await deploy(flow(storeDir, 'first'));
  await alert('queued while starting'); // in the outbox on disk, shared by both deploys
  assert.ok(!existsSync(storeFile), 'still generating keys when the redeploy comes (else this test proves nothing)');
  await deploy(flow(storeDir, 'second'));
  await waitFor(() => arrived('queued while starting') > 0 || red.server.exited, 60_000, 'the queued alert at alice');
  assert.ok(!red.server.exited, `Node-RED exited:\n${red.server.output}`);
  // Alerts keep going out, once each, for longer than the old outbox's retries took to crash it.
  const started = Date.now();
  for (let i = 1; Date.now() - started < 10_000; i++) {
    await alert(`after the redeploy ${i}`);
    await waitFor(() => arrived(`after the redeploy ${i}`) > 0 || red.server.exited, 20_000, `alert ${i}`);
    assert.ok(!red.server.exited, `Node-RED exited:\n${red.server.output}`);
  }
  const texts = alice.events.filter((e) => e.type === 'message' && e.from === BOT).map((e) => String(e.body));
  assert.deepEqual(texts.filter((t, i) => texts.indexOf(t) !== i), [], 'no alert twice');
  // The identity on disk is the one the bot published: the stopped start wrote no keys of its own.
  const store = JSON.parse(readFileSync(storeFile, 'utf8')) as { deviceId: number };
  const devices = await alice.request({ cmd: 'devices', jid: BOT });
  assert.deepEqual(devices.devices, [store.deviceId]);
  assert.doesNotMatch(red.server.output, /ENOENT|Unhandled|uncaught/i);
});

test('an account removed while it generates its keys leaves none behind', async () => {
  // The owner points the account to another store folder (or JID) and deploys again at once.
  const first = join(work, 'store-a');
  const second = join(work, 'store-b');
  await deploy(flow(first, 'first'));
  await alert('to the first store');
  assert.ok(!existsSync(join(first, 'omemo-store.json')), 'still generating keys when the redeploy comes');
  await deploy(flow(second, 'second'));
  // The second account generated all its keys and sent an alert: the first had time to finish.
  await alert('from the second store');
  await waitFor(() => arrived('from the second store') > 0 || red.server.exited, 60_000, 'alert from the second account');
  assert.ok(!red.server.exited, `Node-RED exited:\n${red.server.output}`);
  assert.ok(existsSync(join(second, 'omemo-store.json')));
  assert.ok(!existsSync(join(first, 'omemo-store.json')), 'the stopped account wrote an identity nobody uses');
  assert.equal(arrived('to the first store'), 0, 'its queue stays on disk, for when it is deployed again');
});

test('a truncated outbox file is moved aside and reported once; Node-RED stays up and the other alerts arrive', async () => {
  const storeDir = join(work, 'store-c');
  const outboxDir = join(storeDir, 'outbox');
  const queued = (): string[] => readdirSync(outboxDir).filter((f) => f.endsWith('.json')).sort();
  await deploy(flow(storeDir, 'third'));
  await alert('hello');
  await waitFor(() => arrived('hello') > 0, 60_000, 'first alert of the third account');
  // Three alerts wait while the server is down, then the power goes: the middle file keeps half of its bytes.
  await prosody.stop();
  for (const text of ['alert one', 'alert two', 'alert three']) await alert(text);
  await waitFor(() => queued().length >= 3, 15_000, 'three alerts queued on disk');
  await red.server.stop(10_000);
  const files = queued();
  const middle = join(outboxDir, files[files.length - 2]!);
  const whole = readFileSync(middle, 'utf8');
  writeFileSync(middle, whole.slice(0, whole.length >> 1));

  await prosody.start();
  await alice.stop();
  alice = new OmemoPeer({ jid: ALICE, password: 'alicepw', port: prosody.c2sPort, store: join(work, 'alice.json') });
  await alice.start();
  red = await startNodeRedProcess(work);
  await waitFor(() => arrived('alert three') > 0 || red.server.exited, 60_000, 'the alert behind the bad file');
  assert.ok(!red.server.exited, `Node-RED exited:\n${red.server.output}`);
  assert.equal(arrived('alert one'), 1);
  assert.equal(arrived('alert two'), 0);
  assert.deepEqual(readdirSync(join(outboxDir, 'bad')).filter((f) => f.endsWith('.json')).map((f) => readFileSync(join(outboxDir, 'bad', f), 'utf8')),
    [whole.slice(0, whole.length >> 1)]);
  await waitFor(() => queued().length === 0, 15_000, 'the outbox empty once the server acknowledged the last alert');
  const reports = red.server.output.split('\n').filter((l) => /unreadable queued/.test(l));
  assert.equal(reports.length, 1, `reported once in the log:\n${red.server.output}`);
  await alert('after');
  await waitFor(() => arrived('after') > 0, 30_000, 'a later alert');
});
