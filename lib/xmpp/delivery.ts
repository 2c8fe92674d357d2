// One queued alert to all its recipients. Media is encrypted and uploaded
// once per alert: every recipient gets the same aesgcm:// link (URL and key)
// inside their own OMEMO message. What is done survives a restart (a progress
// file next to the outbox: the links made, the recipients served), and a
// recipient the server refuses for good is reported, never a reason to hold
// the others.
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic-file';
import { PermanentSendError } from '../chat/outbox';
import { planMedia } from '../chat/upload-limit';
import { bare, type OmemoSender } from './sender';
import { UploadRefused, type UploadService } from './upload';

export type OutContent =
  | { kind: 'text'; text: string }
  | { kind: 'file'; data: Buffer; mimetype: string; thumbnail?: Buffer };

/** One queued alert (Buffers survive the outbox's disk round trip); `to` was one JID before version 0.2. */
export type OutItem = OutContent & { id?: string; to: string[] | string };

interface Progress { done: string[]; links: Record<string, string> }

export interface DeliveryEvents {
  sent(to: string): void;
  dropped(to: string, why: string): void;
  mediaProblem(problem: string): void;
}

const extension = (mimetype: string): string => (mimetype === 'video/mp4' ? 'mp4' : mimetype === 'image/png' ? 'png' : 'jpg');

export function recipients(item: OutItem): string[] { return (typeof item.to === 'string' ? [item.to] : item.to).map(bare); }

export class AlertDelivery {
  constructor(
    private readonly sender: OmemoSender,
    private readonly upload: UploadService,
    private readonly progressDir: string,
    private readonly on: DeliveryEvents,
  ) {}

  private file(id: string): string { return join(this.progressDir, `${id.replace(/[^\w-]/g, '')}.json`); }

  /** What an earlier attempt did; a missing or unreadable (truncated) file means nothing yet. */
  private read(id: string | undefined): Progress {
    const fresh: Progress = { done: [], links: {} };
    if (!id || !existsSync(this.file(id))) return fresh;
    try {
      const p = JSON.parse(readFileSync(this.file(id), 'utf8')) as Partial<Progress>;
      return { done: Array.isArray(p.done) ? p.done : [], links: p.links && typeof p.links === 'object' ? p.links : {} };
    } catch {
      return fresh;
    }
  }

  private save(id: string | undefined, p: Progress): void {
    if (id) writeFileAtomic(this.file(id), JSON.stringify(p));
  }

  async deliver(item: OutItem): Promise<void> {
    const p = this.read(item.id);
    const pending = recipients(item).filter((r) => !p.done.includes(r));
    if (!pending.length) return this.finish(item.id);
    const bodies = await this.bodies(item, p);
    let retry: unknown;
    for (const to of pending) {
      try {
        for (const body of bodies) await this.sender.send(to, body);
        this.on.sent(to);
      } catch (e) {
        if (!(e instanceof PermanentSendError)) { retry ??= e; continue; }
        this.on.dropped(to, e.message);
      }
      p.done.push(to);
      this.save(item.id, p);
    }
    if (retry) throw retry;
    this.finish(item.id);
  }

  private finish(id: string | undefined): void {
    if (id && existsSync(this.file(id))) unlinkSync(this.file(id));
  }

  /** The messages every recipient gets for this alert; media goes up once (the link is kept in p). */
  private async bodies(item: OutItem, p: Progress): Promise<string[]> {
    if (item.kind === 'text') return [item.text];
    const what = item.mimetype.startsWith('video/') ? 'clip' : 'picture';
    if (!this.upload.service && !p.links.media && !p.links.snapshot) {
      this.on.mediaProblem('no upload service');
      return [`(a ${what} was taken, but the XMPP server has no file upload service to send it)`];
    }
    // A 413 lowers the limit; the plan is made again with what the server really takes.
    for (;;) {
      const plan = p.links.media ? { send: 'media' as const } : planMedia(what, item.data.length, item.thumbnail?.length, this.upload.limit);
      if (plan.send === 'media') {
        const link = await this.uploadOnce(p, item, 'media', item.data, extension(item.mimetype));
        if (!link) continue;
        this.on.mediaProblem('');
        return [link];
      }
      if (plan.send === 'snapshot') {
        const link = await this.uploadOnce(p, item, 'snapshot', item.thumbnail!, 'jpg');
        if (!link) continue;
        this.on.mediaProblem(`${what} too large, sent snapshot`);
        return [plan.note, link];
      }
      this.on.mediaProblem(`${what} too large for upload`);
      return [plan.note];
    }
  }

  /** The link of this alert's upload, made now if not yet; undefined when the server said 413 (re-plan). */
  private async uploadOnce(p: Progress, item: OutItem, key: string, data: Buffer, ext: string): Promise<string | undefined> {
    if (p.links[key]) return p.links[key];
    try {
      p.links[key] = await this.upload.put(data, ext);
    } catch (e) {
      if (!(e instanceof UploadRefused)) throw e;
      if (e.status === 413) return undefined;
      // Refused for this file (403, 400): dropping it keeps the alerts behind it moving.
      if (e.permanent) throw new PermanentSendError(e.message);
      throw e;
    }
    this.save(item.id, p);
    return p.links[key];
  }
}
