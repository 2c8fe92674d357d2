// HA command topic -> alarm-panel (real Node-RED runtime, core mqtt-broker node) -> state topic,
// through a real Mosquitto on loopback.
import type { Report } from './run';
import { helper } from '../test/helpers/node-red';
import { Mosquitto, Recorder } from '../test/helpers/mosquitto';
import { loadPanel } from '../test/helpers/alarm-node-red';
import { tempDir } from '../test/helpers/paths';

const RUNS = 50;
const WARMUP = 4;
const PATH = 'HA command topic -> Mosquitto -> Node-RED mqtt-broker -> alarm-panel -> state topic -> client';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Round trips of ARM_AWAY / DISARM; pauseMs between commands. */
async function series(rec: Recorder, base: string, pauseMs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS + WARMUP; i++) {
    const [action, state] = i % 2 === 0 ? ['ARM_AWAY', 'armed_away'] : ['DISARM', 'disarmed'];
    let t1 = 0;
    const got = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${state} on the state topic within 5 s`)), 5000);
      const onMsg = (topic: string, payload: Buffer) => {
        if (topic === `${base}/alarm/state` && payload.toString() === state) {
          t1 = performance.now();
          clearTimeout(timer);
          rec.client.off('message', onMsg);
          resolve();
        }
      };
      rec.client.on('message', onMsg);
    });
    const t0 = performance.now();
    await rec.publish(`${base}/alarm/set`, JSON.stringify({ action, code: '' }), false, 0);
    await got;
    if (i >= WARMUP) times.push(t1 - t0);
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return times.sort((a, b) => a - b);
}

export async function run(report: Report): Promise<void> {
  const mosq = new Mosquitto();
  await mosq.start();
  const base = 'mantis/mantis_bench';
  // Subscribed at QoS 0 and commanding at QoS 0, as HA does with Mantis's discovery config.
  const rec = await Recorder.connect(mosq.url, [`${base}/alarm/state`, `${base}/availability`], {}, 0);
  try {
    helper.settings({ userDir: tempDir('bench-ha'), mqttReconnectTime: 500 });
    await loadPanel({ mqttPort: mosq.port, deviceId: 'mantis_bench' });
    await rec.waitFor(`${base}/availability`, 'online');
    // Commands spaced like button presses (what a user of the HA panel does).
    const paced = await series(rec, base, 100);
    report({
      name: 'ha.command_round_trip', value: Number(percentile(paced, 0.5).toFixed(2)), unit: 'ms', target: 50,
      p90: Number(percentile(paced, 0.9).toFixed(2)), runs: paced.length, pause_ms: 100, path: PATH,
    });
    // Back to back: each command then follows the broker's PUBACK for the previous state publish, and
    // Nagle on Mosquitto's socket holds it for the delayed ACK (~40 ms); `set_tcp_nodelay true` in
    // mosquitto.conf removes that (measured: ~2.5 ms then).
    const burst = await series(rec, base, 0);
    report({
      name: 'ha.command_round_trip_back_to_back', value: Number(percentile(burst, 0.5).toFixed(2)), unit: 'ms',
      p90: Number(percentile(burst, 0.9).toFixed(2)), runs: burst.length, pause_ms: 0, path: PATH,
    });
  } finally {
    await helper.unload();
    await rec.end();
    await mosq.stop();
  }
}
