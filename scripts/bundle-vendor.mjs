// Part of `npm run build`: libsignal (OMEMO) and what it needs at run time, bundled into
// dist/lib/vendor/libsignal.js. As a dependency it pulls its protobuf code generator's tools
// (ts-proto, dprint-node: ~27 MB) into every install; bundled, an install of Mantis gets ~1 MB and
// no dependency of its own for it, whatever the user's lockfile says. The licences go along.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OUT = join('dist', 'lib', 'vendor');
// protobufjs looks for `long` with a require hidden in eval, which a bundle cannot follow:
// hand it the bundled copy, so 64-bit fields decode as they do unbundled.
const ENTRY = `
const Long = require('long');
const protobuf = require('protobufjs/minimal');
protobuf.util.Long = Long;
protobuf.configure();
module.exports = require('@privacyresearch/libsignal-protocol-typescript');
`;

mkdirSync(OUT, { recursive: true });
const { metafile } = await build({
  metafile: true,
  stdin: { contents: ENTRY, resolveDir: process.cwd(), loader: 'js' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22',
  outfile: join(OUT, 'libsignal.js'),
  legalComments: 'inline',
  logLevel: 'error',
  logOverride: { 'direct-eval': 'silent' }, // protobufjs's optional-require probe, see above
});

// Every bundled package's licence text, as their licences ask of a redistribution.
const packages = new Set(Object.keys(metafile.inputs).map((f) => f.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//)?.[1]).filter(Boolean));
let notices = 'Bundled into libsignal.js by scripts/bundle-vendor.mjs:\n';
for (const dir of [...packages].sort()) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const licence = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  notices += `\n==== ${pkg.name} ${pkg.version} (${pkg.license})\n\n${licence ? readFileSync(join(dir, licence), 'utf8') : '(no licence file)\n'}`;
}
writeFileSync(join(OUT, 'LICENSES.txt'), notices);
