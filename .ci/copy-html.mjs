// Node-RED finds a node's editor file beside its runtime file, so the .html
// of each node folder is copied next to the compiled .js, and so is its
// locales/ folder: Node-RED reads the message catalog (locales/<lang>/<node>.json)
// and the help (locales/<lang>/<node>.html) from beside the .js.
// Icons: Node-RED looks for an `icons` folder beside each node's .js (never at
// the package root) and serves every icon it finds to all nodes of the package.
// One copy, beside the first registered node, keeps the editor's icon picker
// free of duplicates.
import { cpSync, readdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
for (const dir of readdirSync('nodes')) {
  const html = join('nodes', dir, `${dir}.html`);
  if (existsSync(html)) cpSync(html, join('dist', 'nodes', dir, `${dir}.html`));
  const locales = join('dist', 'nodes', dir, 'locales');
  rmSync(locales, { recursive: true, force: true }); // a language or file deleted in nodes/ goes from dist/ too
  if (existsSync(join('nodes', dir, 'locales'))) cpSync(join('nodes', dir, 'locales'), locales, { recursive: true });
  rmSync(join('dist', 'nodes', dir, 'icons'), { recursive: true, force: true });
}
const first = Object.values(JSON.parse(readFileSync('package.json', 'utf8'))['node-red'].nodes)[0];
cpSync('icons', join(dirname(first), 'icons'), { recursive: true });
// Import ▸ Examples lists the package's examples/ folder: the default flow is offered there too, a
// copy of its one source, flows/default.json (the flow npm start writes into its user dir).
cpSync(join('flows', 'default.json'), join('examples', 'default-flow.json'));
