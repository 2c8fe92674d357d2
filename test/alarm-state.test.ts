// The alarm state machine on a fake clock: delays, trigger time, codes, zones, persistence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Alarm, type AlarmOptions, type Clock, type StateChange } from '../lib/alarm/alarm';
import type { MotionEvent } from '../lib/motion/event';
import { tempDir } from './helpers/paths';

class FakeClock implements Clock {
  t = 1_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void { this.timers.delete(h as number); }
  get pending(): number { return this.timers.size; }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}

function motion(zones: string[] = [], event: MotionEvent['event'] = 'start', camera = 'door'): MotionEvent {
  return { event, t: 0, startedAt: 0, score: 0.1, boxes: [], zones, camera };
}

function make(opts: AlarmOptions = {}): { alarm: Alarm; clock: FakeClock; changes: StateChange[] } {
  const clock = new FakeClock();
  const alarm = new Alarm({ clock, ...opts });
  const changes: StateChange[] = [];
  alarm.on('state', (c) => changes.push(c));
  alarm.start();
  return { alarm, clock, changes };
}

test('exit delay, then armed; entry delay, then triggered; trigger time, then armed again', () => {
  const { alarm, clock, changes } = make({ exitDelay: 30, entryDelay: 10, triggerTime: 60 });
  assert.equal(alarm.state, 'disarmed');
  assert.deepEqual(alarm.arm('away', undefined, 'me'), { ok: true, changed: true, state: 'arming' });
  assert.deepEqual(alarm.motion(motion()), { counts: false, alarm: false, first: false }, 'motion during the exit delay is ignored');
  clock.advance(29_999);
  assert.equal(alarm.state, 'arming');
  clock.advance(1);
  assert.equal(alarm.state, 'armed_away');
  assert.deepEqual(alarm.motion(motion()), { counts: true, alarm: true, first: true });
  assert.equal(alarm.state, 'pending');
  assert.deepEqual(alarm.motion(motion([], 'update')), { counts: true, alarm: true, first: false });
  clock.advance(10_000);
  assert.equal(alarm.state, 'triggered');
  clock.advance(60_000);
  assert.equal(alarm.state, 'armed_away');
  assert.deepEqual(changes.map((c) => `${c.previous}>${c.state}:${c.by}`), [
    'disarmed>arming:me', 'arming>armed_away:exit delay', 'armed_away>pending:motion:door',
    'pending>triggered:entry delay', 'triggered>armed_away:trigger time',
  ]);
  assert.equal(clock.pending, 0);
});

test('no delays: arm is immediate, motion triggers at once; trigger time 0 stays triggered', () => {
  const { alarm, clock } = make({ triggerTime: 0 });
  alarm.arm('night', undefined, 'me');
  assert.equal(alarm.state, 'armed_night');
  alarm.motion(motion());
  assert.equal(alarm.state, 'triggered');
  clock.advance(3_600_000);
  assert.equal(alarm.state, 'triggered');
  assert.equal(alarm.arm('away', undefined, 'me').ok, false, 'no arming while going off');
  alarm.disarm(undefined, 'me');
  assert.equal(alarm.state, 'disarmed');
});

test('disarmed: motion never alerts; disarm during the entry delay cancels it', () => {
  const { alarm, clock } = make({ entryDelay: 5, triggerTime: 10 });
  assert.equal(alarm.motion(motion()).alarm, false);
  assert.equal(alarm.state, 'disarmed');
  alarm.arm('home', undefined, 'me');
  alarm.motion(motion());
  assert.equal(alarm.state, 'pending');
  alarm.disarm(undefined, 'me');
  clock.advance(60_000);
  assert.equal(alarm.state, 'disarmed');
  assert.equal(clock.pending, 0);
});

test('code: disarm needs it, wrong code leaves the state; arming needs it only when configured', () => {
  const a = make({ code: '4711' });
  assert.equal(a.alarm.arm('away', undefined, 'me').ok, true);
  assert.deepEqual(a.alarm.disarm('1234', 'me'), { ok: false, error: 'wrong_code', message: 'wrong code', state: 'armed_away' });
  assert.deepEqual(a.alarm.disarm(undefined, 'me'), { ok: false, error: 'code_required', message: 'a code is required', state: 'armed_away' });
  assert.equal(a.alarm.disarm('47110', 'me').ok, false);
  assert.equal(a.alarm.state, 'armed_away');
  assert.equal(a.alarm.disarm('4711', 'me').ok, true);
  assert.equal(a.alarm.state, 'disarmed');

  const b = make({ code: '4711', codeArmRequired: true });
  assert.equal(b.alarm.arm('away', 'nope', 'me').ok, false);
  assert.equal(b.alarm.state, 'disarmed');
  assert.equal(b.alarm.arm('away', '4711', 'me').ok, true);
  assert.equal(b.alarm.state, 'armed_away');
});

