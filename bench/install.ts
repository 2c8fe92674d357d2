// What a palette install of Mantis costs on disk: the packed tarball installed into an empty
// Node-RED user dir (npm install <tarball>, as in the palette), then du, files and packages.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from './run';
import { repoRoot, tempDir } from '../test/helpers/paths';

interface Installed { mb: number; files: number; packages: number; tarballMb: number }

/** Bytes on disk and files under dir (blocks, as du counts). */
function du(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = du(p);
      bytes += sub.bytes;
      files += sub.files;
    } else {
      bytes += statSync(p).blocks * 512;
      files++;
    }
  }
  return { bytes, files };
}

/** Packs the package at root (dist as built, no scripts) and installs the tarball into a fresh user dir. */
export function installedSize(root = repoRoot): Installed {
  const dir = tempDir('bench-install');
  try {
    const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { filename: string; size: number }[];
    const userDir = join(dir, 'user');
    execFileSync('mkdir', [userDir]);
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, info.filename)], { cwd: userDir, stdio: 'pipe' });
    const { bytes, files } = du(join(userDir, 'node_modules'));
    // Every installed package but Mantis itself.
    const packages = execFileSync('npm', ['ls', '--all', '--parseable'], { cwd: userDir, encoding: 'utf8' })
      .trim().split('\n').filter((l) => l.includes('node_modules')).length - 1;
    return { mb: Math.round(bytes / 1e5) / 10, files, packages, tarballMb: Math.round(info.size / 1e4) / 100 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(report: Report): Promise<void> {
  const s = installedSize();
  report({ name: 'installed size (palette install of the tarball, node_modules)', value: s.mb, unit: 'MB', files: s.files, packages: s.packages, tarballMb: s.tarballMb });
  report({ name: 'installed dependencies (packages besides Mantis)', value: s.packages, unit: 'packages' });
}
