// The package as a user gets it from the palette: the npm tarball installed
// into a fresh Node-RED user dir, for Node-RED 4.1 and Node-RED 5. Catches
// files missing from the tarball ("files" in package.json).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tempDir } from './helpers/paths';
import { startNodeRedProcess, getJson, type NodeRedProcess } from './helpers/node-red-process';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string; 'node-red': { nodes: Record<string, string> };
};
const nodeTypes = Object.keys(pkg['node-red'].nodes).sort();
const examples = readdirSync(join(repoRoot, 'examples')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();

const CONFIG_NODES = new Set(['mantis-camera', 'matrix-account', 'xmpp-account']);
function exampleTypes(name: string): Set<string> {
  const flow = JSON.parse(readFileSync(join(repoRoot, 'examples', `${name}.json`), 'utf8')) as { type: string }[];
  return new Set(flow.map((n) => n.type));
}
/** The icon file each node's editor definition names (config nodes get the editor's cog). */
const iconOf = new Map<string, string>();
for (const type of nodeTypes) {
  const html = readFileSync(join(repoRoot, 'nodes', type, `${type}.html`), 'utf8');
  const m = /\bicon:\s*['"]([^'"]+)['"]/.exec(html);
  if (m) iconOf.set(type, m[1]);
}

interface NodeSet { id: string; module: string; name: string; types: string[]; enabled: boolean; err?: string }

let packDir = '';
let userDir = '';
let packed: string[] = [];

before(() => {
  // dist is already built by the run that compiled this test, so skip prepack's rebuild.
  packDir = tempDir('pack');
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir],
    { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  packed = info.files.map((f) => f.path);
  userDir = tempDir('userdir');
  writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(packDir, info.filename)], { cwd: userDir, stdio: 'pipe' });
});

