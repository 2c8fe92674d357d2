// Sends text, snapshots and clips OMEMO-encrypted to XMPP contacts through the
// account's durable outbox (status: sent, queued n, no upload service).
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { XmppAccountNode, XmppStatus, XmppOutMsg } from '../../lib/xmpp/node-types';
import { toOutItem } from '../../lib/xmpp/node-types';
import { join } from 'node:path';
import { catalogText } from '../../lib/common/catalog';

interface OutDef extends NodeDef { account: string; to: string }

const JID_RE = /^[^@/\s]+@[^@/\s]+$/;

export = function (RED: NodeAPI): void {
  // Status texts in the runtime's language (locales/<lang>/xmpp-omemo-out.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'xmpp-omemo-out.json'));
  function XmppOmemoOut(this: Node, def: OutDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const accNode = RED.nodes.getNode(def.account) as XmppAccountNode | null;
    const configured = (def.to ?? '').split(/[\s,;]+/).map((j) => j.trim()).filter((j) => JID_RE.test(j));
    if (!accNode) {
      node.status({ fill: 'yellow', shape: 'ring', text: _('xmpp-omemo-out.status.chooseAccount') });
      node.error('xmpp-omemo-out: no xmpp-account configured');
      return;
    }
    let last: XmppStatus | undefined;
    let problem = '';
    let sentOnce = false;
    const show = (s: XmppStatus): void => {
      last = s;
      if (problem) node.status({ fill: 'yellow', shape: 'ring', text: problem });
      else if (s.fill === 'green') node.status({ fill: 'green', shape: 'dot', text: sentOnce ? _('xmpp-omemo-out.status.sent') : _('xmpp-omemo-out.status.ready') });
      else node.status(s);
    };
    const unsubscribe = accNode.subscribe({ status: show });
    const acc = accNode.account;
    const onSent = (): void => { sentOnce = true; if (last) show(last); };
    const onMedia = (p: string): void => { problem = p; if (p) node.warn(p); if (last) show(last); };
    const onDropped = (to: string, why: string): void => { problem = _('xmpp-omemo-out.status.notSent', { why }).slice(0, 50); if (last) show(last); void to; };
    acc?.on('sent', onSent);
    acc?.on('media-problem', onMedia);
    acc?.on('dropped', onDropped);

    node.on('input', (msg: XmppOutMsg, _send, done) => {
      if (!acc) {
        // An account left empty (as in the default flow) means XMPP is not wanted: drop quietly.
        if (accNode.configured) done(new Error('xmpp account not started (check its configuration)')); else done();
        return;
      }
      const to = typeof msg.to === 'string' && msg.to ? [msg.to] : Array.isArray(msg.to) ? msg.to.filter((j): j is string => typeof j === 'string') : configured;
      const bad = to.filter((j) => !JID_RE.test(j.split('/')[0]));
      if (!to.length || bad.length) {
        node.status({ fill: 'red', shape: 'ring', text: _('xmpp-omemo-out.status.noRecipient') });
        done(new Error(bad.length ? `bad JID ${bad.join(', ')}` : 'no recipient: configure JIDs or set msg.to'));
        return;
      }
      const item = toOutItem(msg);
      if (typeof item === 'string') { node.status({ fill: 'red', shape: 'ring', text: _('xmpp-omemo-out.status.badInput') }); done(new Error(item)); return; }
      if (item.kind === 'file') problem = '';
      acc.queue(to, item).then(() => { if (last) show(last); done(); }, (e: Error) => {
        node.status({ fill: 'red', shape: 'ring', text: e.message.slice(0, 40) });
        done(e);
      });
    });
    node.on('close', () => {
      unsubscribe();
      acc?.off('sent', onSent);
      acc?.off('media-problem', onMedia);
      acc?.off('dropped', onDropped);
    });
  }
  RED.nodes.registerType('xmpp-omemo-out', XmppOmemoOut);
};
