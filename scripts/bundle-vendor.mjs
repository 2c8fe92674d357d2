// Part of `npm run build`: libraries bundled into dist/lib/vendor/ with what they need at run time,
// so installs carry no dependency of their own for them, whatever the user's lockfile says:
// - libsignal.js (OMEMO): as a dependency it pulls its protobuf code generator's tools
//   (ts-proto, dprint-node: ~27 MB) into every install; bundled, ~1 MB.
// - tfjs.js (object detection: tfjs-core, tfjs-converter, tfjs-backend-wasm) and the backend's
//   .wasm files beside it: the same code on x86, arm64 and armv7, ~2 MB, no native build.
// The licences go along (LICENSES.txt).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const OUT = join('dist', 'lib', 'vendor');
const require = createRequire(join(process.cwd(), 'package.json'));

const BUNDLES = [
  {
    file: 'libsignal.js',
    // protobufjs looks for `long` with a require hidden in eval, which a bundle cannot follow:
    // hand it the bundled copy, so 64-bit fields decode as they do unbundled.
    entry: `
const Long = require('long');
const protobuf = require('protobufjs/minimal');
protobuf.util.Long = Long;
protobuf.configure();
module.exports = require('@privacyresearch/libsignal-protocol-typescript');
`,
    external: [],
  },
  {
    file: 'tfjs.js',
    // One tfjs-core shared by the converter and the backend (they register into it).
    entry: `
module.exports = {
  tf: require('@tensorflow/tfjs-core'),
  GraphModel: require('@tensorflow/tfjs-converter').GraphModel,
  setWasmPaths: require('@tensorflow/tfjs-backend-wasm').setWasmPaths,
};
`,
    // tfjs-core's fetch for Node (only for loading over http, which we never do).
    external: ['node-fetch'],
    // Threads are off in Node (tfjs checks IS_NODE): the SIMD build, and the plain one for CPUs without SIMD.
    copy: [['@tensorflow/tfjs-backend-wasm', 'dist/tfjs-backend-wasm-simd.wasm'], ['@tensorflow/tfjs-backend-wasm', 'dist/tfjs-backend-wasm.wasm']],
  },
];

const APACHE = '/usr/share/common-licenses/Apache-2.0';
mkdirSync(OUT, { recursive: true });
let notices = '';
for (const b of BUNDLES) {
  const { metafile } = await build({
    metafile: true,
    stdin: { contents: b.entry, resolveDir: process.cwd(), loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    outfile: join(OUT, b.file),
    external: b.external,
    legalComments: 'inline',
    logLevel: 'error',
    logOverride: { 'direct-eval': 'silent' }, // protobufjs's optional-require probe, see above
  });
  const packages = new Set(Object.keys(metafile.inputs).map((f) => f.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//)?.[1]).filter(Boolean));
  for (const [pkg, file] of b.copy ?? []) {
    const dir = dirname(require.resolve(`${pkg}/package.json`));
    copyFileSync(join(dir, file), join(OUT, file.split('/').pop()));
    if (![...packages].some((d) => d.endsWith(`node_modules/${pkg}`))) packages.add(dir);
  }
  // Every bundled package's licence text, as their licences ask of a redistribution.
  notices += `${notices ? '\n\n' : ''}Bundled into ${b.file} by scripts/bundle-vendor.mjs:\n`;
  for (const dir of [...packages].sort()) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const licence = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
    // The tfjs packages ship no licence file (their sources carry the Apache-2.0 header, kept inline).
    const text = licence ? readFileSync(join(dir, licence), 'utf8')
      : pkg.license === 'Apache-2.0' && existsSync(APACHE) ? readFileSync(APACHE, 'utf8')
      : `(no licence file; licence: ${pkg.license})\n`;
    notices += `\n==== ${pkg.name} ${pkg.version} (${pkg.license})\n\n${text}`;
  }
}
writeFileSync(join(OUT, 'LICENSES.txt'), notices);
