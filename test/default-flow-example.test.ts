// The default flow as someone with their own Node-RED meets it: Import ▸ Examples lists it, it
// deploys as it is (POST /flows, what the editor's Deploy sends) into a Node-RED whose environment
// holds no MANTIS_* settings, no node goes red or reports an error, the demo camera's motion reaches
// the debug node and a clip lands in the clips folder. Witnesses: Node-RED's own library API and
// its comms channel (node statuses, the debug sidebar), its log, ffprobe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { openComms, startNodeRedProcess, type CommsMessage } from './helpers/node-red-process';
import { ffprobe } from './helpers/video';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { name: string; 'node-red': { nodes: Record<string, string> } };
const shipped = readFileSync(join(repoRoot, 'flows', 'default.json'), 'utf8');
interface FlowNode { id: string; type: string; name?: string }

test('the default flow from Import > Examples works in a Node-RED of its own, without any MANTIS_* setting', async (t) => {
  // The package as the palette manager installs it (a folder in the user dir's node_modules).
  const userDir = tempDir('mantis-example');
  writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
  mkdirSync(join(userDir, 'node_modules', '@mantis-alarm'), { recursive: true });
  symlinkSync(repoRoot, join(userDir, 'node_modules', pkg.name), 'dir');
  const noMantis = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('MANTIS_')).map((k) => [k, undefined]));
  const red = await startNodeRedProcess(userDir, 'node-red', noMantis);
  let log = '';
  red.server.child.stdout?.on('data', (b: Buffer) => { log += b.toString(); });
  red.server.child.stderr?.on('data', (b: Buffer) => { log += b.toString(); });
  let comms: Awaited<ReturnType<typeof openComms>> | undefined;
  t.after(async () => {
    comms?.close();
    await red.server.stop();
  });

  // Import ▸ Examples ▸ @mantis-alarm/node-red-mantis lists it, and what it serves is the shipped flow.
  const listed = await (await fetch(`${red.url}/library/examples/flows/${pkg.name}/`)).json() as ({ fn: string } | string)[];
  assert.ok(listed.some((e) => typeof e === 'object' && e.fn === 'default-flow'), `default-flow among the examples: ${JSON.stringify(listed)}`);
  const res = await fetch(`${red.url}/library/examples/flows/${pkg.name}/default-flow`);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(!text.includes('${'), 'no ${...} left for Node-RED to resolve');
  const flow = JSON.parse(text) as FlowNode[];
  assert.deepEqual(flow, JSON.parse(shipped), 'the example is flows/default.json');

  // What the editor shows: statuses and the debug sidebar.
  comms = await openComms(red.url);
  const { messages } = comms;

  const deploy = await fetch(`${red.url}/flows`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full', 'Node-RED-API-Version': 'v1' },
    body: text,
  });
  assert.ok(deploy.ok, `deploy: ${deploy.status} ${await deploy.text()}`);

  // The demo camera's figure: a motion start in the debug sidebar, from the motion-detect node's output.
  const motion = await waitFor(() => messages.find((m) => m.topic === 'debug' && m.data.name === 'motion events' && /"event":"start"/.test(m.data.msg ?? '')),
    60_000, 'a motion start in the debug sidebar');
  assert.match(motion.data.msg ?? '', /"camera":"camera"/);
  // Every motion is recorded: a clip in the default clips folder of the user dir, with its pre-roll.
  const clips = join(userDir, 'mantis-clips');
  const clip = await waitFor(() => {
    try { return readdirSync(clips).find((f) => f.endsWith('.mp4')); } catch { return undefined; }
  }, 60_000, 'a clip in mantis-clips');
  assert.ok(ffprobe(join(clips, clip)).duration >= 5, 'the clip holds the 5 s pre-roll and the motion');

  // No node in error: every Mantis node has a status, none red; nothing reported as an error.
  const ours = new Set(Object.keys(pkg['node-red'].nodes));
  const statusOf = (id: string): CommsMessage | undefined => [...messages].reverse().find((m) => m.topic === `status/${id}`);
  for (const n of flow.filter((x) => ours.has(x.type) && !['mantis-camera', 'matrix-account', 'xmpp-account'].includes(x.type))) {
    assert.ok(statusOf(n.id), `${n.type} "${n.name ?? ''}" shows a status`);
  }
  const red_ = messages.filter((m) => m.topic.startsWith('status/') && m.data.fill === 'red');
  assert.deepEqual(red_.map((m) => `${m.topic}: ${m.data.text}`), [], 'red statuses');
  const errors = messages.filter((m) => m.topic === 'debug' && m.data.level === 20);
  assert.deepEqual(errors.map((m) => `${m.data.name ?? m.data.id}: ${m.data.msg}`), [], 'node errors in the debug sidebar');
  assert.doesNotMatch(log, /\[error\]/, 'no errors in the log');
  // The alarm works without Home Assistant until it gets a broker.
  const panel = flow.find((n) => n.type === 'alarm-panel')!;
  assert.match(statusOf(panel.id)?.data.text ?? '', /^disarmed · no MQTT$/);
});
