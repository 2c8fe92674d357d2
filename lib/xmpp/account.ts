// One XMPP account: puts together the stream, OMEMO and its publishing, the
// presence subscriptions, the durable outbox of alerts and the inbox of
// commands, and owns their lifetime. Each job lives in its own file.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Outbox } from '../chat/outbox';
import { CommandGate } from '../chat/gate';
import { Omemo, type Bundle } from './omemo';
import { fingerprint, type TrustState } from './store';
import { XmppStream, type StreamConfig, type ConnState } from './stream';
import { OmemoPep } from './pep';
import { UploadService } from './upload';
import { OmemoSender, bare } from './sender';
import { PresenceSubscriptions } from './presence';
import { Inbox, type CommandEvent, type RefusedEvent } from './inbox';
import { AlertDelivery, recipients, type OutContent, type OutItem } from './delivery';
import { Lifetime, isStopped } from '../common/lifetime';
import type { XElement } from './xmpp-lib';

export type { ConnState } from './stream';
export type { CommandEvent, RefusedEvent } from './inbox';
export type { OutContent, OutItem } from './delivery';

export interface XmppAccountConfig extends StreamConfig {
  /** JIDs whose commands are obeyed (admins are always allowed). */
  allowed: string[];
  /** JIDs allowed to use admin commands (none listed: nobody). */
  admins: string[];
  storeDir: string;
}

export interface DeviceInfo { jid: string; device: number; fingerprint: string; trust: TrustState; own: boolean }

/**
 * Events: 'state' (ConnState, error), 'online', 'queue' (length), 'sent' (jid),
 * 'dropped' (jid, why), 'media-problem' (text, '' when solved), 'refused' (RefusedEvent),
 * 'command' (CommandEvent), 'message', 'decrypted', 'bundle-published', 'warn' (text).
 */
export class XmppAccount extends EventEmitter {
  readonly omemo: Omemo;
  readonly outbox: Outbox<OutItem>;
  private readonly stream: XmppStream;
  private readonly pep: OmemoPep;
  private readonly uploads: UploadService;
  private readonly sender: OmemoSender;
  private readonly subscriptions: PresenceSubscriptions;
  private readonly gate: CommandGate;
  private readonly inbox: Inbox;
  private readonly delivery: AlertDelivery;
  /** One per start(): stop() ends it, and nothing a start path awaited may acquire anything after. */
  private life?: Lifetime;
  private starting?: Promise<void>;

  constructor(readonly cfg: XmppAccountConfig) {
    super();
    const jid = this.jid;
    this.omemo = new Omemo(cfg.storeDir);
    this.stream = new XmppStream({ ...cfg, jid }, (conn) => this.loggedIn(conn));
    this.pep = new OmemoPep(this.stream, jid);
    this.uploads = new UploadService(this.stream, jid.split('@')[1]);
    this.sender = new OmemoSender(this.stream, this.omemo, this.pep, jid,
      () => { void this.pep.publishDeviceList(this.omemo.deviceId).catch((e: Error) => this.warn(`device list: ${e.message}`)); });
    this.gate = new CommandGate({ allowed: cfg.allowed, admins: cfg.admins, normalize: bare });
    this.subscriptions = new PresenceSubscriptions(this.stream, () => [...cfg.admins, ...cfg.allowed],
      (j) => this.gate.isAllowed(j),
      (from) => this.emit('refused', { from, reason: `turned down the contact request of ${from}: not an allowed JID` } satisfies RefusedEvent));
    this.inbox = new Inbox(this.omemo, jid, this.gate, (to, text) => this.reply(to, text), {
      decrypted: (r) => this.emit('decrypted', r),
      message: (m) => this.emit('message', m),
      refused: (r) => this.emit('refused', r),
      command: (c: CommandEvent) => this.emit('command', c),
    });
    this.delivery = new AlertDelivery(this.sender, this.uploads, join(cfg.storeDir, 'outbox-progress'), {
      sent: (to) => this.emit('sent', to),
      dropped: (to, why) => this.emit('dropped', to, why),
      mediaProblem: (p) => this.emit('media-problem', p),
    });
    this.outbox = new Outbox<OutItem>(join(cfg.storeDir, 'outbox'), (item) => this.deliver(item), { minDelayMs: 500, maxDelayMs: 30_000 });
    this.stream.on('state', (s: ConnState, err: string) => this.emit('state', s, err));
    this.stream.on('online', () => { this.emit('online'); this.outbox.retryNow(); });
    this.stream.on('stanza', (s: XElement) => { void this.onStanza(s).catch((e: Error) => this.warn(`incoming stanza: ${e.message}`)); });
  }

