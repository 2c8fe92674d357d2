// Emits chat commands that arrived OMEMO-encrypted from allowed JIDs on trusted devices.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { XmppAccountNode } from '../../lib/xmpp/node-types';
import type { CommandEvent } from '../../lib/xmpp/account';

interface InDef extends NodeDef { account: string }

export = function (RED: NodeAPI): void {
  function XmppOmemoIn(this: Node, def: InDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const accNode = RED.nodes.getNode(def.account) as XmppAccountNode | null;
    if (!accNode) {
      node.status({ fill: 'yellow', shape: 'ring', text: 'not configured: choose an account' });
      node.error('xmpp-omemo-in: no xmpp-account configured');
      return;
    }
    let lastCommand = '';
    const unsubscribe = accNode.subscribe({
      status: (s) => node.status(s.fill === 'green' ? { fill: 'green', shape: 'dot', text: lastCommand ? `last: !${lastCommand}` : 'listening' } : s),
      command: (c: CommandEvent) => {
        lastCommand = c.command.command;
        node.status({ fill: 'green', shape: 'dot', text: `last: !${lastCommand} from ${c.from.user}` });
        node.send({ topic: 'command', payload: c.command, from: c.from, to: c.to, text: c.text } as never);
      },
    });
    node.on('close', () => unsubscribe());
  }
  RED.nodes.registerType('xmpp-omemo-in', XmppOmemoIn);
};
