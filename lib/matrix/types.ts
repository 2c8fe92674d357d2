// Types shared by the parts of the Matrix bot (and the nodes that use it).
import type { ChatCommand } from '../chat/commands';

export type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

export interface MatrixBotConfig {
  homeserverUrl: string;
  userId: string;
  password?: string;
  accessToken?: string;
  deviceName?: string;
  /** Folder for the session, the crypto store (with the sync state) and the outbox. */
  storeDir: string;
  allowedUsers?: string[];
  adminUsers?: string[];
  /** The owner's Matrix ID: an admin, for whom the bot makes the encrypted private room and invites them. */
  owner?: string;
  displayName?: string;
  /** PNG or JPEG bytes for the avatar; a small default is used when absent. */
  avatar?: Buffer;
  /** Sent to every joined encrypted room on start; false for none. */
  onlineMessage?: string | false;
  log?: Log;
}

export type Outgoing =
  | { kind: 'text'; text: string; html?: string }
  | { kind: 'image'; data: Buffer; mimetype: string; width?: number; height?: number; name?: string; note?: string }
  | { kind: 'video'; data: Buffer; mimetype: string; thumbnail?: Buffer; duration?: number; width?: number; height?: number; name?: string };

export interface OutboxEntry {
  roomId: string;
  txnId: string;
  item: Outgoing;
  /** Skip silently (no error) when the room turns out not to be encrypted: the online notice. */
  quiet?: boolean;
}

export interface CommandMessage {
  command: ChatCommand;
  from: { user: string; device: string; via: 'matrix' };
  roomId: string;
  text: string;
}

export interface PendingVerification {
  id: string;
  userId: string;
  deviceId?: string;
  /** [emoji, name] pairs, as Element shows them. */
  emoji: [string, string][];
  decimal?: [number, number, number];
}

export type BotState = 'stopped' | 'starting' | 'online' | 'offline' | 'error';

export class NotEncryptedError extends Error {
  constructor(readonly roomId: string) { super(`room ${roomId} is not encrypted; refusing to send`); }
}
