// Types shared by the XMPP nodes (a node module may only `export =` its registration).
import type { Node } from 'node-red';
import type { XmppAccount, CommandEvent, OutContent } from './account';

export interface XmppCreds { password?: string }

export interface XmppStatus { fill: 'green' | 'yellow' | 'red' | 'grey' | 'blue'; shape: 'dot' | 'ring'; text: string }

export interface XmppAccountNode extends Node<XmppCreds> {
  account: XmppAccount | undefined;
  /** False when nothing at all is filled in: client nodes stay quiet instead of erring. */
  configured: boolean;
  accountStatus(): XmppStatus;
  /** Client nodes subscribe to status changes and commands. */
  subscribe(listener: XmppListener): () => void;
}

export interface XmppListener {
  status?(s: XmppStatus): void;
  command?(c: CommandEvent): void;
}

/** What xmpp-omemo-out receives (chat-out contract). */
export interface XmppOutMsg {
  payload?: unknown;
  mimetype?: string;
  text?: unknown;
  thumbnail?: unknown;
  to?: unknown;
}

/** Turns a chat-out msg into an outbox item (without recipient), or an error text. */
export function toOutItem(msg: XmppOutMsg): OutContent | string {
  if (typeof msg.payload === 'string') return { kind: 'text', text: msg.payload };
  if (Buffer.isBuffer(msg.payload) && typeof msg.mimetype === 'string') {
    const mt = msg.mimetype;
    // Uploaded under a random name: a name would tell the upload server what and when.
    if (mt.startsWith('image/') || mt === 'video/mp4') {
      return { kind: 'file', data: msg.payload, mimetype: mt, thumbnail: Buffer.isBuffer(msg.thumbnail) ? msg.thumbnail : undefined };
    }
  }
  if (typeof msg.text === 'string') return { kind: 'text', text: msg.text };
  return 'msg.payload must be a string, or a Buffer with msg.mimetype image/* or video/mp4 (or set msg.text)';
}