after(() => {
  for (const dir of [packDir, userDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the tarball holds every node, example and the default flow, and no sources', () => {
  const want = [
    'package.json', 'README.md', 'flows/default.json',
    ...nodeTypes.flatMap((t) => [pkg['node-red'].nodes[t], pkg['node-red'].nodes[t].replace(/\.js$/, '.html')]),
    // Node-RED reads the labels (message catalog) and the help from locales/ beside the node's .js.
    ...nodeTypes.flatMap((t) => ['en-US', 'de'].map((lang) => pkg['node-red'].nodes[t].replace(/[^/]+\.js$/, `locales/${lang}/${t}.json`))),
    ...nodeTypes.map((t) => pkg['node-red'].nodes[t].replace(/[^/]+\.js$/, `locales/en-US/${t}.html`)),
    ...examples.map((e) => `examples/${e}.json`),
  ];
  assert.deepEqual(want.filter((f) => !packed.includes(f)), [], 'files missing from the tarball');
  assert.deepEqual(packed.filter((f) => /(^|\/)test\//.test(f) || f.startsWith('bench/') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), [],
    'test, bench or TypeScript sources in the tarball');
  const defaultFlow = JSON.parse(readFileSync(join(userDir, 'node_modules', pkg.name, 'flows', 'default.json'), 'utf8')) as unknown;
  assert.ok(Array.isArray(defaultFlow) && defaultFlow.length > 0, 'installed flows/default.json is a flow');
});

test('the install carries no build tools of a dependency (ts-proto, dprint-node; libsignal and tfjs are bundled)', () => {
  const found: string[] = [];
  const walk = (dir: string): void => {
    let names: string[] = [];
    try { names = readdirSync(dir); } catch { return; }
    for (const n of names) {
      if (n.startsWith('@')) { for (const s of readdirSync(join(dir, n))) check(join(dir, n, s), `${n}/${s}`); } else check(join(dir, n), n);
    }
  };
  const check = (path: string, name: string): void => {
    if (/^(ts-proto|ts-poet|dprint-node|@privacyresearch\/|@tensorflow\/)/.test(name)) found.push(path.slice(userDir.length));
    walk(join(path, 'node_modules'));
  };
  walk(join(userDir, 'node_modules'));
  assert.deepEqual(found, []);
});

test('OMEMO works from the installed package: a session is set up and a message decrypts', () => {
  // A fresh Node in the user dir: only what the install put there can be found.
  const omemo = join(userDir, 'node_modules', pkg.name, 'dist', 'lib', 'xmpp', 'omemo.js');
  const script = `
    const { Omemo } = require(${JSON.stringify(omemo)});
    (async () => {
      const alice = new Omemo(${JSON.stringify(tempDir('omemo-alice'))});
      const bob = new Omemo(${JSON.stringify(tempDir('omemo-bob'))});
      await alice.init(); await bob.init();
      const { message } = await alice.encrypt(Buffer.from('motion at the door'), [{ jid: 'bob@example.org', devices: [bob.deviceId] }], async () => bob.bundle());
      const got = await bob.decrypt('alice@example.org', message);
      console.log(JSON.stringify({ text: got.plaintext.toString(), preKey: got.preKeyMessage }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: userDir, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' }, timeout: 120_000 });
  assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { text: 'motion at the door', preKey: true });
});

test('object detection works from the installed package: its worker finds the people in vtest.avi', () => {
  const frame = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-ss', '5', '-i', '/usr/share/doc/opencv-doc/examples/data/vtest.avi',
    '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 16 << 20 });
  const rgb = join(tempDir('objects-frame'), 'vtest.rgb');
  writeFileSync(rgb, frame);
  const shared = join(userDir, 'node_modules', pkg.name, 'dist', 'lib', 'objects', 'shared-detector.js');
  const script = `
    const { acquireDetector } = require(${JSON.stringify(shared)});
    const det = acquireDetector();
    const data = new Uint8Array(require('fs').readFileSync(${JSON.stringify(rgb)}));
    det.detect({ data, width: 768, height: 576 }, { maxWaitMs: 120000 })
      .then((found) => console.log(JSON.stringify(found.filter((d) => d.label === 'person').length)))
      .catch((e) => { console.error(e); process.exitCode = 1; })
      .finally(() => det.release());`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: userDir, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' }, timeout: 120_000 });
  assert.ok(Number(out.trim().split('\n').pop()) >= 4, `people found: ${out}`);
  rmSync(join(rgb, '..'), { recursive: true, force: true });
});

for (const nodeRed of ['node-red-4', 'node-red']) {
  test(`the installed tarball works in the editor of ${nodeRed}`, async (t) => {
    let red: NodeRedProcess | undefined;
    t.after(() => red?.server.stop());
    red = await startNodeRedProcess(userDir, nodeRed);
    const url = red.url;

    await t.test('every node type loads without error', async () => {
      const ours = (await getJson<NodeSet[]>(`${url}/nodes`)).filter((n) => n.module === pkg.name);
      assert.deepEqual(ours.filter((n) => n.err || !n.enabled).map((n) => `${n.name}: ${n.err ?? 'disabled'}`), [], 'node sets that failed to load');
      assert.deepEqual(ours.flatMap((n) => n.types).sort(), nodeTypes);
    });

    await t.test('every node has its edit dialog and help in the editor', async () => {
      const res = await fetch(`${url}/nodes`, { headers: { Accept: 'text/html' } });
      assert.equal(res.status, 200);
      const html = await res.text();
      for (const type of nodeTypes) {
        assert.ok(html.includes(`data-template-name="${type}"`), `edit dialog of ${type}`);
        assert.ok(html.includes(`data-help-name="${type}"`), `help of ${type}`);
        assert.ok(!readFileSync(join(repoRoot, 'nodes', type, `${type}.html`), 'utf8').includes('data-help-name'), `the help of ${type} is in its locales/, only there`);
        const help = html.slice(html.indexOf(`data-help-name="${type}"`)).split('</script>')[0]!;
        assert.match(help, /<h3>Example<\/h3>[\s\S]*input[\s\S]*output[\s\S]*typical flow/i, `the help of ${type} has a worked example`);
      }
    });

    await t.test('the labels come from the message catalog, in German for a German editor', async () => {
      // What the editor asks once it knows the browser's language.
      for (const [lang, file] of [['en-US', 'en-US'], ['de-DE', 'de'], ['de', 'de']]) {
        const catalogs = await getJson<Record<string, Record<string, unknown>>>(`${url}/nodes/messages?lng=${lang}`);
        for (const type of nodeTypes) {
          const want = JSON.parse(readFileSync(join(repoRoot, 'nodes', type, 'locales', file, `${type}.json`), 'utf8')) as Record<string, { label: Record<string, string> }>;
          const got = catalogs[`${pkg.name}/${type}`]?.[type] as { label?: Record<string, string> } | undefined;
          assert.deepEqual(got?.label, { ...(JSON.parse(readFileSync(join(repoRoot, 'nodes', type, 'locales', 'en-US', `${type}.json`), 'utf8')) as typeof want)[type]!.label, ...want[type]!.label }, `${lang} labels of ${type}`);
        }
      }
    });

    await t.test('the icons the nodes name are served from the package', async () => {
      // The editor only asks for an icon of a module that GET /icons lists for it;
      // GET /icons/<module>/<file> answers a missing file with a default arrow, so compare bytes.
      const icons = await getJson<Record<string, string[]>>(`${url}/icons`);
      assert.ok(iconOf.size > 0);
      for (const [type, icon] of iconOf) {
        assert.ok(icons[pkg.name]?.includes(icon), `GET /icons lists ${icon} of ${type} under ${pkg.name}: ${JSON.stringify(icons[pkg.name])}`);
        const res = await fetch(`${url}/icons/${pkg.name}/${icon}`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /image\/svg\+xml/);
        assert.equal(await res.text(), readFileSync(join(repoRoot, 'icons', icon), 'utf8'), `${icon} is ours`);
      }
    });

    await t.test('every example is listed under Import > Examples and imports', async () => {
      // What the editor's library browser asks: the "examples" library's module folders, then one folder.
      const modules = await getJson<string[]>(`${url}/library/examples/flows/`);
      assert.ok(modules.includes(pkg.name), `examples library lists ${pkg.name}: ${JSON.stringify(modules)}`);
      const listed = await getJson<({ fn: string } | string)[]>(`${url}/library/examples/flows/${pkg.name}/`);
      assert.deepEqual(listed.map((e) => (typeof e === 'string' ? `${e}/` : e.fn)).sort(), examples);
      for (const name of examples) {
        const flow = await getJson<unknown>(`${url}/library/examples/flows/${pkg.name}/${name}`);
        assert.deepEqual(flow, JSON.parse(readFileSync(join(repoRoot, 'examples', `${name}.json`), 'utf8')), `example ${name}`);
      }
      for (const type of nodeTypes.filter((n) => !CONFIG_NODES.has(n))) {
        assert.ok(examples.some((e) => exampleTypes(e).has(type)), `an example uses ${type}`);
      }
    });
  });
}
