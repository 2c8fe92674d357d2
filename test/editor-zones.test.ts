// Zones drawn on a picture of the camera, in a real Chromium against `npm start` with an editor
// login: the draw view of motion-detect's dialog, four clicks and a name, a corner dragged, Done,
// Deploy; the deployed flow (admin API) holds the polygon and the demo camera's figure crossing it
// gives motion events naming the zone (Node-RED's own debug channel). The pictures are admin
// routes: without the editor's token 401, with it a JPEG / PNG that ffprobe decodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot, tempDir } from './helpers/paths';
import { waitFor } from './helpers/processes';
import { startMantisCli } from './helpers/mantis-start';

const shots = join(repoRoot, 'test-output');
const TAB = 'zonestab00000000';
const DETECT = 'zonesdetect00000';
const IDLE = 'zonesidle0000000'; // deployed, never sent a frame
const OBJECTS = 'zonesobjects0000';
const flow = [
  { id: TAB, type: 'tab', label: 'Zones' },
  {
    id: 'zonescamera00000', type: 'mantis-camera', name: 'porch', source: 'test', input: '', width: 640, height: 360, fps: 10,
    inputFormat: '', detectWidth: 320, detectFps: 5, codec: 'auto', segmentSeconds: 1, keepSeconds: 10, ffmpegPath: '',
  },
  { id: 'zonescamerain000', type: 'camera-in', z: TAB, name: '', camera: 'zonescamera00000', x: 140, y: 100, wires: [[DETECT], []] },
  // Min duration 0: the figure is in the zone for ~1 s, and with 0.2 s (the frame interval at 5 fps) a gap of
  // 210 ms between two frames restarts the candidate, so a crossing could go unreported under load.
  {
    id: DETECT, type: 'motion-detect', z: TAB, name: 'porch motion', threshold: 25, minArea: 0.3, minDuration: 0, endDelay: 1,
    updateInterval: 0, zones: '', masks: '', advanced: '', x: 360, y: 100, wires: [['zonesdebug000000'], []],
  },
  {
    id: IDLE, type: 'motion-detect', z: TAB, name: 'idle', threshold: 25, minArea: 0.3, minDuration: 0.4, endDelay: 2,
    updateInterval: 1, zones: '', masks: '', advanced: '', x: 360, y: 200, wires: [[], []],
  },
  // Object detection off (no model needed): its zones are drawn on its camera's picture all the same.
  {
    id: OBJECTS, type: 'object-detect', z: TAB, name: 'porch objects', camera: 'zonescamera00000', enabled: 'off', labels: 'person',
    minScore: 50, minBox: 0.05, maxBox: 90, zones: '', zoneLabels: '', interval: 0.7, maxLooks: 20, stationary: 30, x: 580, y: 200, wires: [[]],
  },
  {
    id: 'zonesdebug000000', type: 'debug', z: TAB, name: 'events', active: true, tosidebar: true, console: false, tostatus: false,
    complete: 'payload', targetType: 'msg', x: 580, y: 100, wires: [],
  },
];

interface FlowNode { id: string; type: string; zones?: string }
interface DebugMsg { id: string; msg: string; format: string }
interface EditorWindow {
  RED: {
    nodes: { dirty(): boolean };
    comms: { subscribe(topic: string, cb: (topic: string, msg: DebugMsg) => void): void };
  };
  mantisEvents: Array<{ event: string; zones: string[] }>;
}

/** What an independent decoder makes of an image. */
function probe(image: Buffer): { codec: string; width: number; height: number; pix: string } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height,pix_fmt', '-of', 'json', '-f', 'image2pipe', '-i', 'pipe:0'], { input: image }).toString();
  const s = (JSON.parse(out) as { streams: Array<{ codec_name: string; width: number; height: number; pix_fmt: string }> }).streams[0];
  return { codec: s.codec_name, width: s.width, height: s.height, pix: s.pix_fmt };
}

/** Where a fraction of the canvas is on the page. */
async function canvasPoint(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const box = await page.locator('#mantis-md-canvas').boundingBox();
  assert.ok(box, 'the canvas is on the page');
  return { x: box.x + x * box.width, y: box.y + y * box.height };
}