  get jid(): string { return bare(this.cfg.jid); }
  get state(): ConnState { return this.stream.state; }
  get lastError(): string { return this.stream.lastError; }
  get isOnline(): boolean { return this.stream.isOnline; }
  /** The upload service: undefined until asked, null when the server has none. */
  get upload(): UploadService['service'] { return this.uploads.service; }
  get queueLength(): number { return this.outbox.length; }

  private warn(text: string): void { this.emit('warn', text); }

  /** Queues one alert for all recipients, durably, in order. */
  async queue(to: string[], item: OutContent): Promise<void> {
    await this.outbox.enqueue({ ...item, id: randomUUID(), to: to.map(bare) });
  }

  private async deliver(item: OutItem): Promise<void> {
    if (!this.stream.isOnline) throw new Error('not connected');
    await this.delivery.deliver(item);
  }

  /** Loads or creates the OMEMO identity, then starts the outbox and the stream. Resolves quietly when stopped meanwhile. */
  start(): Promise<void> {
    const life = this.life = new Lifetime();
    this.starting = this.begin(life).catch((e: Error) => { if (!isStopped(e)) throw e; });
    return this.starting;
  }

  private async begin(life: Lifetime): Promise<void> {
    this.gate.start();
    await life.step(this.omemo.init(life.signal));
    // Nothing below awaits: the unit acquires its listeners, the outbox and the stream in one go.
    this.omemo.ownJid = this.jid;
    this.omemo.on('bundle', this.onBundle);
    this.outbox.on('change', this.onQueue);
    this.outbox.on('dropped', this.onDropped);
    this.outbox.on('bad', this.onBad);
    this.outbox.on('fault', this.onFault);
    this.outbox.on('retry', this.onRetry);
    this.outbox.on('sent', this.onSentOrDropped);
    this.outbox.start();
    this.stream.start();
  }

  async stop(): Promise<void> {
    this.life?.end();
    await this.starting; // an aborted key generation writes nothing; wait until it let go
    const outboxStopped = this.outbox.stop();
    // The stream first: a send in flight then fails at once instead of waiting for an ack.
    await this.stream.stop();
    await outboxStopped;
    this.outbox.off('change', this.onQueue).off('dropped', this.onDropped).off('bad', this.onBad).off('fault', this.onFault).off('retry', this.onRetry).off('sent', this.onSentOrDropped);
    this.omemo.off('bundle', this.onBundle);
  }

  private readonly onQueue = (n: number): void => { this.emit('queue', n); };
  private readonly onDropped = (item: OutItem, e: Error): void => {
    this.lastRetry = '';
    for (const to of recipients(item)) this.emit('dropped', to, e.message);
  };
  private readonly onBad = (path: string, e: Error): void => { this.warn(`an unreadable queued alert was moved to ${path}: ${e.message}`); };
  private readonly onFault = (e: Error): void => { this.warn(`outbox: ${e.message}`); };
  /** A waiting alert is logged once per reason, not at every retry (offline shows in the status). */
  private lastRetry = '';
  private readonly onRetry = (e: Error): void => {
    if (e.message === this.lastRetry || !this.stream.isOnline) return;
    this.lastRetry = e.message;
    this.warn(`an alert waits (${e.message}); retrying`);
  };
  private readonly onSentOrDropped = (): void => { this.lastRetry = ''; };
  private readonly onBundle = (b: Bundle): void => {
    if (!this.stream.isOnline) return; // published at the next login
    void this.publishBundle(b).catch((e: Error) => this.warn(`bundle publish: ${e.message}`));
  };

  private async publishBundle(b: Bundle): Promise<void> {
    await this.pep.publishBundle(this.omemo.deviceId, b);
    this.emit('bundle-published', b);
  }

  /** The login steps of every new connection, before it counts as online. */
  private async loggedIn(conn: Lifetime): Promise<void> {
    const xml = this.stream.xml;
    await conn.step(this.stream.send(xml('presence', null, xml('priority', null, '1'))));
    await conn.step(this.stream.iq('set', undefined, xml('enable', { xmlns: 'urn:xmpp:carbons:2' })).catch(() => undefined));
    await conn.step(this.pep.publishDeviceList(this.omemo.deviceId));
    await conn.step(this.publishBundle(this.omemo.bundle()));
    await conn.step(this.subscriptions.login(conn).catch((e: Error) => this.warn(`contact requests: ${e.message}`)));
    await conn.step(this.uploads.discover().catch(() => { this.uploads.service = null; }));
  }

  private async onStanza(s: XElement): Promise<void> {
    if (s.is('presence')) await this.subscriptions.onPresence(s);
    else if (s.is('message')) await this.inbox.onMessage(s);
  }

  private async reply(to: string, text: string): Promise<void> {
    try { await this.sender.send(to, text); } catch (e) { this.warn(`reply to ${to}: ${(e as Error).message}`); }
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
