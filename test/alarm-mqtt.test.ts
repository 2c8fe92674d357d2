// alarm-panel in the real Node-RED runtime with Node-RED's own mqtt-broker node and a real Mosquitto.
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { helper } from './helpers/node-red';
import { Mosquitto, Recorder, retained } from './helpers/mosquitto';
import { collect, coreMqttNode, loadPanel, panel } from './helpers/alarm-node-red';
import { mantisNode } from './helpers/node-red';
import { repoRoot, tempDir } from './helpers/paths';
import { ServerProcess, waitFor, sleep } from './helpers/processes';
import type { MotionEvent } from '../lib/motion/event';

const DEV = 'mantis_t';
const BASE = `mantis/${DEV}`;
const STATE = `${BASE}/alarm/state`;
const CMD = `${BASE}/alarm/set`;
const AVAIL = `${BASE}/availability`;

function motion(event: MotionEvent['event'] = 'start', camera = 'door'): MotionEvent {
  return { event, t: Date.now(), startedAt: Date.now(), score: 0.2, boxes: [{ x: 0.1, y: 0.1, w: 0.2, h: 0.3 }], zones: [], camera };
}

function warnings(): string[] {
  return helper.log().args.map((a) => a[0] as { level: number; msg: unknown }).filter((l) => l.level === 30).map((l) => String(l.msg));
}

/** The status texts the panel shows, newest last. */
function statuses(): string[] {
  const got: string[] = [];
  panel().on('call:status' as 'input', (call) => got.push(String((call as unknown as { args: [{ text?: string }] }).args[0]?.text)));
  return got;
}

