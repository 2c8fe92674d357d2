// The HA bridge's alarm attributes while a delay runs (pure core over an in-memory MQTT link;
// the real-HA side of these attributes is in ha-homeassistant.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Alarm } from '../lib/alarm/alarm';
import { HaBridge, type MqttLink } from '../lib/ha/bridge';
import { waitFor } from './helpers/processes';

test('arming: time_left counts down and ends_at says when; by whom in words', async () => {
  const sent: Array<{ topic: string; payload: string }> = [];
  const link: MqttLink = {
    publish: async (topic, payload) => { sent.push({ topic, payload: payload.toString() }); },
    subscribe: () => {},
    unsubscribe: () => {},
  };
  const alarm = new Alarm({ exitDelay: 3 });
  const bridge = new HaBridge(link, alarm, { deviceId: 'd', name: 'Mantis', baseTopic: 'mantis/d', cameras: ['garden'] });
  alarm.start();
  bridge.start();
  bridge.setConnected(true);
  const attrs = () => sent.filter((m) => m.topic === 'mantis/d/alarm/attributes').map((m) => JSON.parse(m.payload) as Record<string, unknown>);
  try {
    const t0 = Date.now();
    alarm.arm('away', undefined, 'home-assistant');
    const first = await waitFor(() => attrs().find((a) => a.time_left === 3), 2000, 'time_left 3');
    assert.equal(first.last_changed_by, 'Home Assistant');
    const ends = Date.parse(String(first.ends_at));
    assert.ok(Math.abs(ends - (t0 + 3000)) < 500, `ends_at ${String(first.ends_at)}`);
    await waitFor(() => attrs().find((a) => a.time_left === 2), 3000, 'time_left counts down to 2');
    await waitFor(() => attrs().find((a) => a.last_changed_by === 'timer (exit delay)' && a.time_left === null), 5000, 'armed by the timer');
  } finally {
    await bridge.stop();
    alarm.stop();
  }
});
