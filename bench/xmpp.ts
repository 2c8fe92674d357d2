// Motion event -> Node-RED (function node formats the alert) -> xmpp-omemo-out
// -> Prosody on loopback -> decrypted text at an independent OMEMO client
// (slixmpp-omemo, OMEMO 0.3). The time ends when the peer printed the plaintext.
import { join } from 'node:path';
import type { Report } from './run';
import { helper, mantisNode } from '../test/helpers/node-red';
import { Prosody, PROSODY_DOMAIN } from '../test/helpers/prosody';
import { OmemoPeer } from '../test/helpers/omemo-peer';
import { tempDir } from '../test/helpers/paths';
import { sleep, waitFor } from '../test/helpers/processes';
import type { MotionEvent } from '../lib/motion/event';
import type { XmppAccountNode } from '../lib/xmpp/node-types';

const RUNS = 30;
const PATH = 'motion msg -> function node -> xmpp-omemo-out -> Prosody -> slixmpp-omemo decrypts';

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function run(report: Report): Promise<void> {
  const prosody = new Prosody({ upload: false });
  const work = tempDir('xmpp-bench');
  const peer = new OmemoPeer({ jid: `alice@${PROSODY_DOMAIN}`, password: 'alicepw', port: 0, store: join(work, 'alice.json') });
  try {
    await prosody.start();
    prosody.register('bot', 'botpw');
    prosody.register('alice', 'alicepw');
    (peer.opts as { port: number }).port = prosody.c2sPort;
    await peer.start();
    helper.settings({ userDir: work });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fn = require('@node-red/nodes/core/function/10-function.js') as unknown;
    await helper.load([fn, mantisNode('xmpp-account'), mantisNode('xmpp-omemo-out')], [
      { id: 'acc', type: 'xmpp-account', jid: `bot@${PROSODY_DOMAIN}`, server: '127.0.0.1', port: String(prosody.c2sPort), storeDir: join(work, 'bot') },
      { id: 'tab', type: 'tab' },
      { id: 'fmt', z: 'tab', type: 'function', func: "msg.payload = `Motion on ${msg.payload.camera} (${Math.round(msg.payload.score * 100)} %) #${msg.seq}`; return msg;", outputs: 1, wires: [['out']] },
      { id: 'out', z: 'tab', type: 'xmpp-omemo-out', account: 'acc', to: `alice@${PROSODY_DOMAIN}`, wires: [] },
    ], { acc: { password: 'botpw' } });
    const acc = (helper.getNode('acc') as unknown as XmppAccountNode).account!;
    await waitFor(() => acc.isOnline, 20_000, 'bot online');
    const times: number[] = [];
    let first = 0;
    for (let i = 0; i <= RUNS; i++) {
      const ev: MotionEvent = { event: 'start', t: Date.now(), startedAt: Date.now(), score: 0.12, boxes: [{ x: 0.1, y: 0.2, w: 0.3, h: 0.3 }], zones: [], camera: 'front' };
      const mark = peer.mark;
      const t0 = performance.now();
      helper.getNode('fmt').receive({ topic: 'motion', payload: ev, seq: i });
      const got = await peer.waitFor((e) => e.type === 'message' && e.body === `Motion on front (12 %) #${i}`, 10_000, `alert ${i}`, mark);
      const ms = Number(got.at) - t0;
      if (i === 0) first = ms; else times.push(ms);
      await waitFor(() => acc.queueLength === 0, 5000, 'acked');
      await sleep(100);
    }
    report({ name: 'xmpp: motion event -> decrypted text at the OMEMO peer (median)', value: Math.round(median(times) * 10) / 10, unit: 'ms', target: 500, runs: RUNS, path: PATH });
    report({ name: 'xmpp: first alert incl. new OMEMO session', value: Math.round(first * 10) / 10, unit: 'ms', path: PATH });
  } finally {
    await helper.unload().catch(() => undefined);
    await peer.stop();
    await prosody.stop();
  }
}
