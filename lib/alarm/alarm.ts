// The alarm state machine: modes, exit/entry delays, trigger time, PIN, zones, persistence.
// Knows nothing of Node-RED or MQTT; the alarm-panel node and the HA bridge drive it.
import { EventEmitter } from 'node:events';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../store/atomic-file';
import type { MotionEvent } from '../motion/event';

export type ArmMode = 'home' | 'away' | 'night' | 'vacation';
export const ARM_MODES: readonly ArmMode[] = ['home', 'away', 'night', 'vacation'];
export type ArmedState = `armed_${ArmMode}`;
export type AlarmState = 'disarmed' | 'arming' | ArmedState | 'pending' | 'triggered';
export const ALARM_STATES: readonly AlarmState[] = [
  'disarmed', 'arming', 'armed_home', 'armed_away', 'armed_night', 'armed_vacation', 'pending', 'triggered',
];

export function isArmedState(s: string): s is ArmedState {
  return s === 'armed_home' || s === 'armed_away' || s === 'armed_night' || s === 'armed_vacation';
}
export function isArmMode(s: unknown): s is ArmMode {
  return typeof s === 'string' && (ARM_MODES as readonly string[]).includes(s);
}

/** Time source and timers; tests pass a fake one. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface AlarmOptions {
  /** PIN; empty or undefined = no code needed. */
  code?: string;
  /** Whether arming needs the code too (disarming always does when a code is set). */
  codeArmRequired?: boolean;
  /** Seconds between an arm command and being armed. */
  exitDelay?: number;
  /** Seconds in `pending` before a counting motion triggers. */
  entryDelay?: number;
  /** Seconds in `triggered` before going back to the armed state; 0 = until disarmed. */
  triggerTime?: number;
  /** Zones that count per mode; an empty or missing list means every zone counts. */
  zones?: Partial<Record<ArmMode, string[]>>;
  /** JSON file for the state; no persistence without it. */
  file?: string;
  clock?: Clock;
}

/** What is persisted and reported. */
export interface AlarmSnapshot {
  state: AlarmState;
  /** The armed state behind arming/pending/triggered (or disarmed after a panic trigger). */
  target: ArmedState | 'disarmed';
  /** When the current state began, ms. */
  since: number;
  /** When the current timer fires (arming, pending, triggered), ms. */
  until?: number;
  /** Who caused the last change. */
  by: string;
  /** Cameras seen so far, kept so HA entities exist again after a restart. */
  cameras: string[];
  /** Motion zones seen so far per camera, kept for the same reason (HA's occupancy sensors). */
  zones?: Record<string, string[]>;
}

export interface StateChange {
  state: AlarmState;
  previous: AlarmState;
  by: string;
  target: ArmedState | 'disarmed';
  at: number;
}

export type CommandResult =
  | { ok: true; changed: boolean; state: AlarmState }
  | { ok: false; error: 'wrong_code' | 'code_required' | 'not_allowed'; message: string; state: AlarmState };

/** What a motion event did: nothing, or it counts while the alarm is going off (`first` = it set it off). */
export interface MotionOutcome { counts: boolean; alarm: boolean; first: boolean }

