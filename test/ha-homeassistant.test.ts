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
import { execFileSync } from 'node:child_process';
import mqtt from 'mqtt';

/** A real JPEG of a given colour (ffmpeg), so each picture is told apart by its bytes. */
function jpeg(color: string): Buffer {
  return execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=${color}:s=64x36`,
    '-frames:v', '1', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1']);
}
const FLOW = { deviceId: 'mantis_ha', cameras: 'Front door', triggerTime: 0, withDetect: true, snapshotEvery: 1, cameraArea: 'Garden' } as const;

const CODE = '4711';

describe('alarm-panel with Home Assistant', () => {
  const mosq = new Mosquitto();
  const ha = new HomeAssistant();
  let out1: Array<Record<string, unknown>> = [];
  let out3: Array<Record<string, unknown>> = [];

  before(async () => {
    await mosq.start();
    await ha.start();
    await ha.setUpMqtt(mosq.port);
    helper.settings({ userDir: tempDir('alarm-ha'), mqttReconnectTime: 500 });
    // motion-detect md1 in front of the panel, as in the default flow: the test is its camera.
    await loadPanel({ mqttPort: mosq.port, ...FLOW }, CODE);
    out1 = collect('o1');
    out3 = collect('o3');
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

  const motionEv = (event: MotionEvent['event'], zones: string[]): MotionEvent =>
    ({ event, t: Date.now(), startedAt: Date.now(), score: 0.1, boxes: [], zones, camera: 'Front door' });
  const attrs = async (id: string): Promise<Record<string, unknown>> => (await ha.json<HaState>('GET', `/api/states/${id}`)).attributes;
  const picture = async (id: string) => ha.bytes(`/api/camera_proxy/${id}`);

  test('the camera entity shows the latest picture through HA; object boxes outrank the idle refresh', async () => {
    const cam = await entity('camera', 'front_door');
    assert.equal(cam.attributes.friendly_name, 'Mantis test Front Door Camera');
    // The idle refresh asks the camera for a cheap preview every second here (default 10 s).
    await waitFor(() => out3.find((m) => m.preview === true && m.reason === 'idle' && m.camera === 'Front door'), 10_000, 'an idle preview request');
    const red = jpeg('red');
    panel().receive({ payload: red, mimetype: 'image/jpeg', camera: 'Front door' });
    await waitFor(async () => { const p = await picture(cam.entity_id); return p.status === 200 && p.body.equals(red); }, 10_000, 'HA serves the red JPEG');
    assert.equal((await picture(cam.entity_id)).type, 'image/jpeg');
    // object-detect's picture with boxes rides on the motion msg; a plain picture right after does not replace it.
    const boxed = jpeg('blue');
    panel().receive({ topic: 'motion', payload: motionEv('start', []), image: boxed });
    await waitFor(async () => (await picture(cam.entity_id)).body.equals(boxed), 10_000, 'HA serves the boxed JPEG');
    assert.ok(out3.some((m) => m.reason === 'motion' && m.preview === false), 'a motion start asks for a full snapshot');
    panel().receive({ payload: jpeg('green'), mimetype: 'image/jpeg', camera: 'Front door' });
    panel().receive({ topic: 'motion', payload: motionEv('end', []) });
    const motion = await entity('binary_sensor', 'front_door_motion');
    await stateOf(motion.entity_id, 'off'); // published after the green picture: HA has seen both
    assert.ok((await picture(cam.entity_id)).body.equals(boxed));
  });

  test('the event entity fires on motion with zones and labels; a zone gets its occupancy sensor', async () => {
    const ev = await entity('event', 'front_door');
    const before = ev.state;
    panel().receive({ topic: 'motion', payload: { ...motionEv('start', ['porch']), objects: [{ label: 'person', score: 0.9, box: { x: 0, y: 0, w: 0.1, h: 0.1 } }] } });
    await waitFor(async () => (await ha.json<HaState>('GET', `/api/states/${ev.entity_id}`)).state !== before, 10_000, 'the event entity fired');
    const zone = await entity('binary_sensor', 'front_door_porch');
    assert.equal(zone.attributes.device_class, 'occupancy');
    await stateOf(zone.entity_id, 'on');
    await waitFor(async () => (await attrs(ev.entity_id)).event_type === 'object', 10_000, 'an object event');
    const a = await attrs(ev.entity_id);
    assert.deepEqual(a.labels, ['person']);
    assert.deepEqual(a.zones, ['porch']);
    assert.deepEqual(a.event_types, ['motion', 'object', 'alarm_triggered']);
    panel().receive({ topic: 'motion', payload: motionEv('end', ['porch']) });
    await stateOf(zone.entity_id, 'off');
    // record-clip's clip: the event names it.
    panel().receive({ payload: Buffer.from('mp4'), mimetype: 'video/mp4', filename: 'Front_door-1.mp4', camera: 'Front door' });
    await waitFor(async () => (await attrs(ev.entity_id)).clip === 'Front_door-1.mp4', 10_000, 'the clip name');
  });

  test("object-detect's objects: a person occupancy sensor and a count per camera, as Frigate's integration has", async () => {
    const person = (x: number) => ({ label: 'person', score: 0.87, box: { x, y: 0.2, w: 0.1, h: 0.4 } });
    panel().receive({ topic: 'motion', payload: { ...motionEv('start', []), objects: [person(0.1), person(0.5)] } });
    const sensor = await entity('binary_sensor', 'front_door_person');
    assert.equal(sensor.entity_id, 'binary_sensor.mantis_test_front_door_person');
    assert.equal(sensor.attributes.device_class, 'occupancy');
    await stateOf(sensor.entity_id, 'on');
    const count = await entity('sensor', 'front_door_person_count');
    await stateOf(count.entity_id, '2');
    panel().receive({ topic: 'motion', payload: { ...motionEv('update', []), objects: [person(0.6)] } });
    await stateOf(count.entity_id, '1');
    panel().receive({ topic: 'motion', payload: { ...motionEv('end', []), objects: [person(0.6)] } });
    await stateOf(sensor.entity_id, 'off');
    await stateOf(count.entity_id, '0');
  });

  test('alarm attributes: who changed it, what set it off; device link to the editor and area', async () => {
    const alarm = await entity('alarm_control_panel');
    panel().receive({ payload: { command: 'arm', mode: 'away', code: CODE }, from: { user: '@bob:example.org', via: 'matrix' } });
    await stateOf(alarm.entity_id, 'armed_away');
    await waitFor(async () => (await attrs(alarm.entity_id)).last_changed_by === 'matrix:@bob:example.org', 10_000, 'changed by bob');
    const ev = await entity('event', 'front_door');
    panel().receive({ topic: 'motion', payload: motionEv('start', ['porch']) });
    await stateOf(alarm.entity_id, 'triggered');
    await waitFor(async () => (await attrs(alarm.entity_id)).triggered_by_camera === 'Front door', 10_000, 'triggering camera');
    assert.equal((await attrs(alarm.entity_id)).triggered_by_zone, 'porch');
    await waitFor(async () => (await attrs(ev.entity_id)).event_type === 'alarm_triggered', 10_000, 'alarm_triggered event');
    panel().receive({ topic: 'motion', payload: motionEv('end', ['porch']) });
    await ha.callService('alarm_control_panel', 'alarm_disarm', { entity_id: alarm.entity_id, code: CODE });
    await stateOf(alarm.entity_id, 'disarmed');
    await waitFor(async () => (await attrs(alarm.entity_id)).last_changed_by === 'Home Assistant', 10_000, 'changed by HA');
    assert.match(await ha.template(`{{ device_attr('${alarm.entity_id}', 'configuration_url') }}`), /^http:\/\/.+:\d+\/#node\/p1$/);
    assert.equal(await ha.template(`{{ area_name('${alarm.entity_id}') }}`), 'Garden');
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
  /** Every entity of the device is there and available (the camera fed, so its own are too). */
  async function allThere(what: string): Promise<void> {
    const want = ['alarm_control_panel.', 'camera.', 'event.', 'binary_sensor.mantis_test_front_door_motion', 'binary_sensor.mantis_test_front_door_porch'];
    let missing: string[] = [];
    await waitFor(async () => {
      const st = await ha.states().catch(() => []);
      missing = want.filter((w) => !st.some((s) => s.entity_id.startsWith(w) && s.state !== 'unavailable'));
      return missing.length === 0;
    }, 60_000, `every entity back and available after ${what}`).catch((e: Error) => {
      throw new Error(`${e.message}; missing or unavailable: ${missing.join(', ')}`);
    });
  }

  test('the same entities, available, after the broker, Mantis and HA restart (birth message honoured)', async () => {
    // The camera keeps sending frames (its entities would go unavailable otherwise).
    let feeding = true;
    const feed = async (): Promise<void> => {
      while (feeding) {
        helper.getNode('md1')?.receive({ topic: 'Front door', payload: { width: 32, height: 18, data: new Uint8Array(32 * 18).fill(90), t: Date.now() } });
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const camera = feed();
    try {
      await restarts();
    } finally {
      feeding = false;
      await camera;
    }
  });

  async function restarts(): Promise<void> {
    await allThere('the start');
    // The broker forgets every retained message (no persistence); Mantis publishes again on reconnect.
    await mosq.stop();
    await mosq.start();
    await allThere('the broker restart');
    // Mantis restarts: unavailable while it is gone (its "offline"), back with the same entities.
    const alarm = await entity('alarm_control_panel');
    await helper.unload();
    await stateOf(alarm.entity_id, 'unavailable');
    await loadPanel({ mqttPort: mosq.port, ...FLOW }, CODE);
    await allThere('the Mantis restart');
    // HA restarts while the broker lost Mantis's discovery: only the birth message brings it back.
    const c = await mqtt.connectAsync(mosq.url);
    await ha.stop();
    const retained: string[] = [];
    c.on('message', (t, p, pk) => { if (pk.retain && p.length) retained.push(t); });
    await c.subscribeAsync('homeassistant/+/mantis_ha/+/config');
    await waitFor(() => retained.length >= 8, 5000, 'the retained discovery');
    for (const t of retained) await c.publishAsync(t, '', { retain: true, qos: 1 });
    await c.endAsync();
    await ha.restart();
    await allThere('the HA restart');
  }
});
