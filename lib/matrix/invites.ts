// Room invites: join when an admin or allowed user invited the bot, leave otherwise.
import type * as Sdk from 'matrix-js-sdk';
import type { Lifetime } from '../common/lifetime';
import type { Log } from './types';

export async function answerInvite(client: Sdk.MatrixClient, room: Sdk.Room, me: string, isAllowed: (user: string) => boolean,
  log: Log, run: Lifetime): Promise<void> {
  // During a sync a room's history replays old memberships: act on the final one.
  await run.step(new Promise((r) => setTimeout(r, 0)));
  if (room.getMyMembership() !== 'invite') return;
  const inviter = room.getMember(me)?.events.member?.getSender();
  if (inviter && isAllowed(inviter)) {
    log('info', `joining ${room.roomId} (invited by ${inviter})`);
    await client.joinRoom(room.roomId).catch((e: Error) => log('warn', `join ${room.roomId}: ${e.message}`));
  } else {
    log('warn', `ignoring invite to ${room.roomId} from ${inviter ?? 'unknown'} (not an allowed user)`);
    await client.leave(room.roomId).catch(() => undefined);
  }
}
