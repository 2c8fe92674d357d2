// Running Mantis as a service: the unit `mantis-start --print-service` prints passes systemd's own
// check, runs this install as this user with its data under the home; the log starts with the
// version; `npm start` builds only when a source is newer than the last build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { repoRoot, tempDir } from './helpers/paths';

const cli = join(repoRoot, 'dist', 'bin', 'mantis-start.js');
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

function verify(unit: string): { status: number | null; output: string } {
  const dir = tempDir('unit');
  try {
    writeFileSync(join(dir, 'mantis.service'), unit);
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'mantis.service')], { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('mantis-start --print-service prints a unit systemd-analyze verify accepts', () => {
  const env = { ...process.env };
  delete env.MANTIS_USER_DIR;
  const unit = execFileSync(process.execPath, [cli, '--print-service'], { encoding: 'utf8', env });
  const line = (key: string): string | undefined => unit.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1];
  assert.equal(line('User'), userInfo().username);
  assert.equal(line('Restart'), 'on-failure');
  assert.equal(line('StandardOutput'), 'journal');
  assert.equal(line('Environment'), `MANTIS_USER_DIR=${join(homedir(), '.mantis')}`);
  assert.equal(line('ExecStart'), `${process.execPath} --max-semi-space-size=2 ${cli}`);
  const ok = verify(unit);
  assert.equal(ok.status, 0, ok.output);
  assert.doesNotMatch(ok.output, /mantis\.service/, 'no warning about the unit');
  // The check can fail: a unit whose program is not there is refused.
  const broken = verify(unit.replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/node'));
  assert.notEqual(broken.status, 0, broken.output);
});

test('the log says which version started, first', () => {
  // A setting it refuses makes it stop right after the version line: no ports, no flow.
  const r = spawnSync(process.execPath, [cli], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, MANTIS_HOST: '0.0.0.0', MANTIS_ADMIN_PASSWORD_HASH: '', MANTIS_USER_DIR: tempDir('version') } });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout.split('\n')[0] ?? '', new RegExp(`^Mantis ${version.replace(/\./g, '\\.')} \\(Node ${process.version}, Node-RED \\d+\\.\\d+\\.\\d+\\)`));
});

test('npm start builds only when dist/ is missing or a source is newer; an installed package never', () => {
  // A stand-in checkout whose "build" only leaves a mark, run through the real script and npm.
  const dir = tempDir('stale');
  const marks = (): number => (existsSync(join(dir, 'built.txt')) ? readFileSync(join(dir, 'built.txt'), 'utf8').length : 0);
  const start = (): void => { execFileSync(process.execPath, [join(dir, 'scripts', 'build-if-stale.mjs')], { cwd: dir, stdio: 'pipe' }); };
  try {
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(repoRoot, 'scripts', 'build-if-stale.mjs'), join(dir, 'scripts', 'build-if-stale.mjs'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', scripts: { build: 'node -e "require(\'fs\').appendFileSync(\'built.txt\',\'x\');require(\'fs\').mkdirSync(\'dist\',{recursive:true});require(\'fs\').writeFileSync(\'dist/.built\',\'\')"' } }));
    writeFileSync(join(dir, 'tsconfig.json'), '{}');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib', 'a.ts'), '');
    start();
    assert.equal(marks(), 1, 'no dist: builds');
    start();
    assert.equal(marks(), 1, 'dist current: no build');
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dir, 'lib', 'a.ts'), later, later);
    start();
    assert.equal(marks(), 2, 'a newer source: builds');
    // What a palette or tarball install has: dist and no sources.
    rmSync(join(dir, 'lib'), { recursive: true });
    rmSync(join(dir, 'tsconfig.json'));
    rmSync(join(dir, 'dist'), { recursive: true });
    start();
    assert.equal(marks(), 2, 'an installed package: never builds');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
