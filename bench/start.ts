// Warm `npm start` (dist/ current, the user dir from an earlier start, files in the page cache):
// the time from running `npm start` to the editor answering, and to the first motion event of the
// demo camera as Home Assistant sees it (the motion sensor's state ON on the embedded broker).
// One cold start first makes the user dir; then the median of BENCH_START_RUNS warm starts.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import mqtt from 'mqtt';
import type { Report } from './run';
import { repoRoot, tempDir } from '../test/helpers/paths';
import { freePort, sleep } from '../test/helpers/processes';
import { median } from './nodered';

const RUNS = Number(process.env.BENCH_START_RUNS ?? 3);

async function until(what: string, ms: number, fn: () => Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`no ${what} within ${ms} ms`);
    await sleep(50);
  }
}

async function startOnce(userDir: string): Promise<{ editorMs: number; motionMs: number }> {
  const port = await freePort();
  const mqttPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, MANTIS_PORT: String(port), MANTIS_MQTT_PORT: String(mqttPort), MANTIS_USER_DIR: userDir };
  for (const k of Object.keys(env)) if (k.startsWith('MANTIS_') && !['MANTIS_PORT', 'MANTIS_MQTT_PORT', 'MANTIS_USER_DIR', 'MANTIS_CACHE'].includes(k)) delete env[k];
  const t0 = Date.now();
  // Its own process group: npm, the shell, node and the camera's ffmpegs all go at the end.
  const child = spawn('npm', ['start'], { cwd: repoRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (b: Buffer) => { log += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { log += b.toString(); });
  let client: mqtt.MqttClient | undefined;
  try {
    const alive = (): void => { if (child.exitCode !== null) throw new Error(`npm start exited:\n${log}`); };
    await until('editor', 60_000, async () => {
      alive();
      try { return (await fetch(`http://127.0.0.1:${port}/`)).status === 200; } catch { return false; }
    });
    const editorMs = Date.now() - t0;
    let motionAt = 0;
    await until('broker', 10_000, async () => {
      try { client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 }); return true; } catch { return false; }
    });
    client!.on('message', (topic, payload) => { if (!motionAt && topic.endsWith('/motion') && payload.toString() === 'ON') motionAt = Date.now(); });
    await client!.subscribeAsync('mantis/#');
    await until('motion event', 60_000, async () => { alive(); return motionAt > 0; });
    return { editorMs, motionMs: motionAt - t0 };
  } finally {
    client?.end(true);
    if (child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid!, 'SIGTERM');
      await gone;
      await sleep(500); // its ffmpegs leave with it
    }
  }
}

export async function run(report: Report): Promise<void> {
  const userDir = tempDir('bench-start');
  try {
    await startOnce(userDir); // cold: makes the user dir, fills the page cache
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await startOnce(userDir));
    const extra = { runs: RUNS, each: runs };
    report({ name: 'npm start (warm) to editor answering', value: median(runs.map((r) => r.editorMs)) / 1000, unit: 's', target: 3, ...extra });
    report({ name: 'npm start (warm) to first motion event (HA motion sensor ON)', value: median(runs.map((r) => r.motionMs)) / 1000, unit: 's', target: 5, ...extra });
  } finally {
    rmSync(userDir, { recursive: true, force: true });
  }
}
