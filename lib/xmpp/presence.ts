// Presence subscriptions (RFC 6121) with the allowed JIDs. Prosody's default
// access model for PEP is "presence", and clients such as Profanity publish
// their OMEMO device list that way: the bot can read it only while it is
// subscribed to that contact's presence. So the bot asks every allowed JID
// for a mutual subscription, accepts theirs, and turns down everybody else.
import { bare } from './sender';
import type { Lifetime } from '../common/lifetime';
import type { XmppStream } from './stream';
import type { XElement } from './xmpp-lib';

const NS_ROSTER = 'jabber:iq:roster';

export class PresenceSubscriptions {
  /** Contacts whose presence the bot is subscribed to (or has asked for). */
  private asked = new Set<string>();

  constructor(
    private readonly stream: XmppStream,
    private readonly contacts: () => readonly string[],
    private readonly isAllowed: (jid: string) => boolean,
    private readonly refused: (jid: string) => void,
  ) {}

  /** At login: asks every allowed JID the bot is not subscribed to yet. */
  async login(conn: Lifetime): Promise<void> {
    const xml = this.stream.xml;
    const res = await conn.step(this.stream.iq('get', undefined, xml('query', { xmlns: NS_ROSTER })));
    this.asked = new Set((res.getChild('query', NS_ROSTER)?.getChildren('item') ?? [])
      .filter((i) => i.attrs.subscription === 'to' || i.attrs.subscription === 'both' || i.attrs.ask === 'subscribe')
      .map((i) => bare(i.attrs.jid ?? '')));
    for (const jid of this.contacts().map(bare)) {
      if (!this.asked.has(jid)) await conn.step(this.ask(jid));
    }
  }

  private ask(jid: string): Promise<void> {
    this.asked.add(jid);
    return this.stream.send(this.stream.xml('presence', { to: jid, type: 'subscribe' }));
  }

  /** Answers a contact's subscription request: yes (and asks back) for allowed JIDs, no for the others. */
  async onPresence(s: XElement): Promise<void> {
    if (s.attrs.type !== 'subscribe') return;
    const from = bare(s.attrs.from ?? '');
    const xml = this.stream.xml;
    if (!this.isAllowed(from)) {
      await this.stream.send(xml('presence', { to: from, type: 'unsubscribed' }));
      this.refused(from);
      return;
    }
    await this.stream.send(xml('presence', { to: from, type: 'subscribed' }));
    if (!this.asked.has(from)) await this.ask(from);
  }
}
