// The editor in its user's language, in a real Chromium against a real Node-RED (`npm start`'s):
// a browser set to German gets the German labels of the message catalog (nodes/<node>/locales/de),
// one set to English the English ones; the help panel shows the node's worked example; and a
// runtime whose language is German (LANG=de_DE.UTF-8) writes its node statuses from the German
// catalog. The witness is the catalog file itself, read here, not the product's code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { spawnMantisCli } from './helpers/mantis-start';

interface Catalog { label: Record<string, string>; hint: Record<string, string>; status: Record<string, string> }
const catalog = (lang: string): Catalog => (JSON.parse(readFileSync(join(repoRoot, 'nodes', 'motion-detect', 'locales', lang, 'motion-detect.json'), 'utf8')) as Record<string, Catalog>)['motion-detect']!;
const example = JSON.parse(readFileSync(join(repoRoot, 'examples', 'motion-detect.json'), 'utf8')) as { id: string; type: string }[];
const detectId = example.find((n) => n.type === 'motion-detect')!.id;
const cameraInId = example.find((n) => n.type === 'camera-in')!.id;
const shots = join(repoRoot, 'test-output');

/** A catalog text as a pattern: its __placeholders__ match anything. */
function pattern(text: string): RegExp {
  return new RegExp(`^${text.split(/__\w+__/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+')}$`);
}

interface EditorWindow { RED: { sidebar: { help: { show(type: string): void } } } }

test('the editor in German and English: labels from the catalog, the help with its example, statuses from the runtime catalog', async (t) => {
  mkdirSync(shots, { recursive: true });
  const de = catalog('de');
  const en = catalog('en-US');
  // The catalogs say different things, or this test could not tell the languages apart.
  assert.notEqual(de.label.threshold, en.label.threshold);
  assert.notEqual(de.status.watching, en.status.watching);

  const userDir = tempDir('mantis-i18n');
  copyFileSync(join(repoRoot, 'examples', 'motion-detect.json'), join(userDir, 'flows.json'));
  const { proc, port } = await spawnMantisCli(userDir, { LANG: 'de_DE.UTF-8', LC_ALL: undefined, LC_MESSAGES: undefined });
  const url = `http://127.0.0.1:${port}`;
  let browser: Browser | undefined;
  t.after(async () => {
    await browser?.close();
    await proc.stop();
  });
  // Node-RED's own log speaks German too: "Started flows" is "Flows sind gestartet" in its catalog.
  const runtimeDe = JSON.parse(readFileSync(require.resolve('@node-red/runtime/locales/de/runtime.json', { paths: [require.resolve('node-red')] }), 'utf8')) as { nodes: { flows: { 'started-flows': string } } };
  const started = runtimeDe.nodes.flows['started-flows'];
  await waitFor(() => {
    if (proc.exited) throw new Error(`mantis-start exited:\n${proc.output}`);
    return proc.output.includes(started);
  }, 60_000, `Node-RED to say "${started}"`);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

  for (const [locale, want] of [['de-DE', de], ['en-US', en]] as const) {
    await t.test(`a browser in ${locale}`, async () => {
      const context = await browser!.newContext({ locale, viewport: { width: 1400, height: 860 } });
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${url}/`);
      const node = page.locator(`g.red-ui-flow-node-group[id="${detectId}"]`);
      await node.waitFor({ timeout: 60_000 });

      // The edit dialog: its labels and hints in the browser's language.
      await node.locator('rect.red-ui-flow-node').dblclick();
      const tray = page.locator('.red-ui-tray').last();
      const label = tray.locator('label[for="node-input-threshold"]');
      await label.waitFor({ timeout: 10_000 });
      await waitFor(async () => (await label.textContent())?.trim() === want.label.threshold, 10_000, `the threshold label "${want.label.threshold}"`);
      assert.equal((await tray.locator('label[for="node-input-minArea"]').textContent())?.trim(), want.label.minArea);
      assert.ok((await tray.textContent())?.includes(want.hint.threshold), `the hint "${want.hint.threshold}"`);
      await page.screenshot({ path: join(shots, `editor-dialog-${locale}.png`) });
      await page.locator('#node-dialog-cancel').click();
      await tray.waitFor({ state: 'detached', timeout: 10_000 });

      // The help: its worked example (input, output, a typical flow).
      await page.evaluate(() => { (window as unknown as EditorWindow).RED.sidebar.help.show('motion-detect'); });
      const sidebar = page.locator('.red-ui-sidebar');
      await sidebar.locator('h3', { hasText: 'Example' }).first().waitFor({ timeout: 10_000 });
      for (const text of ['Input:', 'Output when someone walks in', 'A typical flow']) {
        await sidebar.getByText(text).first().waitFor({ timeout: 5_000 });
      }

      // The status under the node: written by the runtime, in the runtime's language (German here).
      const status = node.locator('.red-ui-flow-node-status-label');
      const german = [de.status.watching, de.status.motion, de.status.motionIn].map(pattern);
      const seen = await waitFor(async () => {
        const text = (await status.textContent()) ?? '';
        return german.some((p) => p.test(text)) ? text : undefined;
      }, 30_000, 'a German status from the runtime catalog');
      assert.doesNotMatch(seen, pattern(en.status.watching), 'not the English one');
      // The camera's status too, from mantis-camera's catalog (camera-in shows it).
      const cameraDe = (JSON.parse(readFileSync(join(repoRoot, 'nodes', 'mantis-camera', 'locales', 'de', 'mantis-camera.json'), 'utf8')) as Record<string, Catalog>)['mantis-camera']!.status;
      const camStatus = page.locator(`g.red-ui-flow-node-group[id="${cameraInId}"] .red-ui-flow-node-status-label`);
      await waitFor(async () => pattern(cameraDe.watching!).test((await camStatus.textContent()) ?? ''), 30_000, `camera-in to say "${cameraDe.watching}"`);
      await page.screenshot({ path: join(shots, `editor-help-${locale}.png`) });
      assert.deepEqual(pageErrors, [], 'errors in the editor page');
      await context.close();
    });
  }
});