describe('alarm-panel with Mosquitto', () => {
  const mosq = new Mosquitto();
  let userDir = '';
  let rec: Recorder;

  before(async () => {
    await mosq.start();
    rec = await Recorder.connect(mosq.url, [`${BASE}/#`, 'homeassistant/#']);
  });
  after(async () => {
    await rec?.end();
    await mosq.stop();
  });
  afterEach(async () => {
    await helper.unload();
  });

  function settings(): void {
    rec.clear(); // so that waiting for "online" waits for this test's panel
    userDir = tempDir('alarm-nr');
    helper.settings({ userDir, mqttReconnectTime: 300 });
  }

  test('without a broker it works locally and says "no MQTT"', async () => {
    settings();
    await loadPanel({});
    const st = statuses();
    const out = collect('o1');
    panel().receive({ payload: 'arm_away' });
    await waitFor(() => out.length === 1, 5000, 'state msg');
    assert.equal(out[0]!.payload, 'armed_away');
    await waitFor(() => st.at(-1)?.includes('no MQTT'), 5000, 'status');
    assert.match(st.at(-1)!, /armed \(away\) · no MQTT/);
  });

  test('discovery, availability and state are published retained', async () => {
    settings();
    await loadPanel({ mqttPort: mosq.port }, '4711');
    await rec.waitFor(AVAIL, 'online');
    const st = statuses();
    const cfg = await retained(mosq.url, `homeassistant/+/${DEV}/+/config`);
    assert.deepEqual([...cfg.keys()].sort(), [
      `homeassistant/alarm_control_panel/${DEV}/alarm/config`,
      `homeassistant/binary_sensor/${DEV}/door_motion/config`,
      `homeassistant/binary_sensor/${DEV}/door_problem/config`,
      `homeassistant/button/${DEV}/door_take_snapshot/config`,
      `homeassistant/camera/${DEV}/door_camera/config`,
      `homeassistant/event/${DEV}/door_event/config`,
      `homeassistant/image/${DEV}/door_snapshot/config`,
      `homeassistant/sensor/${DEV}/door_last_motion/config`,
    ]);
    for (const payload of cfg.values()) {
      const p = JSON.parse(payload.toString()) as { unique_id: string; device: { identifiers: string[] }; availability: Array<{ topic: string }> };
      assert.ok(p.unique_id.startsWith(DEV));
      assert.deepEqual(p.device.identifiers, [DEV]);
      assert.equal(p.availability[0]!.topic, AVAIL);
      if (p.unique_id !== `${DEV}_alarm` && p.unique_id !== `${DEV}_door_problem`) assert.equal(p.availability[1]!.topic, `${BASE}/camera/door/availability`);
    }
    const alarmCfg = JSON.parse(cfg.get(`homeassistant/alarm_control_panel/${DEV}/alarm/config`)!.toString()) as Record<string, unknown>;
    assert.equal(alarmCfg.code, 'REMOTE_CODE');
    assert.equal(alarmCfg.state_topic, STATE);
    assert.equal(alarmCfg.command_topic, CMD);
    const mine = await retained(mosq.url, `${BASE}/#`);
    assert.equal(mine.get(STATE)?.toString(), 'disarmed');
    assert.equal(mine.get(AVAIL)?.toString(), 'online');
    assert.equal(mine.get(`${BASE}/camera/door/motion`)?.toString(), 'OFF');
    assert.equal(mine.get(`${BASE}/camera/door/problem`)?.toString(), 'OFF');
    assert.equal(mine.get(`${BASE}/camera/door/availability`)?.toString(), 'online');
    await sleep(100);
    panel().receive({ payload: 'status' });
    await waitFor(() => st.at(-1)?.includes('MQTT connected'), 5000, 'status "MQTT connected"');
  });

  test('HA commands round trip; wrong code and malformed payloads change nothing', async () => {
    settings();
    await loadPanel({ mqttPort: mosq.port }, '4711');
    await rec.waitFor(AVAIL, 'online');
    const out = collect('o1');
    await rec.publish(CMD, '{"action":"ARM_AWAY","code":""}');
    await rec.waitFor(STATE, 'armed_away');
    await waitFor(() => out.length === 1, 5000, 'state msg');
    assert.deepEqual(out[0]!.alarm, { state: 'armed_away', previous: 'disarmed', by: 'home-assistant', target: 'armed_away' });

    rec.clear();
    await rec.publish(CMD, '{"action":"DISARM","code":"1234"}');
    await waitFor(() => warnings().some((w) => w.includes('DISARM refused: wrong code')), 5000, 'wrong code warning');
    await rec.publish(CMD, '{"action":');
    await rec.publish(CMD, '{"action":"SELF_DESTRUCT"}');
    await waitFor(() => warnings().filter((w) => w.includes('ignored malformed Home Assistant command')).length === 2, 5000, 'malformed warnings');
    assert.equal(out.length, 1, 'no state change');
    assert.equal(rec.last(STATE)?.payload.toString(), 'armed_away', 'the state is re-sent unchanged after a refused command');

    await rec.publish(CMD, '{"action":"DISARM","code":"4711"}');
    await rec.waitFor(STATE, 'disarmed');
    await rec.publish(CMD, 'ARM_NIGHT');
    await rec.waitFor(STATE, 'armed_night');
  });

  test('a retained command is not obeyed: not at deploy, not after a restart, not from an mqtt in node', async () => {
    settings();
    const retainedWarnings = (): number => warnings().filter((w) => w.includes(`ignored a retained command on ${CMD}`)).length;
    // Left on the broker by a panel or script that published with retain: the broker hands it to every new subscriber.
    await rec.publish(CMD, '{"action":"ARM_AWAY","code":""}', true);
    try {
      await loadPanel({ mqttPort: mosq.port }, '4711');
      await rec.waitFor(AVAIL, 'online');
      await waitFor(() => retainedWarnings() === 1, 5000, 'the retained arm command to be refused with a warning');
      // A live command after it is obeyed: the retained one was seen and dropped, not merely late.
      await rec.publish(CMD, 'ARM_NIGHT');
      await rec.waitFor(STATE, 'armed_night');
      const states = rec.messages.filter((m) => m.topic === STATE).map((m) => m.payload.toString());
      assert.ok(!states.includes('armed_away'), `never armed away by the retained command (states: ${states.join(', ')})`);

      // A retained disarm with the right code, waiting on the broker while Node-RED is down.
      await helper.unload();
      await rec.waitFor(AVAIL, 'offline');
      await rec.publish(CMD, '{"action":"DISARM","code":"4711"}', true);
      rec.clear();
      await loadPanel({ mqttPort: mosq.port }, '4711');
      await rec.waitFor(AVAIL, 'online');
      await waitFor(() => retainedWarnings() === 1, 5000, 'the retained disarm to be refused (warnings are per load)');
      await rec.waitFor(STATE, 'armed_night');
      await rec.publish(CMD, 'TRIGGER');
      await rec.waitFor(STATE, 'triggered');
      assert.ok(!rec.messages.some((m) => m.topic === STATE && m.payload.toString() === 'disarmed'), 'not disarmed by the retained command');

      // What an mqtt in node passes on from a retained message carries msg.retain.
      const out = collect('o1');
      panel().receive({ payload: 'disarm', code: '4711', retain: true, topic: CMD });
      panel().receive({ payload: 'status' });
      await waitFor(() => out.length === 1, 5000, 'the status reply after the retained flow command');
      assert.equal(out[0]!.payload, 'triggered', 'the flow command with msg.retain changed nothing');
      assert.ok(warnings().some((w) => w.includes('ignored a retained command from') && w.includes('must not be retained')));
    } finally {
      await rec.publish(CMD, '', true); // clears the retained command for the other tests
    }
  });

  test('flow and chat commands reuse the msg; motion alerts; HA sees motion; snapshot button', async () => {
    settings();
    await loadPanel({ mqttPort: mosq.port, triggerTime: 0 }, '4711');
    await rec.waitFor(AVAIL, 'online');
    const [out1, out2, out3] = [collect('o1'), collect('o2'), collect('o3')];
    const chat = { topic: 'command', roomId: '!room:example', from: { user: '@owner:example', device: 'D', via: 'matrix' } };

    // Disarmed: motion is reported to HA but does not alert.
    panel().receive({ topic: 'motion', payload: motion('start') });
    await rec.waitFor(`${BASE}/camera/door/motion`, 'ON');
    await waitFor(() => rec.last(`${BASE}/camera/door/last_motion`), 5000, 'last motion time');
    assert.ok(!Number.isNaN(Date.parse(rec.last(`${BASE}/camera/door/last_motion`)!.payload.toString())));
    panel().receive({ topic: 'motion', payload: motion('end') });
    await rec.waitFor(`${BASE}/camera/door/motion`, 'OFF');
    assert.equal(out2.length, 0);

    panel().receive({ ...chat, payload: { command: 'arm', mode: 'home' } });
    await waitFor(() => out1.length === 1, 5000, 'arm reply');
    assert.equal(out1[0]!.roomId, '!room:example');
    assert.equal(out1[0]!.payload, 'armed_home');
    assert.equal(out1[0]!.text, 'Alarm armed (home)');
    assert.equal((out1[0]!.alarm as { by: string }).by, 'matrix:@owner:example');
    await rec.waitFor(STATE, 'armed_home');

    panel().receive({ ...chat, payload: { command: 'status' } });
    await waitFor(() => out1.length === 2, 5000, 'status reply');
    assert.equal(out1[1]!.roomId, '!room:example');
    assert.equal(out1[1]!.text, 'Alarm armed (home)');

    panel().receive({ ...chat, payload: { command: 'disarm', code: '0000' } });
    await waitFor(() => out1.length === 3, 5000, 'wrong code reply');
    assert.equal(out1[2]!.roomId, '!room:example');
    assert.equal(out1[2]!.payload, 'armed_home');
    assert.match(String(out1[2]!.text), /^Wrong code/);

    panel().receive({ payload: { command: 'help' } }); // someone else's command: ignored quietly
    panel().receive({ topic: 'motion', payload: motion('start', 'door') });
    await waitFor(() => out2.length === 1, 5000, 'alert');
    assert.equal(out2[0]!.text, 'Motion at door — alarm triggered');
    assert.equal((out2[0]!.payload as MotionEvent).event, 'start');
    await rec.waitFor(STATE, 'triggered');
    panel().receive({ topic: 'motion', payload: motion('end', 'door') });
    await waitFor(() => out2.length === 2, 5000, 'second alert');
    assert.equal(out2[1]!.text, undefined, 'only the first alert carries the text');

    await rec.publish(`${BASE}/camera/door/snapshot/press`, 'PRESS');
    // The motion start asked for a picture for HA's camera entity; the button asks for one too.
    assert.equal(out3[0]!.reason, 'motion');
    const press = await waitFor(() => out3.find((m) => m.reason === 'button'), 5000, 'snapshot request');
    assert.equal(press.payload, 'snapshot');
    assert.equal(press.camera, 'door');
    assert.equal(press.by, 'home-assistant');

    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
    panel().receive({ payload: jpeg, mimetype: 'image/jpeg', camera: 'door' });
    await waitFor(() => rec.last(`${BASE}/camera/door/snapshot`)?.payload.equals(jpeg), 5000, 'image');

    panel().receive({ ...chat, payload: 'disarm', code: '4711' });
    await rec.waitFor(STATE, 'disarmed');
    assert.ok(warnings().some((w) => w.includes('wrong code')));
  });

  test('HA birth message makes it publish discovery again', async () => {
    settings();
    await loadPanel({ mqttPort: mosq.port });
    await rec.waitFor(AVAIL, 'online');
    const topic = `homeassistant/alarm_control_panel/${DEV}/alarm/config`;
    await rec.publish(topic, '', true); // as if the broker had lost it
    assert.equal((await retained(mosq.url, topic)).size, 0);
    await rec.publish('homeassistant/status', 'online');
    await waitFor(async () => (await retained(mosq.url, topic, 100)).size === 1, 5000, 'discovery re-published');
  });

  test('broker restart: everything re-published, including a change made while it was down', async () => {
    settings();
    await loadPanel({ mqttPort: mosq.port });
    await rec.waitFor(AVAIL, 'online');
    const st = statuses();
    await mosq.stop();
    await waitFor(() => st.at(-1)?.includes('MQTT disconnected') || st.at(-1)?.includes('MQTT connecting'), 10_000, 'disconnected status');
    panel().receive({ payload: 'arm_vacation' });
    await sleep(200);
    await mosq.start(); // same port, no persistence: the broker forgot every retained message
    await waitFor(async () => (await retained(mosq.url, `${BASE}/#`, 100)).get(STATE)?.toString() === 'armed_vacation', 15_000, 'state re-published');
    const all = await retained(mosq.url, '#');
    assert.equal(all.get(AVAIL)?.toString(), 'online');
    assert.equal([...all.keys()].filter((t) => t.startsWith('homeassistant/')).length, 8);
  });

  test('the state survives a restart of the node (persistence file)', async () => {
    settings();
    await loadPanel({ mqttPort: mosq.port });
    await rec.waitFor(AVAIL, 'online');
    panel().receive({ payload: { command: 'arm', mode: 'night' } });
    await rec.waitFor(STATE, 'armed_night');
    await helper.unload();
    // A clean stop says offline (no last will on a clean disconnect).
    await rec.waitFor(AVAIL, 'offline');
    const file = join(userDir, 'mantis', 'alarm-p1.json');
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { state: string }).state, 'armed_night');
    await rec.publish(STATE, 'disarmed', true); // make sure the next value comes from the restarted node
    await loadPanel({ mqttPort: mosq.port });
    await rec.waitFor(AVAIL, 'online');
    await rec.waitFor(STATE, 'armed_night');
  });

  test('a last will set in the broker\'s Messages tab becomes the availability topic', async () => {
    settings();
    await rec.client.subscribeAsync('nr/status', { qos: 1 });
    await loadPanel({
      mqttPort: mosq.port,
      brokerExtra: {
        willTopic: 'nr/status', willPayload: 'dead', willQos: '1', willRetain: 'true',
        birthTopic: 'nr/status', birthPayload: 'alive', birthQos: '1', birthRetain: 'true',
      },
    });
    await rec.waitFor('nr/status', 'alive');
    const cfg = await waitFor(async () => (await retained(mosq.url, `homeassistant/alarm_control_panel/${DEV}/alarm/config`, 100)).values().next().value, 5000, 'discovery');
    const p = JSON.parse(cfg.toString()) as { availability: unknown };
    assert.deepEqual(p.availability, [{ topic: 'nr/status', payload_available: 'alive', payload_not_available: 'dead' }]);
    await helper.unload();
    await rec.waitFor('nr/status', 'dead');
    await rec.publish('nr/status', '', true);
  });

  test('the example flow loads and answers', async () => {
    settings();
    const example = JSON.parse(readFileSync(join(repoRoot, 'examples', 'alarm-panel.json'), 'utf8')) as Array<Record<string, unknown>>;
    const flow = example.map((n) => {
      if (n.type === 'mqtt-broker') return { ...n, port: String(mosq.port) };
      if (n.type === 'inject' || n.type === 'debug') return { id: n.id, z: n.z, type: 'helper', wires: n.wires };
      return n;
    });
    await helper.load([coreMqttNode(), mantisNode('alarm-panel')], flow, { ap_panel: { code: '1234' } });
    await rec.client.subscribeAsync('mantis/mantis_home/#', { qos: 1 });
    await rec.waitFor('mantis/mantis_home/availability', 'online');
    const state = collect('ap_dbg_state');
    helper.getNode('ap_panel').receive({ payload: { command: 'arm', mode: 'away' } });
    await rec.waitFor('mantis/mantis_home/alarm/state', 'arming');
    helper.getNode('ap_panel').receive({ payload: 'disarm', code: '1234' });
    await rec.waitFor('mantis/mantis_home/alarm/state', 'disarmed');
    assert.deepEqual(state.map((m) => m.payload), ['arming', 'disarmed']);
  });

  const killCases = [
    { nodeRed: 'node-red', withMqttIn: false, what: 'panel connects the broker' },
    { nodeRed: 'node-red', withMqttIn: true, what: 'broker connected first by an mqtt in node' },
    { nodeRed: 'node-red-4', withMqttIn: true, what: 'Node-RED 4.1, broker connected first' },
  ];
  for (const { nodeRed, withMqttIn, what } of killCases) {
    test(`HA command, then the last will set by Mantis fires on kill -9 (${what})`, async () => {
      const dir = tempDir('alarm-child');
      const dev = `mantis_kill_${nodeRed.replace(/\W/g, '')}_${withMqttIn ? 'in' : 'solo'}`;
      let again: ServerProcess | undefined;
      const args = [
        join(repoRoot, 'dist', 'test', 'helpers', 'alarm-node-red.js'),
        JSON.stringify({ userDir: dir, mqttPort: mosq.port, deviceId: dev, withMqttIn, nodeRed }),
      ];
      const child = new ServerProcess(process.execPath, args);
      try {
        await rec.client.subscribeAsync(`mantis/${dev}/#`, { qos: 1 });
        await waitFor(() => child.output.includes('READY') || child.exited, 30_000, 'child Node-RED');
        assert.ok(!child.exited, child.output);
        await rec.waitFor(`mantis/${dev}/availability`, 'online', 15_000);
        await sleep(300); // a reconnect to install the will would show up as a second "online"
        await rec.publish(`mantis/${dev}/alarm/set`, '{"action":"ARM_AWAY","code":""}');
        await rec.waitFor(`mantis/${dev}/alarm/state`, 'armed_away');
        rec.clear();
        await child.kill9();
        await rec.waitFor(`mantis/${dev}/availability`, 'offline', 5000);
        const kept = await retained(mosq.url, `mantis/${dev}/availability`);
        assert.equal(kept.get(`mantis/${dev}/availability`)?.toString(), 'offline', 'the will is retained');
        // Node-RED back after the crash: still armed (the state file), and HA is told so.
        rec.clear();
        again = new ServerProcess(process.execPath, args);
        const second = again;
        await waitFor(() => second.output.includes('READY') || second.exited, 30_000, 'child Node-RED after the crash');
        await rec.waitFor(`mantis/${dev}/availability`, 'online', 15_000);
        await rec.waitFor(`mantis/${dev}/alarm/state`, 'armed_away', 15_000);
        assert.deepEqual(rec.messages.filter((m) => m.topic === `mantis/${dev}/alarm/state`).map((m) => m.payload.toString()), ['armed_away'],
          'never shown as disarmed after the crash');
      } finally {
        await child.kill9();
        await again?.kill9();
      }
    });
  }
});

