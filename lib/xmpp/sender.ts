// One OMEMO message to one contact: encrypted for every trusted device of
// theirs and for the account's own other devices, sent, and acknowledged by
// the server. Answers that retrying will not change are PermanentSendError.
import { randomUUID } from 'node:crypto';
import { PermanentSendError } from '../chat/outbox';
import { NS_OMEMO, type Omemo, type EncryptedMessage } from './omemo';
import type { OmemoPep } from './pep';
import { errorCondition, isPermanentStanzaError } from './stanza-error';
import type { XmppStream } from './stream';
import type { XElement } from './xmpp-lib';

const FALLBACK_BODY = 'This message is OMEMO encrypted; your client does not support OMEMO.';

export function bare(jid: string): string { return jid.split('/')[0].toLowerCase(); }

export interface SendReport { skipped: { jid: string; device: number; reason: string }[] }

export class OmemoSender {
  constructor(
    private readonly stream: XmppStream,
    private readonly omemo: Omemo,
    private readonly pep: OmemoPep,
    private readonly ownJid: string,
    /** Called when our own device is missing from our published list. */
    private readonly republish: () => void,
  ) {}

  private encryptedElement(m: EncryptedMessage): XElement {
    const xml = this.stream.xml;
    return xml('encrypted', { xmlns: NS_OMEMO },
      xml('header', { sid: m.sid },
        ...m.keys.map((k) => xml('key', k.prekey ? { rid: k.rid, prekey: 'true' } : { rid: k.rid }, k.data)),
        xml('iv', null, m.iv)),
      m.payload !== undefined ? xml('payload', null, m.payload) : undefined);
  }

  /** The contact's devices; a server refusal that will not change is that contact's final result. */
  private async theirDevices(jid: string): Promise<number[]> {
    try {
      return await this.pep.deviceList(jid);
    } catch (e) {
      if (!isPermanentStanzaError(e)) throw e;
      const why = errorCondition(e);
      throw new PermanentSendError(/forbidden|not-authorized|subscription|presence/.test(why)
        ? `the server does not let the bot read the OMEMO devices of ${jid} (${why}): ${jid} must accept the bot's contact (presence subscription) request`
        : `cannot read the OMEMO devices of ${jid} (${why})`);
    }
  }

  async send(to: string, body: string): Promise<SendReport> {
    if (!this.stream.isOnline) throw new Error('not connected');
    const jid = bare(to);
    const [theirs, ours] = await Promise.all([this.theirDevices(jid), this.pep.deviceList(this.ownJid).catch(() => [] as number[])]);
    // Retrying would block every later alert: these need the owner to act.
    if (!theirs.length) throw new PermanentSendError(`${jid} has no OMEMO devices`);
    // Another client of this account may have published a list without us.
    if (ours.length && !ours.includes(this.omemo.deviceId)) this.republish();
    const targets = [{ jid, devices: theirs }];
    const own = ours.filter((d) => d !== this.omemo.deviceId);
    if (own.length && jid !== this.ownJid) targets.push({ jid: this.ownJid, devices: own });
    let rep;
    try {
      rep = await this.omemo.encrypt(Buffer.from(body, 'utf8'), targets, (j, d) => this.pep.fetchBundle(j, d));
    } catch (e) {
      if (this.stream.isOnline && /no device to encrypt for/.test((e as Error).message)) throw new PermanentSendError((e as Error).message);
      throw e;
    }
    if (!rep.message.keys.some((k) => theirs.includes(k.rid))) {
      throw new PermanentSendError(`no trusted device of ${jid} (${rep.skipped.map((s) => `${s.device}: ${s.reason}`).join('; ')})`);
    }
    const xml = this.stream.xml;
    const msg = xml('message', { to: jid, type: 'chat', id: randomUUID() },
      this.encryptedElement(rep.message),
      xml('store', { xmlns: 'urn:xmpp:hints' }),
      xml('encryption', { xmlns: 'urn:xmpp:eme:0', namespace: NS_OMEMO, name: 'OMEMO' }),
      xml('body', null, FALLBACK_BODY));
    await this.stream.sendAcked(msg);
    return { skipped: rep.skipped };
  }
}
