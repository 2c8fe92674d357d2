#!/usr/bin/env node
// `npm start`: Mantis with its default flow on an embedded Node-RED.
// Environment variables are documented in the README ("npm start settings").
import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { EmbeddedNodeRed } from '../lib/embedded/node-red';
import { EmbeddedBroker } from '../lib/embedded/broker';
import { editorLogin, isLoopback, mqttLogin } from '../lib/embedded/start-settings';
import { serviceUnit } from '../lib/embedded/service-unit';
import { startFlow } from '../lib/embedded/start-flow';

const root = resolve(__dirname, '..', '..');
const env = process.env;

/**
 * A checkout keeps its data beside it (.mantis-data); an install under node_modules does not,
 * since `npm update` replaces that folder: its data goes to ~/.mantis.
 */
const defaultUserDir = root.split(sep).includes('node_modules') ? join(homedir(), '.mantis') : join(root, '.mantis-data');

/** "Mantis 0.1.0 (Node v22…, Node-RED 5.0.7)": the first line of every start, so the log says what ran after an update. */
function versionLine(): string {
  const version = (file: string): string => (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  let red = 'not found';
  try { red = version(require.resolve('node-red/package.json')); } catch { /* reported when it is needed */ }
  return `Mantis ${version(join(root, 'package.json'))} (Node ${process.version}, Node-RED ${red}) from ${root}`;
}

async function main(): Promise<void> {
  if (process.argv.includes('--print-service')) {
    const home = homedir();
    process.stdout.write(serviceUnit({
      user: userInfo().username, home, node: process.execPath, script: __filename,
      userDir: resolve(env.MANTIS_USER_DIR || join(home, '.mantis')),
    }));
    return;
  }
  console.log(versionLine());
  // Everything written from here on (credentials, the key to them, clips) is for this user only.
  process.umask(0o077);
  const host = env.MANTIS_HOST ?? '127.0.0.1';
  const port = Number(env.MANTIS_PORT ?? 1880);
  const userDir = resolve(env.MANTIS_USER_DIR || defaultUserDir);
  const login = editorLogin(env);
  if (!login && !isLoopback(host)) {
    throw new Error(`refusing to open the editor on ${host} without a login: anyone on the network could change the flow `
      + 'or disarm the alarm. Set MANTIS_ADMIN_PASSWORD_HASH to a bcrypt hash (make one with: npx node-red admin hash-pw) '
      + 'and MANTIS_ADMIN_USER (default admin), or leave MANTIS_HOST unset (127.0.0.1)');
  }

  // Settings the user's copy of the default flow reads as ${VARIABLES} (lib/embedded/start-flow.ts).
  env.MANTIS_CAMERA_SOURCE ??= 'test';
  env.MANTIS_CAMERA_URL ??= '';
  // The demo scene's figure is a coloured box that no object model calls a person: object detection
  // would keep its alarm quiet, so it is off for the demo and on for a real camera unless set.
  env.MANTIS_OBJECTS ??= env.MANTIS_CAMERA_SOURCE === 'test' ? 'off' : 'on';
  env.MANTIS_CLIPS_DIR ??= join(userDir, 'clips');
  let broker: EmbeddedBroker | undefined;
  if (!env.MANTIS_MQTT_HOST) {
    env.MANTIS_MQTT_HOST = '127.0.0.1';
    env.MANTIS_MQTT_PORT ??= '1883';
    broker = new EmbeddedBroker('127.0.0.1', Number(env.MANTIS_MQTT_PORT));
    await broker.start();
    console.log(`Mantis: embedded MQTT broker on mqtt://127.0.0.1:${env.MANTIS_MQTT_PORT}`);
  }
  env.MANTIS_MQTT_PORT ??= '1883';
  const mqtt = mqttLogin(env);
  if (mqtt) console.log(`Mantis: storing the MQTT login ${mqtt.user} before the flow starts (Node-RED's "safe mode" lines below are that)`);

  const red = new EmbeddedNodeRed({
    userDir,
    host,
    port,
    initialFlow: join(root, 'flows', 'default.json'),
    prepareFlow: startFlow,
    resetFlow: env.MANTIS_RESET_FLOW === '1',
    editorLogin: login,
    credentials: mqtt?.credentials,
  });
  await red.start();
  if (mqtt) console.log(`Mantis: MQTT login ${mqtt.user} kept in the encrypted credentials (${join(userDir, 'flows_cred.json')})`);
  console.log(`Mantis: Node-RED editor on ${red.url}/ (user dir ${userDir}${login ? `, login ${login.username}` : ''})`);

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`Mantis: ${signal}, stopping`);
    await red.stop();
    await broker?.stop();
    process.exit(0);
  };
  const stopOn = (signal: string): void => {
    shutdown(signal).catch((e: Error) => { console.error(`Mantis: stopping failed: ${e.message}`); process.exit(1); });
  };
  process.on('SIGINT', () => stopOn('SIGINT'));
  process.on('SIGTERM', () => stopOn('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`Mantis: could not start: ${(err as Error).message}`);
  process.exit(1);
});
