// One XMPP account: the stream (with reconnect and back-off), OMEMO 0.3
// publishing, encrypted sending (text and XEP-0454 media), and receiving of
// encrypted chat commands from allowed JIDs on trusted devices.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { loadXmpp, type XElement, type XmlFactory, type XmppClient } from './xmpp-lib';
import { Omemo, NS_OMEMO, NODE_DEVICELIST, nodeBundle, type Bundle, type EncryptedMessage } from './omemo';
import { fingerprint, type TrustState } from './store';
import { encryptFile, aesgcmLink } from './aesgcm';
import { Outbox, PermanentSendError } from '../chat/outbox';
import { join } from 'node:path';
import { parseCommand, isCommandError, isAdminCommand, HELP_TEXT, type ChatCommand } from '../chat/commands';

export interface XmppAccountConfig {
  jid: string; // bare JID user@domain
  password: string;
  host?: string; // default: the JID's domain
  port?: number; // default 5222
  resource?: string;
  /** JIDs whose commands are obeyed (admins are always allowed). */
  allowed: string[];
  /** JIDs allowed to use admin commands; empty: every allowed JID is admin. */
  admins: string[];
  storeDir: string;
  /** Log in without TLS to a server that is not on loopback (trusted LAN only). */
  allowInsecure?: boolean;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
}

export type ConnState = 'connecting' | 'online' | 'offline' | 'stopped';

export interface CommandEvent {
  command: ChatCommand;
  from: { user: string; device: number; via: 'xmpp' };
  /** Bare JID a reply should go to. */
  to: string;
  text: string;
}

/** The HTTP upload server answered the PUT with an error status. */
class UploadRefused extends Error {
  constructor(readonly status: number) { super(`upload failed: HTTP ${status}`); }
}

export interface RefusedEvent { from: string; device?: number; reason: string; text?: string }

/** One queued alert for one recipient (Buffers survive the outbox's disk round trip). */
export type OutContent =
  | { kind: 'text'; text: string }
  | { kind: 'file'; data: Buffer; mimetype: string; filename: string; thumbnail?: Buffer };
export type OutItem = OutContent & { to: string };

export interface DeviceInfo { jid: string; device: number; fingerprint: string; trust: TrustState; own: boolean }

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_UPLOAD = 'urn:xmpp:http:upload:0';
const FALLBACK_BODY = 'This message is OMEMO encrypted; your client does not support OMEMO.';

function bare(jid: string): string { return jid.split('/')[0].toLowerCase(); }

export class XmppAccount extends EventEmitter {
  readonly omemo: Omemo;
  state: ConnState = 'offline';
  lastError = '';
  upload: { jid: string; maxSize: number } | null | undefined = undefined; // undefined: not asked yet
  private x?: XmppClient;
  private xml?: XmlFactory;
  private stopped = true;
  private backoff = 1000;
  private retryTimer?: NodeJS.Timeout;
  private online = false;
  private exited = false;
  /** Smallest upload an HTTP server refused as too large (413), whatever the service advertised. */
  private refusedSize = Infinity;
  /** Commands the server kept for us from before this start are history, not orders. */
  private startedAt = 0;
  readonly outbox: Outbox<OutItem>;

  constructor(readonly cfg: XmppAccountConfig) {
    super();
    this.omemo = new Omemo(cfg.storeDir);
    this.outbox = new Outbox<OutItem>(join(cfg.storeDir, 'outbox'), (item) => this.deliver(item), { minDelayMs: 500, maxDelayMs: 30_000 });
  }

  get queueLength(): number { return this.outbox.length; }

  /** Queues a message durably (one item per recipient) and lets the outbox send it in order. */
  async queue(to: string[], item: OutContent): Promise<void> {
    for (const jid of to) await this.outbox.enqueue({ ...item, to: bare(jid) });
  }

