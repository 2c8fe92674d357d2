// alarm-panel seen by a real Home Assistant over a real Mosquitto, asserted through HA's REST API.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { helper } from './helpers/node-red';
import { Mosquitto } from './helpers/mosquitto';
import { HomeAssistant, type HaState } from './helpers/homeassistant';
import { collect, loadPanel, panel } from './helpers/alarm-node-red';
import { tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import type { MotionEvent } from '../lib/motion/event';

const CODE = '4711';

describe('alarm-panel with Home Assistant', () => {
  const mosq = new Mosquitto();
  const ha = new HomeAssistant();
  let out1: Array<Record<string, unknown>> = [];

  before(async () => {
    await mosq.start();
    await ha.start();
    await ha.setUpMqtt(mosq.port);
    helper.settings({ userDir: tempDir('alarm-ha'), mqttReconnectTime: 500 });
    // motion-detect md1 in front of the panel, as in the default flow: the test is its camera.
    await loadPanel({ mqttPort: mosq.port, deviceId: 'mantis_ha', cameras: 'Front door', triggerTime: 0, withDetect: true }, CODE);
    out1 = collect('o1');
  });
  after(async () => {
    await helper.unload();
    await ha.stop();
    await mosq.stop();
  });

  async function entity(domain: string, idPart = ''): Promise<HaState> {
    return waitFor(async () => (await ha.states()).find((s) => s.entity_id.startsWith(`${domain}.`) && s.entity_id.includes(idPart)),
      30_000, `HA entity ${domain}.*${idPart}*`);
  }
  async function stateOf(entityId: string, want: string): Promise<void> {
    await waitFor(async () => (await ha.json<HaState>('GET', `/api/states/${entityId}`)).state === want, 10_000, `${entityId} = ${want}`);
  }

  test('the alarm panel and the camera entities appear by discovery', async () => {
    const alarm = await entity('alarm_control_panel');
    await stateOf(alarm.entity_id, 'disarmed');
    const motion = await entity('binary_sensor', 'front_door');
    assert.equal(motion.attributes.device_class, 'motion');
    await stateOf(motion.entity_id, 'off');
    await entity('image', 'front_door');
    await entity('button', 'front_door');
    const sensor = await entity('sensor', 'front_door');
    assert.equal(sensor.attributes.device_class, 'timestamp');
    // The code is asked for by HA and checked by Mantis.
    assert.equal((await ha.json<HaState>('GET', `/api/states/${alarm.entity_id}`)).attributes.code_format, 'number');
  });

  test('alarm_arm_away in HA arms Mantis; a Mantis-side disarm shows in HA', async () => {
    const alarm = await entity('alarm_control_panel');
    const before = out1.length;
    await ha.callService('alarm_control_panel', 'alarm_arm_away', { entity_id: alarm.entity_id });
    await waitFor(() => out1.slice(before).find((m) => m.payload === 'armed_away'), 5000, 'Node-RED output armed_away');
    assert.equal((out1.at(-1)!.alarm as { by: string }).by, 'home-assistant');
    await stateOf(alarm.entity_id, 'armed_away');

    // Wrong code from HA: refused, state stays.
    await ha.callService('alarm_control_panel', 'alarm_disarm', { entity_id: alarm.entity_id, code: '0000' });
    await waitFor(() => helper.log().args.some((a) => String((a[0] as { msg?: unknown }).msg).includes('DISARM refused: wrong code')),
      5000, 'Mantis logs the wrong code');
    await stateOf(alarm.entity_id, 'armed_away');

    panel().receive({ payload: { command: 'disarm', code: CODE } });
    await stateOf(alarm.entity_id, 'disarmed');

    // And the right code from HA disarms too.
    await ha.callService('alarm_control_panel', 'alarm_arm_home', { entity_id: alarm.entity_id });
    await stateOf(alarm.entity_id, 'armed_home');
    await ha.callService('alarm_control_panel', 'alarm_disarm', { entity_id: alarm.entity_id, code: CODE });
    await stateOf(alarm.entity_id, 'disarmed');
  });

  test('a motion event turns the HA motion sensor on (and off)', async () => {
    const motion = await entity('binary_sensor', 'front_door');
    const ev: MotionEvent = { event: 'start', t: Date.now(), startedAt: Date.now(), score: 0.1, boxes: [], zones: [], camera: 'Front door' };
    panel().receive({ topic: 'motion', payload: ev });
    await stateOf(motion.entity_id, 'on');
    const sensor = await entity('sensor', 'front_door');
    await waitFor(async () => !Number.isNaN(Date.parse((await ha.json<HaState>('GET', `/api/states/${sensor.entity_id}`)).state)), 10_000, 'last motion time');
    panel().receive({ topic: 'motion', payload: { ...ev, event: 'end' } });
    await stateOf(motion.entity_id, 'off');
  });

  test('a camera that stops sending frames shows as a problem in HA (entities unavailable), and recovers', async () => {
    const motion = await entity('binary_sensor', 'front_door_motion');
    const problem = await entity('binary_sensor', 'front_door_problem');
    assert.equal(problem.attributes.device_class, 'problem');
    const alarm = await entity('alarm_control_panel');
    const frame = () => ({ width: 32, height: 18, data: new Uint8Array(32 * 18).fill(90), t: Date.now() });
    let feeding = true;
    const feed = async (): Promise<void> => {
      while (feeding) {
        helper.getNode('md1').receive({ topic: 'Front door', payload: frame() });
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    let camera = feed();
    await stateOf(problem.entity_id, 'off');
    await stateOf(motion.entity_id, 'off');

    // The camera dies: no frames. HA shows the problem and the camera's entities unavailable.
    feeding = false;
    await camera;
    await waitFor(async () => (await ha.json<HaState>('GET', `/api/states/${problem.entity_id}`)).state === 'on', 20_000, 'problem sensor on');
    await stateOf(motion.entity_id, 'unavailable');
    const snapshot = await entity('image', 'front_door');
    await stateOf(snapshot.entity_id, 'unavailable');
    assert.notEqual((await ha.json<HaState>('GET', `/api/states/${alarm.entity_id}`)).state, 'unavailable', 'the alarm itself stays available');
    const said = () => helper.log().args.filter((a) => String((a[0] as { msg?: unknown }).msg).includes('camera "Front door": no frames')).length;
    assert.equal(said(), 1, 'logged once');

    // Frames again: the problem clears and the entities come back.
    feeding = true;
    camera = feed();
    try {
      await stateOf(problem.entity_id, 'off');
      await stateOf(motion.entity_id, 'off');
      assert.equal(said(), 1, 'still logged once');
    } finally {
      feeding = false;
      await camera;
    }
  });
});
