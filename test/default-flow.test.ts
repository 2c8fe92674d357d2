// `npm start` as a user runs it: the CLI in a child process with the shipped default flow,
// the demo camera and the embedded MQTT broker. Everything is checked from the outside:
// the editor's own debug/status channel, the clips folder, MQTT as Home Assistant sees it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { spawnMantisCli, startMantisCli } from './helpers/mantis-start';
import { Mosquitto, Recorder } from './helpers/mosquitto';
import { editorLogin, isLoopback, mqttLogin } from '../lib/embedded/start-settings';
import { getJson, openComms } from './helpers/node-red-process';
import { ffprobe, jpegSize, pidAlive } from './helpers/video';

interface FlowNode { id: string; type: string; name?: string; z?: string }
const defaultFlow = JSON.parse(readFileSync(join(repoRoot, 'flows', 'default.json'), 'utf8')) as FlowNode[];
const byType = (type: string): FlowNode[] => defaultFlow.filter((n) => n.type === type);

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { return []; }
}

test('npm start: the default flow watches the demo camera, records clips, talks to HA, stops cleanly', async (t) => {
  const userDir = tempDir('mantis-start');
  const cli = await startMantisCli(userDir);
  const { proc: mantis, url, mqttPort } = cli;
  const broker = { client: undefined as mqtt.MqttClient | undefined };
  let comms: Awaited<ReturnType<typeof openComms>> | undefined;
  t.after(async () => {
    comms?.close();
    broker.client?.end(true);
    await mantis.stop();
  });

  // The editor serves the default flow, every Mantis node in it.
  const deployed = await getJson<FlowNode[]>(`${url}/flows`);
  for (const type of ['camera-in', 'motion-detect', 'record-clip', 'alarm-panel', 'matrix-e2ee-out', 'xmpp-omemo-out', 'matrix-e2ee-in', 'xmpp-omemo-in']) {
    assert.ok(deployed.some((n) => n.type === type), `the deployed flow has a ${type}`);
  }
  comms = await openComms(url);
  const c = comms;

  // Motion from the demo scene reaches the debug sidebar within seconds.
  const motion = await waitFor(() => c.messages.find((m) => m.topic === 'debug' && m.data.name === 'motion events' && /"event":"start"/.test(m.data.msg ?? '')),
    45_000, 'a motion start in the debug sidebar');
  assert.match(motion.data.msg ?? '', /"camera":"camera"/);

  // Home Assistant's view: discovery, state, a command, and the snapshot button.
  const retained = new Map<string, Buffer>();
  broker.client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 });
  const client = broker.client;
  client.on('message', (topic, payload) => { retained.set(topic, payload); });
  await client.subscribeAsync(['homeassistant/#', 'mantis/#']);
  const panel = await waitFor(() => retained.get('homeassistant/alarm_control_panel/mantis/alarm/config'), 10_000, 'alarm panel discovery');
  const panelConfig = JSON.parse(panel.toString()) as { command_topic: string; state_topic: string };
  // The broker hands out the retained configs one by one: the first one here says nothing of the others yet.
  await waitFor(() => retained.has('homeassistant/binary_sensor/mantis/camera_motion/config'), 10_000, 'a motion sensor for the camera');
  await waitFor(() => retained.has('homeassistant/binary_sensor/mantis/camera_problem/config'), 10_000, 'a problem sensor for the camera');
  await waitFor(() => retained.get(panelConfig.state_topic)?.toString() === 'disarmed', 10_000, 'state disarmed');
  await client.publishAsync(panelConfig.command_topic, JSON.stringify({ action: 'ARM_AWAY', code: '' }));
  await waitFor(() => retained.get(panelConfig.state_topic)?.toString() === 'arming', 5_000, 'HA arm to show as arming (exit delay)');
  await waitFor(() => c.messages.some((m) => m.topic === 'debug' && m.data.name === 'alarm' && /arming/i.test(m.data.msg ?? '')), 5_000, 'the alarm debug node to say so');
  await client.publishAsync(panelConfig.command_topic, JSON.stringify({ action: 'DISARM', code: '' }));
  await waitFor(() => retained.get(panelConfig.state_topic)?.toString() === 'disarmed', 5_000, 'HA disarm');
  await client.publishAsync('mantis/mantis/camera/camera/snapshot/press', 'PRESS');
  const image = await waitFor(() => retained.get('mantis/mantis/camera/camera/snapshot'), 15_000, 'the snapshot image in HA');
  assert.deepEqual(jpegSize(image), { width: 1280, height: 720 });

  // A clip lands in the clips folder, starting before the motion.
  const clipsDir = join(userDir, 'clips');
  const clip = await waitFor(() => {
    try { return readdirSync(clipsDir).find((f) => f.endsWith('.mp4')); } catch { return undefined; }
  }, 60_000, 'a clip in the clips folder');
  const probe = ffprobe(join(clipsDir, clip));
  assert.ok(probe.duration >= 5, `clip of ${probe.duration} s holds the 5 s pre-roll and the motion`);
  await waitFor(() => c.messages.some((m) => m.topic === 'debug' && m.data.name === 'clips' && (m.data.msg ?? '').includes(clip)), 10_000, 'the clip in the debug sidebar');

  // The chat nodes are not configured: grey and quiet.
  for (const n of [...byType('matrix-e2ee-out'), ...byType('xmpp-omemo-out'), ...byType('matrix-e2ee-in'), ...byType('xmpp-omemo-in')]) {
    const status = [...c.messages].reverse().find((m) => m.topic === `status/${n.id}`);
    assert.equal(status?.data.text, 'not configured: open the account node', `${n.type} "${n.name}" says it is not configured`);
    assert.equal(status?.data.fill, 'grey', `${n.type} is grey, not a fault`);
  }
  assert.doesNotMatch(cli.log(), /\[error\]/, 'no errors in the log');

  // Ctrl-C: a clean exit, the camera's ffmpeg gone with it.
  const ffmpegs = childPids(mantis.pid!);
  assert.ok(ffmpegs.length >= 1, 'the camera runs an ffmpeg');
  const exited = new Promise<number | null>((r) => mantis.child.once('exit', (code) => r(code)));
  mantis.child.kill('SIGINT');
  assert.equal(await exited, 0);
  await waitFor(() => ffmpegs.every((p) => !pidAlive(p)), 5_000, 'ffmpeg to stop');
  assert.ok(readdirSync(clipsDir).includes(clip), "the clip is kept");
});

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

