// A real Synapse homeserver on loopback for the Matrix tests: generated config,
// sqlite, no TLS, rate limits off, users registered with the shared secret.
import { createHmac } from 'node:crypto';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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
  /** Access tokens of the devices that registration created, by user id. */
  private readonly tokens = new Map<string, string>();
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
    this.tokens.set(`@${name}:localhost`, (await r.json() as { access_token: string }).access_token);
    return `@${name}:localhost`;
  }

  /** The devices of a registered user, as the homeserver lists them (registration made the first one). */
  async devices(userId: string): Promise<string[]> {
    const r = await fetch(`${this.url}/_matrix/client/v3/devices`, { headers: { authorization: `Bearer ${this.tokens.get(userId)}` } });
    if (!r.ok) throw new Error(`devices of ${userId}: ${r.status}`);
    return (await r.json() as { devices: { device_id: string }[] }).devices.map((d) => d.device_id).sort();
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

interface Rule { match: RegExp; arrived: () => void; held: Promise<void>; release: () => void; failWith?: number }

/** What a test gets back from HoldingProxy.hold(). */
export interface Held {
  /** Resolves once a matching request reached the proxy (it has not reached Synapse). */
  arrived: Promise<void>;
  /** Lets it through to Synapse, unless its client gave up meanwhile. */
  release(): void;
}

/**
 * A loopback HTTP proxy in front of Synapse that can hold one request before it
 * reaches the server (so a test can stop the bot exactly inside one await of
 * its start), or answer one with an error. Everything else passes through.
 */
export class HoldingProxy {
  private server: Server | undefined;
  port = 0;
  private rules: Rule[] = [];
  /** "METHOD path" of every request, and "dropped ..." for a held one whose client went away. */
  readonly seen: string[] = [];

  constructor(private readonly target: () => string) {}

  get url(): string { return `http://127.0.0.1:${this.port}`; }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.server = createServer((req, res) => { void this.handle(req, res).catch(() => res.destroy()); });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
  }

  async stop(): Promise<void> {
    for (const r of this.rules) r.release();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Holds the next request whose "METHOD path" matches. */
  hold(match: RegExp): Held {
    let arrived!: () => void;
    let release!: () => void;
    const arrivedP = new Promise<void>((r) => { arrived = r; });
    const held = new Promise<void>((r) => { release = r; });
    this.rules.push({ match, arrived, held, release });
    return { arrived: arrivedP, release };
  }

  /** Answers the next `times` requests that match with `status` (they never reach Synapse); resolves after the first. */
  fail(match: RegExp, status: number, times = 1): Promise<void> {
    let arrived!: () => void;
    const p = new Promise<void>((r) => { arrived = r; });
    for (let i = 0; i < times; i++) this.rules.push({ match, arrived, held: Promise.resolve(), release: () => undefined, failWith: status });
    return p;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const line = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    this.seen.push(line);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let gone = false;
    res.on('close', () => { if (!res.writableFinished) gone = true; });
    const i = this.rules.findIndex((r) => r.match.test(line));
    if (i >= 0) {
      const rule = this.rules.splice(i, 1)[0]!;
      rule.arrived();
      if (rule.failWith) {
        res.writeHead(rule.failWith, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errcode: 'M_UNKNOWN', error: 'failed by the test proxy' }));
        return;
      }
      await rule.held;
      if (gone) { this.seen.push(`dropped ${line}`); return; }
    }
    const up = httpRequest(`${this.target()}${req.url}`, { method: req.method, headers: { ...req.headers, host: new URL(this.target()).host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => { if (!res.writableFinished) up.destroy(); });
    up.end(Buffer.concat(chunks));
  }
}
