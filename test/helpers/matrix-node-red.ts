// A real Node-RED 5 process (red.js) with only the Matrix nodes loaded, for the
// tests that kill -9 it. The flow and the plain-text credentials are written
// into its user directory before it starts.
import { mkdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths';
import { freePort, ServerProcess, waitFor } from './processes';

export class NodeRedProcess {
  proc: ServerProcess | undefined;
  port = 0;
  constructor(readonly userDir: string, private readonly flow: unknown[], private readonly creds: Record<string, unknown>) {}

  get url(): string { return `http://127.0.0.1:${this.port}`; }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const nodesDir = join(this.userDir, 'mantis-nodes');
    if (!existsSync(nodesDir)) {
      mkdirSync(nodesDir, { recursive: true });
      for (const n of ['matrix-account', 'matrix-e2ee-out', 'matrix-e2ee-in', 'alarm-panel']) symlinkSync(join(repoRoot, 'dist', 'nodes', n), join(nodesDir, n));
      writeFileSync(join(this.userDir, 'flows.json'), JSON.stringify(this.flow));
      writeFileSync(join(this.userDir, 'flows_cred.json'), JSON.stringify(this.creds));
      writeFileSync(join(this.userDir, 'settings.js'), `module.exports = ${JSON.stringify({
        uiHost: '127.0.0.1', uiPort: this.port, flowFile: 'flows.json', credentialSecret: false, nodesDir: [nodesDir],
        apiMaxLength: '50mb', telemetry: { enabled: false }, logging: { console: { level: 'info' } }, editorTheme: { tours: false },
      })};\n`);
    }
    this.proc = new ServerProcess(process.execPath, [join(repoRoot, 'node_modules', 'node-red', 'red.js'), '--userDir', this.userDir,
      '--settings', join(this.userDir, 'settings.js')], { cwd: this.userDir });
    await waitFor(async () => {
      if (this.proc?.exited) throw new Error(`node-red exited: ${this.proc.output}`);
      const r = await fetch(`${this.url}/flows`, { headers: { 'node-red-api-version': 'v2' } }).catch(() => undefined);
      // The admin API answers before the flows run (an http-in route would still be a 404).
      return r?.ok && /Started flows/.test(this.proc?.output ?? '');
    }, 60_000, 'node-red to answer and start its flows');
  }

  get pid(): number | undefined { return this.proc?.pid; }

  async kill9(): Promise<void> { await this.proc?.kill9(); }
  async stop(): Promise<void> { await this.proc?.stop(10_000); }

  async getJson(path: string): Promise<Record<string, unknown>> {
    const r = await fetch(`${this.url}${path}`);
    if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
    return await r.json() as Record<string, unknown>;
  }

  /** A full deploy: every node is stopped and started again, as the editor's Deploy button does for a changed config node. */
  async deploy(flow: unknown[]): Promise<void> {
    const r = await fetch(`${this.url}/flows`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full' }, body: JSON.stringify(flow),
    });
    if (r.status !== 204) throw new Error(`deploy: ${r.status} ${await r.text()}`);
  }

  async post(path: string, body: unknown): Promise<Response> {
    return fetch(`${this.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }
}

/** The test flow: account, in -> reply function -> out, and POST /alert -> out. */
export function matrixTestFlow(homeserver: string, botId: string, admin: string, allowed: string): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'mantis matrix test' },
    { id: 'acc', type: 'matrix-account', homeserver, userId: botId, deviceName: 'Mantis test', displayName: 'Mantis', storeDir: '', adminUsers: admin, allowedUsers: allowed },
    { id: 'out', type: 'matrix-e2ee-out', z: 'tab', account: 'acc', rooms: '' },
    { id: 'in', type: 'matrix-e2ee-in', z: 'tab', account: 'acc', wires: [['reply', 'panel']] },
    // The real alarm panel (no MQTT broker: local only); its answers to chat commands go back to the room they came from.
    { id: 'panel', type: 'alarm-panel', z: 'tab', name: 'alarm', broker: '', deviceId: 'mantis_mx', deviceName: 'Mantis', cameras: 'camera',
      exitDelay: 0, entryDelay: 0, triggerTime: 0, zonesAway: '', discovery: 'entity', wires: [['asked'], [], []] },
    { id: 'asked', type: 'switch', z: 'tab', property: 'roomId', propertyType: 'msg', rules: [{ t: 'nnull' }], checkall: 'true', outputs: 1, wires: [['say']] },
    { id: 'say', type: 'change', z: 'tab', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'text', tot: 'msg' }], wires: [['out']] },
    { id: 'reply', type: 'function', z: 'tab', outputs: 1, wires: [['out']],
      func: "msg.payload = 'ack ' + msg.payload.command + ' from ' + msg.from.user; return msg;" },
    { id: 'http', type: 'http in', z: 'tab', url: '/alert', method: 'post', wires: [['decode', 'resp']] },
    { id: 'decode', type: 'function', z: 'tab', outputs: 1, wires: [['out']],
      func: [
        'const b = msg.payload; const m = { roomId: b.roomId };',
        'if (b.text) m.payload = b.text;',
        "else { m.payload = Buffer.from(b.data, 'base64'); m.mimetype = b.mimetype; m.duration = b.duration; m.width = b.width; m.height = b.height;",
        "  if (b.thumbnail) m.thumbnail = Buffer.from(b.thumbnail, 'base64'); }",
        'return m;',
      ].join('\n') },
    { id: 'resp', type: 'http response', z: 'tab', statusCode: '200', wires: [] },
  ];
}