describe('alarm-panel with a Mosquitto that wants a login', () => {
  const mosq = new Mosquitto({ mantis: 'right-password', ha: 'ha-password' });
  let rec: Recorder;

  before(async () => {
    await mosq.start();
    rec = await Recorder.connect(mosq.url, [`${BASE}/#`], { username: 'ha', password: 'ha-password' });
  });
  after(async () => {
    await rec?.end();
    await mosq.stop();
  });
  afterEach(async () => {
    await helper.unload();
  });

  test('a refused login shows "not authorised" in the status and the log (once), the right one connects', async () => {
    helper.settings({ userDir: tempDir('alarm-login'), mqttReconnectTime: 200 });
    await loadPanel({ mqttPort: mosq.port, brokerLogin: { user: 'mantis', password: 'wrong' } });
    const st = statuses();
    await waitFor(() => st.at(-1)?.includes('MQTT not authorised, retrying'), 10_000, `status to say why (last: ${st.at(-1)})`);
    const refusals = () => warnings().filter((w) => w.includes('refused the login: not authorised'));
    // A few more reconnects, each refused again by the broker (Node-RED's broker node logs each): still one warning.
    const failed = () => helper.log().args.filter((a) => /connect-failed|Connection failed/.test(String((a[0] as { msg?: unknown }).msg))).length;
    const seen = failed();
    await waitFor(() => failed() >= seen + 3, 10_000, 'more refused attempts');
    assert.match(st.at(-1)!, /MQTT not authorised, retrying/);
    assert.equal(refusals().length, 1, 'one warning, not one per retry');
    assert.match(refusals()[0]!, /check the user and password on the broker node's Security tab/);
    assert.equal(rec.last(AVAIL), undefined, 'nothing published');
    await helper.unload();

    helper.settings({ userDir: tempDir('alarm-login'), mqttReconnectTime: 200 });
    await loadPanel({ mqttPort: mosq.port, brokerLogin: { user: 'mantis', password: 'right-password' } });
    await rec.waitFor(AVAIL, 'online');
    const st2 = statuses();
    panel().receive({ payload: 'status' });
    await waitFor(() => st2.at(-1)?.endsWith('· MQTT connected'), 5000, 'status "MQTT connected"');
  });
});
