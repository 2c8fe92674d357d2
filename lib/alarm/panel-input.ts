// Reads what a flow sends to the alarm panel: motion events, camera health, commands (from chat
// nodes, injects, HA-less flows). Knows nothing of Node-RED beyond the shape of a msg.
import { type ArmMode, isArmMode } from './alarm';
import type { MotionEvent } from '../motion/event';
import type { ChatCommand } from '../chat/commands';

/** The parts of a Node-RED msg the panel reads. */
export interface PanelInput { payload?: unknown; code?: unknown; from?: unknown; by?: unknown }

export function isMotionEvent(p: unknown): p is MotionEvent {
  if (!p || typeof p !== 'object') return false;
  const e = p as Partial<MotionEvent>;
  return (e.event === 'start' || e.event === 'update' || e.event === 'end') && Array.isArray(e.zones ?? []);
}

export type PanelCommand =
  | { command: 'arm'; mode: ArmMode; code?: string }
  | { command: 'disarm'; code?: string }
  | { command: 'trigger' }
  | { command: 'status' };

/** Chat commands (decided by lib/chat/gate) the panel does not handle but that share its input. */
const OTHERS_COMMANDS: ReadonlySet<string> = new Set<ChatCommand['command']>(['help', 'snapshot', 'record', 'exit']);

/** Reads a command from msg.payload: {command, mode?, code?} or a string like "arm_away" / "disarm". */
export function parseCommand(msg: PanelInput): PanelCommand | 'other' | null {
  const p = msg.payload;
  const code = typeof msg.code === 'string' ? msg.code : undefined;
  if (typeof p === 'string') {
    const w = p.trim().toLowerCase();
    if (w === 'arm') return { command: 'arm', mode: 'away', code };
    if (w.startsWith('arm_') && isArmMode(w.slice(4))) return { command: 'arm', mode: w.slice(4) as ArmMode, code };
    if (w === 'disarm') return { command: 'disarm', code };
    if (w === 'trigger') return { command: 'trigger' };
    if (w === 'status') return { command: 'status' };
    return OTHERS_COMMANDS.has(w) ? 'other' : null;
  }
  if (p && typeof p === 'object' && !Buffer.isBuffer(p) && typeof (p as { command?: unknown }).command === 'string') {
    const c = p as { command: string; mode?: unknown; code?: unknown };
    const pc = typeof c.code === 'string' ? c.code : (typeof c.code === 'number' ? String(c.code) : code);
    switch (c.command) {
      case 'arm': {
        if (c.mode !== undefined && !isArmMode(c.mode)) return null;
        return { command: 'arm', mode: (c.mode as ArmMode | undefined) ?? 'away', code: pc };
      }
      case 'disarm': return { command: 'disarm', code: pc };
      case 'trigger': return { command: 'trigger' };
      case 'status': return { command: 'status' };
      default: return OTHERS_COMMANDS.has(c.command) ? 'other' : null;
    }
  }
  return null;
}

/** What motion-detect's second output sends when a camera stops or resumes sending frames. */
export interface CameraHealth { camera?: string; ok: boolean; reason?: string }
export function isCameraHealth(p: unknown): p is CameraHealth {
  return !!p && typeof p === 'object' && typeof (p as CameraHealth).ok === 'boolean';
}

export function who(msg: PanelInput): string {
  const from = msg.from as { user?: unknown; via?: unknown } | undefined;
  if (from && typeof from.user === 'string') return typeof from.via === 'string' ? `${from.via}:${from.user}` : from.user;
  return typeof msg.by === 'string' ? msg.by : 'flow';
}