test('zones drawn on a snapshot in the editor: the deployed detector uses them; the pictures need the editor login', async (t) => {
  mkdirSync(shots, { recursive: true });
  const userDir = tempDir('zones-editor');
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flow));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bcrypt = require('bcryptjs') as { hashSync(pw: string, rounds: number): string };
  const cli = await startMantisCli(userDir, { MANTIS_ADMIN_USER: 'owner', MANTIS_ADMIN_PASSWORD_HASH: bcrypt.hashSync('editor-secret', 8) });
  let browser: Browser | undefined;
  t.after(async () => {
    await browser?.close();
    await cli.proc.stop();
  });
  const res = await fetch(`${cli.url}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'owner', password: 'editor-secret' }),
  });
  assert.ok(res.ok, `login: ${res.status}`);
  const token = ((await res.json()) as { access_token: string }).access_token;
  const auth = { Authorization: `Bearer ${token}` };

  await t.test('the snapshot and motion routes: 401 without the token, pictures with it, 404 for a bad id, 503 before a frame', async () => {
    for (const path of [`/mantis/snapshot/${DETECT}`, `/mantis/motion/${DETECT}`]) {
      assert.equal((await fetch(`${cli.url}${path}`)).status, 401, `${path} without the token`);
      assert.equal((await fetch(`${cli.url}${path}`, { headers: { Authorization: 'Bearer not-a-token' } })).status, 401, `${path} with a made-up token`);
    }
    // The camera's own picture, once its first second of video is recorded.
    const snap = await waitFor(async () => {
      const r = await fetch(`${cli.url}/mantis/snapshot/${DETECT}`, { headers: auth });
      return r.status === 200 && r.headers.get('content-type')?.startsWith('image/jpeg') ? Buffer.from(await r.arrayBuffer()) : undefined;
    }, 60_000, 'a JPEG from the snapshot route');
    assert.deepEqual(probe(snap).codec, 'mjpeg');
    assert.equal(probe(snap).width, 640);
    assert.equal(probe(snap).height, 360);
    // What the detector sees: its gray frame with the blocks drawn over it.
    const r = await waitFor(async () => {
      const m = await fetch(`${cli.url}/mantis/motion/${DETECT}`, { headers: auth });
      return m.status === 200 ? m : undefined;
    }, 30_000, 'the motion view');
    assert.equal(r.headers.get('content-type'), 'image/png');
    assert.deepEqual(probe(Buffer.from(await r.arrayBuffer())), { codec: 'png', width: 320, height: 180, pix: 'gray' });

    const bad = await fetch(`${cli.url}/mantis/snapshot/0123456789abcdef`, { headers: auth });
    assert.equal(bad.status, 404);
    assert.match(((await bad.json()) as { error: string }).error, /no deployed motion-detect node 0123456789abcdef: deploy first/);
    // A node that names its camera (camera-in here; object-detect's zones the same way) gets its picture;
    // what the detector sees only a motion-detect has.
    const byCamera = await fetch(`${cli.url}/mantis/snapshot/zonescamerain000`, { headers: auth });
    assert.equal(byCamera.status, 200);
    assert.equal(probe(Buffer.from(await byCamera.arrayBuffer())).codec, 'mjpeg');
    const notDetector = await fetch(`${cli.url}/mantis/motion/zonescamerain000`, { headers: auth });
    assert.equal(notDetector.status, 404);
    const idle = await fetch(`${cli.url}/mantis/motion/${IDLE}`, { headers: auth });
    assert.equal(idle.status, 503);
    assert.match(((await idle.json()) as { error: string }).error, /^no frame yet/);
    const idleSnap = await fetch(`${cli.url}/mantis/snapshot/${IDLE}`, { headers: auth });
    assert.equal(idleSnap.status, 503, 'no camera wired, no frame: nothing to show');
  });

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${cli.url}/`);
  await page.locator('#node-dialog-login-username').fill('owner', { timeout: 60_000 });
  await page.locator('#node-dialog-login-password').fill('editor-secret');
  await page.locator('#node-dialog-login-submit').click();
  await page.waitForSelector(`g.red-ui-flow-node-group[id="${DETECT}"]`, { timeout: 60_000 });
  // Motion events as Node-RED's debug node publishes them to the editor.
  await page.evaluate(() => {
    const w = window as unknown as EditorWindow;
    w.mantisEvents = [];
    w.RED.comms.subscribe('debug', (_topic, m) => {
      try { w.mantisEvents.push(JSON.parse(m.msg) as { event: string; zones: string[] }); } catch { /* not an event */ }
    });
  });

  // Corners as fractions of the picture; the figure crosses the middle band (y 0.3-0.75) left to right.
  const corners: Array<[number, number]> = [[0.55, 0.15], [0.95, 0.15], [0.95, 0.9], [0.55, 0.9]];
  const dragged: [number, number] = [0.85, 0.1]; // corner 2 moved here
  const expected = [corners[0], dragged, corners[2], corners[3]];

  await t.test('the draw view: a zone by four clicks, named, a corner dragged, stored in the Zones field', async () => {
    await page.locator(`g.red-ui-flow-node-group[id="${DETECT}"] rect.red-ui-flow-node`).dblclick();
    const tray = page.locator('.red-ui-tray').last();
    await tray.locator('#mantis-md-draw').click({ timeout: 10_000 });
    await page.locator('#mantis-md-canvas[data-picture="image/jpeg"]').waitFor({ timeout: 30_000 });
    await page.locator('#mantis-md-canvas').scrollIntoViewIfNeeded();
    // Its words come from the message catalog, not raw keys.
    assert.equal(await tray.locator('#mantis-md-draw').textContent(), 'Close the drawing');
    assert.match(await tray.locator('#mantis-md-note').textContent() ?? '', /^Zone or Mask, then click the corners/);
    assert.equal((await tray.locator('#mantis-md-add-zone').textContent())?.trim(), 'Zone');
    const shapeButton = (name: string) => tray.locator('#mantis-md-shapes button', { hasText: name });

    // Typing stays possible: a zone typed into the field appears in the drawing; Delete removes it.
    await tray.locator('#node-input-zones').fill('[{"name":"typed","points":[[0,0],[0.2,0],[0.2,0.2]]}]');
    await tray.locator('#node-input-zones').dispatchEvent('change');
    await shapeButton('typed').click({ timeout: 5_000 });
    await tray.locator('#mantis-md-remove').click();
    await waitFor(async () => (await tray.locator('#node-input-zones').inputValue()) === '', 5_000, 'the typed zone deleted');
    assert.equal(await shapeButton('typed').count(), 0);

    // A mask by three clicks, then deleted again.
    await tray.locator('#mantis-md-add-mask').click();
    for (const [x, y] of [[0.05, 0.05], [0.2, 0.05], [0.2, 0.2]] as const) {
      const p = await canvasPoint(page, x, y);
      await page.mouse.click(p.x, p.y);
    }
    const masks = JSON.parse(await tray.locator('#node-input-masks').inputValue()) as Array<Array<[number, number]>>;
    assert.equal(masks.length, 1);
    assert.ok(Math.abs(masks[0][1][0] - 0.2) < 0.01 && Math.abs(masks[0][1][1] - 0.05) < 0.01, `mask corner: ${masks[0][1]}`);
    await tray.locator('#mantis-md-remove').click();
    assert.equal(await tray.locator('#node-input-masks').inputValue(), '');

    await tray.locator('#mantis-md-add-zone').click();
    await tray.locator('#mantis-md-name').fill('door');
    for (const [x, y] of corners) {
      const p = await canvasPoint(page, x, y);
      await page.mouse.click(p.x, p.y);
    }
    const zonesNow = async () => JSON.parse(await tray.locator('#node-input-zones').inputValue() || '[]') as Array<{ name: string; points: Array<[number, number]> }>;
    const drawn = await zonesNow();
    assert.equal(drawn.length, 1);
    assert.equal(drawn[0].name, 'door');
    assert.equal(drawn[0].points.length, 4);
    drawn[0].points.forEach((p, i) => {
      assert.ok(Math.abs(p[0] - corners[i][0]) < 0.01 && Math.abs(p[1] - corners[i][1]) < 0.01, `corner ${i}: ${p} vs ${corners[i]}`);
    });

    // Drag corner 2 (top right) up and left.
    const from = await canvasPoint(page, corners[1][0], corners[1][1]);
    const to = await canvasPoint(page, dragged[0], dragged[1]);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 4 });
    await page.mouse.move(to.x, to.y, { steps: 4 });
    await page.mouse.up();
    const moved = await zonesNow();
    assert.equal(moved[0].points.length, 4, 'a drag moves a corner, adds none');
    moved[0].points.forEach((p, i) => {
      assert.ok(Math.abs(p[0] - expected[i][0]) < 0.01 && Math.abs(p[1] - expected[i][1]) < 0.01, `after the drag, corner ${i}: ${p} vs ${expected[i]}`);
    });
    assert.equal(await tray.locator('#node-input-zones.input-error').count(), 0, 'the field is valid');

    // Show motion: the detector's picture for a few seconds, then the camera's again.
    await tray.locator('#mantis-md-motion').click();
    await page.locator('#mantis-md-canvas[data-picture="image/png"]').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(shots, 'editor-zones-motion.png') });
    await page.locator('#mantis-md-canvas[data-picture="image/jpeg"]').waitFor({ timeout: 20_000 });
    await page.screenshot({ path: join(shots, 'editor-zones.png') });

    await page.locator('#node-dialog-ok').click();
    await tray.waitFor({ state: 'detached', timeout: 10_000 });
  });

  await t.test("object-detect's dialog draws its zones on its camera's picture (no masks, no motion view)", async () => {
    await page.locator(`g.red-ui-flow-node-group[id="${OBJECTS}"] rect.red-ui-flow-node`).dblclick();
    const tray = page.locator('.red-ui-tray').last();
    await tray.locator('#mantis-md-draw').click({ timeout: 10_000 });
    await page.locator('#mantis-md-canvas[data-picture="image/jpeg"]').waitFor({ timeout: 30_000 });
    await page.locator('#mantis-md-canvas').scrollIntoViewIfNeeded();
    assert.equal(await tray.locator('#mantis-md-add-mask').isVisible(), false);
    assert.equal(await tray.locator('#mantis-md-motion').isVisible(), false);
    await tray.locator('#mantis-md-add-zone').click();
    await tray.locator('#mantis-md-name').fill('drive');
    for (const [x, y] of [[0.1, 0.7], [0.5, 0.7], [0.3, 0.95]] as const) {
      const p = await canvasPoint(page, x, y);
      await page.mouse.click(p.x, p.y);
    }
    const zones = JSON.parse(await tray.locator('#node-input-zones').inputValue()) as Array<{ name: string; points: Array<[number, number]> }>;
    assert.equal(zones[0].name, 'drive');
    assert.equal(zones[0].points.length, 3);
    assert.ok(Math.abs(zones[0].points[2][0] - 0.3) < 0.01 && Math.abs(zones[0].points[2][1] - 0.95) < 0.01, `corner: ${zones[0].points[2]}`);
    await page.locator('#node-dialog-ok').click();
    await tray.waitFor({ state: 'detached', timeout: 10_000 });
  });

  await t.test('deployed: the flow holds the polygon and the motion events name the zone', async () => {
    await page.locator('#red-ui-header-button-deploy').click();
    await waitFor(() => page.evaluate(() => !(window as unknown as EditorWindow).RED.nodes.dirty()), 15_000, 'the deploy to finish');
    const flows = await fetch(`${cli.url}/flows`, { headers: auth });
    assert.equal(flows.status, 200);
    const node = ((await flows.json()) as FlowNode[]).find((n) => n.id === DETECT);
    const zones = JSON.parse(node?.zones ?? '') as Array<{ name: string; points: Array<[number, number]> }>;
    assert.equal(zones.length, 1);
    assert.equal(zones[0].name, 'door');
    const objects = ((await (await fetch(`${cli.url}/flows`, { headers: auth })).json()) as FlowNode[]).find((n) => n.id === OBJECTS);
    assert.equal((JSON.parse(objects?.zones ?? '[]') as Array<{ name: string }>)[0]?.name, 'drive', "object-detect's zone deployed");
    zones[0].points.forEach((p, i) => {
      assert.ok(Math.abs(p[0] - expected[i][0]) < 0.01 && Math.abs(p[1] - expected[i][1]) < 0.01, `deployed corner ${i}: ${p} vs ${expected[i]}`);
    });
    await page.evaluate(() => { (window as unknown as EditorWindow).mantisEvents.length = 0; });
    const start = await waitFor(() => page.evaluate(() => (window as unknown as EditorWindow).mantisEvents.find((e) => e.event === 'start')), 60_000, 'a motion start after the deploy')
      .catch(async (e: Error) => {
        const seen = await page.evaluate(() => JSON.stringify((window as unknown as EditorWindow).mantisEvents).slice(0, 500));
        const status = await page.locator(`g.red-ui-flow-node-group[id="${DETECT}"] .red-ui-flow-node-status-label`).textContent();
        await page.screenshot({ path: join(shots, 'editor-zones-failed.png') });
        throw new Error(`${e.message}; events seen: ${seen}; status: ${status}; log: ${cli.log().slice(-1500)}`);
      });
    assert.deepEqual(start.zones, ['door']);
    // The redeployed node answers the dialog as the old one did.
    const again = await fetch(`${cli.url}/mantis/motion/${DETECT}`, { headers: auth });
    assert.equal(again.headers.get('content-type'), 'image/png');
  });

  assert.deepEqual(pageErrors, [], 'errors in the editor page');
});
