// A real Home Assistant (venv-ha) on loopback with a minimal configuration, an admin token, and its
// MQTT integration set up through its own config-flow API.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ServerProcess, freePort, waitFor } from './processes';
import { tempDir, venvBin } from './paths';

const run = promisify(execFile);

export interface HaState { entity_id: string; state: string; attributes: Record<string, unknown> }

export class HomeAssistant {
  server: ServerProcess | null = null;
  port = 0;
  token = '';
  readonly dir = tempDir('ha');
  private readonly user = 'mantis';
  private readonly password = 'mantis-test-password';

  get url(): string { return `http://127.0.0.1:${this.port}`; }

  /** Minimal config: no default_config (it pulls in dozens of integrations and pip installs). */
  async start(timeoutMs = 180_000): Promise<void> {
    this.port = await freePort();
    writeFileSync(join(this.dir, 'configuration.yaml'), [
      'homeassistant:',
      '  name: Mantis test',
      '  unit_system: metric',
      '  time_zone: UTC',
      '  latitude: 0',
      '  longitude: 0',
      '  elevation: 0',
      '  country: DE',
      'http:',
      '  server_host: 127.0.0.1',
      `  server_port: ${this.port}`,
      'auth:',
      'api:',
      'websocket_api:',
      'config:',
      'logger:',
      '  default: warning',
      '',
    ].join('\n'));
    const hass = venvBin('ha', 'hass');
    // An admin user straight into the auth store; HA makes new users from credentials admins.
    await run(hass, ['--script', 'auth', '-c', this.dir, 'add', this.user, this.password], { timeout: 120_000 });
    await this.run(timeoutMs);
  }

  /** Stops and starts the same HA (same port, configuration and stored integrations), as after a reboot. */
  async restart(timeoutMs = 180_000): Promise<void> {
    await this.stop();
    await this.run(timeoutMs);
  }

  private async run(timeoutMs: number): Promise<void> {
    this.server = new ServerProcess(venvBin('ha', 'hass'), ['-c', this.dir, '--log-no-color']);
    await waitFor(async () => {
      if (this.server?.exited) throw new Error(`Home Assistant exited:\n${this.server.output}`);
      const res = await fetch(`${this.url}/api/`).catch(() => undefined);
      return res?.status === 401;
    }, timeoutMs, 'Home Assistant HTTP API');
    this.token = await this.login();
  }

  async stop(): Promise<void> {
    await this.server?.stop(15_000);
    this.server = null;
  }

  /** The login flow the frontend uses, then an access token for the REST/WebSocket APIs. */
  private async login(): Promise<string> {
    const clientId = `${this.url}/`;
    const flow = await this.json<{ flow_id: string }>('POST', '/auth/login_flow', {
      client_id: clientId, handler: ['homeassistant', null], redirect_uri: clientId,
    }, false);
    const done = await this.json<{ type: string; result?: string }>('POST', `/auth/login_flow/${flow.flow_id}`, {
      client_id: clientId, username: this.user, password: this.password,
    }, false);
    if (done.type !== 'create_entry' || !done.result) throw new Error(`HA login failed: ${JSON.stringify(done)}`);
    const res = await fetch(`${this.url}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'authorization_code', code: done.result, client_id: clientId }),
    });
    if (!res.ok) throw new Error(`HA token: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async json<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (auth) headers.Authorization = `Bearer ${this.token}`;
    const res = await fetch(`${this.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** The MQTT integration through its config flow, as the UI does it. */
  async setUpMqtt(port: number): Promise<void> {
    let step = await this.json<{ flow_id: string; type: string; step_id?: string; errors?: unknown }>(
      'POST', '/api/config/config_entries/flow', { handler: 'mqtt', show_advanced_options: false });
    for (let i = 0; i < 5 && step.type === 'form'; i++) {
      const input: Record<string, unknown> = step.step_id === 'broker' ? { broker: '127.0.0.1', port } : {};
      step = await this.json('POST', `/api/config/config_entries/flow/${step.flow_id}`, input);
    }
    if (step.type !== 'create_entry') throw new Error(`MQTT config flow ended with ${JSON.stringify(step)}`);
  }

  async states(): Promise<HaState[]> {
    return this.json<HaState[]>('GET', '/api/states');
  }

  /** A Jinja template rendered by HA (device_attr, area_name, ... are not in the REST API otherwise). */
  async template(t: string): Promise<string> {
    const res = await fetch(`${this.url}/api/template`, {
      method: 'POST', headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ template: t }),
    });
    if (!res.ok) throw new Error(`template: ${res.status} ${await res.text()}`);
    return res.text();
  }

  /** The raw body of an authenticated GET, e.g. a camera picture from /api/camera_proxy/. */
  async bytes(path: string): Promise<{ status: number; type: string; body: Buffer }> {
    const res = await fetch(`${this.url}${path}`, { headers: { Authorization: `Bearer ${this.token}` } });
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) };
  }

  async callService(domain: string, service: string, data: Record<string, unknown>): Promise<void> {
    await this.json('POST', `/api/services/${domain}/${service}`, data);
  }
}
