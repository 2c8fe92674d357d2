// Discovery payload builders and the HA command parser (pure functions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceDiscovery, entityDiscovery, parseHaCommand, slug, type DiscoveryOptions } from '../lib/ha/discovery';

const opts: DiscoveryOptions = {
  deviceId: 'mantis_test',
  name: 'Mantis',
  baseTopic: 'mantis/mantis_test',
  availability: { topic: 'mantis/mantis_test/availability', online: 'online', offline: 'offline' },
  cameras: ['Front door'],
  modes: ['home', 'away', 'night', 'vacation'],
  hasCode: true,
  codeArmRequired: false,
  swVersion: '1.2.3',
};

test('per-entity discovery: topics, unique ids, one device with origin, availability', () => {
  const msgs = entityDiscovery(opts);
  assert.deepEqual(msgs.map((m) => m.topic), [
    'homeassistant/alarm_control_panel/mantis_test/alarm/config',
    'homeassistant/binary_sensor/mantis_test/front_door_motion/config',
    'homeassistant/image/mantis_test/front_door_snapshot/config',
    'homeassistant/sensor/mantis_test/front_door_last_motion/config',
    'homeassistant/button/mantis_test/front_door_take_snapshot/config',
    'homeassistant/binary_sensor/mantis_test/front_door_problem/config',
    'homeassistant/camera/mantis_test/front_door_camera/config',
    'homeassistant/event/mantis_test/front_door_event/config',
  ]);
  const payloads = msgs.map((m) => JSON.parse(m.payload) as Record<string, unknown>);
  const ids = payloads.map((p) => p.unique_id);
  assert.equal(new Set(ids).size, ids.length);
  const mantis = { topic: opts.availability.topic, payload_available: 'online', payload_not_available: 'offline' };
  const camera = { topic: 'mantis/mantis_test/camera/front_door/availability', payload_available: 'online', payload_not_available: 'offline' };
  for (const p of payloads) {
    assert.deepEqual((p.device as { identifiers: string[] }).identifiers, ['mantis_test']);
    assert.equal((p.origin as { name: string; sw_version: string }).sw_version, '1.2.3');
  }
  const [alarm, motion, image, sensor, button, problem, camEntity, event] = payloads as Array<Record<string, unknown>>;
  // Names as HA shows them after the device name ("Mantis Front Door Motion").
  assert.equal(motion!.name, 'Front Door Motion');
  assert.equal(camEntity!.topic, image!.image_topic);
  assert.deepEqual(event!.event_types, ['motion', 'object', 'alarm_triggered']);
  assert.equal(alarm!.json_attributes_topic, 'mantis/mantis_test/alarm/attributes');
  // The camera's own entities go unavailable with the camera; the alarm and the problem sensor only with Mantis.
  for (const p of [motion, image, sensor, button, camEntity, event]) {
    assert.deepEqual(p!.availability, [mantis, camera]);
    assert.equal(p!.availability_mode, 'all');
  }
  for (const p of [alarm, problem]) assert.deepEqual(p!.availability, [mantis]);
  assert.equal(problem!.device_class, 'problem');
  assert.equal(problem!.state_topic, 'mantis/mantis_test/camera/front_door/problem');
  assert.equal(alarm!.code, 'REMOTE_CODE');
  assert.equal(alarm!.code_disarm_required, true);
  assert.equal(alarm!.code_arm_required, false);
  assert.deepEqual(alarm!.supported_features, ['arm_home', 'arm_away', 'arm_night', 'arm_vacation', 'trigger']);
  assert.match(String(alarm!.command_template), /\{\{ action \}\}.*\{\{ code \}\}/);
  assert.equal(motion!.device_class, 'motion');
  assert.equal(image!.content_type, 'image/jpeg');
  assert.equal(image!.image_topic, 'mantis/mantis_test/camera/front_door/snapshot');
  assert.equal(sensor!.device_class, 'timestamp');
  assert.equal(button!.command_topic, 'mantis/mantis_test/camera/front_door/snapshot/press');
});

test('no code configured: no keypad, no code required', () => {
  const alarm = JSON.parse(entityDiscovery({ ...opts, hasCode: false })[0]!.payload) as Record<string, unknown>;
  assert.equal(alarm.code, undefined);
  assert.equal(alarm.code_arm_required, false);
  assert.equal(alarm.code_disarm_required, false);
});

test('device discovery: one message with every component', () => {
  const m = deviceDiscovery(opts);
  assert.equal(m.topic, 'homeassistant/device/mantis_test/config');
  const p = JSON.parse(m.payload) as { components: Record<string, { platform: string; unique_id: string }> };
  assert.deepEqual(Object.values(p.components).map((c) => c.platform),
    ['alarm_control_panel', 'binary_sensor', 'image', 'sensor', 'button', 'binary_sensor', 'camera', 'event']);
});

test('HA commands: template JSON, bare actions, malformed ones throw', () => {
  assert.deepEqual(parseHaCommand('{"action":"ARM_AWAY","code":"1234"}'), { action: 'ARM_AWAY', code: '1234' });
  assert.deepEqual(parseHaCommand('{"action":"DISARM","code":""}'), { action: 'DISARM' });
  assert.deepEqual(parseHaCommand('{"action":"ARM_HOME","code":"None"}'), { action: 'ARM_HOME' });
  assert.deepEqual(parseHaCommand('ARM_NIGHT'), { action: 'ARM_NIGHT' });
  assert.throws(() => parseHaCommand('{"action":"EXPLODE"}'), /unknown action/);
  assert.throws(() => parseHaCommand('{"action":'), /not JSON/);
  assert.throws(() => parseHaCommand('[1]'), /not a JSON object/);
  assert.throws(() => parseHaCommand('{"action":"DISARM","code":{}}'), /code must be a string/);
});

test('slug makes topic-safe ids', () => {
  assert.equal(slug('Front door'), 'front_door');
  assert.equal(slug('Garten/Süd #2'), 'garten_sud_2');
  assert.equal(slug('///'), 'camera');
});
