// MatrixBot: one Matrix account with end-to-end encryption. This file only
// puts the parts together and owns the start/stop lifetime; each part has its
// own file: session.ts (login), store.ts (crypto store + sync token),
// crypto.ts (Rust crypto, cross-signing), invites.ts, incoming.ts (commands,
// through lib/chat/gate.ts), trust.ts (sender sessions), sender.ts (the
// outbox's sends, media), verification.ts (SAS), profile.ts.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as Sdk from 'matrix-js-sdk';
import { Outbox } from '../chat/outbox';
import { CommandGate } from '../chat/gate';
import { Lifetime, StoppedError } from '../common/lifetime';
import { loadSdk, type SdkModule } from './sdk';
import { login, logout, readSession, saveSession, type Session } from './session';
import { keepSyncToken, openAccountStore } from './store';
import { initCrypto } from './crypto';
import { answerInvite } from './invites';
import { IncomingCommands } from './incoming';
import { RoomSender } from './sender';
import { Verifications } from './verification';
import { setProfile } from './profile';
import { ensureOwnerRoom } from './owner-room';
import {
  NotEncryptedError, type BotState, type CommandMessage, type MatrixBotConfig, type Outgoing, type OutboxEntry, type PendingVerification,
} from './types';

export { loadSdk } from './sdk';
export { isTransientStartError } from './session';
export { defaultAvatar } from './profile';
export { NotEncryptedError } from './types';
export type { BotState, CommandMessage, MatrixBotConfig, Outgoing, PendingVerification } from './types';

/** Lets in-flight store transactions of a stopped client commit before its store stops writing. */
const STORE_SETTLE_MS = 50;

/**
 * Events: 'state' (BotState, detail), 'command' (CommandMessage),
 * 'verification' (PendingVerification | null), 'verified' (userId),
 * 'outbox' (queue length), 'dropped' (roomId, reason).
 */
export class MatrixBot extends EventEmitter {
  private client: Sdk.MatrixClient | undefined;
  private outbox: Outbox<OutboxEntry> | undefined;
  private session: Session | undefined;
  private sender: RoomSender | undefined;
  private verifications: Verifications | undefined;
  private run: Lifetime | undefined;
  private readonly gate: CommandGate;
  /** The room made for (or shared with) the owner; alerts go there when a node names no room. */
  ownerRoom: string | undefined;
  state: BotState = 'stopped';

  constructor(readonly config: MatrixBotConfig) {
    super();
    const admins = [...(config.adminUsers ?? []), ...(config.owner ? [config.owner] : [])];
    this.gate = new CommandGate({ allowed: config.allowedUsers ?? [], admins });
  }

  get deviceId(): string | undefined { return this.session?.deviceId; }
  get matrixClient(): Sdk.MatrixClient | undefined { return this.client; }
  get queueLength(): number { return this.outbox?.length ?? 0; }
  get pendingVerification(): PendingVerification | undefined { return this.verifications?.current; }

  private readonly log = (level: 'info' | 'warn' | 'error', msg: string): void => {
    this.config.log?.(level, msg);
  };

  private setState(state: BotState, detail = ''): void {
    this.state = state;
    this.emit('state', state, detail);
  }

  /** Logs in (or resumes), sets up encryption and syncs. A stop() while this is pending makes it end quietly. */
  async start(): Promise<void> {
    const run = this.run = new Lifetime((m) => this.log('warn', m));
    this.setState('starting');
    await run.run(() => this.startIn(run));
  }

  async stop(): Promise<void> {
    const run = this.run;
    this.run = undefined;
    await run?.stop();
    this.client = undefined;
    this.sender = undefined;
    this.verifications = undefined;
    this.setState('stopped');
  }