test('zones that count depend on the mode; empty list means all', () => {
  const { alarm } = make({ zones: { night: ['door'], away: [] } });
  alarm.arm('night', undefined, 'me');
  assert.equal(alarm.motion(motion(['hall'])).alarm, false, 'hall does not count at night');
  assert.equal(alarm.state, 'armed_night');
  assert.equal(alarm.motion(motion(['hall', 'door'])).alarm, true);
  assert.equal(alarm.state, 'triggered');
  alarm.disarm(undefined, 'me');
  alarm.arm('away', undefined, 'me');
  assert.equal(alarm.motion(motion(['hall'])).alarm, true, 'every zone counts away');
});

test('motion end does not set the alarm off', () => {
  const { alarm } = make();
  alarm.arm('away', undefined, 'me');
  assert.equal(alarm.motion(motion([], 'end')).alarm, false);
  assert.equal(alarm.state, 'armed_away');
});

test('panic trigger from disarmed goes back to disarmed after the trigger time', () => {
  const { alarm, clock } = make({ triggerTime: 5 });
  alarm.trigger('panic');
  assert.equal(alarm.state, 'triggered');
  clock.advance(5000);
  assert.equal(alarm.state, 'disarmed');
});

test('persistence: atomic JSON file, restored on start; arming resumes armed', () => {
  const dir = tempDir('alarm');
  const file = join(dir, 'state', 'alarm.json');
  const a = make({ file, exitDelay: 30 });
  a.alarm.arm('vacation', undefined, 'me');
  a.alarm.addCamera('garden');
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { state: string; target: string; cameras: string[] };
  assert.equal(saved.state, 'arming');
  assert.equal(saved.target, 'armed_vacation');
  assert.deepEqual(saved.cameras, ['garden']);
  a.alarm.stop();

  const b = make({ file, exitDelay: 30 });
  assert.equal(b.alarm.state, 'armed_vacation');
  assert.equal(b.changes[0]?.by, 'restore');
  assert.deepEqual(b.alarm.snapshot.cameras, ['garden']);
  b.alarm.stop();
});

test('persistence: pending resumes its entry delay, or goes off if it ran out; triggered runs out', () => {
  const dir = tempDir('alarm');
  const file = join(dir, 'alarm.json');
  const a = make({ file, entryDelay: 20, triggerTime: 60 });
  a.alarm.arm('away', undefined, 'me');
  a.alarm.motion(motion());
  assert.equal(a.alarm.state, 'pending');
  a.alarm.stop();

  // Restart 5 s later: 15 s of entry delay left.
  const clock = new FakeClock();
  clock.t = a.clock.t + 5000;
  const b = new Alarm({ file, entryDelay: 20, triggerTime: 60, clock });
  b.start();
  assert.equal(b.state, 'pending');
  clock.advance(14_999);
  assert.equal(b.state, 'pending');
  clock.advance(1);
  assert.equal(b.state, 'triggered');
  b.stop();

  // Restart long after: the trigger time is over, back to armed.
  const c2 = new FakeClock();
  c2.t = clock.t + 3_600_000;
  const c = new Alarm({ file, entryDelay: 20, triggerTime: 60, clock: c2 });
  c.start();
  assert.equal(c.state, 'armed_away');
  c.stop();

  // A pending state whose delay ran out while down goes off at start.
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...raw, state: 'pending', until: c2.t - 1000 }));
  const d = new Alarm({ file, entryDelay: 20, triggerTime: 60, clock: c2 });
  d.start();
  assert.equal(d.state, 'triggered');
  d.stop();
});

test('a corrupt state file is reported and ignored', () => {
  const dir = tempDir('alarm');
  const file = join(dir, 'alarm.json');
  writeFileSync(file, '{not json');
  const alarm = new Alarm({ file, clock: new FakeClock() });
  const errors: Error[] = [];
  alarm.on('error', (e) => errors.push(e));
  alarm.start();
  assert.equal(alarm.state, 'disarmed');
  assert.equal(errors.length, 1);
});
