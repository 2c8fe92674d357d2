// Node-RED as users run it: its own CLI (red.js) in a child process.
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { ServerProcess, freePort, waitFor } from './processes';

export interface NodeRedProcess {
  url: string;
  server: ServerProcess;
}

/** Starts `red.js` of the given Node-RED module ('node-red' or 'node-red-4') on a free loopback port. */
export async function startNodeRedProcess(userDir: string, nodeRedModule = 'node-red', env: NodeJS.ProcessEnv = {}): Promise<NodeRedProcess> {
  const port = await freePort();
  const settings = join(userDir, 'settings.js');
  writeFileSync(settings, `module.exports = ${JSON.stringify({
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    credentialSecret: 'mantis-test-secret',
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    editorTheme: { tours: false },
    logging: { console: { level: 'info' } },
  })};\n`);
  const redJs = join(dirname(require.resolve(`${nodeRedModule}/package.json`)), 'red.js');
  const server = new ServerProcess(process.execPath, [redJs, '--userDir', userDir, '--settings', settings], {
    env: { ...process.env, ...env },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (server.exited) throw new Error(`Node-RED exited:\n${server.output}`);
    const res = await fetch(`${url}/settings`).catch(() => undefined);
    return res?.ok && server.output.includes('Started flows');
  }, 60_000, `Node-RED (${nodeRedModule}) to start`);
  return { url, server };
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** What the editor's websocket carries: node statuses (`status/<id>`) and the debug sidebar (`debug`). */
export interface CommsMessage { topic: string; data: { id?: string; name?: string; msg?: string; text?: string; fill?: string; level?: number } }

/** The editor's websocket, the one the debug sidebar and node statuses come through. */
export async function openComms(url: string, topics = ['debug', 'status/#']): Promise<{ messages: CommsMessage[]; close(): void }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/comms`);
  const messages: CommsMessage[] = [];
  ws.addEventListener('message', (e) => { messages.push(...(JSON.parse(String(e.data)) as CommsMessage[])); });
  await new Promise<void>((res, rej) => { ws.addEventListener('open', () => res()); ws.addEventListener('error', () => rej(new Error('comms'))); });
  for (const subscribe of topics) ws.send(JSON.stringify({ subscribe }));
  return { messages, close: () => ws.close() };
}