test('npm start: MANTIS_MQTT_USER / MANTIS_MQTT_PASSWORD log in, kept encrypted; credentials and their key readable by this user only', async (t) => {
  const mosq = new Mosquitto({ mantis: 'mqtt-secret-4711', ha: 'ha-password' });
  await mosq.start();
  const ha = await Recorder.connect(mosq.url, ['mantis/mantis/availability'], { username: 'ha', password: 'ha-password' });
  const userDir = tempDir('mantis-login');
  chmodSync(userDir, 0o755); // as a folder made by hand would be
  const broker = { MANTIS_MQTT_HOST: '127.0.0.1', MANTIS_MQTT_PORT: String(mosq.port) };
  let cli: Awaited<ReturnType<typeof startMantisCli>> | undefined;
  t.after(async () => {
    await cli?.proc.stop();
    await ha.end();
    await mosq.stop();
  });

  cli = await startMantisCli(userDir, { ...broker, MANTIS_MQTT_USER: 'mantis', MANTIS_MQTT_PASSWORD: 'mqtt-secret-4711' });
  await ha.waitFor('mantis/mantis/availability', 'online', 20_000); // the broker took the login
  await cli.proc.stop();
  await ha.waitFor('mantis/mantis/availability', 'offline', 10_000);

  const files = ['flows_cred.json', '.config.runtime.json'];
  assert.deepEqual([mode(userDir), ...files.map((f) => mode(join(userDir, f)))], ['700', '600', '600'], `modes of the user dir, ${files.join(', ')}`);
  for (const f of readdirSync(userDir)) {
    const text = statSync(join(userDir, f)).isFile() ? readFileSync(join(userDir, f), 'utf8') : '';
    assert.ok(!text.includes('mqtt-secret-4711'), `${f} does not hold the password in clear`);
  }
  assert.ok((JSON.parse(readFileSync(join(userDir, 'flows_cred.json'), 'utf8')) as { $?: string }).$, 'the credentials are encrypted');

  // The next start needs no password in the environment: it is in the credentials.
  ha.clear();
  cli = await startMantisCli(userDir, broker);
  await ha.waitFor('mantis/mantis/availability', 'online', 20_000);
  assert.doesNotMatch(cli.log(), /not authorised/);
});

