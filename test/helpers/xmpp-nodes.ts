// Small witnesses shared by the XMPP tests: what a node shows or logs, and
// what the bot's messages look like at an OMEMO peer.
import { helper } from './node-red';
import { PROSODY_DOMAIN } from './prosody';
import type { OmemoPeer, PeerEvent } from './omemo-peer';

export const BOT = `bot@${PROSODY_DOMAIN}`;

/** Records what a node passes to one of its methods from now on (it still does it). */
export function record<T>(id: string, method: 'status' | 'error' | 'warn', map: (arg: unknown) => T): T[] {
  const seen: T[] = [];
  const n = helper.getNode(id) as unknown as Record<string, (...a: unknown[]) => void>;
  const orig = n[method].bind(n);
  n[method] = (...a: unknown[]) => { seen.push(map(a[0])); orig(...a); };
  return seen;
}

/** The status texts a node shows from now on. */
export function statusLog(id: string): string[] {
  return record(id, 'status', (s) => String((s as { text?: string }).text ?? ''));
}

/** Waits for an encrypted message from the bot at the peer whose body matches. */
export function fromBot(peer: OmemoPeer, pred: (body: string) => boolean, since: number, what: string, ms = 20_000): Promise<PeerEvent> {
  return peer.waitFor((e) => e.type === 'message' && e.from === BOT && e.encrypted === true && pred(String(e.body)), ms, what, since);
}
