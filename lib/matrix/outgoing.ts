// What a matrix-e2ee-out node takes in (msg.payload text, or a Buffer with
// msg.mimetype image/* or video/*, msg.text) mapped to a Matrix message.
import type { NodeMessageInFlow } from 'node-red';
import type { Outgoing } from './types';

export type OutMsg = NodeMessageInFlow & {
  roomId?: unknown; mimetype?: unknown; width?: unknown; height?: unknown;
  thumbnail?: unknown; duration?: unknown; text?: unknown; filename?: unknown;
};

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

/** A node message as a Matrix message, or the reason it cannot be sent. */
export function toOutgoing(msg: OutMsg): Outgoing | string {
  const p = msg.payload;
  if (typeof p === 'string') return { kind: 'text', text: p };
  if (Buffer.isBuffer(p)) {
    const mimetype = typeof msg.mimetype === 'string' ? msg.mimetype : '';
    const name = typeof msg.filename === 'string' ? msg.filename : undefined;
    if (mimetype.startsWith('image/')) return { kind: 'image', data: p, mimetype, width: num(msg.width), height: num(msg.height), name };
    if (mimetype.startsWith('video/')) {
      return { kind: 'video', data: p, mimetype, duration: num(msg.duration), width: num(msg.width), height: num(msg.height),
        thumbnail: Buffer.isBuffer(msg.thumbnail) ? msg.thumbnail : undefined, name };
    }
    if (typeof msg.text !== 'string') return `a Buffer payload needs msg.mimetype image/* or video/mp4 (got "${mimetype}")`;
  }
  if (typeof msg.text === 'string') return { kind: 'text', text: msg.text };
  return 'nothing to send: msg.payload must be a string, or a Buffer with msg.mimetype, or set msg.text';
}

