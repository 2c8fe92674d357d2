// Inside the arm64 root (.ci/arm64-smoke), in /work/app where the tarball is installed: one JSON
// line per figure (motion, the object model, crypto, the default flow). Plain JS: it runs against the installed package, nothing of the checkout.
const { createRequire } = require('node:module');
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, mkdtempSync, readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const app = '/work/app';
const req = createRequire(join(app, 'package.json'));
const pkg = join(app, 'node_modules', '@mantis-alarm', 'node-red-mantis');
const figure = (name, t0, extra = {}) => console.log(JSON.stringify({ name: `arm64 (emulated): ${name}`, value: (Date.now() - t0) / 1000, unit: 's', ...extra }));
const until = async (what, ms, fn) => {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`no ${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

async function detect() {
  let clip = '/work/vtest.avi';
  if (!existsSync(clip)) {
    clip = '/work/moving.mp4'; // no opencv-doc on the host: a square crossing a still picture
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=gray:s=320x180:d=6:r=10', '-f', 'lavfi', '-i', 'color=white:s=40x40:d=6:r=10',
      '-filter_complex', "[0][1]overlay=x='if(gt(t,2),t*40,-50)':y=70", '-c:v', 'libx264', '-y', clip]);
  }
  const t0 = Date.now();
  const out = execFileSync(process.execPath, [join(pkg, 'dist', 'bin', 'mantis-detect.js'), clip, '--fps', '5', '--width', '320'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const starts = out.split('\n').filter((l) => /"event":"start"/.test(l)).length;
  if (!starts) throw new Error(`mantis-detect found no motion in ${clip}:\n${out.slice(0, 2000)}`);
  figure(`mantis-detect on ${clip}`, t0, { motionStarts: starts });
}

// Object detection as the node does it (issue 12): `mantis-detect --objects` (the stage's code, crops
// at 320 in the shared detector's worker) finds the people of vtest.avi in a 3 s cut (a few looks: one
// costs seconds emulated). The same cut through the host's x86 build (.ci/arm64-smoke wrote it beside)
// is the witness: the same code must see the same people.
async function objectsInFile() {
  const clip = '/work/vtest-3s.avi';
  if (!existsSync(clip)) { console.log('arm64 smoke: object detection skipped: no vtest.avi on the host (apt-get install opencv-doc)'); return; }
  const t0 = Date.now();
  const run = spawn(process.execPath, [join(pkg, 'dist', 'bin', 'mantis-detect.js'), clip, '--objects', '--trace'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  run.stdout.on('data', (b) => { out += b; });
  run.stderr.on('data', (b) => { err += b; });
  const code = await new Promise((r) => run.once('close', r));
  if (code !== 0) throw new Error(`mantis-detect --objects exited ${code}:\n${err.slice(-2000)}`);
  const lines = (text) => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const events = lines(out).filter((e) => e.objects);
  const looks = lines(err).filter((l) => l.look !== undefined);
  const persons = (e) => e.objects.filter((o) => o.label === 'person');
  if (!events.some((e) => persons(e).length)) throw new Error(`mantis-detect --objects found no person in ${clip}:\n${out.slice(0, 2000)}\n${err.slice(-2000)}`);
  const best = Math.max(...events.flatMap((e) => persons(e).map((o) => o.score)));
  figure(`mantis-detect ${clip} --objects (worker thread, tfjs wasm)`, t0, {
    persons: persons(events[0]).length, bestScore: best, looks: looks.length, lookMs: looks.map((l) => l.ms),
  });

  // The host's x86 run of the same cut: the first event's people in the same places, about as sure.
  const x86 = lines(readFileSync('/work/x86-objects.jsonl', 'utf8')).filter((e) => e.objects);
  if (!x86.length) throw new Error('the x86 witness (/work/x86-objects.jsonl) has no event');
  const iou = (a, b) => {
    const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
    const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
    const i = w > 0 && h > 0 ? w * h : 0;
    return i / (a.w * a.h + b.w * b.h - i);
  };
  const mine = persons(events[0]);
  const unmatched = persons(x86[0]).filter((p) => !mine.some((o) => iou(o.box, p.box) > 0.7 && Math.abs(o.score - p.score) < 0.05));
  if (unmatched.length) {
    throw new Error(`arm64 and x86 disagree on the first event's people: x86 ${JSON.stringify(persons(x86[0]))}, arm64 ${JSON.stringify(mine)}`);
  }
  console.log(JSON.stringify({ name: 'arm64 (emulated): people of the first event also found by the x86 build (IoU > 0.7, score within 0.05)', value: persons(x86[0]).length, unit: 'persons',
    x86: persons(x86[0]).map((o) => o.score), arm64: mine.map((o) => o.score) }));
}

