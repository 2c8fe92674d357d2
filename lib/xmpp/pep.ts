// OMEMO over PEP: publishing our device list and bundle (open access, so
// that contacts can start a session without a presence subscription) and
// reading other accounts' lists and bundles.
import { NS_OMEMO, NODE_DEVICELIST, nodeBundle, type Bundle } from './omemo';
import { errorCondition } from './stanza-error';
import type { XmppStream } from './stream';
import type { XElement } from './xmpp-lib';

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';

export class OmemoPep {
  constructor(private readonly stream: XmppStream, private readonly ownJid: string) {}

  private accessOpen(formType: string): XElement {
    const xml = this.stream.xml;
    return xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
      xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', null, `${NS_PUBSUB}#${formType}`)),
      xml('field', { var: 'pubsub#access_model' }, xml('value', null, 'open')));
  }

  private async publish(node: string, item: XElement): Promise<void> {
    const xml = this.stream.xml;
    const req = (): Promise<XElement> => this.stream.iq('set', undefined, xml('pubsub', { xmlns: NS_PUBSUB },
      xml('publish', { node }, xml('item', { id: 'current' }, item)), xml('publish-options', null, this.accessOpen('publish-options'))));
    try {
      await req();
    } catch (e) {
      // An existing node with another access model: make it open, then publish again.
      if (!/precondition|conflict/.test(errorCondition(e))) throw e;
      await this.stream.iq('set', undefined, xml('pubsub', { xmlns: `${NS_PUBSUB}#owner` }, xml('configure', { node }, this.accessOpen('node_config'))));
      await req();
    }
  }

  private items(jid: string, node: string): Promise<XElement | undefined> {
    const xml = this.stream.xml;
    return this.stream.iq('get', jid === this.ownJid ? undefined : jid,
      xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node, max_items: 1 })))
      .then((res) => res.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChild('item'));
  }

  /** Device ids published by jid (own JID included); [] when there is no list. Other answers are thrown. */
  async deviceList(jid: string): Promise<number[]> {
    try {
      const list = (await this.items(jid, NODE_DEVICELIST))?.getChild('list', NS_OMEMO);
      return (list?.getChildren('device') ?? []).map((d) => Number(d.attrs.id)).filter((n) => Number.isInteger(n) && n > 0);
    } catch (e) {
      if (/item-not-found/.test(errorCondition(e))) return [];
      throw e;
    }
  }

  /** Adds deviceId to our published list unless it is there already. */
  async publishDeviceList(deviceId: number): Promise<void> {
    const xml = this.stream.xml;
    const ids = new Set(await this.deviceList(this.ownJid).catch(() => []));
    if (ids.has(deviceId)) return;
    ids.add(deviceId);
    await this.publish(NODE_DEVICELIST, xml('list', { xmlns: NS_OMEMO }, ...[...ids].map((id) => xml('device', { id }))));
  }

  async publishBundle(deviceId: number, b: Bundle): Promise<void> {
    const xml = this.stream.xml;
    await this.publish(nodeBundle(deviceId), xml('bundle', { xmlns: NS_OMEMO },
      xml('signedPreKeyPublic', { signedPreKeyId: b.signedPreKeyId }, b.signedPreKeyPublic),
      xml('signedPreKeySignature', null, b.signedPreKeySignature),
      xml('identityKey', null, b.identityKey),
      xml('prekeys', null, ...b.preKeys.map((k) => xml('preKeyPublic', { preKeyId: k.id }, k.pub)))));
  }

  async fetchBundle(jid: string, device: number): Promise<Bundle> {
    const b = (await this.items(jid, nodeBundle(device)))?.getChild('bundle', NS_OMEMO);
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
}
