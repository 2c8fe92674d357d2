// The XMPP stream of one account: login (with the TLS policy), stream
// management (XEP-0198) and reconnect with back-off. Each attempt is a fresh
// @xmpp/client; whatever a dropped client still reports is ignored.
import { EventEmitter } from 'node:events';
import { Backoff } from '../common/backoff';
import { loadXmpp, type XElement, type XmlFactory, type XmppClient } from './xmpp-lib';
import { Lifetime, isStopped } from '../common/lifetime';

export interface StreamConfig {
  jid: string; // bare JID user@domain
  password: string;
  host?: string; // default: the JID's domain
  port?: number; // default 5222
  resource?: string;
  /** Log in without TLS to a server that is not on loopback (trusted LAN only). */
  allowInsecure?: boolean;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
}

export type ConnState = 'connecting' | 'online' | 'offline' | 'stopped';

/** Login steps run on every new connection before it counts as online; they end with the connection. */
export type OnConnected = (conn: Lifetime) => Promise<void>;

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

/**
 * @xmpp/stream-management 0.14 counts inbound stanzas in a middleware that
 * runs after the IQ caller, which swallows every IQ result: those are never
 * counted, so the server takes the stanzas after them as unhandled and puts
 * its messages back into offline storage at the next stop or reconnect.
 * Counted here on the stream itself; the library's own writes only reset it.
 */
function countEveryInboundStanza(x: XmppClient): void {
  const sm = x.streamManagement;
  let handled = 0;
  Object.defineProperty(sm, 'inbound', {
    configurable: true,
    enumerable: true,
    get: () => handled,
    set: (v: number) => { if (v === 0) handled = 0; },
  });
  x.on('element', (el: XElement) => {
    if (sm.enabled && (el.name === 'message' || el.name === 'presence' || el.name === 'iq')) handled++;
  });
}

/** Events: 'state' (ConnState, error), 'online', 'stanza' (XElement). */
export class XmppStream extends EventEmitter {
  state: ConnState = 'offline';
  lastError = '';
  private x?: XmppClient;
  private xmlFactory?: XmlFactory;
  /** One per start(): ends at stop(). */
  private life?: Lifetime;
  /** One per connection: ends when it drops or is torn down. */
  private conn?: Lifetime;
  private online = false;
  private retryTimer?: NodeJS.Timeout;
  private readonly backoff: Backoff;

  constructor(readonly cfg: StreamConfig, private readonly onConnected: OnConnected) {
    super();
    this.backoff = new Backoff(1000, cfg.maxBackoffMs ?? 60_000);
  }

  get isOnline(): boolean { return this.online; }
  get xml(): XmlFactory {
    if (!this.xmlFactory) throw new Error('not connected');
    return this.xmlFactory;
  }

  start(): void {
    const life = this.life = new Lifetime();
    this.connect(life);
  }

  async stop(): Promise<void> {
    this.life?.end();
    clearTimeout(this.retryTimer);
    await this.teardown();
    this.setState('stopped');
  }

  private setState(s: ConnState, err = ''): void {
    this.state = s;
    if (err) this.lastError = err;
    this.emit('state', s, err);
  }

  private connect(life: Lifetime): void {
    void this.attempt(life).catch((e: Error) => {
      if (isStopped(e)) return;
      this.scheduleReconnect(life, e.message);
    });
  }

  private scheduleReconnect(life: Lifetime, err: string): void {
    if (life.stopped) return;
    this.online = false;
    this.setState('offline', err);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(life), this.backoff.next());
  }

  private async teardown(): Promise<void> {
    const x = this.x;
    this.x = undefined;
    this.conn?.end();
    this.online = false;
    if (!x) return;
    // Our listeners ignore an ended connection; the library's own must stay so that its timers are cleared.
    x.on('error', () => { /* late socket errors of a dropped stream */ });
    let t: NodeJS.Timeout | undefined;
    try {
      await Promise.race([x.stop(), new Promise((r) => { t = setTimeout(r, 2000); })]);
    } catch { /* already gone */ } finally {
      clearTimeout(t);
    }
  }

  private async attempt(life: Lifetime): Promise<void> {
    await life.step(this.teardown());
    this.setState('connecting');
    const { client, xml } = await life.step(loadXmpp());
    this.xmlFactory = xml;
    const [local, domain] = this.cfg.jid.split('@');
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
    const conn = new Lifetime();
    this.x = x;
    this.conn = conn;
    // Our own reconnect: a fresh client each time, with exponential back-off.
    x.reconnect.stop();
    x.streamManagement.requestAckInterval = 15_000;
    x.streamManagement.timeout = 20_000;
    x.streamManagement.requestAckDebounce = 50; // the outbox waits for the ack of each alert
    countEveryInboundStanza(x);
    // Answer roster pushes (RFC 6121 2.1.6); the server tells us, we keep nothing.
    x.iqCallee.set('jabber:iq:roster', 'query', () => ({}));
    const fail = (why: string): void => {
      if (conn.stopped) return;
      conn.end();
      this.scheduleReconnect(life, why);
    };
    x.on('error', (e: Error) => { if (!conn.stopped) this.lastError = e.message; });
    x.on('disconnect', () => fail(this.lastError || 'disconnected'));
    x.on('offline', () => fail(this.lastError || 'offline'));
    x.on('stanza', (s: XElement) => { if (!conn.stopped) this.emit('stanza', s); });
    x.on('online', () => {
      void this.whenOnline(x, conn).catch((e: Error) => {
        if (isStopped(e)) return;
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

  private async whenOnline(x: XmppClient, conn: Lifetime): Promise<void> {
    // Prosody drops the stream when stanzas go out before SM is enabled.
    const deadline = Date.now() + 5000;
    while (!x.streamManagement.enabled && Date.now() < deadline) await conn.step(sleep(20));
    await conn.step(this.onConnected(conn));
    this.backoff.reset();
    this.online = true;
    this.setState('online');
    this.emit('online');
  }

  /** Sends a stanza without waiting for the server's acknowledgement. */
  send(el: XElement): Promise<void> {
    const x = this.x;
    if (!x) return Promise.reject(new Error('not connected'));
    return x.send(el);
  }

  iq(type: 'get' | 'set', to: string | undefined, child: XElement, timeout = 15_000): Promise<XElement> {
    const x = this.x;
    if (!x) return Promise.reject(new Error('not connected'));
    return x.iqCaller.request(this.xml('iq', { type, to }, child), timeout);
  }

  /** Sends a stanza and resolves once the server acknowledged it (XEP-0198). */
  sendAcked(stanza: XElement, timeoutMs = 20_000): Promise<void> {
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
}