  private async startIn(run: Lifetime): Promise<void> {
    const cfg = this.config;
    mkdirSync(cfg.storeDir, { recursive: true, mode: 0o700 }); // the session token and the keys live here
    // Made first so that queue() works while the start is pending; owned after the client, so that it stops first.
    const outbox = this.outbox = this.makeOutbox();
    const sdk = await run.step(loadSdk());
    const resumed = readSession(cfg);
    const session = this.session = resumed ?? await this.newSession(run);
    const store = run.own(openAccountStore(sdk, cfg.storeDir, session.userId, session.deviceId, !!resumed), (s) => s.release());
    const client = run.own(new sdk.MatrixClient({
      baseUrl: session.homeserverUrl,
      userId: session.userId,
      deviceId: session.deviceId,
      accessToken: session.accessToken,
      store: store.sync,
      // No SDK scheduler: a failed send rejects at once and our outbox retries in order.
      scheduler: undefined,
      verificationMethods: ['m.sas.v1'],
      timelineSupport: false,
    }), async (c) => {
      c.removeAllListeners();
      c.stopClient();
      await new Promise((r) => setTimeout(r, STORE_SETTLE_MS));
    }, (c) => { c.stopClient(); c.http.abort(); });
    run.own(outbox, (o) => o.stop().then(() => { o.removeAllListeners(); }));
    this.client = client;
    await run.step(store.sync.startup());
    await initCrypto(client, store.cryptoPrefix, session.userId, cfg.password, run, this.log);

    // Anything sent before this moment is history: never a command, never a verification to answer.
    const startedAt = Date.now();
    this.gate.start(startedAt);
    const sender = this.sender = new RoomSender(client, this.log);
    this.verifications = run.own(new Verifications(sdk, client, startedAt, {
      log: this.log,
      isAllowed: (u) => this.gate.isAllowed(u),
      show: (v) => this.emit('verification', v),
      verified: (u) => this.emit('verified', u),
    }), (v) => v.stop());
    const incoming = run.own(new IncomingCommands(sdk, client, session.userId, this.gate, startedAt, {
      log: this.log,
      reply: (roomId, text) => this.queue([roomId], { kind: 'text', text }).catch((e: Error) => this.log('warn', e.message)),
      command: (c: CommandMessage) => this.emit('command', c),
    }), (i) => i.stop());
    client.on(sdk.RoomEvent.Timeline, (event, _room, toStart, _removed, data) => incoming.onTimeline(event, toStart, !!data.liveEvent));
    client.on(sdk.RoomEvent.MyMembership, (room, membership) => {
      if (membership !== 'invite') return;
      answerInvite(client, room, session.userId, (u) => this.gate.isAllowed(u), this.log, run)
        .catch((e: Error) => { if (!(e instanceof StoppedError)) this.log('warn', `invite to ${room.roomId}: ${e.message}`); });
    });
    client.on(sdk.ClientEvent.Sync, (state) => {
      if (state === sdk.SyncState.Error || state === sdk.SyncState.Reconnecting) this.setState('offline', 'homeserver unreachable');
      else if ((state === sdk.SyncState.Syncing || state === sdk.SyncState.Prepared) && this.state !== 'online' && this.state !== 'starting') {
        this.setState('online');
        outbox.retryNow();
      }
    });
    run.own(keepSyncToken(sdk, client, store.sync, this.log), (off) => off());

    const ready = this.firstSync(sdk, client);
    await run.step(client.startClient({ initialSyncLimit: 1, lazyLoadMembers: false }));
    await run.until(ready);
    this.setState('online');
    await run.step(sender.readUploadLimit(session.homeserverUrl, session.accessToken, run.signal));
    await run.step(setProfile(client, session.userId, cfg.displayName ?? 'Mantis', cfg.avatar).catch((e: Error) => this.log('warn', `profile: ${e.message}`)));
    outbox.start();
    if (cfg.owner) await this.onboardOwner(run, client, cfg.owner);
    if (cfg.onlineMessage !== false) {
      // The server's list: the SDK's room list may still be filling right after the first sync.
      const { joined_rooms: joined } = await run.step(client.getJoinedRooms());
      for (const roomId of joined) {
        await run.step(outbox.enqueue({ roomId, txnId: `mantis-${randomUUID()}`, item: { kind: 'text', text: cfg.onlineMessage ?? 'Mantis is online.' }, quiet: true }));
      }
    }
  }