const FILE_VERSION = 1;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export declare interface Alarm {
  on(event: 'state', listener: (change: StateChange) => void): this;
  /** A camera stopped or resumed sending frames (see cameraHealth). */
  on(event: 'camera', listener: (camera: string) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

export class Alarm extends EventEmitter {
  private readonly clock: Clock;
  private readonly codeHash: Buffer | null;
  private snap: AlarmSnapshot;
  private timer: unknown = null;
  private started = false;
  /** Cameras that send no frames, and why; not persisted (after a restart the frames tell again). */
  private readonly down = new Map<string, string>();

  constructor(private readonly opts: AlarmOptions = {}) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.codeHash = opts.code ? sha256(opts.code) : null;
    this.snap = { state: 'disarmed', target: 'disarmed', since: 0, by: 'init', cameras: [] };
  }

  get state(): AlarmState { return this.snap.state; }
  get snapshot(): AlarmSnapshot {
    const zones = Object.fromEntries(Object.entries(this.snap.zones ?? {}).map(([c, z]) => [c, [...z]]));
    return { ...this.snap, cameras: [...this.snap.cameras], zones };
  }
  get hasCode(): boolean { return this.codeHash !== null; }
  get codeArmRequired(): boolean { return this.hasCode && !!this.opts.codeArmRequired; }

  /** Loads the persisted state and resumes its timers. Emits 'state' when the restored state had to move on. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const now = this.clock.now();
    const loaded = this.load();
    if (!loaded) {
      this.snap = { ...this.snap, since: now };
      return;
    }
    this.snap = loaded;
    const s = loaded.state;
    const until = loaded.until ?? now;
    if (s === 'arming') {
      // The exit delay is for leaving the house; after a restart the user has left.
      this.go(loaded.target, 'restore', loaded.target);
    } else if (s === 'pending') {
      // Someone may have cut the power during the entry delay: an expired one goes off now.
      if (until > now) this.schedule(until - now, () => this.fire('entry delay'));
      else this.fire('restore');
    } else if (s === 'triggered') {
      if (this.triggerSeconds() > 0 && until <= now) this.go(loaded.target, 'restore', loaded.target);
      else if (this.triggerSeconds() > 0) this.schedule(until - now, () => this.go(this.snap.target, 'trigger time', this.snap.target));
    }
  }

  /** Cancels timers; the persisted state stays as it is for the next start. */
  stop(): void {
    this.cancel();
    this.started = false;
  }

  /** Constant-time PIN check; true when no PIN is configured. */
  checkCode(code: string | undefined): boolean {
    if (!this.codeHash) return true;
    const given = sha256(code ?? '');
    return timingSafeEqual(given, this.codeHash) && code !== undefined && code !== '';
  }

  arm(mode: ArmMode, code: string | undefined, by: string): CommandResult {
    const state = this.snap.state;
    if (state === 'pending' || state === 'triggered') {
      return { ok: false, error: 'not_allowed', message: 'the alarm is going off; disarm first', state };
    }
    if (this.codeArmRequired) {
      const bad = this.codeError(code);
      if (bad) return bad;
    }
    const armed: ArmedState = `armed_${mode}`;
    if (state === armed || (state === 'arming' && this.snap.target === armed)) return { ok: true, changed: false, state };
    const exit = Math.max(0, this.opts.exitDelay ?? 0);
    if (exit > 0) {
      this.go('arming', by, armed, exit * 1000, () => this.go(armed, 'exit delay', armed));
    } else {
      this.go(armed, by, armed);
    }
    return { ok: true, changed: true, state: this.snap.state };
  }

  disarm(code: string | undefined, by: string): CommandResult {
    const bad = this.hasCode ? this.codeError(code) : null;
    if (bad) return bad;
    if (this.snap.state === 'disarmed') return { ok: true, changed: false, state: 'disarmed' };
    this.go('disarmed', by, 'disarmed');
    return { ok: true, changed: true, state: 'disarmed' };
  }

  /** Panic / manual trigger: goes off now from any state, then back to what it was. */
  trigger(by: string): CommandResult {
    const s = this.snap.state;
    if (s === 'triggered') return { ok: true, changed: false, state: s };
    const back: ArmedState | 'disarmed' = s === 'disarmed' ? 'disarmed' : (isArmedState(s) ? s : this.snap.target);
    this.snap.target = back;
    this.fire(by);
    return { ok: true, changed: true, state: this.snap.state };
  }

  /** Whether motion in these zones counts in the given (or current) armed mode. */
  zoneCounts(zones: readonly string[], armed: ArmedState | 'disarmed' = this.currentArmed()): boolean {
    if (armed === 'disarmed') return false;
    const mode = armed.slice('armed_'.length) as ArmMode;
    const counting = this.opts.zones?.[mode] ?? [];
    if (!counting.length || !zones.length) return true;
    return zones.some((z) => counting.includes(z));
  }

  /** A motion event from motion-detect. While armed, counting motion starts the entry delay or triggers. */
  motion(ev: MotionEvent): MotionOutcome {
    if (ev.camera) this.addCamera(ev.camera);
    const s = this.snap.state;
    const armed = this.currentArmed();
    const counts = s !== 'arming' && this.zoneCounts(ev.zones ?? [], armed);
    if (!counts) return { counts: false, alarm: false, first: false };
    if (s === 'pending' || s === 'triggered') return { counts: true, alarm: true, first: false };
    if (ev.event === 'end') return { counts: true, alarm: false, first: false };
    const by = `motion${ev.camera ? `:${ev.camera}` : ''}`;
    const entry = Math.max(0, this.opts.entryDelay ?? 0);
    if (entry > 0) {
      this.go('pending', by, armed, entry * 1000, () => this.fire('entry delay'));
    } else {
      this.fire(by);
    }
    return { counts: true, alarm: true, first: true };
  }

  /** Remembers a camera name (persisted) so its HA entities come back after a restart. */
  addCamera(name: string): boolean {
    if (!name || this.snap.cameras.includes(name)) return false;
    this.snap.cameras.push(name);
    this.save();
    return true;
  }

  /** Remembers zones of a camera; true when one is new. */
  addZones(camera: string, zones: readonly string[]): boolean {
    const all = { ...(this.snap.zones ?? {}) };
    const known = all[camera] ?? [];
    const fresh = zones.filter((z, i) => z && !known.includes(z) && zones.indexOf(z) === i);
    if (!fresh.length) return false;
    all[camera] = [...known, ...fresh];
    this.snap = { ...this.snap, zones: all };
    this.save();
    return true;
  }

  /** Records that a camera stopped (ok = false) or resumed sending frames; emits 'camera' on a change. */
  cameraHealth(camera: string, ok: boolean, reason = 'no frames'): boolean {
    this.addCamera(camera);
    const wasOk = !this.down.has(camera);
    if (ok) this.down.delete(camera);
    else this.down.set(camera, reason);
    if (wasOk === ok) return false;
    this.emit('camera', camera);
    return true;
  }

  /** Cameras that are down, with the reason. */
  get camerasDown(): ReadonlyMap<string, string> { return this.down; }

  private currentArmed(): ArmedState | 'disarmed' {
    const s = this.snap.state;
    if (isArmedState(s)) return s;
    if (s === 'pending' || s === 'triggered') return this.snap.target;
    return 'disarmed';
  }

  private codeError(code: string | undefined): CommandResult | null {
    const state = this.snap.state;
    if (code === undefined || code === '') return { ok: false, error: 'code_required', message: 'a code is required', state };
    if (!this.checkCode(code)) return { ok: false, error: 'wrong_code', message: 'wrong code', state };
    return null;
  }

  private triggerSeconds(): number { return Math.max(0, this.opts.triggerTime ?? 0); }

  private fire(by: string): void {
    const t = this.triggerSeconds();
    const back = this.snap.target;
    if (t > 0) this.go('triggered', by, back, t * 1000, () => this.go(back, 'trigger time', back));
    else this.go('triggered', by, back);
  }

  private go(state: AlarmState, by: string, target: ArmedState | 'disarmed', ms?: number, then?: () => void): void {
    this.cancel();
    const previous = this.snap.state;
    const now = this.clock.now();
    this.snap = { ...this.snap, state, target, since: now, by, until: ms !== undefined ? now + ms : undefined };
    if (ms !== undefined && then) this.schedule(ms, then);
    this.save();
    this.emit('state', { state, previous, by, target, at: now } satisfies StateChange);
  }

  private schedule(ms: number, fn: () => void): void {
    this.cancel();
    this.timer = this.clock.setTimeout(() => { this.timer = null; fn(); }, ms);
  }

  private cancel(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private load(): AlarmSnapshot | null {
    const file = this.opts.file;
    if (!file) return null;
    let raw: string;
    try {
      raw = readFileSync(file, 'utf8');
    } catch {
      return null; // first start
    }
    try {
      const j = JSON.parse(raw) as Partial<AlarmSnapshot> & { version?: number };
      if (j.version !== FILE_VERSION || !j.state || !(ALARM_STATES as readonly string[]).includes(j.state)) {
        throw new Error('unknown content');
      }
      const target = j.target && (j.target === 'disarmed' || isArmedState(j.target)) ? j.target
        : (isArmedState(j.state) ? j.state : 'disarmed');
      return {
        state: j.state,
        target,
        since: typeof j.since === 'number' ? j.since : this.clock.now(),
        until: typeof j.until === 'number' ? j.until : undefined,
        by: typeof j.by === 'string' ? j.by : 'restore',
        cameras: Array.isArray(j.cameras) ? j.cameras.filter((c): c is string => typeof c === 'string') : [],
        zones: readZones(j.zones),
      };
    } catch (err) {
      this.emit('error', new Error(`ignoring unreadable alarm state file ${file}: ${(err as Error).message}`));
      return null;
    }
  }

  /** tmp + fsync + rename: the file is always either the old or the new state, even on power loss. */
  private save(): void {
    const file = this.opts.file;
    if (!file) return;
    try {
      writeFileAtomic(file, `${JSON.stringify({ version: FILE_VERSION, ...this.snap })}\n`);
    } catch (err) {
      this.emit('error', new Error(`could not save the alarm state to ${file}: ${(err as Error).message}`));
    }
  }
}

/** The persisted zones, whatever a truncated or hand-edited file holds. */
function readZones(v: unknown): Record<string, string[]> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  const out: Record<string, string[]> = {};
  for (const [c, z] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(z)) out[c] = z.filter((x): x is string => typeof x === 'string');
  }
  return out;
}

/** A human sentence for chat replies and logs. */
export function describeState(state: AlarmState, target?: ArmedState | 'disarmed'): string {
  const mode = (s?: string) => (s && isArmedState(s) ? s.slice('armed_'.length) : '');
  switch (state) {
    case 'disarmed': return 'Alarm disarmed';
    case 'arming': return `Alarm arming (${mode(target) || 'away'}), exit delay running`;
    case 'pending': return 'Motion detected, entry delay running';
    case 'triggered': return 'Alarm triggered';
    default: return `Alarm armed (${mode(state)})`;
  }
}
