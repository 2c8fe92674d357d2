// OMEMO 0.3 (eu.siacs.conversations.axolotl) on libsignal: key generation,
// the bundle, encryption of a body for many devices and decryption. Knows
// nothing of the XMPP stream; lib/xmpp/sender.ts, pep.ts and inbox.ts turn these objects into XML.
import { createCipheriv, createDecipheriv, randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { signal } from './libsignal';
import { OmemoStore, fromAB, toAB, fingerprint, type DeviceRecord, type TrustState } from './store';

export const NS_OMEMO = 'eu.siacs.conversations.axolotl';
export const NODE_DEVICELIST = `${NS_OMEMO}.devicelist`;
export const nodeBundle = (id: number): string => `${NS_OMEMO}.bundles:${id}`;
export const PREKEY_COUNT = 100;

export interface Bundle {
  signedPreKeyId: number;
  signedPreKeyPublic: string; // base64, 33 bytes
  signedPreKeySignature: string;
  identityKey: string;
  preKeys: { id: number; pub: string }[];
}

export interface EncryptedKey { rid: number; prekey: boolean; data: string }
export interface EncryptedMessage {
  sid: number;
  keys: EncryptedKey[];
  iv: string;
  payload?: string;
}

export interface DeviceTarget { jid: string; devices: number[] }
export type BundleFetcher = (jid: string, deviceId: number) => Promise<Bundle>;

export interface DecryptResult {
  /** null for a key transport message (no payload). */
  plaintext: Buffer | null;
  jid: string;
  device: number;
  trust: TrustState;
  /** true when the message started a new session (a prekey of ours was used). */
  preKeyMessage: boolean;
}

export interface EncryptReport {
  message: EncryptedMessage;
  /** Devices skipped and why (no bundle, distrusted, ...). */
  skipped: { jid: string; device: number; reason: string }[];
}

/** Trusted enough to receive alerts (BTBV included); commands need 'trusted', a device the owner verified. */
export function isTrusted(t: TrustState): boolean { return t === 'trusted' || t === 'btbv'; }

export class Omemo extends EventEmitter {
  readonly store: OmemoStore;
  /** Serializes every operation that touches sessions (libsignal is not re-entrant per session). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    super();
    this.store = new OmemoStore(dir);
  }

  /** Loads or creates the identity; once `stopped` aborts it rejects and writes nothing. */
  async init(stopped?: AbortSignal): Promise<void> {
    const { KeyHelper } = signal();
    if (!this.store.load()) {
      const identity = await KeyHelper.generateIdentityKeyPair();
      const spk = await KeyHelper.generateSignedPreKey(identity, 1);
      const preKeys = [];
      for (let i = 1; i <= PREKEY_COUNT; i++) {
        // Key generation resolves in microtasks only: without a turn of the event loop now and
        // then, ~2 s of it would stall all of Node-RED (HTTP, MQTT keep-alives, a redeploy).
        if (i % 5 === 0) await new Promise((r) => setImmediate(r));
        stopped?.throwIfAborted();
        const k = await KeyHelper.generatePreKey(i);
        preKeys.push({ id: k.keyId, pair: k.keyPair });
      }
      stopped?.throwIfAborted();
      this.store.create({
        deviceId: randomInt(1, 2 ** 31 - 1),
        registrationId: KeyHelper.generateRegistrationId(),
        identity,
        signedPreKey: { id: spk.keyId, pair: spk.keyPair, signature: spk.signature },
        preKeys,
      });
    }
    this.store.onPreKeyRemoved = (id) => { this.pendingRefill = true; this.emit('prekey-used', id); };
  }

  private pendingRefill = false;

  get deviceId(): number { return this.store.deviceId; }
  get fingerprint(): string { return fingerprint(this.store.identityPublic); }

  bundle(): Bundle {
    const spk = this.store.signedPreKeyPublic;
    return {
      signedPreKeyId: spk.id,
      signedPreKeyPublic: fromAB(spk.pub),
      signedPreKeySignature: fromAB(spk.signature),
      identityKey: fromAB(this.store.identityPublic),
      preKeys: this.store.preKeyPublics.map((k) => ({ id: k.id, pub: fromAB(k.pub) })),
    };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Replaces consumed prekeys; emits 'bundle' so that the owner re-publishes it. */
  private async refill(): Promise<void> {
    if (!this.pendingRefill) return;
    this.pendingRefill = false;
    while (this.store.preKeyCount < PREKEY_COUNT) {
      const id = this.store.takePreKeyId();
      const k = await signal().KeyHelper.generatePreKey(id);
      await this.store.storePreKey(id, k.keyPair);
    }
    this.store.flush();
    this.emit('bundle', this.bundle());
  }

  /**
   * Encrypts body for every trusted device of the targets (sessions are built
   * from bundles as needed). Throws when no device at all could be reached.
   */
  encrypt(body: Buffer | null, targets: DeviceTarget[], fetchBundle: BundleFetcher): Promise<EncryptReport> {
    return this.serial(async () => {
      const key = randomBytes(16);
      const iv = randomBytes(12);
      let keyMaterial = key;
      let payload: string | undefined;
      if (body) {
        const c = createCipheriv('aes-128-gcm', key, iv);
        const ct = Buffer.concat([c.update(body), c.final()]);
        keyMaterial = Buffer.concat([key, c.getAuthTag()]);
        payload = ct.toString('base64');
      }
      const keys: EncryptedKey[] = [];
      const skipped: EncryptReport['skipped'] = [];
      for (const t of targets) {
        for (const dev of t.devices) {
          if (t.jid === this.ownJid && dev === this.deviceId) continue;
          try {
            const addr = new (signal().SignalProtocolAddress)(t.jid, dev);
            if (!this.store.hasSession(t.jid, dev)) {
              const b = await fetchBundle(t.jid, dev);
              const rec = this.store.noteIdentity(t.jid, dev, toAB(b.identityKey));
              if (!isTrusted(rec.trust)) { skipped.push({ jid: t.jid, device: dev, reason: rec.trust }); continue; }
              if (!b.preKeys.length) throw new Error('bundle has no prekeys');
              const pk = b.preKeys[randomInt(b.preKeys.length)];
              await new (signal().SessionBuilder)(this.store, addr).processPreKey({
                identityKey: toAB(b.identityKey),
                registrationId: 0,
                signedPreKey: { keyId: b.signedPreKeyId, publicKey: toAB(b.signedPreKeyPublic), signature: toAB(b.signedPreKeySignature) },
                preKey: { keyId: pk.id, publicKey: toAB(pk.pub) },
              });
            } else {
              const rec = this.store.device(t.jid, dev);
              if (rec && !isTrusted(rec.trust)) { skipped.push({ jid: t.jid, device: dev, reason: rec.trust }); continue; }
            }
            const res = await new (signal().SessionCipher)(this.store, addr).encrypt(Uint8Array.from(keyMaterial).buffer);
            keys.push({ rid: dev, prekey: res.type === 3, data: Buffer.from(res.body ?? '', 'binary').toString('base64') });
          } catch (e) {
            skipped.push({ jid: t.jid, device: dev, reason: (e as Error).message });
          }
        }
      }
      this.store.flush();
      if (!keys.length) {
        throw new Error(`no device to encrypt for (${skipped.map((s) => `${s.jid}/${s.device}: ${s.reason}`).join('; ') || 'no devices published'})`);
      }
      return { message: { sid: this.deviceId, keys, iv: iv.toString('base64'), payload }, skipped };
    });
  }

  /** The bare JID of the account, so that encrypt() skips this very device. */
  ownJid = '';

  decrypt(from: string, msg: EncryptedMessage): Promise<DecryptResult> {
    return this.serial(async () => {
      const k = msg.keys.find((x) => x.rid === this.deviceId);
      if (!k) throw new Error('message not encrypted for this device');
      const addr = new (signal().SignalProtocolAddress)(from, msg.sid);
      const cipher = new (signal().SessionCipher)(this.store, addr);
      const raw = Uint8Array.from(Buffer.from(k.data, 'base64')).buffer;
      let keyMaterial: Buffer;
      try {
        keyMaterial = Buffer.from(k.prekey
          ? await cipher.decryptPreKeyWhisperMessage(raw, 'binary')
          : await cipher.decryptWhisperMessage(raw, 'binary'));
      } finally {
        this.store.flush();
      }
      const rec: DeviceRecord | undefined = this.store.device(from, msg.sid);
      await this.refill();
      let plaintext: Buffer | null = null;
      if (msg.payload !== undefined) {
        const key = keyMaterial.subarray(0, 16);
        let tag = keyMaterial.subarray(16);
        let ct = Buffer.from(msg.payload, 'base64');
        if (tag.length < 16) { // very old clients appended the tag to the payload
          tag = ct.subarray(ct.length - 16);
          ct = ct.subarray(0, ct.length - 16);
        }
        const d = createDecipheriv('aes-128-gcm', key, Buffer.from(msg.iv, 'base64'));
        d.setAuthTag(tag);
        plaintext = Buffer.concat([d.update(ct), d.final()]);
      }
      return { plaintext, jid: from, device: msg.sid, trust: rec?.trust ?? 'undecided', preKeyMessage: k.prekey };
    });
  }

  setTrust(jid: string, device: number, trust: TrustState): boolean { return this.store.setTrust(jid, device, trust); }
}
