// The editor as a user meets it, in a real Chromium: an embedded Mantis (`npm start`) with an
// empty workspace; the palette, a node dragged in, its edit dialog and help, the default flow
// imported through Import, deployed, and a motion event from the demo camera in the debug sidebar.
// Screenshots go to test-output/; MANTIS_UPDATE_DOCS=1 also refreshes docs/default-flow.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { startMantisCli } from './helpers/mantis-start';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
const CONFIG_NODES = new Set(['mantis-camera', 'matrix-account', 'xmpp-account']);
const paletteTypes = Object.keys(pkg['node-red'].nodes).filter((t) => !CONFIG_NODES.has(t));
const defaultFlowText = readFileSync(join(repoRoot, 'flows', 'default.json'), 'utf8');
const shots = join(repoRoot, 'test-output');

interface EditorNode { id: string; type: string; name?: string; valid?: boolean; z?: string }
/** A node as the editor draws it: centre and size. */
interface DrawnNode { id: string; type: string; name?: string; z?: string; x: number; y: number; w: number; h: number; outputs: number }
interface EditorWindow {
  RED: {
    nodes: {
      eachNode(cb: (n: EditorNode) => void): void; eachConfig(cb: (n: EditorNode) => void): void;
      eachGroup(cb: (n: EditorNode) => void): void; dirty(): boolean;
      eachLink(cb: (l: { source: DrawnNode; sourcePort: number; target: DrawnNode }) => void): void;
    };
    sidebar: { show(id: string): void; help: { show(type: string): void } };
    actions: { invoke(name: string): void };
    workspaces: { active(): string };
  };
}

function editorNodes(page: Page): Promise<EditorNode[]> {
  return page.evaluate(() => {
    const out: EditorNode[] = [];
    const { RED } = window as unknown as EditorWindow;
    RED.nodes.eachNode((n) => { out.push({ id: n.id, type: n.type, name: n.name, valid: n.valid, z: n.z }); });
    RED.nodes.eachConfig((n) => { out.push({ id: n.id, type: n.type, name: n.name, valid: n.valid }); });
    RED.nodes.eachGroup((n) => { out.push({ id: n.id, type: n.type, name: n.name, z: n.z }); });
    return out;
  });
}

type Point = [number, number];
/** Whether segments a-b and c-d cross (touching at an end, as wires into one port do, is no crossing). */
function cross([a, b]: [Point, Point], [c, d]: [Point, Point]): boolean {
  const side = (p: Point, q: Point, r: Point): number => Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
  const same = (p: Point, q: Point): boolean => Math.abs(p[0] - q[0]) < 1 && Math.abs(p[1] - q[1]) < 1;
  if (same(a, c) || same(a, d) || same(b, c) || same(b, d)) return false;
  return side(a, b, c) * side(a, b, d) < 0 && side(c, d, a) * side(c, d, b) < 0;
}

/** The wires of one tab as straight lines from output port to input port, in the editor's own geometry. */
async function wireLines(page: Page, z: string): Promise<{ name: string; line: [Point, Point] }[]> {
  return page.evaluate((tab) => {
    const out: { name: string; line: [Point, Point] }[] = [];
    (window as unknown as EditorWindow).RED.nodes.eachLink((l) => {
      const a = l.source;
      const b = l.target;
      if (a.z !== tab) return;
      // Output ports are 13 px apart, centred on the node's right edge (Node-RED's view.js).
      const from: Point = [a.x + a.w / 2, a.y + (l.sourcePort - (a.outputs - 1) / 2) * 13];
      out.push({ name: `${a.name || a.type}[${l.sourcePort}] -> ${b.name || b.type}`, line: [from, [b.x - b.w / 2, b.y]] });
    });
    return out;
  }, z);
}

