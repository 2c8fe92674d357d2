#!/usr/bin/env node
// `npm run build`: compile, copy the editor files, bundle the vendored libraries, then mark dist/ as a
// finished build (dist/.built, dated when this build started, so an edit made during it still counts
// as newer). A failed step leaves no new stamp: the next `npm start` builds again.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';

const started = new Date();
const run = (...args) => execFileSync(process.execPath, args, { stdio: 'inherit' });
run(createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', 'tsconfig.json');
run('.ci/copy-html.mjs');
run('scripts/bundle-vendor.mjs');
closeSync(openSync('dist/.built', 'w'));
utimesSync('dist/.built', started, started);
