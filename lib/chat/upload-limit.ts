// One rule for media that a chat server will not take in one piece, shared by
// the Matrix and XMPP transports: what the server says it takes, lowered by
// every 413 it actually answers (a proxy in front may take less), and what to
// send instead (the clip's snapshot, else a note) so the alert still arrives.

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

export class UploadLimit {
  private advertised = Number.POSITIVE_INFINITY;
  private refusedAt = Number.POSITIVE_INFINITY;

  /** @param overhead bytes the transport adds to each file (e.g. 16 for an AES-GCM tag). */
  constructor(private readonly overhead = 0) {}

  /** What the server's configuration says (undefined: it did not say). */
  setAdvertised(bytes: number | undefined): void {
    this.advertised = bytes ?? Number.POSITIVE_INFINITY;
  }

  /** The largest file, before the transport's overhead, that should go through. */
  get bytes(): number {
    return Math.min(this.advertised - this.overhead, this.refusedAt - 1);
  }

  fits(size: number): boolean {
    return size <= this.bytes;
  }

  /** The server answered 413 to a file of this size: nothing this large is tried again. */
  refused(size: number): void {
    this.refusedAt = Math.min(this.refusedAt, size);
  }
}

export type MediaPlan =
  | { send: 'media' }
  | { send: 'snapshot'; note: string }
  | { send: 'note'; note: string };

/** What to send for a clip or picture of `size` bytes, with an optional snapshot of `snapshotSize`. */
export function planMedia(what: 'clip' | 'picture', size: number, snapshotSize: number | undefined, limit: UploadLimit): MediaPlan {
  if (limit.fits(size)) return { send: 'media' };
  const over = `The ${what} (${mb(size)}) is larger than this chat server takes (${mb(Math.max(0, limit.bytes))})`;
  if (snapshotSize !== undefined && limit.fits(snapshotSize)) return { send: 'snapshot', note: `${over}; here is a snapshot instead.` };
  return { send: 'note', note: `${over}; it is kept on the Mantis machine.` };
}

/**
 * Whether an HTTP status from a chat server is its final word on this message:
 * a 4xx other than 401 (the login, not the message), 408 and 429 (try later).
 * Such an item is dropped and reported; anything else is retried.
 */
export function refusedForGood(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 408 && status !== 429;
}