test('npm start: no editor beyond loopback without a login; with MANTIS_ADMIN_PASSWORD_HASH the editor wants it', async (t) => {
  // Beyond loopback and no login: it refuses before it listens (0.0.0.0 is never opened here).
  const open = await spawnMantisCli(tempDir('mantis-open'), { MANTIS_HOST: '0.0.0.0' });
  const code = await new Promise<number | null>((r) => open.proc.child.once('exit', (c) => r(c)));
  assert.equal(code, 1);
  assert.match(open.proc.output, /refusing to open the editor on 0\.0\.0\.0 without a login/);
  assert.match(open.proc.output, /MANTIS_ADMIN_PASSWORD_HASH/);
  assert.doesNotMatch(open.proc.output, /Started flows/);

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bcrypt = require('bcryptjs') as { hashSync(pw: string, rounds: number): string };
  const cli = await startMantisCli(tempDir('mantis-auth'), { MANTIS_ADMIN_USER: 'owner', MANTIS_ADMIN_PASSWORD_HASH: bcrypt.hashSync('editor-secret', 8) });
  t.after(() => cli.proc.stop());
  assert.equal((await fetch(`${cli.url}/flows`)).status, 401, 'no flow without logging in');
  const token = async (password: string): Promise<Response> => fetch(`${cli.url}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'owner', password }),
  });
  assert.equal((await token('wrong')).ok, false, 'a wrong password gets no token');
  const res = await token('editor-secret');
  assert.ok(res.ok, `login: ${res.status}`);
  const { access_token } = (await res.json()) as { access_token: string };
  const flows = await fetch(`${cli.url}/flows`, { headers: { Authorization: `Bearer ${access_token}` } });
  assert.equal(flows.status, 200);
  assert.ok(((await flows.json()) as FlowNode[]).some((n) => n.type === 'alarm-panel'));
});

test('npm start settings: what counts as loopback, what a login hash must look like, where the broker login goes', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '192.168.1.20', 'mantis.local', '127.0.0.1.example.org']) assert.ok(!isLoopback(h), h);
  assert.equal(editorLogin({}), undefined);
  assert.throws(() => editorLogin({ MANTIS_ADMIN_PASSWORD_HASH: 'hunter2' }), /not a bcrypt hash/);
  const hash = `$2b$08$${'a'.repeat(53)}`;
  assert.deepEqual(editorLogin({ MANTIS_ADMIN_PASSWORD_HASH: hash }), { username: 'admin', passwordHash: hash });
  assert.throws(() => mqttLogin({ MANTIS_MQTT_PASSWORD: 'x' }), /MANTIS_MQTT_USER is not/);
  const env: NodeJS.ProcessEnv = { MANTIS_MQTT_USER: 'mantis', MANTIS_MQTT_PASSWORD: 'pw' };
  const login = mqttLogin(env)!;
  assert.equal(env.MANTIS_MQTT_PASSWORD, undefined, 'the password leaves the environment once read');
  const flow = [
    { id: 'b1', type: 'mqtt-broker', broker: '${MANTIS_MQTT_HOST}' },
    { id: 'b2', type: 'mqtt-broker', broker: 'other.example.org' },
  ];
  assert.deepEqual(login.credentials(flow), { b1: { user: 'mantis', password: 'pw' } }, 'only the broker that uses MANTIS_MQTT_HOST');
});

