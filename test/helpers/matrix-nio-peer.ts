// Runs test/helpers/matrix-nio-peer.py (matrix-nio 0.25 + python-olm, a libolm
// client): it starts an emoji verification with the bot without a request,
// as nio does, and reports what the bot answered.
import { execFile } from 'node:child_process';
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
