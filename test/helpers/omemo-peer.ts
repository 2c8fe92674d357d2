// Drives test/helpers/omemo-peer.py (slixmpp-omemo, OMEMO 0.3 via oldmemo):
// an independent OMEMO client that prints what it decrypts as JSON lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, venvBin } from './paths';
import { waitFor } from './processes';

export interface PeerEvent {
  type: 'ready' | 'message' | 'media' | 'error' | 'result' | 'warning' | 'disconnected' | 'carbon' | 'presence';
  [k: string]: unknown;
}

export class OmemoPeer {
  private child?: ChildProcess;
  readonly events: PeerEvent[] = [];
  stderr = '';
  deviceId = 0;
  private nextId = 1;

  /** pepAccess 'presence': OMEMO nodes readable only by presence subscribers (as Profanity publishes them). */
  constructor(readonly opts: { jid: string; password: string; port: number; store: string; pepAccess?: 'open' | 'presence' }) {}

  async start(timeoutMs = 30_000): Promise<void> {
    this.child = spawn(venvBin('omemo', 'python'), [
      join(repoRoot, 'test', 'helpers', 'omemo-peer.py'),
      '--jid', this.opts.jid, '--password', this.opts.password, '--port', String(this.opts.port),
      '--store', this.opts.store, '--http', '--pep-access', this.opts.pepAccess ?? 'open',
    ], { stdio: ['pipe', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        try { this.events.push({ ...(JSON.parse(line) as PeerEvent), at: performance.now() }); } catch { this.stderr += `(stdout) ${line}\n`; }
      }
    });
    this.child.stderr!.on('data', (b: Buffer) => { this.stderr = (this.stderr + b.toString()).slice(-20_000); });
    const ready = await this.waitFor((e) => e.type === 'ready', timeoutMs, 'peer ready');
    this.deviceId = Number(ready.device_id);
  }

  /** Waits for an event matching pred that arrived after index `since` (default: any). */
  async waitFor(pred: (e: PeerEvent) => boolean, timeoutMs = 15_000, what = 'peer event', since = 0): Promise<PeerEvent> {
    try {
      return await waitFor(() => this.events.slice(since).find(pred), timeoutMs, what);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nevents: ${JSON.stringify(this.events.slice(-10))}\nstderr: ${this.stderr.slice(-3000)}`);
    }
  }

  get mark(): number { return this.events.length; }

  private write(obj: Record<string, unknown>): void { this.child!.stdin!.write(`${JSON.stringify(obj)}\n`); }

  async request(obj: Record<string, unknown>, timeoutMs = 15_000): Promise<PeerEvent> {
    const id = this.nextId++;
    this.write({ ...obj, id });
    return this.waitFor((e) => e.type === 'result' && e.id === id, timeoutMs, `result of ${String(obj.cmd)}`);
  }

  /** stamp: a XEP-0203 delay stamp, as offline storage or a replay would add. */
  send(to: string, body: string, plain = false, stamp?: Date): Promise<PeerEvent> {
    return this.request({ cmd: 'send', to, body, plain, stamp: stamp?.toISOString() });
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    try { this.write({ cmd: 'quit' }); c.stdin!.end(); } catch { /* closed */ }
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}
