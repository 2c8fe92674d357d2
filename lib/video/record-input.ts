// What a record-clip input message asks for: a motion event, a record command, or neither.
import type { MotionEvent } from '../motion/event';

const DEFAULT_COMMAND_SECONDS = 10;

export function isMotionEvent(p: unknown): p is MotionEvent {
  const e = (p as { event?: unknown } | null)?.event;
  return typeof p === 'object' && p !== null && (e === 'start' || e === 'update' || e === 'end');
}

/** Seconds asked for by a record command, or null when the message is not one. */
export function recordSeconds(p: unknown): number | null {
  if (typeof p === 'number' && p > 0) return p;
  if (typeof p === 'string') {
    const m = /^\s*!?record(?:\s+(\d+(?:\.\d+)?))?\s*$/i.exec(p);
    if (m) return m[1] ? Number(m[1]) : DEFAULT_COMMAND_SECONDS;
    return null;
  }
  if (typeof p === 'object' && p !== null && (p as { command?: unknown }).command === 'record') {
    const s = Number((p as { seconds?: unknown }).seconds);
    return Number.isFinite(s) && s > 0 ? s : DEFAULT_COMMAND_SECONDS;
  }
  return null;
}
