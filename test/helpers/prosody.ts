// A real Prosody 0.12 (Debian package) on loopback for the XMPP tests: PEP,
// stream management, http_file_share. Prosody refuses to run as root, so it
// runs as the `prosody` user with its config and data in a temp dir it owns.
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort, ServerProcess, waitForPort, sleep } from './processes';
import { tempDir } from './paths';

export const PROSODY_DOMAIN = 'localhost';
export const UPLOAD_DOMAIN = 'upload.localhost';

function prosodyIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'prosody']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'prosody']).toString().trim());
  return { uid, gid };
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const f of readdirSync(path)) chownTree(join(path, f), uid, gid);
}

export interface ProsodyOptions {
  /** Set false to run without the http_file_share component. */
  upload?: boolean;
  /** Upload size limit in bytes. */
  uploadLimit?: number;
}

export class Prosody {
  readonly dir: string;
  c2sPort = 0;
  httpPort = 0;
  private proc?: ServerProcess;
  private readonly asRoot = process.getuid?.() === 0;

  constructor(private readonly opts: ProsodyOptions = {}) {
    this.dir = tempDir('prosody');
  }

  get config(): string { return join(this.dir, 'prosody.cfg.lua'); }
  get output(): string { return this.proc?.output ?? ''; }
  get pid(): number | undefined { return this.proc?.pid; }

  private writeConfig(): void {
    const upload = this.opts.upload !== false;
    const lua = `
pidfile = "${this.dir}/prosody.pid"
data_path = "${this.dir}/data"
plugin_paths = {}
daemonize = false
log = { debug = "${this.dir}/prosody.log"; info = "*console" }
admins = {}
modules_enabled = { "roster", "saslauth", "disco", "pep", "smacks", "carbons", "ping", "presence", "message", "iq", "offline", "http", "posix" }
modules_disabled = { "s2s", "tls" }
interfaces = { "127.0.0.1" }
c2s_ports = { ${this.c2sPort} }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = {}
component_ports = {}
http_ports = { ${this.httpPort} }
http_interfaces = { "127.0.0.1" }
https_ports = {}
https_interfaces = {}
http_external_url = "http://127.0.0.1:${this.httpPort}/"
authentication = "internal_plain"
allow_registration = false
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
storage = "internal"
smacks_hibernation_time = 60
limits = { c2s = { rate = "10mb/s" } }
VirtualHost "${PROSODY_DOMAIN}"
${upload ? `disco_items = { { "${UPLOAD_DOMAIN}", "file upload" } }
Component "${UPLOAD_DOMAIN}" "http_file_share"
  http_file_share_size_limit = ${this.opts.uploadLimit ?? 10 * 1024 * 1024}
  http_file_share_access = { "${PROSODY_DOMAIN}" }
  http_host = "127.0.0.1"
` : ''}`;
    writeFileSync(this.config, lua);
  }

  /** Writes the config (ports picked once, kept across restarts) and starts Prosody. */
  async start(): Promise<void> {
    if (!this.c2sPort) {
      this.c2sPort = await freePort();
      this.httpPort = await freePort();
      mkdirSync(join(this.dir, 'data'), { recursive: true });
      this.writeConfig();
      chmodSync(this.dir, 0o755);
    }
    if (this.asRoot) {
      const { uid, gid } = prosodyIds();
      chownTree(this.dir, uid, gid);
      this.proc = new ServerProcess('runuser', ['-u', 'prosody', '--', 'prosody', '-F', '--config', this.config]);
    } else {
      this.proc = new ServerProcess('prosody', ['-F', '--config', this.config]);
    }
    try {
      await waitForPort(this.c2sPort, 20_000);
      if (this.opts.upload !== false) await waitForPort(this.httpPort, 20_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.output}`);
    }
  }

  private ctl(args: string[]): string {
    const cmd = this.asRoot ? 'runuser' : 'prosodyctl';
    const full = this.asRoot ? ['-u', 'prosody', '--', 'prosodyctl', '--config', this.config, ...args] : ['--config', this.config, ...args];
    return execFileSync(cmd, full, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  }

  /** Creates user@localhost (works whether Prosody runs or not). */
  register(user: string, password: string): void {
    if (!this.c2sPort) throw new Error('start() first');
    this.ctl(['register', user, PROSODY_DOMAIN, password]);
  }

  async stop(): Promise<void> {
    // runuser forwards SIGTERM to prosody
    await this.proc?.stop(5000);
    this.proc = undefined;
    await sleep(100);
  }
}
