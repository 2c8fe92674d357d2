// Sends one outbox entry to its room: checks membership and encryption, uploads
// encrypted attachments with thumbnails, falls back to a snapshot or a note for
// media the server will not take, and tells a refusal (drop it) from an outage
// (keep it queued).
import type * as Sdk from 'matrix-js-sdk';
import { PermanentSendError } from '../chat/outbox';
import { UploadLimit, planMedia, refusedForGood } from '../chat/upload-limit';
import { encryptAttachment, type EncryptedFile } from './attachment';
import { imageSize, thumbnail } from './media';
import type { Log, OutboxEntry } from './types';

function httpStatus(err: unknown): number | undefined {
  const status = (err as { httpStatus?: unknown } | null)?.httpStatus;
  return typeof status === 'number' ? status : undefined;
}

/** A send the server refused for this message itself is dropped so that it does not hold back every later alert. */
function refusal(err: unknown): unknown {
  const status = httpStatus(err);
  if (!refusedForGood(status)) return err;
  const code = (err as { errcode?: string }).errcode;
  return new PermanentSendError(`the homeserver refused it: ${status}${code ? ` ${code}` : ''} ${(err as Error).message}`);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

export class RoomSender {
  readonly limit = new UploadLimit();
  /** Rooms whose outbound megolm session was replaced in this start. */
  private readonly rotated = new Set<string>();

  constructor(private readonly client: Sdk.MatrixClient, private readonly log: Log) {}

  /** Reads the server's m.upload.size (missing or failing: no limit until a 413 teaches one). */
  async readUploadLimit(homeserverUrl: string, accessToken: string, signal: AbortSignal): Promise<void> {
    try {
      const r = await fetch(`${homeserverUrl}/_matrix/client/v1/media/config`, { headers: { authorization: `Bearer ${accessToken}` }, signal });
      if (!r.ok) return;
      const size = (await r.json() as Record<string, unknown>)['m.upload.size'];
      this.limit.setAdvertised(typeof size === 'number' ? size : undefined);
    } catch (e) {
      if (signal.aborted) throw e;
      this.log('warn', `media config: ${(e as Error).message}`);
    }
  }

  async isRoomEncrypted(roomId: string): Promise<boolean> {
    const crypto = this.client.getCrypto();
    return !!crypto && await crypto.isEncryptionEnabledInRoom(roomId);
  }

  /** Sends one entry; throws to keep it queued, PermanentSendError to drop it. */
  async deliver(e: OutboxEntry): Promise<void> {
    const client = this.client;
    const membership = client.getRoom(e.roomId)?.getMyMembership();
    if (membership === 'leave' || membership === 'ban') throw new PermanentSendError(`not a member of ${e.roomId}`);
    // Unknown room or a join still in flight: keep it queued and retry.
    if (membership !== 'join') throw new Error(`not joined to ${e.roomId} yet`);
    if (!(await this.isRoomEncrypted(e.roomId))) {
      if (e.quiet) return;
      throw new PermanentSendError(`room ${e.roomId} is not encrypted`);
    }
    if (!this.rotated.has(e.roomId)) {
      // A crash may have lost the last ratchet step of the outbound megolm session; a
      // fresh session per start guarantees that no message index is used twice.
      await client.getCrypto()!.forceDiscardSession(e.roomId);
      this.rotated.add(e.roomId);
    }
    let content: Record<string, unknown>;
    try {
      content = await this.content(e);
    } catch (err) {
      // The server's media config may be missing or higher than what it takes: a 413 teaches the real limit.
      const item = e.item;
      if (httpStatus(err) !== 413 || item.kind === 'text') throw refusal(err);
      this.limit.refused(item.data.length);
      content = await this.content(e).catch((again: unknown) => { throw refusal(again); });
    }
    await client.sendEvent(e.roomId, 'm.room.message' as never, content as never, e.txnId).catch((err: unknown) => { throw refusal(err); });
  }

  private async upload(data: Buffer): Promise<EncryptedFile> {
    const enc = encryptAttachment(data);
    const up = await this.client.uploadContent(new Uint8Array(enc.data), { type: 'application/octet-stream', includeFilename: false });
    return { ...enc.info, url: up.content_uri };
  }

  private async thumbnailInfo(thumb: Buffer | undefined): Promise<Record<string, unknown>> {
    if (!thumb) return {};
    const ts = imageSize(thumb);
    return { thumbnail_file: await this.upload(thumb), thumbnail_info: { mimetype: 'image/jpeg', size: thumb.length, w: ts?.width, h: ts?.height } };
  }

  private async content(e: OutboxEntry): Promise<Record<string, unknown>> {
    const item = e.item;
    if (item.kind === 'text') {
      return { msgtype: 'm.text', body: item.text, format: 'org.matrix.custom.html', formatted_body: item.html ?? escapeHtml(item.text).replace(/\n/g, '<br>') };
    }
    const thumb = item.kind === 'video' ? item.thumbnail ?? await thumbnail(item.data).catch(() => undefined) : await thumbnail(item.data).catch(() => undefined);
    const plan = planMedia(item.kind === 'video' ? 'clip' : 'picture', item.data.length, thumb?.length, this.limit);
    if (plan.send !== 'media') {
      this.log('warn', plan.note);
      if (plan.send === 'snapshot' && item.kind === 'video') {
        return this.content({ ...e, item: { kind: 'image', data: thumb!, mimetype: 'image/jpeg', note: plan.note, name: 'snapshot.jpg' } });
      }
      return this.content({ ...e, item: { kind: 'text', text: plan.note } });
    }
    if (item.kind === 'image') {
      const size = item.width && item.height ? { width: item.width, height: item.height } : imageSize(item.data);
      const info = { mimetype: item.mimetype, size: item.data.length, w: size?.width, h: size?.height, ...await this.thumbnailInfo(thumb) };
      const body = item.note ?? item.name ?? 'snapshot.jpg';
      return { msgtype: 'm.image', body, filename: item.name ?? 'snapshot.jpg', info, file: await this.upload(item.data) };
    }
    const ts = thumb ? imageSize(thumb) : undefined;
    const info: Record<string, unknown> = {
      mimetype: item.mimetype, size: item.data.length, w: item.width ?? ts?.width, h: item.height ?? ts?.height,
      duration: item.duration !== undefined ? Math.round(item.duration * 1000) : undefined,
      ...await this.thumbnailInfo(thumb),
    };
    return { msgtype: 'm.video', body: item.name ?? 'clip.mp4', filename: item.name ?? 'clip.mp4', info, file: await this.upload(item.data) };
  }
}
