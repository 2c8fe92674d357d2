// What a server's stanza error means for a retry (RFC 6120 8.3.2): type
// "wait" is temporary; "cancel", "auth" and "modify" will be the same answer
// next time (forbidden, item-not-found, remote-server-not-found, ...).

interface StanzaErrorLike { condition?: string; type?: string; message?: string }

export function errorCondition(e: unknown): string {
  const s = e as StanzaErrorLike;
  return String(s?.condition ?? s?.message ?? e);
}

/** True for a server's error answer that retrying will not change. */
export function isPermanentStanzaError(e: unknown): boolean {
  const s = e as StanzaErrorLike & { name?: string };
  if (s?.name !== 'StanzaError' || typeof s.condition !== 'string') return false;
  // A server's own failure may pass; everything else is its considered answer.
  return s.type !== 'wait' && s.condition !== 'internal-server-error';
}
