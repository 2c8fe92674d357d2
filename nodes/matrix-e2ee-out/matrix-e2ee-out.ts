// Sends text, images and clips end-to-end encrypted to Matrix rooms, through
// the account's durable outbox (status shows the queue).
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { MatrixAccountNode, AccountStatus } from '../../lib/matrix/node-types';
import { NotEncryptedError } from '../../lib/matrix/types';
import { toOutgoing, type OutMsg } from '../../lib/matrix/outgoing';
import { join } from 'node:path';
import { catalogText } from '../../lib/common/catalog';

interface OutDef extends NodeDef { account: string; rooms: string }

export = function (RED: NodeAPI): void {
  // Status texts in the runtime's language (locales/<lang>/matrix-e2ee-out.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'matrix-e2ee-out.json'));
  function MatrixE2eeOut(this: Node, def: OutDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const account = RED.nodes.getNode(def.account) as MatrixAccountNode | null;
    const configured = (def.rooms ?? '').split(/[\s,;]+/).filter((r) => r.startsWith('!'));
    if (!account) {
      node.status({ fill: 'yellow', shape: 'ring', text: _('matrix-e2ee-out.status.chooseAccount') });
      node.error('matrix-e2ee-out: no matrix-account configured');
      return;
    }
    let last: AccountStatus | undefined;
    let refused = '';
    const show = (s: AccountStatus): void => {
      last = s;
      if (refused) { node.status({ fill: 'red', shape: 'ring', text: refused }); return; }
      if (s.fill === 'green') node.status({ fill: 'green', shape: 'dot', text: _('matrix-e2ee-out.status.sent') });
      else node.status(s);
    };
    const unsubscribe = account.subscribe({ status: show });
    const onDropped = (roomId: string, reason: string): void => {
      if (/not encrypted/.test(reason)) refused = _('matrix-e2ee-out.status.notEncrypted');
      else refused = reason.slice(0, 40);
      node.error(`not sent to ${roomId}: ${reason}`);
      if (last) show(last);
    };
    account.bot?.on('dropped', onDropped);

    node.on('input', (msg: OutMsg, send, done) => {
      const bot = account.bot;
      if (!bot) {
        // An account left empty (as in the default flow) means Matrix is not wanted: drop quietly.
        if (account.configured) done(new Error('matrix account not started')); else done();
        return;
      }
      // No room named anywhere: the room the bot made for its owner (matrix-account's Owner).
      const rooms = typeof msg.roomId === 'string' && msg.roomId ? [msg.roomId]
        : configured.length ? configured : bot.ownerRoom ? [bot.ownerRoom] : [];
      if (!rooms.length) {
        node.status({ fill: 'red', shape: 'ring', text: _('matrix-e2ee-out.status.noRoom') });
        done(new Error('no room: set the Owner on the matrix-account node, configure rooms or set msg.roomId'));
        return;
      }
      const item = toOutgoing(msg);
      if (typeof item === 'string') { node.status({ fill: 'red', shape: 'ring', text: _('matrix-e2ee-out.status.badInput') }); done(new Error(item)); return; }
      refused = '';
      bot.queue(rooms, item).then(() => { if (last) show(last); done(); }, (e: Error) => {
        if (e instanceof NotEncryptedError) refused = _('matrix-e2ee-out.status.notEncrypted');
        node.status({ fill: 'red', shape: 'ring', text: refused || e.message.slice(0, 40) });
        done(e);
      });
    });
    node.on('close', () => { unsubscribe(); account.bot?.off('dropped', onDropped); });
  }
  RED.nodes.registerType('matrix-e2ee-out', MatrixE2eeOut);
};