async function defaultFlow() {
  const userDir = mkdtempSync('/tmp/mantis-');
  const env = { ...process.env, MANTIS_USER_DIR: userDir, MANTIS_PORT: '18800', MANTIS_MQTT_PORT: '18830' };
  const t0 = Date.now();
  const child = spawn(process.execPath, ['--max-semi-space-size=2', join(pkg, 'dist', 'bin', 'mantis-start.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (b) => { log += b; });
  child.stderr.on('data', (b) => { log += b; });
  const alive = () => { if (child.exitCode !== null) throw new Error(`mantis-start exited:\n${log}`); };
  let client;
  try {
    await until('editor', 300_000, async () => { alive(); try { return (await fetch('http://127.0.0.1:18800/')).status === 200; } catch { return false; } });
    figure('mantis-start to editor answering', t0, { version: log.split('\n')[0] });
    const mqtt = req('mqtt');
    let motionAt = 0;
    await until('broker', 60_000, async () => { try { client = await mqtt.connectAsync('mqtt://127.0.0.1:18830', { reconnectPeriod: 0 }); return true; } catch { return false; } });
    client.on('message', (topic, payload) => { if (!motionAt && topic.endsWith('/motion') && String(payload) === 'ON') motionAt = Date.now(); });
    await client.subscribeAsync('mantis/#');
    await until('motion event', 300_000, async () => { alive(); return motionAt > 0; });
    figure('mantis-start to first motion event (MQTT motion ON)', t0);
    const clips = () => { try { return readdirSync(join(userDir, 'clips')).filter((f) => f.endsWith('.mp4')); } catch { return []; } };
    await until('clip', 300_000, async () => { alive(); return clips().length > 0; });
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'json', join(userDir, 'clips', clips()[0])], { encoding: 'utf8' }));
    figure('mantis-start to first clip', t0, { clip: clips()[0], seconds: Number(probe.format.duration) });
  } catch (e) {
    // What Node-RED said is what tells a slow machine from a fault.
    throw new Error(`${e.message}; mantis-start's log, last 4000 characters:\n${log.slice(-4000)}`);
  } finally {
    client?.end(true);
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
}

async function crypto() {
  let t0 = Date.now();
  const m = req('@matrix-org/matrix-sdk-crypto-wasm');
  await m.initAsync();
  const machine = await m.OlmMachine.initialize(new m.UserId('@mantis:example.org'), new m.DeviceId('ARM64SMOKE'));
  const keys = machine.identityKeys;
  if (!keys.ed25519.toBase64() || !keys.curve25519.toBase64()) throw new Error('Matrix crypto: no identity keys');
  figure('Matrix Rust crypto (WASM) loaded, OlmMachine up', t0);
  t0 = Date.now();
  const { Omemo } = require(join(pkg, 'dist', 'lib', 'xmpp', 'omemo.js'));
  const alice = new Omemo(mkdtempSync('/tmp/omemo-a-'));
  const bob = new Omemo(mkdtempSync('/tmp/omemo-b-'));
  await alice.init(); await bob.init();
  const { message } = await alice.encrypt(Buffer.from('motion at the door'), [{ jid: 'bob@example.org', devices: [bob.deviceId] }], async () => bob.bundle());
  const got = await bob.decrypt('alice@example.org', message);
  if (String(got.plaintext) !== 'motion at the door') throw new Error('OMEMO: the message did not decrypt');
  figure('OMEMO: two identities (100 prekeys each), a session, a message decrypted', t0);
}

async function objectModel() {
  if (!existsSync('/work/vtest.avi')) return;
  // Installed as a user gets it: the runtime is the bundle, no tfjs package, nothing compiled.
  const tfjsPackages = join(app, 'node_modules', '@tensorflow');
  if (existsSync(tfjsPackages)) throw new Error(`${tfjsPackages} is installed: the object runtime must come bundled in dist/lib/vendor`);
  const frame = execFileSync('ffmpeg', ['-v', 'error', '-ss', '5', '-i', '/work/vtest.avi', '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 16 << 20 });
  const t0 = Date.now();
  const { acquireDetector, detectorInfo } = require(join(pkg, 'dist', 'lib', 'objects', 'shared-detector.js'));
  const det = acquireDetector();
  try {
    await det.ready();
    const info = detectorInfo();
    if (!(info.threadId > 0) || !(info.loadMs > 0)) throw new Error(`object detector: no worker thread or load time: ${JSON.stringify(info)}`);
    figure('object model (tfjs wasm, worker thread) loaded', t0, { threadId: info.threadId, workerLoadMs: Math.round(info.loadMs) });
    const t1 = Date.now();
    const found = await det.detect({ data: new Uint8Array(frame), width: 768, height: 576 }, { maxWaitMs: 600_000 });
    const people = found.filter((d) => d.label === 'person').length;
    if (people < 4) throw new Error(`object model: ${people} people in vtest.avi at 5 s, expected 5`);
    figure('object model: one 512x512 look at vtest.avi', t1, { people });
  } finally {
    det.release();
  }
  if (detectorInfo().threadId !== undefined) throw new Error('object detector: the worker did not end with its last handle');
}

(async () => {
  await detect();
  await crypto();
  await defaultFlow();
  await objectModel();
  await objectsInFile();
})().catch((e) => { console.error(`arm64 smoke failed: ${e.stack ?? e}`); process.exit(1); });
