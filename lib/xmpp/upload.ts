// XEP-0363 HTTP upload of XEP-0454 ciphertext: finding the service, its size
// limit (and the smaller one a proxy in front of it may enforce), and putting
// one encrypted file under a random name.
import { randomBytes } from 'node:crypto';
import { encryptFile, aesgcmLink } from './aesgcm';
import { UploadLimit, refusedForGood } from '../chat/upload-limit';
import type { XmppStream } from './stream';

const NS_UPLOAD = 'urn:xmpp:http:upload:0';

/** The HTTP upload server answered the PUT with an error status. */
export class UploadRefused extends Error {
  constructor(readonly status: number) { super(`upload failed: HTTP ${status}`); }
  /** Refused for this file (403, 400, ...), not for now: retrying will not change it. */
  get permanent(): boolean { return refusedForGood(this.status); }
}

export class UploadService {
  /** undefined: not asked yet; null: the server has none. */
  service: { jid: string; maxSize: number } | null | undefined = undefined;
  /** What goes up in one piece: the advertised max-file-size less the AES-GCM tag, lowered by every 413. */
  readonly limit = new UploadLimit(16);

  constructor(private readonly stream: XmppStream, private readonly domain: string) {}

  async discover(): Promise<void> {
    const xml = this.stream.xml;
    const items = await this.stream.iq('get', this.domain, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' }));
    const candidates = [this.domain, ...(items.getChild('query')?.getChildren('item') ?? []).map((i) => i.attrs.jid ?? '')].filter(Boolean);
    for (const c of candidates) {
      const info = await this.stream.iq('get', c, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })).catch(() => undefined);
      const q = info?.getChild('query');
      if (!q?.getChildren('feature').some((f) => f.attrs.var === NS_UPLOAD)) continue;
      let maxSize: number | undefined;
      for (const form of q.getChildren('x', 'jabber:x:data')) {
        const fields = form.getChildren('field');
        if (!fields.some((f) => f.attrs.var === 'FORM_TYPE' && f.getChildText('value') === NS_UPLOAD)) continue;
        const m = fields.find((f) => f.attrs.var === 'max-file-size')?.getChildText('value');
        if (m) maxSize = Number(m);
      }
      this.service = { jid: c, maxSize: maxSize ?? Infinity };
      this.limit.setAdvertised(maxSize);
      return;
    }
    this.service = null;
  }

  /**
   * Encrypts (XEP-0454), uploads under a random name and returns the aesgcm:// link.
   * The name keeps only the extension (clients decide by it how to show the file);
   * it tells the upload server neither that it is Mantis nor when it was taken.
   */
  async put(data: Buffer, ext: string): Promise<string> {
    const service = this.service;
    if (!service) throw new Error('no upload service');
    const enc = encryptFile(data);
    const xml = this.stream.xml;
    const filename = `${randomBytes(16).toString('hex')}${/^[a-z0-9]{1,5}$/.test(ext) ? `.${ext}` : ''}`;
    const res = await this.stream.iq('get', service.jid, xml('request', {
      xmlns: NS_UPLOAD, filename, size: enc.ciphertext.length, 'content-type': 'application/octet-stream',
    }));
    const slot = res.getChild('slot', NS_UPLOAD);
    const put = slot?.getChild('put');
    const get = slot?.getChild('get')?.attrs.url;
    if (!put?.attrs.url || !get) throw new Error('upload slot without URLs');
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    for (const h of put.getChildren('header')) {
      const name = (h.attrs.name ?? '').replace(/[\r\n]/g, '');
      if (/^(authorization|cookie|expires)$/i.test(name)) headers[name] = h.text().replace(/[\r\n]/g, '');
    }
    const r = await fetch(put.attrs.url, { method: 'PUT', headers, body: new Uint8Array(enc.ciphertext) });
    if (!r.ok) {
      if (r.status === 413) this.limit.refused(data.length);
      throw new UploadRefused(r.status);
    }
    return aesgcmLink(get, enc.iv, enc.key);
  }
}
