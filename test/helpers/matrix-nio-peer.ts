// Runs test/helpers/matrix-nio-peer.py (matrix-nio 0.25 + python-olm, a libolm
// client): it starts an emoji verification with the bot without a request,
// as nio does, and reports what the bot answered.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, tempDir, venvBin } from './paths';

export interface NioAnswer { event: string; transaction_id?: string; code?: string; reason?: string; error?: string }

export function nioStartVerification(opts: {
  homeserver: string; user: string; password: string; room: string; bot: string; botDevice: string; seconds?: number;
}): Promise<NioAnswer[]> {
  const args = [join(repoRoot, 'test', 'helpers', 'matrix-nio-peer.py'), '--homeserver', opts.homeserver, '--user', opts.user,
    '--password', opts.password, '--store', tempDir('nio'), '--room', opts.room, '--bot', opts.bot, '--bot-device', opts.botDevice,
    '--seconds', String(opts.seconds ?? 30)];
  return new Promise((resolve, reject) => {
    execFile(venvBin('nio', 'python'), args, { timeout: ((opts.seconds ?? 30) + 60) * 1000 }, (err, stdout, stderr) => {
      const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as NioAnswer);
      if (err && !lines.length) reject(new Error(`nio peer: ${err.message}\n${stderr.slice(-3000)}`));
      else resolve(lines);
    });
  });
}

export interface NioOwnerLine { event: string; room?: string; encrypted?: boolean; body?: string; decrypted?: boolean; members?: string[]; topic?: string; error?: string }

/**
 * Runs test/helpers/matrix-nio-owner.py: the owner waits for the bot's invite, joins and reads the
 * bot's texts until one contains `want`. Lines arrive in `lines` as they are printed.
 */
export function nioOwner(opts: { homeserver: string; user: string; password: string; bot: string; want: string; seconds?: number }):
{ lines: NioOwnerLine[]; done: Promise<void> } {
  const args = [join(repoRoot, 'test', 'helpers', 'matrix-nio-owner.py'), '--homeserver', opts.homeserver, '--user', opts.user,
    '--password', opts.password, '--store', tempDir('nio-owner'), '--bot', opts.bot, '--want', opts.want, '--seconds', String(opts.seconds ?? 60)];
  const lines: NioOwnerLine[] = [];
  const child = spawn(venvBin('nio', 'python'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (l.startsWith('{')) lines.push(JSON.parse(l) as NioOwnerLine);
    }
  });
  child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-3000); });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nio owner exited ${code}: ${err}`))));
  });
  return { lines, done };
}
