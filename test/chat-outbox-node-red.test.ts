// The durable outbox in a real Node-RED 5 process against a real Prosody and an
// independent OMEMO client: a queue file truncated by a power cut must not
// crash Node-RED at every start (a crash loop that silences the alarm), it is
// moved aside and reported, and the alerts behind it still arrive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Prosody, PROSODY_DOMAIN } from './helpers/prosody';
import { OmemoPeer } from './helpers/omemo-peer';
import { repoRoot, tempDir } from './helpers/paths';
import { freePort, ServerProcess, waitFor } from './helpers/processes';

const BOT = `bot@${PROSODY_DOMAIN}`;
const ALICE = `alice@${PROSODY_DOMAIN}`;
const prosody = new Prosody();
const work = tempDir('outbox-red');
const storeDir = join(work, 'bot-store');
const outboxDir = join(storeDir, 'outbox');
let alice: OmemoPeer;
let port = 0;

/** Node-RED's own CLI with the XMPP nodes, an account and POST /alert -> xmpp-omemo-out. */
function writeUserDir(): void {
  const nodesDir = join(work, 'nodes');
  mkdirSync(nodesDir, { recursive: true });
  for (const n of ['xmpp-account', 'xmpp-omemo-out']) symlinkSync(join(repoRoot, 'dist', 'nodes', n), join(nodesDir, n));
  writeFileSync(join(work, 'flows.json'), JSON.stringify([
    { id: 'tab', type: 'tab', label: 'outbox' },
    { id: 'acc', type: 'xmpp-account', jid: BOT, server: '127.0.0.1', port: String(prosody.c2sPort), resource: 'mantis', admins: ALICE, allowed: '', storeDir },
    { id: 'http', z: 'tab', type: 'http in', url: '/alert', method: 'post', wires: [['out', 'resp']] },
    { id: 'out', z: 'tab', type: 'xmpp-omemo-out', account: 'acc', to: ALICE, wires: [] },
    { id: 'resp', z: 'tab', type: 'http response', statusCode: '200', wires: [] },
  ]));
  writeFileSync(join(work, 'flows_cred.json'), JSON.stringify({ acc: { password: 'botpw' } }));
  writeFileSync(join(work, 'settings.js'), `module.exports = ${JSON.stringify({
    uiHost: '127.0.0.1', uiPort: port, flowFile: 'flows.json', credentialSecret: false, nodesDir: [nodesDir],
    telemetry: { enabled: false }, logging: { console: { level: 'info' } }, editorTheme: { tours: false },
  })};\n`);
}

async function startRed(): Promise<ServerProcess> {
  const red = new ServerProcess(process.execPath, [join(repoRoot, 'node_modules', 'node-red', 'red.js'), '--userDir', work,
    '--settings', join(work, 'settings.js')], { cwd: work });
  await waitFor(async () => {
    if (red.exited) throw new Error(`node-red exited: ${red.output}`);
    return red.output.includes('Started flows') && (await fetch(`http://127.0.0.1:${port}/settings`).catch(() => undefined))?.ok;
  }, 60_000, 'node-red to start');
  return red;
}

const alert = async (text: string): Promise<void> => {
  const r = await fetch(`http://127.0.0.1:${port}/alert`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: text });
  assert.equal(r.status, 200);
};
const queued = (): string[] => readdirSync(outboxDir).filter((f) => f.endsWith('.json')).sort();

before(async () => {
  await prosody.start();
  prosody.register('bot', 'botpw');
  prosody.register('alice', 'alicepw');
  alice = new OmemoPeer({ jid: ALICE, password: 'alicepw', port: prosody.c2sPort, store: join(work, 'alice.json') });
  await alice.start();
  port = await freePort();
  writeUserDir();
});

after(async () => {
  await alice?.stop();
  await prosody.stop();
});

test('a truncated outbox file is moved aside and reported; Node-RED stays up and the other alerts arrive', async () => {
  // A first run delivers once (the bot learns Alice's device), then queues three alerts while the server is down.
  let red = await startRed();
  const t0 = alice.events.length;
  await alert('hello');
  await alice.waitFor((e) => e.type === 'message' && e.from === BOT && e.body === 'hello', 30_000, 'first alert', t0).catch((e: Error) => { throw new Error(e.message + red.output); });
  await prosody.stop();
  for (const text of ['alert one', 'alert two', 'alert three']) await alert(text);
  await waitFor(() => queued().length >= 3, 15_000, 'three alerts queued on disk');
  await red.stop(10_000);

  // The power cut: the middle file keeps only half of its bytes.
  const files = queued();
  const middle = join(outboxDir, files[files.length - 2]!);
  const whole = readFileSync(middle, 'utf8');
  writeFileSync(middle, whole.slice(0, whole.length >> 1));

  await prosody.start();
  await alice.stop();
  alice = new OmemoPeer({ jid: ALICE, password: 'alicepw', port: prosody.c2sPort, store: join(work, 'alice.json') });
  await alice.start();
  const t1 = alice.events.length;
  red = await startRed();
  try {
    await alice.waitFor((e) => e.type === 'message' && e.from === BOT && e.body === 'alert three', 60_000, 'the alert behind the bad file', t1);
    const bodies = alice.events.slice(t1).filter((e) => e.type === 'message' && e.from === BOT).map((e) => e.body);
    assert.deepEqual(bodies.filter((b) => /^alert /.test(String(b))), ['alert one', 'alert three']);
    assert.equal(red.exited, false, 'Node-RED is still running');
    assert.deepEqual(readdirSync(join(outboxDir, 'bad')).map((f) => readFileSync(join(outboxDir, 'bad', f), 'utf8')), [whole.slice(0, whole.length >> 1)]);
    assert.deepEqual(queued(), []);
    const reports = red.output.split('\n').filter((l) => /unreadable|moved to/.test(l));
    assert.equal(reports.length, 1, `reported once in the log:\n${red.output}`);
    // Alive and still sending: a new alert after the bad file goes out too.
    const t2 = alice.events.length;
    await alert('after');
    await alice.waitFor((e) => e.type === 'message' && e.from === BOT && e.body === 'after', 30_000, 'a later alert', t2);
  } finally {
    await red.stop(10_000);
  }
});