test('the editor: palette, drag, edit dialog, help, import the default flow, deploy, motion in the debug sidebar', async (t) => {
  mkdirSync(shots, { recursive: true });
  const userDir = tempDir('mantis-editor');
  writeFileSync(join(userDir, 'flows.json'), '[]'); // an empty workspace: mantis-start keeps a flow it finds
  const { proc: mantis, url } = await startMantisCli(userDir);
  let browser: Browser | undefined;
  t.after(async () => {
    await browser?.close();
    await mantis.stop();
  });

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1680, height: 860 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${url}/`);
  await page.waitForSelector('#red-ui-workspace-chart', { timeout: 60_000 });
  await page.waitForSelector('.red-ui-palette-node[data-palette-type="camera-in"]', { timeout: 30_000 });

  await t.test('the palette shows every Mantis node in a category of its own', async () => {
    for (const type of paletteTypes) {
      const item = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
      assert.equal(await item.count(), 1, `${type} in the palette`);
      const category = await item.evaluate((el) => el.closest('.red-ui-palette-category')?.id ?? '');
      assert.equal(category, 'red-ui-palette-container-mantis', `${type} is under the Mantis category`);
    }
    await page.screenshot({ path: join(shots, 'editor-palette.png') });
  });

  await t.test('a node dragged onto the canvas opens its edit dialog and its help', async () => {
    const before = (await editorNodes(page)).length;
    await page.locator('.red-ui-palette-node[data-palette-type="motion-detect"]').dragTo(page.locator('#red-ui-workspace-chart'), { targetPosition: { x: 400, y: 300 } });
    const dropped = await waitFor(async () => (await editorNodes(page)).find((n) => n.type === 'motion-detect'), 5_000, 'the dropped node');
    assert.equal((await editorNodes(page)).length, before + 1);
    // Freshly dropped, every default is valid: no red triangle.
    assert.equal(dropped.valid, true, 'the defaults of motion-detect are valid');

    await page.locator(`g.red-ui-flow-node-group[id="${dropped.id}"] rect.red-ui-flow-node`).dblclick();
    const tray = page.locator('.red-ui-tray').last();
    await tray.locator('#node-input-threshold').waitFor({ timeout: 10_000 });
    assert.equal(await tray.locator('#node-input-threshold').inputValue(), '25');
    // A bad value is flagged in the dialog, a good one clears the flag.
    await tray.locator('#node-input-threshold').fill('-3');
    await tray.locator('#node-input-threshold').dispatchEvent('change');
    await waitFor(async () => (await tray.locator('#node-input-threshold.input-error').count()) === 1, 5_000, 'threshold -3 flagged');
    await tray.locator('#node-input-threshold').fill('30');
    await tray.locator('#node-input-threshold').dispatchEvent('change');
    await waitFor(async () => (await tray.locator('#node-input-threshold.input-error').count()) === 0, 5_000, 'threshold 30 accepted');
    await page.screenshot({ path: join(shots, 'editor-edit-dialog.png') });
    await page.locator('#node-dialog-cancel').click();
    await tray.waitFor({ state: 'detached', timeout: 10_000 });

    await page.evaluate(() => { const { RED } = window as unknown as EditorWindow; RED.sidebar.help.show('motion-detect'); });
    const sidebar = page.locator('.red-ui-sidebar');
    await sidebar.getByText('Finds motion in grayscale frames').first().waitFor({ timeout: 10_000 });
    for (const heading of ['Inputs', 'Outputs', 'Properties', 'Details']) {
      await sidebar.locator('h3', { hasText: heading }).first().waitFor({ state: 'attached', timeout: 5_000 });
    }
    await page.screenshot({ path: join(shots, 'editor-help.png') });

    // Take it away again; the default flow has its own.
    await page.locator(`g.red-ui-flow-node-group[id="${dropped.id}"] rect.red-ui-flow-node`).click();
    await page.keyboard.press('Delete');
    await waitFor(async () => !(await editorNodes(page)).some((n) => n.id === dropped.id), 5_000, 'the node deleted');
  });

  await t.test('the default flow imports without warnings and deploys', async () => {
    await page.evaluate(() => { const { RED } = window as unknown as EditorWindow; RED.actions.invoke('core:show-import-dialog'); });
    const pasted = page.locator('#red-ui-clipboard-dialog-import-text');
    await pasted.fill(defaultFlowText);
    await pasted.press('End'); // the dialog checks the JSON on keyup, as when typed or pasted
    await page.locator('#red-ui-clipboard-dialog-ok').click();
    // Importing a flow with a tab of its own opens that tab.
    const nodes = await waitFor(async () => {
      const all = await editorNodes(page);
      return all.some((n) => n.type === 'record-clip') ? all : undefined;
    }, 10_000, 'the imported nodes');
    const want = JSON.parse(defaultFlowText) as EditorNode[];
    for (const type of new Set(want.map((n) => n.type).filter((x) => x !== 'tab'))) {
      assert.equal(nodes.filter((n) => n.type === type).length, want.filter((n) => n.type === type).length, `imported ${type}`);
    }
    // As shipped, nothing in it is invalid: the chat accounts are empty on purpose.
    assert.deepEqual(nodes.filter((n) => n.valid === false).map((n) => `${n.type} ${n.name ?? n.id}`), [], 'nodes with a red triangle');
    // Laid out to be read: no two wires cross (straight lines between the ports the editor drew).
    const lines = await wireLines(page, want.find((n) => n.type === 'tab')!.id);
    assert.ok(lines.length > 20, `${lines.length} wires`);
    const crossings = lines.flatMap((a, i) => lines.slice(i + 1).filter((b) => cross(a.line, b.line)).map((b) => `${a.name} x ${b.name}`));
    assert.deepEqual(crossings, [], 'crossing wires');

    // The empty "Flow 1" the editor starts with is not needed: open the Mantis tab, close the other.
    await page.locator('.red-ui-tab', { hasText: 'Flow 1' }).click();
    await page.evaluate(() => { const { RED } = window as unknown as EditorWindow; RED.actions.invoke('core:remove-flow'); });
    await waitFor(async () => (await page.locator('.red-ui-tab', { hasText: 'Flow 1' }).count()) === 0, 5_000, 'Flow 1 removed');
    await page.locator('.red-ui-tab', { hasText: 'Mantis' }).click();
    await page.locator('#red-ui-header-button-deploy').click();
    await waitFor(() => page.evaluate(() => !(window as unknown as EditorWindow).RED.nodes.dirty()), 15_000, 'the deploy to finish');
  });

  await t.test('a motion event from the demo camera reaches the debug sidebar', async () => {
    await page.evaluate(() => { const { RED } = window as unknown as EditorWindow; RED.sidebar.show('debug'); });
    const motion = page.locator('.red-ui-debug-msg').filter({ has: page.locator('.red-ui-debug-msg-name', { hasText: 'motion events' }) }).filter({ hasText: /start/ });
    await motion.first().waitFor({ timeout: 60_000 });
    // Under the nodes, their status: the camera and the detector at work, the chat nodes waiting for an account.
    const statusOf = (id: string) => page.locator(`g.red-ui-flow-node-group[id="${id}"] .red-ui-flow-node-status-label`);
    const want = JSON.parse(defaultFlowText) as EditorNode[];
    const idOf = (type: string): string => want.find((n) => n.type === type)!.id;
    await waitFor(async () => /watching|motion/.test(await statusOf(idOf('motion-detect')).textContent() ?? ''), 15_000, 'motion-detect status');
    await waitFor(async () => /\S/.test(await statusOf(idOf('camera-in')).textContent() ?? ''), 15_000, 'camera-in status');
    // Not a fault: grey, and it says where to fill the account in.
    for (const type of ['matrix-e2ee-out', 'matrix-e2ee-in', 'xmpp-omemo-out', 'xmpp-omemo-in']) {
      if (!want.some((n) => n.type === type)) continue;
      assert.equal(await statusOf(idOf(type)).textContent(), 'not configured: open the account node', `${type} status`);
      const fill = await page.locator(`g.red-ui-flow-node-group[id="${idOf(type)}"] .red-ui-flow-node-status`).getAttribute('class');
      assert.match(fill ?? '', /status-ring-grey|status-grey/, `${type} status is grey, not red: ${fill}`);
    }
    // The picture for the README: the whole flow, its statuses and the debug sidebar, no toasts.
    // The flow is taller than wide: a narrower window wastes no canvas beside it.
    await page.setViewportSize({ width: 1320, height: 900 });
    await page.evaluate(() => { const { RED } = window as unknown as EditorWindow; RED.actions.invoke('core:toggle-left-sidebar'); RED.actions.invoke('core:zoom-fit'); });
    await waitFor(async () => (await page.locator('.red-ui-notification:visible').count()) === 0, 20_000, 'notifications to fade');
    await page.screenshot({ path: join(shots, 'default-flow.png') });
    if (process.env.MANTIS_UPDATE_DOCS === '1') {
      mkdirSync(join(repoRoot, 'docs'), { recursive: true });
      const docs = join(repoRoot, 'docs', 'default-flow.png');
      // Small for the README: 256 colours (Pillow, from the Synapse venv .ci/run makes) where it is there, else as taken.
      try {
        execFileSync(join(homedir(), '.cache', 'mantis', 'venv-synapse', 'bin', 'python'), ['-c',
          'import sys; from PIL import Image; Image.open(sys.argv[1]).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(sys.argv[2], optimize=True)',
          join(shots, 'default-flow.png'), docs], { stdio: 'pipe' });
      } catch {
        copyFileSync(join(shots, 'default-flow.png'), docs);
      }
    }
  });

  assert.deepEqual(pageErrors, [], 'errors in the editor page');
});
