// Sends text, images and clips end-to-end encrypted to Matrix rooms, through
// the account's durable outbox (status shows the queue).
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { MatrixAccountNode, AccountStatus } from '../../lib/matrix/node-types';
import { NotEncryptedError } from '../../lib/matrix/types';
import { toOutgoing, type OutMsg } from '../../lib/matrix/outgoing';

interface OutDef extends NodeDef { account: string; rooms: string }

export = function (RED: NodeAPI): void {
  function MatrixE2eeOut(this: Node, def: OutDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const account = RED.nodes.getNode(def.account) as MatrixAccountNode | null;
    const configured = (def.rooms ?? '').split(/[\s,;]+/).filter((r) => r.startsWith('!'));
    if (!account) {
      node.status({ fill: 'yellow', shape: 'ring', text: 'not configured: choose an account' });
      node.error('matrix-e2ee-out: no matrix-account configured');
      return;
    }
    let last: AccountStatus | undefined;
    let refused = '';
    const show = (s: AccountStatus): void => {
      last = s;
      if (refused) { node.status({ fill: 'red', shape: 'ring', text: refused }); return; }
      if (s.fill === 'green') node.status({ fill: 'green', shape: 'dot', text: 'sent' });
      else node.status(s);
    };
    const unsubscribe = account.subscribe({ status: show });
    const onDropped = (roomId: string, reason: string): void => {
      if (/not encrypted/.test(reason)) refused = 'room not encrypted';
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
        node.status({ fill: 'red', shape: 'ring', text: 'no room' });
        done(new Error('no room: set the Owner on the matrix-account node, configure rooms or set msg.roomId'));
        return;
      }
      const item = toOutgoing(msg);
      if (typeof item === 'string') { node.status({ fill: 'red', shape: 'ring', text: 'bad input' }); done(new Error(item)); return; }
      refused = '';
      bot.queue(rooms, item).then(() => { if (last) show(last); done(); }, (e: Error) => {
        if (e instanceof NotEncryptedError) refused = 'room not encrypted';
        node.status({ fill: 'red', shape: 'ring', text: refused || e.message.slice(0, 40) });
        done(e);
      });
    });
    node.on('close', () => { unsubscribe(); account.bot?.off('dropped', onDropped); });
  }
  RED.nodes.registerType('matrix-e2ee-out', MatrixE2eeOut);
};
