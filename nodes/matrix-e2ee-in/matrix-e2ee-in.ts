// Emits chat commands from allowed users on verified devices (decrypted by the account).
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { MatrixAccountNode } from '../../lib/matrix/node-types';
import type { CommandMessage } from '../../lib/matrix/types';
import { join } from 'node:path';
import { catalogText } from '../../lib/common/catalog';

interface InDef extends NodeDef { account: string }

export = function (RED: NodeAPI): void {
  // Status texts in the runtime's language (locales/<lang>/matrix-e2ee-in.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'matrix-e2ee-in.json'));
  function MatrixE2eeIn(this: Node, def: InDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const account = RED.nodes.getNode(def.account) as MatrixAccountNode | null;
    if (!account) {
      node.status({ fill: 'yellow', shape: 'ring', text: _('matrix-e2ee-in.status.chooseAccount') });
      node.error('matrix-e2ee-in: no matrix-account configured');
      return;
    }
    let lastCommand = '';
    const unsubscribe = account.subscribe({
      status: (s) => node.status(s.fill === 'green' ? { fill: 'green', shape: 'dot', text: lastCommand ? _('matrix-e2ee-in.status.last', { command: lastCommand }) : _('matrix-e2ee-in.status.listening') } : s),
      command: (c: CommandMessage) => {
        lastCommand = c.command.command;
        node.status({ fill: 'green', shape: 'dot', text: _('matrix-e2ee-in.status.lastFrom', { command: lastCommand, user: c.from.user }) });
        node.send({ topic: 'command', payload: c.command, from: c.from, roomId: c.roomId, text: c.text } as never);
      },
    });
    node.on('close', () => unsubscribe());
  }
  RED.nodes.registerType('matrix-e2ee-in', MatrixE2eeIn);
};
