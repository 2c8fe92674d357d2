// MatrixBot: one Matrix account with end-to-end encryption (matrix-js-sdk +
// its Rust crypto), a durable crypto store, a durable outbox, chat commands
// from verified allowed users, and SAS verification confirmed by a human.
import { EventEmitter } from 'node:events';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type * as Sdk from 'matrix-js-sdk';
import type * as CryptoApi from 'matrix-js-sdk/lib/crypto-api/index.js';
import type { VerificationRequest, Verifier, ShowSasCallbacks } from 'matrix-js-sdk/lib/crypto-api/verification.js';
import { Outbox, PermanentSendError } from '../chat/outbox';
import { writeFileAtomic } from '../store/atomic-file';
import { HELP_TEXT, isAdminCommand, isCommandError, parseCommand, type ChatCommand } from '../chat/commands';
import { attachDurableStore, detachDurableStore } from './durable-idb';
import { encryptAttachment, type EncryptedFile } from './attachment';
import { imageSize, thumbnail } from './media';

export interface MatrixBotConfig {
  homeserverUrl: string;
  userId: string;
  password?: string;
  accessToken?: string;
  deviceName?: string;
  /** Folder for the session, the crypto store and the outbox. */
  storeDir: string;
  allowedUsers?: string[];
  adminUsers?: string[];
  displayName?: string;
  /** PNG or JPEG bytes for the avatar; a small default is used when absent. */
  avatar?: Buffer;
  /** Sent to every joined encrypted room on start; false for none. */
  onlineMessage?: string | false;
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export type Outgoing =
  | { kind: 'text'; text: string; html?: string }
  | { kind: 'image'; data: Buffer; mimetype: string; width?: number; height?: number; name?: string; note?: string }
  | { kind: 'video'; data: Buffer; mimetype: string; thumbnail?: Buffer; duration?: number; width?: number; height?: number; name?: string };

interface OutboxEntry {
  roomId: string;
  txnId: string;
  item: Outgoing;
  /** Skip silently (no error) when the room turns out not to be encrypted: the online notice. */
  quiet?: boolean;
}

export interface CommandMessage {
  command: ChatCommand;
  from: { user: string; device: string; via: 'matrix' };
  roomId: string;
  text: string;
}

export interface PendingVerification {
  id: string;
  userId: string;
  deviceId?: string;
  /** [emoji, name] pairs, as Element shows them. */
  emoji: [string, string][];
  decimal?: [number, number, number];
}

interface Session { homeserverUrl: string; userId: string; deviceId: string; accessToken: string }

export type BotState = 'stopped' | 'starting' | 'online' | 'offline' | 'error';

type SdkModule = typeof Sdk & typeof CryptoApi;

interface LogLevelLogger { methodFactory: LogFactory; rebuild(): void }
type LogFactory = (method: string, level: number, name: string | symbol) => (...args: unknown[]) => void;
interface LogLevelLib extends LogLevelLogger { getLoggers(): Record<string, LogLevelLogger> }

/** The SDK logs every sync and every encryption at debug level: keep warnings and errors only. */
function quietSdkLogs(loglevel: LogLevelLib): void {
  const wrap = (f: LogFactory): LogFactory => {
    const quiet: LogFactory = (method, level, name) => (method === 'warn' || method === 'error' ? f(method, level, name) : () => undefined);
    (quiet as { quiet?: boolean }).quiet = true;
    return quiet;
  };
  for (const lg of [loglevel, ...Object.values(loglevel.getLoggers())]) {
    if (!(lg.methodFactory as { quiet?: boolean }).quiet) lg.methodFactory = wrap(lg.methodFactory);
    lg.rebuild();
  }
}

let sdkPromise: Promise<SdkModule> | undefined;
/** matrix-js-sdk is ESM only; this package is CommonJS. */
export function loadSdk(): Promise<SdkModule> {
  sdkPromise ??= Promise.all([import('matrix-js-sdk'), import('matrix-js-sdk/lib/crypto-api/index.js'), import('loglevel')])
    .then(([m, c, l]) => {
      quietSdkLogs(l.default as unknown as LogLevelLib);
      return { ...m, ...c } as SdkModule;
    });
  return sdkPromise;
}

/** A plain 64x64 PNG (mantis green) so the bot has an avatar without a file. */
export function defaultAvatar(): Buffer {
  const w = 64;
  const crc = (buf: Buffer): number => {
    let c = ~0;
    for (const byte of buf) { c ^= byte; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); }
    return ~c >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const td = Buffer.concat([Buffer.from(type), data]);
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(w, 4); ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc((w * 3 + 1) * w);
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      const inside = (x - 32) ** 2 / 400 + (y - 30) ** 2 / 150 < 1;
      raw[o] = inside ? 0x9c : 0x2e; raw[o + 1] = inside ? 0xd3 : 0x7d; raw[o + 2] = inside ? 0x3a : 0x32;
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/**
 * True for a start that failed because the homeserver could not be reached or
 * was unwell (network error, 5xx, 429): worth trying again. A refused login, a
 * foreign or broken store is not: retrying would only repeat the same error.
 */
export function isTransientStartError(err: unknown): boolean {
  const e = err as { name?: string; message?: string; httpStatus?: number };
  if (err instanceof TypeError && /fetch failed/i.test(e.message ?? '')) return true;
  if (e.name === 'ConnectionError') return true;
  if (typeof e.httpStatus === 'number') return e.httpStatus >= 500 || e.httpStatus === 429;
  return /^(login failed|access token rejected): (5\d\d|429)\b/.test(e.message ?? '');
}

function httpStatus(err: unknown): number | undefined {
  const status = (err as { httpStatus?: unknown } | null)?.httpStatus;
  return typeof status === 'number' ? status : undefined;
}

/**
 * A send the server refused for this message itself (403 not allowed in the room, 413 too large, 400)
 * is dropped so that it does not hold back every later alert; an outage, a rate limit or a lost login
 * (401, which a new token fixes) keeps the message queued.
 */
function refusal(err: unknown): unknown {
  const status = httpStatus(err);
  if (status === undefined || status < 400 || status >= 500 || status === 401 || status === 408 || status === 429) return err;
  const code = (err as { errcode?: string }).errcode;
  return new PermanentSendError(`the homeserver refused it: ${status}${code ? ` ${code}` : ''} ${(err as Error).message}`);
}

/**
 * Events: 'state' (BotState, detail), 'command' (CommandMessage),
 * 'verification' (PendingVerification | null), 'verified' (userId),
 * 'outbox' (queue length), 'dropped' (roomId, reason).
 */
export class MatrixBot extends EventEmitter {
  private client: Sdk.MatrixClient | undefined;
  private sdk: SdkModule | undefined;
  private outbox: Outbox<OutboxEntry> | undefined;
  private session: Session | undefined;
  private startedAt = 0;
  private prefix = '';
  private pending: { info: PendingVerification; sas: ShowSasCallbacks; request: VerificationRequest } | undefined;
  private uploadLimit: number | undefined;
  private stopped = true;
  private exited = false;
  private readonly handled = new Set<string>();
  private readonly rotated = new Set<string>();
  /** The session came from the store folder (not a fresh login). */
  private resumed = false;
  state: BotState = 'stopped';

  constructor(readonly config: MatrixBotConfig) {
    super();
  }

  get deviceId(): string | undefined { return this.session?.deviceId; }
  get matrixClient(): Sdk.MatrixClient | undefined { return this.client; }
  get queueLength(): number { return this.outbox?.length ?? 0; }
  get pendingVerification(): PendingVerification | undefined { return this.pending?.info; }

  private log(level: 'info' | 'warn' | 'error', msg: string): void {
    this.config.log?.(level, msg);
  }

  private setState(state: BotState, detail = ''): void {
    this.state = state;
    this.emit('state', state, detail);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.exited = false;
    this.rotated.clear();
    this.resumed = false;
    this.setState('starting');
    const cfg = this.config;
    mkdirSync(cfg.storeDir, { recursive: true, mode: 0o700 }); // the session token and the keys live here
    this.outbox = new Outbox<OutboxEntry>(join(cfg.storeDir, 'outbox'), (e) => this.deliver(e), { minDelayMs: 500, maxDelayMs: 15_000 });
    this.outbox.on('change', (n: number) => this.emit('outbox', n));
    this.outbox.on('retry', (err: Error, delay: number) => this.log('warn', `send failed (${err.message}); retrying in ${delay} ms`));
    this.outbox.on('dropped', (e: OutboxEntry, err: Error) => {
      this.log('warn', `not sent to ${e.roomId}: ${err.message}`);
      this.emit('dropped', e.roomId, err.message);
    });

    const sdk = this.sdk = await loadSdk();
    this.session = await this.loadOrLogin();
    if (this.stopped) return;
    // One store per account and folder; the crypto store must survive a crash.
    this.prefix = `mantis-${createHash('sha256').update(`${cfg.storeDir}\0${this.session.userId}`).digest('hex').slice(0, 16)}`;
    const storeFile = join(cfg.storeDir, 'crypto-store.v8');
    if (this.resumed && !existsSync(storeFile)) {
      // Same device id with fresh keys would be rejected by the server and distrusted by everyone.
      throw new Error(`crypto store ${storeFile} is missing for device ${this.session.deviceId}; empty ${cfg.storeDir} to log in as a new device`);
    }
    try {
      attachDurableStore(storeFile, this.prefix);
    } catch (e) {
      throw new Error(`crypto store ${storeFile} cannot be read (${(e as Error).message}); empty ${cfg.storeDir} to log in as a new device`);
    }

    const client = new sdk.MatrixClient({
      baseUrl: this.session.homeserverUrl,
      userId: this.session.userId,
      deviceId: this.session.deviceId,
      accessToken: this.session.accessToken,
      store: new sdk.MemoryStore(),
      // No SDK scheduler: a failed send rejects at once and our outbox retries in order.
      scheduler: undefined,
      verificationMethods: ['m.sas.v1'],
      timelineSupport: false,
    });
    this.client = client;
    await client.initRustCrypto({ useIndexedDB: true, cryptoDatabasePrefix: this.prefix });
    if (this.stopped) { client.stopClient(); return; } // stop() came while starting (a quick redeploy)
    const crypto = client.getCrypto()!;
    // Room keys only go to devices we verified (the owner after SAS), never to strangers.
    crypto.globalBlacklistUnverifiedDevices = true;

    if (!(await crypto.isCrossSigningReady())) {
      this.log('info', 'bootstrapping cross-signing');
      await crypto.bootstrapCrossSigning({
        authUploadDeviceSigningKeys: async (makeRequest) => {
          try {
            await makeRequest(null);
          } catch (err) {
            // User-interactive auth: answer the password stage with the session the server gave.
            const data = (err as { data?: { session?: string; flows?: unknown } }).data;
            if (!data?.session || !cfg.password) throw err;
            this.log('info', 'the server asks for the password (user-interactive auth) to upload cross-signing keys');
            await makeRequest({
              type: 'm.login.password', session: data.session, password: cfg.password,
              identifier: { type: 'm.id.user', user: this.session!.userId },
            } as never);
          }
        },
      });
    }

    let prepared = false;
    client.on(sdk.CryptoEvent.VerificationRequestReceived, (req) => {
      // Requests replayed from the initial sync's history are stale: only live ones count.
      if (!prepared) { this.log('info', `ignoring verification request from ${req.otherUserId} in history`); return; }
      void this.onVerificationRequest(req);
    });
    client.on(sdk.RoomEvent.MyMembership, (room, membership) => { void this.onMembership(room, membership); });
    client.on(sdk.RoomEvent.Timeline, (event, _room, toStart, _removed, data) => {
      if (toStart || !data.liveEvent) return;
      void this.onEvent(event).catch((e: Error) => this.log('error', `handling ${event.getId()}: ${e.message}`));
    });
    client.on(sdk.ClientEvent.Sync, (state) => {
      if (this.stopped) return;
      if (state === sdk.SyncState.Error || state === sdk.SyncState.Reconnecting) this.setState('offline', 'homeserver unreachable');
      else if (state === sdk.SyncState.Syncing || state === sdk.SyncState.Prepared) {
        if (this.state !== 'online') { this.setState('online'); this.outbox?.retryNow(); }
      }
    });

    this.startedAt = Date.now();
    const ready = new Promise<void>((resolve) => {
      const onSync = (state: Sdk.SyncState): void => {
        if (state === sdk.SyncState.Prepared || state === sdk.SyncState.Syncing) { client.off(sdk.ClientEvent.Sync, onSync); resolve(); }
      };
      client.on(sdk.ClientEvent.Sync, onSync);
    });
    await client.startClient({ initialSyncLimit: 1, lazyLoadMembers: false });
    // stop() during the first sync must not leave us waiting forever.
    let onStopped: ((st: BotState) => void) | undefined;
    await Promise.race([ready, new Promise<void>((r) => {
      onStopped = (st) => { if (st === 'stopped') r(); };
      this.on('state', onStopped);
    })]);
    this.off('state', onStopped!);
    prepared = true;
    if (this.stopped) return;
    this.setState('online');
    await this.fetchUploadLimit();
    await this.setProfile().catch((e: Error) => this.log('warn', `profile: ${e.message}`));
    this.outbox.start();
    if (cfg.onlineMessage !== false) {
      // The server's list: the SDK's room list may still be filling right after the first sync.
      const { joined_rooms: joined } = await client.getJoinedRooms();
      for (const roomId of joined) {
        await this.outbox.enqueue({ roomId, txnId: `mantis-${randomUUID()}`, item: { kind: 'text', text: cfg.onlineMessage ?? 'Mantis is online.' }, quiet: true });
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.outbox?.stop();
    this.outbox?.removeAllListeners();
    if (this.pending) { try { this.pending.sas.cancel(); } catch { /* already gone */ } }
    this.pending = undefined;
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners();
      client.stopClient();
      // Let in-flight store transactions finish before writes stop.
      await new Promise((r) => setTimeout(r, 50));
    }
    if (this.prefix) detachDurableStore(this.prefix);
    this.setState('stopped');
  }

  private async loadOrLogin(): Promise<Session> {
    const cfg = this.config;
    const file = join(cfg.storeDir, 'session.json');
    const base = cfg.homeserverUrl.replace(/\/+$/, '');
    if (existsSync(file)) {
      const s = JSON.parse(readFileSync(file, 'utf8')) as Session;
      if (s.userId === cfg.userId && s.homeserverUrl === base) { this.resumed = true; return s; }
      throw new Error(`store folder ${cfg.storeDir} belongs to ${s.userId} on ${s.homeserverUrl}; use another folder`);
    }
    let session: Session;
    if (cfg.accessToken) {
      const r = await fetch(`${base}/_matrix/client/v3/account/whoami`, { headers: { authorization: `Bearer ${cfg.accessToken}` } });
      if (!r.ok) throw new Error(`access token rejected: ${r.status}`);
      const who = await r.json() as { user_id: string; device_id?: string };
      if (!who.device_id) throw new Error('the access token has no device id');
      session = { homeserverUrl: base, userId: who.user_id, deviceId: who.device_id, accessToken: cfg.accessToken };
    } else if (cfg.password) {
      const r = await fetch(`${base}/_matrix/client/v3/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          type: 'm.login.password', identifier: { type: 'm.id.user', user: cfg.userId }, password: cfg.password,
          initial_device_display_name: cfg.deviceName ?? 'Mantis',
        }),
      });
      if (!r.ok) throw new Error(`login failed: ${r.status} ${await r.text()}`);
      const l = await r.json() as { user_id: string; device_id: string; access_token: string };
      session = { homeserverUrl: base, userId: l.user_id, deviceId: l.device_id, accessToken: l.access_token };
    } else {
      throw new Error('neither password nor access token configured');
    }
    if (session.userId !== cfg.userId) throw new Error(`logged in as ${session.userId}, expected ${cfg.userId}`);
    writeFileAtomic(file, JSON.stringify(session));
    return session;
  }

  private async fetchUploadLimit(): Promise<void> {
    try {
      const r = await fetch(`${this.session!.homeserverUrl}/_matrix/client/v1/media/config`, {
        headers: { authorization: `Bearer ${this.session!.accessToken}` },
      });
      if (r.ok) {
        const size = (await r.json() as Record<string, unknown>)['m.upload.size'];
        if (typeof size === 'number') this.uploadLimit = size;
      }
    } catch (e) {
      this.log('warn', `media config: ${(e as Error).message}`);
    }
  }

  private async setProfile(): Promise<void> {
    const client = this.client!;
    const want = this.config.displayName ?? 'Mantis';
    const profile = await client.getProfileInfo(this.session!.userId).catch(() => ({} as { displayname?: string; avatar_url?: string }));
    if (profile.displayname !== want) await client.setDisplayName(want);
    if (!profile.avatar_url) {
      const avatar = this.config.avatar ?? defaultAvatar();
      const type = avatar[0] === 0x89 ? 'image/png' : 'image/jpeg';
      const up = await client.uploadContent(new Uint8Array(avatar), { type, name: 'avatar' });
      await client.setAvatarUrl(up.content_uri);
    }
  }

  /** True when the room is known to use encryption (state event m.room.encryption). */
  async isRoomEncrypted(roomId: string): Promise<boolean> {
    const crypto = this.client?.getCrypto();
    return !!crypto && await crypto.isEncryptionEnabledInRoom(roomId);
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
    if (!this.outbox) throw new Error('matrix bot not started');
    for (const roomId of rooms) {
      const room = this.client?.getRoom(roomId);
      if (room && room.getMyMembership() === 'join' && !(await this.isRoomEncrypted(roomId))) {
        throw new NotEncryptedError(roomId);
      }
    }
    for (const roomId of rooms) await this.outbox.enqueue({ roomId, txnId: `mantis-${randomUUID()}`, item });
  }

  /** Sends one outbox entry; throws to keep it queued, PermanentSendError to drop it. */
  private async deliver(e: OutboxEntry): Promise<void> {
    const client = this.client;
    if (!client || this.state !== 'online') throw new Error('not connected');
    const room = client.getRoom(e.roomId);
    const membership = room?.getMyMembership();
    if (membership === 'leave' || membership === 'ban') throw new PermanentSendError(`not a member of ${e.roomId}`);
    // Unknown room or a join still in flight: keep it queued and retry.
    if (membership !== 'join') throw new Error(`not joined to ${e.roomId} yet`);
    if (!(await this.isRoomEncrypted(e.roomId))) {
      if (e.quiet) return;
      throw new PermanentSendError(`room ${e.roomId} is not encrypted`);
    }
    if (!this.rotated.has(e.roomId)) {
      // A crash may have lost the last ratchet step of the outbound megolm session; a
      // fresh session per start guarantees that no message index is used twice.
      await client.getCrypto()!.forceDiscardSession(e.roomId);
      this.rotated.add(e.roomId);
    }
    let content: Record<string, unknown>;
    try {
      content = await this.content(e);
    } catch (err) {
      // The server's media config may be missing or lower than it says: a 413 teaches us the real limit.
      if (httpStatus(err) !== 413 || e.item.kind !== 'video') throw refusal(err);
      this.uploadLimit = Math.min(this.uploadLimit ?? Infinity, e.item.data.length - 1);
      content = await this.content(e).catch((again: unknown) => { throw refusal(again); });
    }
    await client.sendEvent(e.roomId, 'm.room.message' as never, content as never, e.txnId).catch((err: unknown) => { throw refusal(err); });
  }

  private async upload(data: Buffer): Promise<EncryptedFile> {
    const enc = encryptAttachment(data);
    const up = await this.client!.uploadContent(new Uint8Array(enc.data), { type: 'application/octet-stream', includeFilename: false });
    return { ...enc.info, url: up.content_uri };
  }

  private async content(e: OutboxEntry): Promise<Record<string, unknown>> {
    const item = e.item;
    if (item.kind === 'text') {
      return { msgtype: 'm.text', body: item.text, format: 'org.matrix.custom.html', formatted_body: item.html ?? escapeHtml(item.text).replace(/\n/g, '<br>') };
    }
    if (item.kind === 'image') {
      const size = item.width && item.height ? { width: item.width, height: item.height } : imageSize(item.data);
      const info: Record<string, unknown> = { mimetype: item.mimetype, size: item.data.length, w: size?.width, h: size?.height };
      const thumb = await thumbnail(item.data).catch(() => undefined);
      if (thumb) {
        const ts = imageSize(thumb);
        info.thumbnail_file = await this.upload(thumb);
        info.thumbnail_info = { mimetype: 'image/jpeg', size: thumb.length, w: ts?.width, h: ts?.height };
      }
      const body = item.note ?? item.name ?? 'snapshot.jpg';
      return { msgtype: 'm.image', body, filename: item.name ?? 'snapshot.jpg', info, file: await this.upload(item.data) };
    }
    // video
    const thumb = item.thumbnail ?? await thumbnail(item.data).catch(() => undefined);
    if (this.uploadLimit !== undefined && item.data.length > this.uploadLimit) {
      const note = `Clip too large for this server (${mb(item.data.length)} > ${mb(this.uploadLimit)}); here is a snapshot instead.`;
      this.log('warn', note);
      if (thumb) return this.content({ ...e, item: { kind: 'image', data: thumb, mimetype: 'image/jpeg', note, name: 'snapshot.jpg' } });
      return this.content({ ...e, item: { kind: 'text', text: note } });
    }
    const info: Record<string, unknown> = {
      mimetype: item.mimetype, size: item.data.length, w: item.width, h: item.height,
      duration: item.duration !== undefined ? Math.round(item.duration * 1000) : undefined,
    };
    if (thumb) {
      const ts = imageSize(thumb);
      info.thumbnail_file = await this.upload(thumb);
      info.thumbnail_info = { mimetype: 'image/jpeg', size: thumb.length, w: ts?.width, h: ts?.height };
      if (!item.width && ts) { info.w = ts.width; info.h = ts.height; }
    }
    return { msgtype: 'm.video', body: item.name ?? 'clip.mp4', filename: item.name ?? 'clip.mp4', info, file: await this.upload(item.data) };
  }

  private async onMembership(room: Sdk.Room, membership: string): Promise<void> {
    if (membership !== 'invite' || !this.client) return;
    // During the initial sync a room's history replays old memberships: act on the final one.
    await new Promise((r) => setTimeout(r, 0));
    if (room.getMyMembership() !== 'invite') return;
    const me = this.session!.userId;
    const inviter = room.getMember(me)?.events.member?.getSender();
    if (inviter && this.isAllowed(inviter)) {
      this.log('info', `joining ${room.roomId} (invited by ${inviter})`);
      try {
        await this.client.joinRoom(room.roomId);
      } catch (e) { this.log('warn', `join ${room.roomId}: ${(e as Error).message}`); }
    } else {
      this.log('warn', `ignoring invite to ${room.roomId} from ${inviter ?? 'unknown'} (not an allowed user)`);
      await this.client.leave(room.roomId).catch(() => undefined);
    }
  }

  private isAllowed(user: string): boolean {
    return (this.config.allowedUsers ?? []).includes(user) || this.isAdmin(user);
  }

  private isAdmin(user: string): boolean {
    return (this.config.adminUsers ?? []).includes(user);
  }

  private async onEvent(event: Sdk.MatrixEvent): Promise<void> {
    const client = this.client;
    if (!client || !this.sdk) return;
    if (event.getSender() === this.session!.userId) return;
    // History (and anything sent while we were down) is never replayed as a command.
    if (event.getTs() < this.startedAt) return;
    if (event.isEncrypted() || event.getType() === 'm.room.encrypted') {
      await client.decryptEventIfNeeded(event);
      if (event.isDecryptionFailure()) {
        // Keys may arrive a little later: wait once for a successful decryption.
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 30_000);
          event.once(this.sdk!.MatrixEventEvent.Decrypted, () => { clearTimeout(t); resolve(); });
        });
        if (event.isDecryptionFailure()) { this.log('warn', `could not decrypt ${event.getId()} from ${event.getSender()}`); return; }
      }
    } else if (event.getType() === 'm.room.message') {
      const body = (event.getContent() as { body?: unknown }).body;
      if (typeof body === 'string' && parseCommand(body)) this.log('warn', `ignoring unencrypted command from ${event.getSender()}`);
      return;
    }
    if (event.getType() !== 'm.room.message') return;
    const id = event.getId();
    if (!id || this.handled.has(id)) return;
    this.handled.add(id);
    if (this.handled.size > 1000) this.handled.delete(this.handled.values().next().value!);
    const content = event.getContent() as { msgtype?: string; body?: unknown };
    if (content.msgtype !== 'm.text' || typeof content.body !== 'string') return;
    const parsed = parseCommand(content.body);
    if (!parsed) return;
    const sender = event.getSender()!;
    const roomId = event.getRoomId()!;
    const reply = (text: string): Promise<void> => this.queue([roomId], { kind: 'text', text }).catch((e: Error) => this.log('warn', e.message));
    if (!this.isAllowed(sender)) {
      this.log('warn', `refused command from ${sender}: not an allowed user`);
      await reply(`Sorry ${sender}, you are not allowed to control Mantis.`);
      return;
    }
    const device = await this.verifiedSenderDevice(event);
    if (!device.ok) {
      this.log('warn', `refused command from ${sender}: ${device.why}`);
      await reply(`Sorry ${sender}, I only take commands from verified devices (${device.why}). Verify Mantis from your client first.`);
      return;
    }
    if (this.exited) return;
    if (isCommandError(parsed)) { await reply(parsed.error); return; }
    if (isAdminCommand(parsed) && !this.isAdmin(sender)) {
      this.log('warn', `refused admin command !${parsed.command} from ${sender}`);
      await reply(`Sorry ${sender}, !${parsed.command} is for admins only.`);
      return;
    }
    if (parsed.command === 'help') { await reply(HELP_TEXT); return; }
    if (parsed.command === 'exit') { this.exited = true; await reply('Mantis stops answering commands until Node-RED restarts.'); }
    const msg: CommandMessage = { command: parsed, from: { user: sender, device: device.device, via: 'matrix' }, roomId, text: content.body };
    this.emit('command', msg);
  }

  /** The sender's device must be cross-signed by its owner, and the owner verified by us. */
  private async verifiedSenderDevice(event: Sdk.MatrixEvent): Promise<{ ok: true; device: string } | { ok: false; why: string }> {
    const crypto = this.client!.getCrypto()!;
    const sender = event.getSender()!;
    const info = await crypto.getEncryptionInfoForEvent(event);
    if (!info) return { ok: false, why: 'not encrypted' };
    if (info.shieldColour !== this.sdk!.EventShieldColour.NONE) return { ok: false, why: `device not trusted (${info.shieldReason ?? 'unknown'})` };
    const user = await crypto.getUserVerificationStatus(sender);
    if (!user.isCrossSigningVerified()) return { ok: false, why: 'user not verified' };
    const deviceId = (event.getWireContent() as { device_id?: string }).device_id;
    if (deviceId) {
      const st = await crypto.getDeviceVerificationStatus(sender, deviceId);
      if (!st?.crossSigningVerified) return { ok: false, why: 'device not cross-signed' };
    }
    return { ok: true, device: deviceId ?? '' };
  }

  private async onVerificationRequest(req: VerificationRequest): Promise<void> {
    // After a restart the room's history (decrypted after the first sync) replays old
    // in-room requests; their transaction id is the request event's id.
    if (req.roomId && req.transactionId) {
      const ev = await this.client?.fetchRoomEvent(req.roomId, req.transactionId).catch(() => undefined);
      if (ev && typeof ev.origin_server_ts === 'number' && ev.origin_server_ts < this.startedAt) {
        this.log('info', `ignoring old verification request from ${req.otherUserId}`);
        return;
      }
    }
    if (!this.isAllowed(req.otherUserId)) {
      this.log('warn', `declined verification from ${req.otherUserId} (not an allowed user)`);
      await req.cancel().catch(() => undefined);
      return;
    }
    this.log('info', `verification request from ${req.otherUserId} ${req.otherDeviceId ?? ''}`);
    let started = false;
    const onChange = (): void => {
      const verifier = req.verifier;
      if (!started && verifier) {
        started = true;
        this.runVerifier(req, verifier);
      }
      if (req.phase === this.sdk!.VerificationPhase.Cancelled || req.phase === this.sdk!.VerificationPhase.Done) {
        req.off(this.sdk!.VerificationRequestEvent.Change, onChange);
        if (this.pending?.request === req) { this.pending = undefined; this.emit('verification', null); }
      }
    };
    req.on(this.sdk!.VerificationRequestEvent.Change, onChange);
    await req.accept();
    onChange();
  }

  private runVerifier(req: VerificationRequest, verifier: Verifier): void {
    verifier.on(this.sdk!.VerifierEvent.ShowSas, (sas: ShowSasCallbacks) => {
      const info: PendingVerification = {
        id: req.transactionId ?? randomUUID(),
        userId: req.otherUserId,
        deviceId: req.otherDeviceId,
        emoji: (sas.sas.emoji ?? []).map(([e, n]) => [e, n] as [string, string]),
        decimal: sas.sas.decimal,
      };
      this.pending = { info, sas, request: req };
      this.emit('verification', info);
    });
    verifier.verify().then(() => {
      this.log('info', `verified ${req.otherUserId}`);
      this.emit('verified', req.otherUserId);
    }, (e: Error) => this.log('warn', `verification with ${req.otherUserId} ended: ${e.message}`)).finally(() => {
      if (this.pending?.request === req) { this.pending = undefined; this.emit('verification', null); }
    });
  }

  /** The human confirmed that the emoji match (editor button). Never called automatically. */
  async confirmVerification(id: string): Promise<void> {
    const p = this.pending;
    if (!p || p.info.id !== id) throw new Error('no such pending verification');
    await p.sas.confirm();
  }

  /** The human said the emoji differ, or cancelled. */
  cancelVerification(id: string): void {
    const p = this.pending;
    if (!p || p.info.id !== id) throw new Error('no such pending verification');
    p.sas.mismatch();
    this.pending = undefined;
    this.emit('verification', null);
  }
}

export class NotEncryptedError extends Error {
  constructor(readonly roomId: string) { super(`room ${roomId} is not encrypted; refusing to send`); }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function mb(n: number): string {
  return `${(n / 1048576).toFixed(1)} MB`;
}
