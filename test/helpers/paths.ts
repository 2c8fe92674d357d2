import { mkdtempSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Package root (tests run from dist/test/..., sources live two levels up). */
export const repoRoot = resolve(__dirname, '..', '..', '..');

/** Where .ci/run keeps Node 22 and the Python venvs of the test peers. */
export const cacheDir = process.env.MANTIS_CACHE ?? join(homedir(), '.cache', 'mantis');

/** An executable inside one of the venvs made by .ci/run (synapse, omemo, ha). */
export function venvBin(venv: string, exe: string): string {
  return join(cacheDir, `venv-${venv}`, 'bin', exe);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `mantis-${prefix}-`));
}
