// Chat commands shared by the Matrix and XMPP nodes: MANTIS's long forms plus short aliases.

import { isArmMode, type ArmMode } from '../alarm/alarm';

export type { ArmMode };
/** The modes in the order the help lists them (away first: it is the default). */
const ARM_WORDS: readonly ArmMode[] = ['away', 'home', 'night', 'vacation'];

export type ChatCommand =
  | { command: 'help' }
  | { command: 'snapshot' }
  | { command: 'record'; seconds: number }
  | { command: 'arm'; mode: ArmMode; code?: string }
  | { command: 'disarm'; code?: string }
  | { command: 'status' }
  | { command: 'exit' };

export interface CommandError { error: string }

export const DEFAULT_RECORD_SECONDS = 10;
export const MAX_RECORD_SECONDS = 300;

const ALIASES: Record<string, ChatCommand['command']> = {
  help: 'help', h: 'help',
  take_picture: 'snapshot', snapshot: 'snapshot', snap: 'snapshot', picture: 'snapshot',
  record_video: 'record', record: 'record', rec: 'record', video: 'record',
  enable_alarm_system: 'arm', arm: 'arm',
  disable_alarm_system: 'disarm', disarm: 'disarm',
  is_alarm_system_enabled: 'status', status: 'status',
  exit: 'exit',
};

/** Commands that change or reveal the alarm; MANTIS let only admins use them. */
const ADMIN_ONLY: ReadonlySet<ChatCommand['command']> = new Set(['arm', 'disarm', 'status', 'exit']);

export function isAdminCommand(cmd: ChatCommand): boolean {
  return ADMIN_ONLY.has(cmd.command);
}

export const HELP_TEXT = [
  'Mantis commands:',
  '!help — this list',
  '!snapshot (!take_picture) — a picture now',
  `!record [seconds] (!record_video) — a clip now, default ${DEFAULT_RECORD_SECONDS} s`,
  '!arm [away|home|night|vacation] [code] (!enable_alarm_system) — arm, default away (admins)',
  '!disarm [code] (!disable_alarm_system) — disarm (admins)',
  '!status (!is_alarm_system_enabled) — the alarm state (admins)',
  '!exit — stop answering until Node-RED restarts (admins)',
].join('\n');

/**
 * Parses one chat message. Returns null when the text is not a command (no
 * leading "!"), an error for a malformed command, the command otherwise.
 */
export function parseCommand(text: string): ChatCommand | CommandError | null {
  const trimmed = text.trim();
  if (!trimmed.startsWith('!')) return null;
  const [word = '', ...args] = trimmed.slice(1).split(/\s+/);
  const name = ALIASES[word.toLowerCase()];
  if (!name) return { error: `unknown command "!${word}"; try !help` };
  switch (name) {
    case 'help':
    case 'snapshot':
    case 'status':
    case 'exit':
      if (args.length) return { error: `!${word} takes no arguments` };
      return { command: name };
    case 'record': {
      if (args.length > 1) return { error: `usage: !${word} [seconds]` };
      if (!args.length) return { command: 'record', seconds: DEFAULT_RECORD_SECONDS };
      const seconds = Number(args[0]);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_RECORD_SECONDS) {
        return { error: `seconds must be a whole number from 1 to ${MAX_RECORD_SECONDS}` };
      }
      return { command: 'record', seconds };
    }
    case 'arm': {
      let mode: ArmMode = 'away';
      let rest = args;
      const first = args[0]?.toLowerCase();
      if (isArmMode(first)) {
        mode = first;
        rest = args.slice(1);
      }
      if (rest.length > 1) return { error: `usage: !arm [${ARM_WORDS.join('|')}] [code]` };
      return rest.length ? { command: 'arm', mode, code: rest[0] } : { command: 'arm', mode };
    }
    case 'disarm':
      if (args.length > 1) return { error: 'usage: !disarm [code]' };
      return args.length ? { command: 'disarm', code: args[0] } : { command: 'disarm' };
  }
}

export function isCommandError(r: ChatCommand | CommandError | null): r is CommandError {
  return r !== null && 'error' in r;
}