  private async deliver(item: OutItem): Promise<void> {
    if (!this.online) throw new Error('not connected');
    if (item.kind === 'text') { await this.sendEncrypted(item.to, item.text); return; }
    const what = item.mimetype.startsWith('video/') ? 'clip' : 'picture';
    const upload = this.upload;
    if (!upload) {
      this.emit('media-problem', 'no upload service');
      await this.sendEncrypted(item.to, `(a ${what} was taken, but the XMPP server has no file upload service to send it)`);
      return;
    }
    // A proxy in front of the upload service may refuse (413) what the service itself would take.
    const fits = (n: number): boolean => n + 16 <= upload.maxSize && n < this.refusedSize;
    if (fits(item.data.length)) {
      if (await this.uploadOrRefused(item.to, item.data, item.filename)) { this.emit('media-problem', ''); return; }
    }
    if (item.thumbnail && fits(item.thumbnail.length)) {
      this.emit('media-problem', `${what} too large, sent snapshot`);
      await this.sendEncrypted(item.to, `(the ${what} is larger than the server's upload limit; here is its snapshot)`);
      if (!(await this.uploadOrRefused(item.to, item.thumbnail, 'snapshot.jpg'))) throw new PermanentSendError('the upload server refuses even the snapshot as too large');
      return;
    }
    this.emit('media-problem', `${what} too large for upload`);
    await this.sendEncrypted(item.to, `(the ${what} is larger than the server's upload limit of ${Math.min(upload.maxSize, this.refusedSize)} bytes)`);
  }

  /** sendFile; false when the upload server refused the file as too large (and remembers the size). */
  private async uploadOrRefused(to: string, data: Buffer, filename: string): Promise<boolean> {
    try {
      await this.sendFile(to, data, filename);
      return true;
    } catch (e) {
      if (!(e instanceof UploadRefused)) throw e;
      if (e.status === 413) { this.refusedSize = Math.min(this.refusedSize, data.length); return false; }
      // Refused for this file (403, 400): dropping it keeps the alerts behind it moving.
      if (e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429) throw new PermanentSendError(e.message);
      throw e;
    }
  }

  get jid(): string { return bare(this.cfg.jid); }
  get isOnline(): boolean { return this.online; }

  async start(): Promise<void> {
    this.stopped = false;
    this.startedAt = Date.now();
    await this.omemo.init();
    this.omemo.ownJid = this.jid;
    this.omemo.on('bundle', (b: Bundle) => { void this.publishBundle(b).catch((e: Error) => this.emit('warn', `bundle publish: ${e.message}`)); });
    this.outbox.on('change', (n: number) => this.emit('queue', n));
    this.outbox.on('dropped', (item: OutItem, e: Error) => this.emit('dropped', item.to, e.message));
    this.outbox.start();
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.outbox.stop();
    this.outbox.removeAllListeners('change');
    this.omemo.removeAllListeners('bundle');
    await this.teardown();
    this.setState('stopped');
  }

  private setState(s: ConnState, err = ''): void {
    this.state = s;
    if (err) this.lastError = err;
    this.emit('state', s, err);
  }

  private async teardown(): Promise<void> {
    const x = this.x;
    this.x = undefined;
    this.online = false;
    if (!x) return;
    // Our listeners ignore a client that is no longer this.x; the library's own
    // listeners must stay so that its timers are cleared on disconnect.
    x.on('error', () => { /* late socket errors of a dropped stream */ });
    try { await Promise.race([x.stop(), new Promise((r) => setTimeout(r, 2000))]); } catch { /* already gone */ }
  }