  /** The owner's room (made and the owner invited on the first start); the bot then waits there for their verification. */
  private async onboardOwner(run: Lifetime, client: Sdk.MatrixClient, owner: string): Promise<void> {
    this.ownerRoom = (await run.step(ensureOwnerRoom(client, this.config.storeDir, owner, this.log))).roomId;
  }

  /** A new device. A login that a stop overtook is logged out again, so that it leaves no device behind. */
  private async newSession(run: Lifetime): Promise<Session> {
    const fresh = await login(this.config, run.signal);
    if (run.stopped) {
      await logout(fresh).catch((e: Error) => this.log('warn', `logging out the unused device ${fresh.deviceId}: ${e.message}`));
      throw new StoppedError();
    }
    saveSession(this.config.storeDir, fresh);
    return fresh;
  }

  private makeOutbox(): Outbox<OutboxEntry> {
    const outbox = new Outbox<OutboxEntry>(join(this.config.storeDir, 'outbox'), (e) => this.deliver(e), { minDelayMs: 500, maxDelayMs: 15_000 });
    outbox.on('change', (n: number) => this.emit('outbox', n));
    outbox.on('retry', (err: Error, delay: number) => this.log('warn', `send failed (${err.message}); retrying in ${delay} ms`));
    outbox.on('dropped', (e: OutboxEntry, err: Error) => {
      this.log('warn', `not sent to ${e.roomId}: ${err.message}`);
      this.emit('dropped', e.roomId, err.message);
    });
    outbox.on('bad', (moved: string, err: Error) => this.log('error', `an unreadable queued message was moved to ${moved}: ${err.message}`));
    outbox.on('fault', (err: Error) => this.log('error', `outbox folder: ${err.message}`));
    return outbox;
  }

  private firstSync(sdk: SdkModule, client: Sdk.MatrixClient): Promise<void> {
    return new Promise<void>((resolve) => {
      const onSync = (state: Sdk.SyncState): void => {
        if (state === sdk.SyncState.Prepared || state === sdk.SyncState.Syncing) { client.off(sdk.ClientEvent.Sync, onSync); resolve(); }
      };
      client.on(sdk.ClientEvent.Sync, onSync);
    });
  }

  private deliver(e: OutboxEntry): Promise<void> {
    if (!this.sender || this.state !== 'online') return Promise.reject(new Error('not connected'));
    return this.sender.deliver(e);
  }

  /** True when the room is known to use encryption (state event m.room.encryption). */
  async isRoomEncrypted(roomId: string): Promise<boolean> {
    return !!this.sender && await this.sender.isRoomEncrypted(roomId);
  }

  /** Rooms the bot has joined. */
  joinedRooms(): string[] {
    return this.client?.getRooms().filter((r) => r.getMyMembership() === 'join').map((r) => r.roomId) ?? [];
  }

  /**
   * Puts a message into the durable outbox for each room. Rejects at once for a
   * room that is known and not encrypted (never sent in the clear).
   */
  async queue(rooms: string[], item: Outgoing): Promise<void> {
    const outbox = this.outbox;
    if (!outbox) throw new Error('matrix bot not started');
    for (const roomId of rooms) {
      const room = this.client?.getRoom(roomId);
      // (Before the crypto is up nothing is known: the send itself checks again.)
      if (room && this.sender && room.getMyMembership() === 'join' && !(await this.sender.isRoomEncrypted(roomId))) throw new NotEncryptedError(roomId);
    }
    for (const roomId of rooms) await outbox.enqueue({ roomId, txnId: `mantis-${randomUUID()}`, item });
  }

  /** The human confirmed that the emoji match (editor button). Never called automatically. */
  async confirmVerification(id: string): Promise<void> {
    if (!this.verifications) throw new Error('no such pending verification');
    await this.verifications.confirm(id);
  }

  /** The human said the emoji differ, or cancelled. */
  cancelVerification(id: string): void {
    if (!this.verifications) throw new Error('no such pending verification');
    this.verifications.cancel(id);
  }
}
