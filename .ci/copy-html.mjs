// Node-RED finds a node's editor file beside its runtime file, so the .html
// of each node folder is copied next to the compiled .js.
import { cpSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
for (const dir of readdirSync('nodes')) {
  const html = join('nodes', dir, `${dir}.html`);
  if (existsSync(html)) cpSync(html, join('dist', 'nodes', dir, `${dir}.html`));
}
