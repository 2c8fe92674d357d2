// The owner's side in the Matrix tests: a matrix-js-sdk client with the Rust
// crypto (what Element runs), in memory, in the test process.
import type * as Sdk from 'matrix-js-sdk';
import type { VerificationRequest, ShowSasCallbacks } from 'matrix-js-sdk/lib/crypto-api/verification.js';
import { loadSdk } from '../../lib/matrix/sdk';
import { decryptAttachment, type EncryptedFile } from '../../lib/matrix/attachment';
import { waitFor } from './processes';

export interface Received { id: string; ts: number; sender: string; type: string; content: Record<string, unknown>; failed: boolean }

export class MatrixOwner {
  client!: Sdk.MatrixClient;
  private token = '';
  deviceId = '';
  /** Every room message seen live, decrypted where possible (updated when keys arrive late). */
  readonly received = new Map<string, Received>();

  /** crossSign false: a second session of the user that its owner has not verified (no cross-signing set up by it). */
  constructor(readonly baseUrl: string, readonly userId: string, readonly password: string, private readonly opts: { crossSign?: boolean } = {}) {}

  async start(): Promise<void> {
    const sdk = await loadSdk();
    const r = await fetch(`${this.baseUrl}/_matrix/client/v3/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: this.userId }, password: this.password }),
    });
    const login = await r.json() as { access_token: string; device_id: string };
    this.token = login.access_token;
    this.deviceId = login.device_id;
    this.client = new sdk.MatrixClient({
      baseUrl: this.baseUrl, userId: this.userId, deviceId: login.device_id, accessToken: login.access_token,
      store: new sdk.MemoryStore(), scheduler: new sdk.MatrixScheduler(), verificationMethods: ['m.sas.v1'],
    });
    await this.client.initRustCrypto({ useIndexedDB: false });
    if (this.opts.crossSign !== false) await this.client.getCrypto()!.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        try { await makeRequest(null); } catch (err) {
          const session = (err as { data?: { session?: string } }).data?.session;
          if (!session) throw err;
          await makeRequest({ type: 'm.login.password', session, password: this.password, identifier: { type: 'm.id.user', user: this.userId } } as never);
        }
      },
    });
    const record = (ev: Sdk.MatrixEvent): void => {
      const id = ev.getId();
      if (!id || (ev.getType() !== 'm.room.message' && ev.getType() !== 'm.room.encrypted')) return;
      this.received.set(id, {
        id, ts: ev.getTs(), sender: ev.getSender() ?? '', type: ev.getType(),
        content: ev.getContent(), failed: ev.isDecryptionFailure(),
      });
    };
    this.client.on(sdk.RoomEvent.Timeline, (ev) => {
      record(ev);
      void this.client.decryptEventIfNeeded(ev).then(() => record(ev));
    });
    this.client.on(sdk.MatrixEventEvent.Decrypted, (ev) => record(ev));
    const ready = new Promise<void>((res) => this.client.on(sdk.ClientEvent.Sync, (s) => { if (s === sdk.SyncState.Prepared) res(); }));
    await this.client.startClient({ initialSyncLimit: 20 });
    await ready;
  }

  async stop(): Promise<void> {
    this.client?.stopClient();
  }

  async createEncryptedRoom(invite: string[]): Promise<string> {
    const { room_id: roomId } = await this.client.createRoom({
      invite, preset: 'private_chat' as never, name: 'Mantis alerts',
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    await waitFor(() => this.client.getRoom(roomId), 30_000, 'room in sync');
    return roomId;
  }

  async createPlainRoom(invite: string[]): Promise<string> {
    const { room_id: roomId } = await this.client.createRoom({ invite, preset: 'private_chat' as never, name: 'plain' });
    return roomId;
  }

  async join(roomId: string): Promise<void> {
    await waitFor(async () => { await this.client.joinRoom(roomId); return true; }, 10_000, `join ${roomId}`);
  }

  send(roomId: string, text: string): Promise<unknown> {
    return this.client.sendTextMessage(roomId, text);
  }

  /** Waits for a decrypted message from `sender` that satisfies `match`. */
  waitForMessage(sender: string, match: (c: Record<string, unknown>) => boolean, timeoutMs = 20_000, after = 0): Promise<Received> {
    return waitFor(() => [...this.received.values()].find((r) => r.sender === sender && r.ts >= after && r.type === 'm.room.message' && match(r.content)),
      timeoutMs, `message from ${sender}`);
  }

  /** Downloads an encrypted attachment and decrypts it as a client would. */
  async download(file: EncryptedFile): Promise<Buffer> {
    const mxc = file.url.replace('mxc://', '');
    const r = await fetch(`${this.baseUrl}/_matrix/client/v1/media/download/${mxc}`, { headers: { authorization: `Bearer ${this.token}` } });
    if (!r.ok) throw new Error(`download ${file.url}: ${r.status}`);
    return decryptAttachment(new Uint8Array(await r.arrayBuffer()), file);
  }

  /**
   * Verifies `userId` by emoji in the room (or with `toDevice`, by to-device messages to that device), as Element does (owner starts).
   * `compare` gets the owner's emoji names and must resolve once the other side
   * confirmed (the test does that through the editor endpoint).
   */
  async verify(userId: string, roomId: string, onEmoji: (names: string[]) => Promise<void>, toDevice?: string): Promise<void> {
    const sdk = await loadSdk();
    const crypto = this.client.getCrypto()!;
    // Fetch the other user's keys first (a member who just joined may not track them yet).
    await crypto.getUserDeviceInfo([userId], true);
    // ("unknown userId" until the keys query for a newly shared room has finished.) With toDevice:
    // the request goes to that device by to-device messages instead of into the room.
    const req: VerificationRequest = await waitFor(() => (toDevice ? crypto.requestDeviceVerification(userId, toDevice)
      : crypto.requestVerificationDM(userId, roomId)), 20_000, 'verification request');
    await waitFor(() => req.phase === sdk.VerificationPhase.Ready || req.phase === sdk.VerificationPhase.Cancelled, 20_000, 'request ready');
    if (req.phase === sdk.VerificationPhase.Cancelled) throw new Error(`verification cancelled: ${req.cancellationCode}`);
    const verifier = await req.startVerification('m.sas.v1');
    const shown = new Promise<ShowSasCallbacks>((res) => verifier.on(sdk.VerifierEvent.ShowSas, res));
    const done = verifier.verify();
    // A stalled exchange fails the test with the step it stalled at, instead of hanging the file.
    const sas = await within(shown, 30_000, 'the SAS emoji at the owner');
    const names = (sas.sas.emoji ?? []).map((e) => e[1]);
    await onEmoji(names);
    await sas.confirm();
    await within(done, 30_000, 'the verification to finish after both sides confirmed');
  }

  async isVerified(userId: string, deviceId: string): Promise<boolean> {
    const st = await this.client.getCrypto()!.getDeviceVerificationStatus(userId, deviceId);
    return !!st?.isVerified();
  }
}

/**
 * matrix-js-sdk arms long timers (a local timeout per HTTP request that is never
 * cleared, 5-minute decryption waits, capability polls) that keep a finished
 * test process alive for minutes. In the test process only, such timers must
 * not hold the event loop open.
 */
export function unrefLongTimers(minMs = 5000): void {
  const g = globalThis as unknown as { setTimeout: typeof setTimeout; __mantisUnref?: boolean };
  if (g.__mantisUnref) return;
  g.__mantisUnref = true;
  const orig = g.setTimeout;
  g.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const t = orig(fn, ms, ...args);
    if ((ms ?? 0) >= minMs) t.unref();
    return t;
  }) as typeof setTimeout;
}

/** `p`, or an error naming `what` after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
