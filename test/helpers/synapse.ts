// A real Synapse homeserver on loopback for the Matrix tests: generated config,
// sqlite, no TLS, rate limits off, users registered with the shared secret.
import { createHmac } from 'node:crypto';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { venvBin, tempDir } from './paths';
import { freePort, ServerProcess, waitFor } from './processes';

export interface SynapseOptions {
  /** max_upload_size, e.g. "2M" */
  maxUpload?: string;
}

const NO_LIMIT = { per_second: 10_000, burst_count: 10_000 };

export class Synapse {
  readonly dir: string;
  port = 0;
  proc: ServerProcess | undefined;
  readonly secret = 'mantis-test-shared-secret';
  constructor(private readonly opts: SynapseOptions = {}) {
    this.dir = tempDir('synapse');
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }
  get dbPath(): string { return join(this.dir, 'homeserver.db'); }
  get mediaPath(): string { return join(this.dir, 'media'); }

  /** Writes the config (first time) and starts the server; resolves once it answers. */
  async start(): Promise<void> {
    const python = venvBin('synapse', 'python');
    const cfg = join(this.dir, 'homeserver.yaml');
    if (!existsSync(cfg)) {
      this.port = await freePort();
      // Let Synapse make its own keys and log config, then replace the config with ours.
      execFileSync(python, ['-m', 'synapse.app.homeserver', '--server-name', 'localhost', '--config-path', cfg,
        '--data-directory', this.dir, '--generate-config', '--report-stats=no'], { cwd: this.dir, stdio: 'pipe' });
      const limits = { address: NO_LIMIT, account: NO_LIMIT, failed_attempts: NO_LIMIT, ...NO_LIMIT };
      const config = {
        server_name: 'localhost',
        pid_file: join(this.dir, 'homeserver.pid'),
        listeners: [{ port: this.port, bind_addresses: ['127.0.0.1'], type: 'http', tls: false, x_forwarded: false,
          resources: [{ names: ['client', 'federation'], compress: false }] }],
        database: { name: 'sqlite3', args: { database: this.dbPath } },
        media_store_path: this.mediaPath,
        enable_media_repo: true,
        max_upload_size: this.opts.maxUpload ?? '50M',
        registration_shared_secret: this.secret,
        report_stats: false,
        signing_key_path: join(this.dir, 'localhost.signing.key'),
        trusted_key_servers: [],
        suppress_key_server_warning: true,
        rc_message: NO_LIMIT, rc_registration: NO_LIMIT, rc_login: limits, rc_joins: { local: NO_LIMIT, remote: NO_LIMIT },
        rc_invites: { per_room: NO_LIMIT, per_user: NO_LIMIT, per_issuer: NO_LIMIT },
        rc_admin_redaction: NO_LIMIT, rc_3pid_validation: NO_LIMIT, rc_key_requests: NO_LIMIT,
        rc_joins_per_room: NO_LIMIT, rc_room_creation: NO_LIMIT, rc_presence: { per_user: NO_LIMIT },
        rc_delayed_event_mgmt: NO_LIMIT, rc_reports: NO_LIMIT, rc_media_create: NO_LIMIT,
        log_config: join(this.dir, 'localhost.log.config'),
        url_preview_enabled: false,
        presence: { enabled: false },
      };
      // JSON is valid YAML.
      writeFileSync(cfg, JSON.stringify(config, null, 1));
      writeFileSync(join(this.dir, 'localhost.log.config'), [
        'version: 1',
        'formatters: {precise: {format: "%(asctime)s %(name)s %(levelname)s %(message)s"}}',
        'handlers: {console: {class: logging.StreamHandler, formatter: precise}}',
        'root: {level: WARNING, handlers: [console]}',
        'disable_existing_loggers: false',
      ].join('\n'));
    }
    this.proc = new ServerProcess(python, ['-m', 'synapse.app.homeserver', '--config-path', cfg], { cwd: this.dir });
    await waitFor(async () => {
      if (this.proc?.exited) throw new Error(`synapse exited: ${this.proc.output}`);
      const r = await fetch(`${this.url}/_matrix/client/versions`).catch(() => undefined);
      return r?.ok;
    }, 90_000, 'synapse to answer');
  }

  async stop(): Promise<void> {
    await this.proc?.stop(10_000);
    this.proc = undefined;
  }

  /** Registers a user with the shared-secret admin API; returns the full user id. */
  async register(name: string, password: string, admin = false): Promise<string> {
    const nonceRes = await fetch(`${this.url}/_synapse/admin/v1/register`);
    const { nonce } = await nonceRes.json() as { nonce: string };
    const mac = createHmac('sha1', this.secret)
      .update(`${nonce}\0${name}\0${password}\0${admin ? 'admin' : 'notadmin'}`).digest('hex');
    const r = await fetch(`${this.url}/_synapse/admin/v1/register`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ nonce, username: name, password, admin, mac }),
    });
    if (!r.ok) throw new Error(`register ${name}: ${r.status} ${await r.text()}`);
    return `@${name}:localhost`;
  }

  /** Rows of the events of a room as Synapse stored them (type + the JSON sent by clients). */
  roomEvents(roomId: string): { type: string; json: Record<string, unknown> }[] {
    const py = [
      'import sqlite3, sys, json',
      'c = sqlite3.connect(sys.argv[1])',
      'rows = c.execute("select e.type, j.json from events e join event_json j on e.event_id = j.event_id where e.room_id = ? order by e.stream_ordering", (sys.argv[2],)).fetchall()',
      'print(json.dumps([{"type": t, "json": json.loads(j)} for t, j in rows]))',
    ].join('\n');
    const out = execFileSync(venvBin('synapse', 'python'), ['-c', py, this.dbPath, roomId]).toString();
    return JSON.parse(out) as { type: string; json: Record<string, unknown> }[];
  }
}
