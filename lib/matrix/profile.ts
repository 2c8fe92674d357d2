// The bot's face in clients: its display name and an avatar (a plain green
// mark when none is configured), set once when they differ.
import { deflateSync } from 'node:zlib';
import type * as Sdk from 'matrix-js-sdk';

/** A plain 64x64 PNG (mantis green) so the bot has an avatar without a file. */
export function defaultAvatar(): Buffer {
  const w = 64;
  const crc = (buf: Buffer): number => {
    let c = ~0;
    for (const byte of buf) { c ^= byte; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); }
    return ~c >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const td = Buffer.concat([Buffer.from(type), data]);
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(w, 4); ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc((w * 3 + 1) * w);
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      const inside = (x - 32) ** 2 / 400 + (y - 30) ** 2 / 150 < 1;
      raw[o] = inside ? 0x9c : 0x2e; raw[o + 1] = inside ? 0xd3 : 0x7d; raw[o + 2] = inside ? 0x3a : 0x32;
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Sets the display name and, when there is none yet, the avatar. */
export async function setProfile(client: Sdk.MatrixClient, userId: string, displayName: string, avatar: Buffer | undefined): Promise<void> {
  const profile = await client.getProfileInfo(userId).catch(() => ({} as { displayname?: string; avatar_url?: string }));
  if (profile.displayname !== displayName) await client.setDisplayName(displayName);
  if (!profile.avatar_url) {
    const png = avatar ?? defaultAvatar();
    const type = png[0] === 0x89 ? 'image/png' : 'image/jpeg';
    const up = await client.uploadContent(new Uint8Array(png), { type, name: 'avatar' });
    await client.setAvatarUrl(up.content_uri);
  }
}
