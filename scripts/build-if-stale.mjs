#!/usr/bin/env node
// `npm start` / `npm run bench`: builds only when dist/ is missing or a source is newer than the last
// good build (dist/.built, stamped with the time that build started, so an edit during it still counts).
// An installed package (palette, tarball) ships dist/ and no sources: nothing to build, never builds.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SOURCES = ['lib', 'nodes', 'bin', 'test', 'bench', 'icons', 'flows', 'tsconfig.json', 'package.json', 'package-lock.json', '.ci', 'scripts'];
const STAMP = join('dist', '.built');

/** Newest mtime (ms) under path; 0 when it is not there. */
function newest(path) {
  let st;
  try { st = statSync(path); } catch { return 0; }
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs; // a deleted file changes its folder
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

export function staleReason() {
  if (!existsSync('tsconfig.json') || !existsSync('lib')) return undefined; // an installed package: no sources
  if (!existsSync(STAMP)) return 'no finished build in dist/';
  const built = statSync(STAMP).mtimeMs;
  const changed = SOURCES.find((s) => newest(s) > built);
  return changed ? `${changed} changed since the last build` : undefined;
}

const reason = staleReason();
if (reason) {
  console.log(`Mantis: building (${reason})`);
  execSync('npm run build', { stdio: 'inherit' });
}
