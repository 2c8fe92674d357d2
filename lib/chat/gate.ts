// The one command policy for every chat transport (Matrix, XMPP) and the alarm
// panel: which text is a command, who may give it, and what a refusal says.
// Transports only find the facts (sender, encryption, device trust, time);
// the gate decides, so a rule changed here holds everywhere.
import { HELP_TEXT, isAdminCommand, isCommandError, parseCommand, type ChatCommand } from './commands';

export interface GatePolicy {
  /** Users whose commands are obeyed (admins are always allowed). */
  allowed: readonly string[];
  /** Users who may arm, disarm, ask the status and exit. No admins listed: nobody may. */
  admins: readonly string[];
  /** How a transport compares user ids (e.g. bare, lower-case JIDs). */
  normalize?: (user: string) => string;
}

/** What the transport found out about the sending device, in words the sender understands. */
export type DeviceCheck =
  | { ok: true }
  | {
      ok: false;
      /** What is missing, e.g. "your session is not cross-signed by you". */
      why: string;
      /** What to do about it. */
      advice: string;
      /** False when the device could not read an encrypted answer anyway. */
      canReply?: boolean;
    };

export interface IncomingText {
  sender: string;
  text: string;
  /** Whether the message reached us end-to-end encrypted. */
  encrypted: boolean;
  /** When the sender sent it (ms since epoch), if known. */
  sentAt?: number;
}

export type GateDecision =
  /** Not a command, or not one to answer (history, after !exit). `log` says why when it matters. */
  | { act: 'ignore'; log?: string }
  /** Answer without acting (help, a malformed command, a refusal). */
  | { act: 'reply'; text: string; log?: string }
  /** Obey it; `reply` is a first answer the transport sends before passing it on. */
  | { act: 'command'; command: ChatCommand; reply?: string };

export class CommandGate {
  private startedAt = Number.POSITIVE_INFINITY;
  private exited = false;
  private readonly norm: (user: string) => string;

  constructor(private readonly policy: GatePolicy) {
    this.norm = policy.normalize ?? ((u) => u);
  }

  /** Messages sent before this moment are history (offline storage, a replayed sync), never orders. */
  start(now = Date.now()): void {
    this.startedAt = now;
    this.exited = false;
  }

  isAllowed(user: string): boolean {
    const u = this.norm(user);
    return this.policy.allowed.some((a) => this.norm(a) === u) || this.isAdmin(user);
  }

  isAdmin(user: string): boolean {
    const u = this.norm(user);
    return this.policy.admins.some((a) => this.norm(a) === u);
  }

  /**
   * Decides what to do with one chat message. The device check runs only for
   * an allowed sender's command (it may cost a round trip to the server).
   */
  async decide(msg: IncomingText, checkDevice: () => Promise<DeviceCheck> | DeviceCheck): Promise<GateDecision> {
    const parsed = parseCommand(msg.text);
    if (parsed === null) return { act: 'ignore' };
    const who = msg.sender;
    const word = msg.text.trim().split(/\s+/)[0];
    if (msg.sentAt !== undefined && msg.sentAt < this.startedAt) {
      return { act: 'ignore', log: `ignored ${word} from ${who}: sent at ${new Date(msg.sentAt).toISOString()}, before Mantis started` };
    }
    if (!msg.encrypted) {
      // Strangers learn nothing; an allowed user learns why (the answer itself goes out encrypted).
      const log = `refused ${word} from ${who}: sent unencrypted`;
      if (!this.isAllowed(who)) return { act: 'ignore', log };
      return { act: 'reply', text: 'I only obey end-to-end encrypted messages. Please turn on encryption for this chat and send the command again.', log };
    }
    if (!this.isAllowed(who)) {
      return { act: 'reply', text: `Sorry ${who}, you are not allowed to control Mantis.`, log: `refused ${word} from ${who}: not an allowed user` };
    }
    const device = await checkDevice();
    if (!device.ok) {
      const log = `refused ${word} from ${who}: ${device.why}`;
      if (device.canReply === false) return { act: 'ignore', log };
      return { act: 'reply', text: `Sorry ${who}, I only take commands from verified sessions: ${device.why}. ${device.advice}`, log };
    }
    if (this.exited) return { act: 'ignore', log: `ignored ${word} from ${who}: commands are off after !exit until Node-RED restarts` };
    if (isCommandError(parsed)) return { act: 'reply', text: parsed.error };
    if (parsed.command === 'help') return { act: 'reply', text: HELP_TEXT };
    if (isAdminCommand(parsed) && !this.isAdmin(who)) {
      const hint = this.policy.admins.length ? '' : ' No admin is set: the owner adds admins in the chat account node.';
      return { act: 'reply', text: `Sorry ${who}, !${parsed.command} is for admins only.${hint}`, log: `refused admin command !${parsed.command} from ${who}: not an admin` };
    }
    if (parsed.command === 'exit') {
      this.exited = true;
      return { act: 'command', command: parsed, reply: 'Mantis stops answering commands until Node-RED restarts.' };
    }
    return { act: 'command', command: parsed };
  }
}
