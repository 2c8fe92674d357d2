// Incoming chat messages: OMEMO-decrypted (that also keeps the sessions in
// step), then handed to the shared command gate with the facts it needs
// (sender, encryption, device trust, when it was sent). The gate decides;
// this only reports, replies and passes commands on.
import type { CommandGate, DeviceCheck, IncomingText } from '../chat/gate';
import type { ChatCommand } from '../chat/commands';
import { NS_OMEMO, type Omemo, type EncryptedMessage, type DecryptResult } from './omemo';
import { bare } from './sender';
import { fingerprint, type TrustState } from './store';
import type { XElement } from './xmpp-lib';

export interface CommandEvent {
  command: ChatCommand;
  from: { user: string; device: number; via: 'xmpp' };
  /** Bare JID a reply should go to. */
  to: string;
  text: string;
}

export interface RefusedEvent { from: string; device?: number; reason: string; text?: string }

export interface InboxEvents {
  decrypted(res: DecryptResult): void;
  message(m: { from: string; device: number; trust: TrustState; text: string }): void;
  refused(r: RefusedEvent): void;
  command(c: CommandEvent): void;
}

const TRUST_WORDS: Record<TrustState, string> = {
  btbv: 'blindly trusted, not verified (btbv)',
  undecided: 'not verified (undecided: a new device after you verified another one)',
  distrusted: 'distrusted',
  trusted: 'verified',
};

export class Inbox {
  constructor(
    private readonly omemo: Omemo,
    private readonly ownJid: string,
    private readonly gate: CommandGate,
    private readonly reply: (to: string, text: string) => Promise<void>,
    private readonly on: InboxEvents,
  ) {}

  async onMessage(s: XElement): Promise<void> {
    if (s.attrs.type === 'error' || s.attrs.type === 'groupchat') return;
    // Carbons of our own other devices: ignore (commands come to us directly).
    if (s.getChild('received', 'urn:xmpp:carbons:2') || s.getChild('sent', 'urn:xmpp:carbons:2')) return;
    const from = bare(s.attrs.from ?? '');
    if (from === this.ownJid) return;
    // Offline storage (and a replay after a lost stream) stamps what it kept.
    const stamp = Date.parse(s.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp ?? '');
    const sentAt = Number.isNaN(stamp) ? undefined : stamp;
    const enc = s.getChild('encrypted', NS_OMEMO);
    if (!enc) {
      const body = s.getChildText('body');
      if (body !== null) await this.decide({ sender: from, text: body, encrypted: false, sentAt }, () => ({ ok: true }));
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
      this.on.refused({ from, device: em.sid, reason: `refused message from ${from}: not encrypted for this device` });
      return;
    }
    const res = await this.omemo.decrypt(from, em);
    this.on.decrypted(res);
    if (res.plaintext === null) return; // key transport / session completion
    const text = res.plaintext.toString('utf8');
    this.on.message({ from, device: res.device, trust: res.trust, text });
    await this.decide({ sender: from, text, encrypted: true, sentAt }, () => this.checkDevice(from, res.device, res.trust), res.device);
  }

  private checkDevice(jid: string, device: number, trust: TrustState): DeviceCheck {
    // Blind trust is enough to receive alerts, never to command the alarm: that takes a device
    // the owner verified in the editor. A distrusted device could not read the reply anyway.
    if (trust === 'trusted') return { ok: true };
    const fp = fingerprint(this.omemo.store.device(jid, device)?.identityKey ?? '');
    return {
      ok: false,
      why: `your device ${device} is ${TRUST_WORDS[trust]}`,
      advice: `Compare its fingerprint (${fp}) in the Node-RED editor (xmpp-account dialog) and mark it verified; then I will obey it.`,
      canReply: trust !== 'distrusted',
    };
  }

  private async decide(msg: IncomingText, check: () => DeviceCheck, device?: number): Promise<void> {
    const d = await this.gate.decide(msg, check);
    if (d.act !== 'command' && d.log) this.on.refused({ from: msg.sender, device, reason: d.log, text: msg.text });
    if (d.act === 'ignore') return;
    if (d.act === 'reply') { await this.reply(msg.sender, d.text); return; }
    if (d.reply) await this.reply(msg.sender, d.reply);
    this.on.command({ command: d.command, from: { user: msg.sender, device: device ?? 0, via: 'xmpp' }, to: msg.sender, text: msg.text });
  }
}
