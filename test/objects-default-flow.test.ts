// `npm start` with object detection: off for the demo scene (its figure is a coloured box, no
// person), switched on by MANTIS_OBJECTS, on by default for a real camera. Checked from outside:
// MQTT as Home Assistant sees it (alarm state, the person sensors, the event entity) and the
// editor's status channel.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { startMantisCli } from './helpers/mantis-start';
import { VTEST } from './helpers/object-clips';
import { openComms, type CommsMessage } from './helpers/node-red-process';

const STATE = 'mantis/mantis/alarm/state';
const CMD = 'mantis/mantis/alarm/set';

async function run(t: { after(fn: () => Promise<void>): void }, env: NodeJS.ProcessEnv) {
  const cli = await startMantisCli(tempDir('objects-start'), env);
  const comms = await openComms(cli.url);
  const seen = new Map<string, string>();
  const events: string[] = [];
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${cli.mqttPort}`, { reconnectPeriod: 0 });
  client.on('message', (topic, payload) => {
    seen.set(topic, payload.toString());
    if (topic.endsWith('/event')) events.push(payload.toString());
  });
  await client.subscribeAsync(['homeassistant/#', 'mantis/#']);
  t.after(async () => { comms.close(); client.end(true); await cli.proc.stop(); });
  await waitFor(() => seen.get(STATE) === 'disarmed', 20_000, 'the alarm in HA');
  // Arm away from HA; the default flow's exit delay is 30 s.
  await client.publishAsync(CMD, JSON.stringify({ action: 'ARM_AWAY', code: '' }));
  await waitFor(() => seen.get(STATE) === 'armed_away', 45_000, 'armed away after the exit delay');
  return { cli, comms, seen, events, armedAt: comms.messages.length };
}

const motionStarts = (c: { messages: CommsMessage[] }, from: number): number =>
  c.messages.slice(from).filter((m) => m.topic === 'debug' && m.data.name === 'motion events' && /"event":"start"/.test(m.data.msg ?? '')).length;

// Three Mantis processes of their own (ports, user dirs), side by side: most of each test is the
// default flow's 30 s exit delay, which they can wait out together.
describe('npm start with object detection', { concurrency: 3 }, () => {
  test('npm start, demo scene: object detection is off (and says so), motion sets the alarm off', async (t) => {
    const { comms, seen } = await run(t, {});
    const od = comms.messages.find((m) => m.topic.startsWith('status/') && m.data.text === 'off: motion passes unfiltered');
    assert.ok(od, 'object-detect says it is off');
    await waitFor(() => seen.get(STATE) === 'pending', 30_000, 'the demo figure to set the alarm off');
  });

  test('npm start, demo scene with MANTIS_OBJECTS=on: the figure is no person, the alarm stays armed', async (t) => {
    const { comms, seen, armedAt } = await run(t, { MANTIS_OBJECTS: 'on' });
    // Two crossings of the figure, each looked at, and the looks done.
    await waitFor(() => motionStarts(comms, armedAt) >= 2, 40_000, 'two motion events while armed');
    const od = comms.messages.filter((m) => m.topic.startsWith('status/') && /^(looking…|watching for person)$/.test(m.data.text ?? ''));
    assert.ok(od.some((m) => m.data.text === 'looking…'), 'object-detect looked');
    await waitFor(() => [...comms.messages].reverse().find((m) => m.topic === od[0]!.topic)?.data.text === 'watching for person', 20_000, 'the looks to end');
    assert.equal(seen.get(STATE), 'armed_away');
    assert.equal(seen.get('mantis/mantis/camera/camera/object/person'), 'OFF');
  });

  test('npm start with a camera that sees people (vtest.avi): the alarm goes off, HA shows the person sensor and count', async (t) => {
    const { seen, events } = await run(t, { MANTIS_CAMERA_SOURCE: 'file', MANTIS_CAMERA_URL: VTEST });
    // HA's discovery of the Frigate-like sensors for the camera.
    const sensor = JSON.parse(seen.get('homeassistant/binary_sensor/mantis/camera_person/config') ?? '{}') as { device_class?: string; state_topic?: string };
    assert.equal(sensor.device_class, 'occupancy');
    assert.ok(seen.has('homeassistant/sensor/mantis/camera_person_count/config'));
    await waitFor(() => seen.get(STATE) === 'pending', 60_000, 'people to set the alarm off');
    await waitFor(() => seen.get(sensor.state_topic!) === 'ON' && Number(seen.get('mantis/mantis/camera/camera/object/person/count')) >= 1, 10_000, 'the person sensor on, with a count');
    assert.ok(events.some((e) => { const j = JSON.parse(e) as { event_type: string; labels: string[] }; return j.event_type === 'object' && j.labels.includes('person'); }), 'an object event for a person');
    const attrs = JSON.parse(seen.get('mantis/mantis/alarm/attributes') ?? '{}') as { triggered_by_camera?: string };
    assert.equal(attrs.triggered_by_camera, 'camera');
  });
});
