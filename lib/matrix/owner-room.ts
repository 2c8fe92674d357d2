// Onboarding: the owner only names their Matrix ID; the bot makes the encrypted private room,
// invites them and keeps that room (owner-room.json in the store) across restarts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as Sdk from 'matrix-js-sdk';
import { writeFileAtomic } from '../store/atomic-file';
import type { Log } from './types';

interface Saved { owner: string; roomId: string }

function readSaved(file: string): Saved | undefined {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as Partial<Saved>;
    return typeof j.owner === 'string' && typeof j.roomId === 'string' ? { owner: j.owner, roomId: j.roomId } : undefined;
  } catch {
    return undefined; // none yet, or truncated: the rooms on the server tell again
  }
}

/**
 * An encrypted room the bot shares with the owner, so an existing room keeps working: one the bot is
 * in with the owner joined or invited, or one the owner invited the bot to (answerInvite joins it).
 */
function sharedRoom(client: Sdk.MatrixClient, owner: string, me: string): string | undefined {
  const rooms = client.getRooms().filter((r) => r.hasEncryptionStateEvent());
  return rooms.find((r) => r.getMyMembership() === 'join' && ['join', 'invite'].includes(r.getMember(owner)?.membership ?? ''))?.roomId
    ?? rooms.find((r) => r.getMyMembership() === 'invite' && r.getMember(me)?.events.member?.getSender() === owner)?.roomId;
}

/**
 * In the topic, not a message: the bot encrypts only for verified devices, so before the owner has
 * verified it no message of it is readable; the topic (plain room state, no secret) always is.
 */
export const ONBOARDING_TOPIC = 'Mantis motion alarm: alerts and commands, end-to-end encrypted. To start, verify the bot: '
  + 'open its profile here, choose Verify and compare the emoji; confirm them in the Node-RED editor (matrix-account node).';

/**
 * The owner's room: the saved one while the bot is still in it, else one the owner already shares
 * with the bot, else a new encrypted private room with the owner invited. `created` says it is new.
 */
export async function ensureOwnerRoom(client: Sdk.MatrixClient, storeDir: string, owner: string, log: Log): Promise<{ roomId: string; created: boolean }> {
  const file = join(storeDir, 'owner-room.json');
  const saved = readSaved(file);
  const keep = (roomId: string, created: boolean) => {
    if (saved?.roomId !== roomId || saved.owner !== owner) writeFileAtomic(file, `${JSON.stringify({ owner, roomId })}\n`);
    return { roomId, created };
  };
  if (saved && saved.owner === owner && client.getRoom(saved.roomId)?.getMyMembership() === 'join') return keep(saved.roomId, false);
  const existing = sharedRoom(client, owner, client.getSafeUserId());
  if (existing) return keep(existing, false);
  const { room_id: roomId } = await client.createRoom({
    preset: 'private_chat' as Sdk.Preset,
    visibility: 'private' as Sdk.Visibility,
    name: 'Mantis',
    topic: ONBOARDING_TOPIC,
    is_direct: true,
    invite: [owner],
    initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
  });
  log('info', `created the encrypted room ${roomId} and invited the owner ${owner}`);
  return keep(roomId, true);
}