  private scheduleReconnect(err: string): void {
    if (this.stopped) return;
    this.online = false;
    this.setState('offline', err);
    clearTimeout(this.retryTimer);
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.cfg.maxBackoffMs ?? 60_000);
    this.retryTimer = setTimeout(() => { void this.connect(); }, delay);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    await this.teardown();
    this.setState('connecting');
    const { client, xml } = await loadXmpp();
    if (this.stopped) return; // stop() came while the library loaded
    this.xml = xml;
    const [local, domain] = this.jid.split('@');
    const host = this.cfg.host || domain;
    const x = client({
      service: `xmpp://${host}:${this.cfg.port || 5222}`,
      domain,
      username: local,
      // STARTTLS is used whenever offered; without it we log in only on loopback
      // or when the owner allowed it, and never with PLAIN.
      credentials: async (authenticate, mechanisms, _fast, entity) => {
        const secure = entity.isSecure();
        // Loopback judged by where the socket really goes, not by the name.
        const remote = (entity as { socket?: { remoteAddress?: string } | null }).socket?.remoteAddress ?? '';
        const loopback = /^(127\.|::1$|::ffff:127\.)/.test(remote);
        if (!secure && !loopback && !this.cfg.allowInsecure) {
          throw new Error(`${host} offers no TLS; refusing to log in (allow unencrypted connections only on a trusted LAN)`);
        }
        const mech = secure ? mechanisms[0] : mechanisms.find((m) => m !== 'PLAIN');
        if (!mech) throw new Error('no SASL mechanism usable without TLS');
        await authenticate({ username: local, password: this.cfg.password }, mech);
      },
      resource: this.cfg.resource || 'mantis',
      timeout: 10_000,
    });
    this.x = x;
    // Our own reconnect: a fresh client each time, with exponential back-off.
    x.reconnect.stop();
    x.streamManagement.requestAckInterval = 15_000;
    x.streamManagement.timeout = 20_000;
    x.streamManagement.requestAckDebounce = 50; // the outbox waits for the ack of each alert
    let failed = false;
    const fail = (why: string): void => {
      if (failed || this.x !== x) return;
      failed = true;
      this.scheduleReconnect(why);
    };
    x.on('error', (e: Error) => { this.lastError = e.message; });
    x.on('disconnect', () => fail(this.lastError || 'disconnected'));
    x.on('offline', () => fail(this.lastError || 'offline'));
    x.on('stanza', (s: XElement) => { if (this.x === x) void this.onStanza(s).catch((e: Error) => this.emit('warn', `incoming stanza: ${e.message}`)); });
    x.on('online', () => {
      void this.onOnline(x).catch((e: Error) => {
        this.lastError = e.message;
        void x.disconnect().catch(() => undefined);
        fail(e.message);
      });
    });
    try {
      await x.start();
    } catch (e) {
      fail((e as Error).message);
    }
  }

  private async onOnline(x: XmppClient): Promise<void> {
    // Prosody drops the stream when stanzas go out before SM is enabled.
    const deadline = Date.now() + 5000;
    while (!x.streamManagement.enabled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (this.x !== x) return;
    const xml = this.xml!;
    await x.send(xml('presence', null, xml('priority', null, '1')));
    await this.iq('set', undefined, xml('enable', { xmlns: 'urn:xmpp:carbons:2' })).catch(() => undefined);
    await this.publishDeviceList();
    await this.publishBundle(this.omemo.bundle());
    await this.discoverUpload().catch(() => { this.upload = null; });
    if (this.x !== x) return;
    this.backoff = 1000;
    this.online = true;
    this.setState('online');
    this.emit('online');
    this.outbox.retryNow();
  }

  private iq(type: 'get' | 'set', to: string | undefined, child: XElement, timeout = 15_000): Promise<XElement> {
    const x = this.x;
    if (!x) return Promise.reject(new Error('not connected'));
    return x.iqCaller.request(this.xml!('iq', { type, to }, child), timeout);
  }

  // ---- PEP: device list and bundle ----
  private publishOptions(): XElement {
    const xml = this.xml!;
    return xml('publish-options', null, xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
      xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', null, `${NS_PUBSUB}#publish-options`)),
      xml('field', { var: 'pubsub#access_model' }, xml('value', null, 'open'))));
  }

  private async publish(node: string, item: XElement): Promise<void> {
    const xml = this.xml!;
    const req = (): Promise<XElement> => this.iq('set', undefined, xml('pubsub', { xmlns: NS_PUBSUB },
      xml('publish', { node }, xml('item', { id: 'current' }, item)), this.publishOptions()));
    try {
      await req();
    } catch (e) {
      // An existing node with another access model: make it open, then publish again.
      if (!/precondition|conflict/.test(String((e as { condition?: string }).condition ?? (e as Error).message))) throw e;
      await this.iq('set', undefined, xml('pubsub', { xmlns: `${NS_PUBSUB}#owner` }, xml('configure', { node },
        xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
          xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', null, `${NS_PUBSUB}#node_config`)),
          xml('field', { var: 'pubsub#access_model' }, xml('value', null, 'open'))))));
      await req();
    }
  }

  /** Device ids published by jid (own JID included); [] when there is no list. */
  async deviceList(jid: string): Promise<number[]> {
    const xml = this.xml!;
    try {
      const res = await this.iq('get', jid === this.jid ? undefined : jid,
        xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NODE_DEVICELIST, max_items: 1 })));
      const list = res.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChild('item')?.getChild('list', NS_OMEMO);
      return (list?.getChildren('device') ?? []).map((d) => Number(d.attrs.id)).filter((n) => Number.isInteger(n) && n > 0);
    } catch (e) {
      if (/item-not-found/.test(String((e as { condition?: string }).condition ?? (e as Error).message))) return [];
      throw e;
    }
  }

  private async publishDeviceList(): Promise<void> {
    const xml = this.xml!;
    const ids = new Set(await this.deviceList(this.jid).catch(() => []));
    if (ids.has(this.omemo.deviceId)) return;
    ids.add(this.omemo.deviceId);
    await this.publish(NODE_DEVICELIST, xml('list', { xmlns: NS_OMEMO }, ...[...ids].map((id) => xml('device', { id }))));
  }

  private async publishBundle(b: Bundle): Promise<void> {
    if (!this.x) return; // published on the next connect
    const xml = this.xml!;
    await this.publish(nodeBundle(this.omemo.deviceId), xml('bundle', { xmlns: NS_OMEMO },
      xml('signedPreKeyPublic', { signedPreKeyId: b.signedPreKeyId }, b.signedPreKeyPublic),
      xml('signedPreKeySignature', null, b.signedPreKeySignature),
      xml('identityKey', null, b.identityKey),
      xml('prekeys', null, ...b.preKeys.map((k) => xml('preKeyPublic', { preKeyId: k.id }, k.pub)))));
    this.emit('bundle-published', b);
  }

  async fetchBundle(jid: string, device: number): Promise<Bundle> {
    const xml = this.xml!;
    const res = await this.iq('get', jid === this.jid ? undefined : jid,
      xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: nodeBundle(device), max_items: 1 })));
    const b = res.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChild('item')?.getChild('bundle', NS_OMEMO);
    if (!b) throw new Error(`no bundle for ${jid}/${device}`);
    const spk = b.getChild('signedPreKeyPublic');
    return {
      signedPreKeyId: Number(spk?.attrs.signedPreKeyId),
      signedPreKeyPublic: spk?.text() ?? '',
      signedPreKeySignature: b.getChildText('signedPreKeySignature') ?? '',
      identityKey: b.getChildText('identityKey') ?? '',
      preKeys: (b.getChild('prekeys')?.getChildren('preKeyPublic') ?? []).map((k) => ({ id: Number(k.attrs.preKeyId), pub: k.text() })),
    };
  }

  // ---- XEP-0363 upload service ----
  private async discoverUpload(): Promise<void> {
    const xml = this.xml!;
    const domain = this.jid.split('@')[1];
    const items = await this.iq('get', domain, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' }));
    const candidates = [domain, ...(items.getChild('query')?.getChildren('item') ?? []).map((i) => i.attrs.jid ?? '')].filter(Boolean);
    for (const c of candidates) {
      const info = await this.iq('get', c, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })).catch(() => undefined);
      const q = info?.getChild('query');
      if (!q?.getChildren('feature').some((f) => f.attrs.var === NS_UPLOAD)) continue;
      let maxSize = Infinity;
      for (const form of q.getChildren('x', 'jabber:x:data')) {
        const fields = form.getChildren('field');
        if (!fields.some((f) => f.attrs.var === 'FORM_TYPE' && f.getChildText('value') === NS_UPLOAD)) continue;
        const m = fields.find((f) => f.attrs.var === 'max-file-size')?.getChildText('value');
        if (m) maxSize = Number(m);
      }
      this.upload = { jid: c, maxSize };
      return;
    }
    this.upload = null;
  }

  /** Encrypts (XEP-0454), uploads (XEP-0363) and returns the aesgcm:// link. */
  async uploadEncrypted(data: Buffer, filename: string): Promise<string> {
    if (!this.upload) throw new Error('no upload service');
    const enc = encryptFile(data);
    if (enc.ciphertext.length > this.upload.maxSize) throw new Error(`file too large for the upload service (${enc.ciphertext.length} > ${this.upload.maxSize} bytes)`);
    const xml = this.xml!;
    const res = await this.iq('get', this.upload.jid, xml('request', {
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
    if (!r.ok) throw new UploadRefused(r.status);
    return aesgcmLink(get, enc.iv, enc.key);
  }

  // ---- sending ----
  private encryptedElement(m: EncryptedMessage): XElement {
    const xml = this.xml!;
    return xml('encrypted', { xmlns: NS_OMEMO },
      xml('header', { sid: m.sid },
        ...m.keys.map((k) => xml('key', k.prekey ? { rid: k.rid, prekey: 'true' } : { rid: k.rid }, k.data)),
        xml('iv', null, m.iv)),
      m.payload !== undefined ? xml('payload', null, m.payload) : undefined);
  }

  /** Sends a stanza and resolves once the server acknowledged it (XEP-0198). */
  private sendAcked(stanza: XElement, timeoutMs = 20_000): Promise<void> {
    const x = this.x;
    if (!x || !this.online) return Promise.reject(new Error('not connected'));
    const sm = x.streamManagement;
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(t);
        sm.off('ack', onAck); sm.off('fail', onFail); x.off('disconnect', onDisc);
        if (err) reject(err); else resolve();
      };
      const onAck = (s: XElement): void => { if (s === stanza || s.attrs.id === stanza.attrs.id) done(); };
      const onFail = (s: XElement): void => { if (s === stanza || s.attrs.id === stanza.attrs.id) done(new Error('stanza not acknowledged')); };
      const onDisc = (): void => done(new Error('disconnected before the server acknowledged'));
      const t = setTimeout(() => done(new Error('no acknowledgement from the server')), timeoutMs);
      sm.on('ack', onAck); sm.on('fail', onFail); x.on('disconnect', onDisc);
      if (!sm.enabled) { x.send(stanza).then(() => done(), (e: Error) => done(e)); return; }
      x.send(stanza).catch((e: Error) => done(e));
    });
  }

  /** Sends body OMEMO-encrypted to all devices of `to` and to our own other devices. */
  async sendEncrypted(to: string, body: string): Promise<{ skipped: { jid: string; device: number; reason: string }[] }> {
    if (!this.online) throw new Error('not connected');
    const jid = bare(to);
    const [theirs, ours] = await Promise.all([this.deviceList(jid), this.deviceList(this.jid).catch(() => [] as number[])]);
    // Retrying would block every later alert: these need the owner to act.
    if (!theirs.length) throw new PermanentSendError(`${jid} has no OMEMO devices`);
    // Another client of this account may have published a list without us.
    if (ours.length && !ours.includes(this.omemo.deviceId)) void this.publishDeviceList().catch(() => undefined);
    const targets = [{ jid, devices: theirs }];
    const own = ours.filter((d) => d !== this.omemo.deviceId);
    if (own.length && jid !== this.jid) targets.push({ jid: this.jid, devices: own });
    let rep;
    try {
      rep = await this.omemo.encrypt(Buffer.from(body, 'utf8'), targets, (j, d) => this.fetchBundle(j, d));
    } catch (e) {
      if (this.online && /no device to encrypt for/.test((e as Error).message)) throw new PermanentSendError((e as Error).message);
      throw e;
    }
    if (!rep.message.keys.some((k) => theirs.includes(k.rid))) {
      throw new PermanentSendError(`no trusted device of ${jid} (${rep.skipped.map((s) => `${s.device}: ${s.reason}`).join('; ')})`);
    }
    const xml = this.xml!;
    const msg = xml('message', { to: jid, type: 'chat', id: randomUUID() },
      this.encryptedElement(rep.message),
      xml('store', { xmlns: 'urn:xmpp:hints' }),
      xml('encryption', { xmlns: 'urn:xmpp:eme:0', namespace: NS_OMEMO, name: 'OMEMO' }),
      xml('body', null, FALLBACK_BODY));
    await this.sendAcked(msg);
    this.emit('sent', jid);
    return { skipped: rep.skipped };
  }

  /** Uploads data encrypted and sends its aesgcm:// link under OMEMO. */
  async sendFile(to: string, data: Buffer, filename: string): Promise<void> {
    const link = await this.uploadEncrypted(data, filename);
    await this.sendEncrypted(to, link);
  }

  // ---- receiving ----
  private allowed(jid: string): boolean {
    const all = [...this.cfg.allowed, ...this.cfg.admins].map(bare);
    return all.includes(jid);
  }
  private admin(jid: string): boolean {
    const admins = this.cfg.admins.map(bare);
    return admins.length ? admins.includes(jid) : this.allowed(jid);
  }

  private async reply(to: string, text: string): Promise<void> {
    try { await this.sendEncrypted(to, text); } catch (e) { this.emit('warn', `reply to ${to}: ${(e as Error).message}`); }
  }

  private refuse(ev: RefusedEvent, answer?: string): void {
    this.emit('refused', ev);
    if (answer) void this.reply(ev.from, answer);
  }

  private async onStanza(s: XElement): Promise<void> {
    if (!s.is('message')) return;
    if (s.attrs.type === 'error' || s.attrs.type === 'groupchat') return;
    let msg = s;
    const from = bare(s.attrs.from ?? '');
    // Carbons of our own other devices: ignore (commands come to us directly).
    if (s.getChild('received', 'urn:xmpp:carbons:2') || s.getChild('sent', 'urn:xmpp:carbons:2')) return;
    if (from === this.jid) return;
    const enc = msg.getChild('encrypted', NS_OMEMO);
    if (!enc) {
      const body = msg.getChildText('body');
      if (body === null) return;
      // Never obey plain text; tell allowed users why (encrypted).
      if (this.allowed(from) && body.trim().startsWith('!')) {
        this.refuse({ from, reason: 'unencrypted', text: body }, 'I only obey OMEMO-encrypted messages. Please enable OMEMO for this chat.');
      } else {
        this.emit('refused', { from, reason: 'unencrypted', text: body });
      }
      return;
    }
    const header = enc.getChild('header');
    const em: EncryptedMessage = {
      sid: Number(header?.attrs.sid),
      keys: (header?.getChildren('key') ?? []).map((k) => ({ rid: Number(k.attrs.rid), prekey: k.attrs.prekey === 'true' || k.attrs.prekey === '1', data: k.text() })),
      iv: header?.getChildText('iv') ?? '',
      payload: enc.getChildText('payload') ?? undefined,
    };
    if (!em.keys.some((k) => k.rid === this.omemo.deviceId)) {
      // The sender's client does not know this device yet (stale device list on its side).
      this.emit('refused', { from, device: em.sid, reason: 'not encrypted for this device' });
      return;
    }
    const res = await this.omemo.decrypt(from, em);
    this.emit('decrypted', res);
    if (res.plaintext === null) return; // key transport / session completion
    const text = res.plaintext.toString('utf8');
    this.emit('message', { from, device: res.device, trust: res.trust, text });
    if (!this.allowed(from)) {
      this.refuse({ from, device: res.device, reason: 'not allowed', text }, 'You are not allowed to command this alarm.');
      return;
    }
    const stamp = Date.parse(s.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp ?? '');
    if (stamp < this.startedAt) {
      // Offline storage replays what was sent while Mantis was not running: never obey it.
      this.emit('refused', { from, device: res.device, reason: `sent before start (${new Date(stamp).toISOString()})`, text });
      return;
    }
    if (res.trust !== 'trusted') {
      // Blind trust is enough to receive alerts, never to command the alarm: that takes a device
      // the owner verified in the editor. A distrusted device could not read the reply anyway.
      this.refuse({ from, device: res.device, reason: `device ${res.trust}`, text }, res.trust === 'distrusted' ? undefined :
        `Your device ${res.device} is not verified. Compare its fingerprint (${fingerprint(this.omemo.store.device(from, res.device)?.identityKey ?? '')}) in the Node-RED editor and mark it verified; then I will obey it.`);
      return;
    }
    if (this.exited) return;
    const cmd = parseCommand(text);
    if (cmd === null) return;
    if (isCommandError(cmd)) { await this.reply(from, cmd.error); return; }
    if (cmd.command === 'help') { await this.reply(from, HELP_TEXT); return; }
    if (isAdminCommand(cmd) && !this.admin(from)) {
      this.refuse({ from, device: res.device, reason: 'not admin', text }, `!${cmd.command} is for admins only.`);
      return;
    }
    if (cmd.command === 'exit') this.exited = true;
    const ev: CommandEvent = { command: cmd, from: { user: from, device: res.device, via: 'xmpp' }, to: from, text };
    this.emit('command', ev);
  }

  // ---- trust, for the editor ----
  devices(): DeviceInfo[] {
    const own: DeviceInfo = { jid: this.jid, device: this.omemo.deviceId, fingerprint: this.omemo.fingerprint, trust: 'trusted', own: true };
    return [own, ...this.omemo.store.devices().map((d) => ({ jid: d.jid, device: d.id, fingerprint: fingerprint(d.rec.identityKey), trust: d.rec.trust, own: false }))];
  }

  setTrust(jid: string, device: number, trust: 'trusted' | 'distrusted' | 'btbv'): boolean {
    return this.omemo.setTrust(bare(jid), device, trust);
  }
}
