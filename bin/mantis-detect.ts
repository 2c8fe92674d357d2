#!/usr/bin/env node
// mantis-detect FILE [--config JSON|@file.json] [--fps N] [--width N] [--trace] [--debug OUT.mp4] [--objects [JSON|@file.json]]
// Prints one JSON object per line for each motion event, times in seconds into
// the file, so settings can be tuned on one's own footage. Same code as the node.
import { readFileSync } from 'node:fs';
import { detectFile } from '../lib/motion/detect-file';
import { ConfigError } from '../lib/motion/errors';
import { DEFAULT_CONFIG } from '../lib/motion/config';
import type { MotionEvent } from '../lib/motion/event';
import { DebugVideo } from '../lib/motion/debug-video';
import { detectObjectsInFile } from '../lib/objects/detect-file';
import type { ObjectEvent } from '../lib/objects/stage';

const USAGE = `usage: mantis-detect FILE [--config JSON|@file.json] [--fps N] [--width N] [--trace] [--debug OUT.mp4] [--objects [JSON|@file.json]]
  Prints {"event":"start"|"update"|"end","t":<s>,"startedAt":<s>,"score":...,"boxes":[...],"zones":[...]} per line.
  --objects  runs object-detect's stage after the motion detector (the node's code): prints only the events it
           lets through, each with "objects":[{"label","score","box","zone"}]; with --trace each look goes to
           stderr ({"look":<s>,"found":[...],"counted":[...],"ms"}). Settings as JSON, e.g.
           '{"labels":"person,car","minScore":0.5,"interval":700,"maxLooks":20,"zones":[...],"zoneLabels":{"door":["person"]}}'
  --fps    detection rate (default 5)      --width  detection width in px (default 320)
  --trace  also print each frame's analysis to stderr: {"t","kind","changed","score","motion","offset","light","rows"}
           (light: blobs dropped as a change of light; rows: rows given their own light gain, flicker)
  --debug  also write OUT.mp4: the clip as the detector saw it, with moved blocks (gray outlines), learned
           repetitive motion (dimmed, dotted), blob boxes and zones (white), row light compensation (a bar from
           the right edge per corrected row, longer = stronger), and a square top left (white = event)
  --config detector settings, e.g. '{"threshold":20,"minArea":0.005,"masks":[[[0,0],[0.3,0],[0.3,1],[0,1]]]}'
  defaults: ${JSON.stringify(DEFAULT_CONFIG)}`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`mantis-detect: ${msg}\n`);
  process.exit(code);
}

const sec = (ms: number): number => Math.round(ms) / 1000;

const box4 = (b: { x: number; y: number; w: number; h: number }) => ({ x: +b.x.toFixed(4), y: +b.y.toFixed(4), w: +b.w.toFixed(4), h: +b.h.toFixed(4) });

function toLine(e: MotionEvent | ObjectEvent): string {
  const out: Record<string, unknown> = { event: e.event, t: sec(e.t), startedAt: sec(e.startedAt), score: Number(e.score.toFixed(5)), boxes: e.boxes.map(box4), zones: e.zones };
  if (e.lastMotionAt !== undefined) out.lastMotionAt = sec(e.lastMotionAt);
  if ('objects' in e) out.objects = e.objects.map((o) => ({ label: o.label, score: +o.score.toFixed(3), box: box4(o.box), ...(o.zone !== undefined ? { zone: o.zone } : {}) }));
  return JSON.stringify(out);
}

function readJson(text: string, what: string): Record<string, unknown> {
  if (text.startsWith('@')) {
    try { text = readFileSync(text.slice(1), 'utf8'); } catch (e) { fail(`cannot read ${text.slice(1)}: ${(e as Error).message}`); }
  }
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { fail(`${what} is not valid JSON: ${(e as Error).message}`); }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

async function main(argv: string[]): Promise<void> {
  let file: string | undefined;
  let config: Record<string, unknown> = {};
  let fps: number | undefined;
  let width: number | undefined;
  let trace = false;
  let debugOut: string | undefined;
  let objects: Record<string, unknown> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => { const v = argv[++i]; if (v === undefined) fail(`${a} needs a value\n${USAGE}`); return v; };
    if (a === '-h' || a === '--help') { process.stdout.write(`${USAGE}\n`); return; }
    if (a === '--config') {
      config = readJson(value(), '--config');
    } else if (a === '--objects') {
      const next = argv[i + 1];
      objects = next !== undefined && (next.startsWith('{') || next.startsWith('@')) ? readJson(argv[++i], '--objects') : {};
    } else if (a === '--fps') fps = Number(value());
    else if (a === '--width') width = Number(value());
    else if (a === '--trace') trace = true;
    else if (a === '--debug') debugOut = value();
    else if (a.startsWith('-')) fail(`unknown option ${a}\n${USAGE}`);
    else if (file === undefined) file = a;
    else fail(`only one FILE, got also ${a}`);
  }
  if (!file) fail(USAGE);
  // fps and width may also come inside the config JSON, to keep one settings object; flags win.
  if (config.fps !== undefined) { fps ??= Number(config.fps); delete config.fps; }
  if (config.width !== undefined) { width ??= Number(config.width); delete config.width; }
  let debug: DebugVideo | undefined;
  if (objects) {
    try {
      await detectObjectsInFile(file, config, objects, {
        fps: fps ?? 5,
        width: width ?? 320,
        onEvent: (e) => process.stdout.write(`${toLine(e)}\n`),
        onWarning: (text) => process.stderr.write(`mantis-detect: ${text}\n`),
        onLook: trace ? (l) => process.stderr.write(`${JSON.stringify({ look: sec(l.t), ms: Math.round(l.ms), found: l.all.map((o) => ({ label: o.label, score: +o.score.toFixed(3), box: box4(o.box) })), counted: l.counted.length })}\n`) : undefined,
      });
    } catch (e) {
      if (e instanceof ConfigError || e instanceof RangeError) fail(`bad setting: ${e.message}`);
      fail((e as Error).message, 1);
    }
    return;
  }
  try {
    await detectFile(file, config, {
      fps: fps ?? 5,
      width: width ?? 320,
      onEvent: (e) => process.stdout.write(`${toLine(e)}\n`),
      onFrame: trace || debugOut
        ? (t, a, frame, detector) => {
          if (trace) process.stderr.write(`${JSON.stringify({ t: sec(t), kind: a.kind, changed: +a.changed.toFixed(5), score: +a.score.toFixed(5), motion: a.motion, offset: a.offset, light: a.lightBlobs ?? 0, rows: a.lightRows ?? 0 })}\n`);
          if (debugOut) {
            debug ??= new DebugVideo(debugOut, frame.width, frame.height, fps ?? 5);
            debug.write(detector.debugFrame(frame));
          }
        }
        : undefined,
    });
    if (debug) await debug.finish();
  } catch (e) {
    debug?.abort();
    if (e instanceof ConfigError || e instanceof RangeError) fail(`bad setting: ${e.message}`);
    fail((e as Error).message, 1);
  }
}

main(process.argv.slice(2)).catch((e: Error) => fail(e.message, 1));
