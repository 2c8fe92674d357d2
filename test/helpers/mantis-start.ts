// `npm start` as a user runs it: the CLI (dist/bin/mantis-start.js) in a child process, on free
// loopback ports, with none of the MANTIS_* settings of whoever runs the tests.
import { join } from 'node:path';
import { repoRoot } from './paths';
import { ServerProcess, freePort, waitFor } from './processes';

export interface MantisCli {
  proc: ServerProcess;
  /** The editor, http://127.0.0.1:port */
  url: string;
  /** The embedded MQTT broker's port. */
  mqttPort: number;
  /** Everything it printed (ServerProcess.output keeps only the tail). */
  log(): string;
}

const OWN_SETTINGS = [
  'MANTIS_HOST', 'MANTIS_MQTT_HOST', 'MANTIS_CAMERA_SOURCE', 'MANTIS_CAMERA_URL', 'MANTIS_CLIPS_DIR', 'MANTIS_RESET_FLOW',
  'MANTIS_MQTT_USER', 'MANTIS_MQTT_PASSWORD', 'MANTIS_ADMIN_USER', 'MANTIS_ADMIN_PASSWORD_HASH', 'MANTIS_OBJECTS',
];

/** The CLI as a child process, with only the given MANTIS_* settings; not waited for. */
export async function spawnMantisCli(userDir: string, settings: NodeJS.ProcessEnv = {}): Promise<{ proc: ServerProcess; port: number; mqttPort: number }> {
  const port = await freePort();
  const mqttPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, MANTIS_PORT: String(port), MANTIS_USER_DIR: userDir, MANTIS_MQTT_PORT: String(mqttPort) };
  for (const k of OWN_SETTINGS) delete env[k];
  Object.assign(env, settings);
  const proc = new ServerProcess(process.execPath, [join(repoRoot, 'dist', 'bin', 'mantis-start.js')], { env });
  return { proc, port, mqttPort: Number(env.MANTIS_MQTT_PORT) };
}

/** Starts it and waits for "Started flows"; stops it again if it does not get there. */
export async function startMantisCli(userDir: string, settings: NodeJS.ProcessEnv = {}): Promise<MantisCli> {
  const { proc, port, mqttPort } = await spawnMantisCli(userDir, settings);
  let log = '';
  proc.child.stdout?.on('data', (b: Buffer) => { log += b.toString(); });
  proc.child.stderr?.on('data', (b: Buffer) => { log += b.toString(); });
  try {
    await waitFor(() => {
      if (proc.exited) throw new Error(`mantis-start exited:\n${log}`);
      return log.includes('Started flows');
    }, 60_000, 'Node-RED to start its flow');
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { proc, url: `http://127.0.0.1:${port}`, mqttPort, log: () => log };
}
