// Emits chat commands that arrived OMEMO-encrypted from allowed JIDs on trusted devices.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { XmppAccountNode } from '../../lib/xmpp/node-types';
import type { CommandEvent } from '../../lib/xmpp/account';
import { join } from 'node:path';
import { catalogText } from '../../lib/common/catalog';

interface InDef extends NodeDef { account: string }

export = function (RED: NodeAPI): void {
  // Status texts in the runtime's language (locales/<lang>/xmpp-omemo-in.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'xmpp-omemo-in.json'));
  function XmppOmemoIn(this: Node, def: InDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const accNode = RED.nodes.getNode(def.account) as XmppAccountNode | null;
    if (!accNode) {
      node.status({ fill: 'yellow', shape: 'ring', text: _('xmpp-omemo-in.status.chooseAccount') });
      node.error('xmpp-omemo-in: no xmpp-account configured');
      return;
    }
    let lastCommand = '';
    const unsubscribe = accNode.subscribe({
      status: (s) => node.status(s.fill === 'green' ? { fill: 'green', shape: 'dot', text: lastCommand ? _('xmpp-omemo-in.status.last', { command: lastCommand }) : _('xmpp-omemo-in.status.listening') } : s),
      command: (c: CommandEvent) => {
        lastCommand = c.command.command;
        node.status({ fill: 'green', shape: 'dot', text: _('xmpp-omemo-in.status.lastFrom', { command: lastCommand, user: c.from.user }) });
        node.send({ topic: 'command', payload: c.command, from: c.from, to: c.to, text: c.text } as never);
      },
    });
    node.on('close', () => unsubscribe());
  }
  RED.nodes.registerType('xmpp-omemo-in', XmppOmemoIn);
};
