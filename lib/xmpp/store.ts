// The OMEMO store on disk: our identity, prekeys, sessions and what we know
// about other devices (identity key, trust). One JSON file, written
// atomically (tmp + fsync + rename) before any operation that changed it
// completes, so a crash never leaves a half-written store and a restart keeps
// identity and sessions.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic-file';
import type { Direction, KeyPairType, StorageType } from '@privacyresearch/libsignal-protocol-typescript';

export type TrustState = 'btbv' | 'trusted' | 'distrusted' | 'undecided';

export interface DeviceRecord {
  /** 33-byte serialized Curve25519 public key (0x05 prefix), base64. */
  identityKey: string;
  trust: TrustState;
  firstSeen: number;
}

interface KeyPairJson { pub: string; priv: string }

interface StoreJson {
  version: 1;
  deviceId: number;
  registrationId: number;
  identity: KeyPairJson;
  signedPreKey: { id: number; pair: KeyPairJson; signature: string };
  preKeys: Record<string, KeyPairJson>;
  nextPreKeyId: number;
  sessions: Record<string, string>;
  /** key: `${bareJid}|${deviceId}` */
  devices: Record<string, DeviceRecord>;
}

export function toAB(b64: string): ArrayBuffer {
  return Uint8Array.from(Buffer.from(b64, 'base64')).buffer;
}
export function fromAB(ab: ArrayBuffer | Uint8Array): string {
  return Buffer.from(ab instanceof Uint8Array ? ab : new Uint8Array(ab)).toString('base64');
}
function pairToJson(p: KeyPairType): KeyPairJson { return { pub: fromAB(p.pubKey), priv: fromAB(p.privKey) }; }
function pairFromJson(p: KeyPairJson): KeyPairType { return { pubKey: toAB(p.pub), privKey: toAB(p.priv) }; }

export interface NewIdentity {
  deviceId: number;
  registrationId: number;
  identity: KeyPairType;
  signedPreKey: { id: number; pair: KeyPairType; signature: ArrayBuffer };
  preKeys: { id: number; pair: KeyPairType }[];
}

export class OmemoStore implements StorageType {
  private data!: StoreJson;
  private dirty = false;
  /** Called with the prekey id whenever a prekey was consumed by a new session. */
  onPreKeyRemoved?: (id: number) => void;

  constructor(readonly dir: string) {}

  get file(): string { return join(this.dir, 'omemo-store.json'); }

  /** Loads the store; returns false when there is none yet (call create()). */
  load(): boolean {
    if (!existsSync(this.file)) return false;
    let data: StoreJson;
    try {
      data = JSON.parse(readFileSync(this.file, 'utf8')) as StoreJson;
      if (typeof data?.deviceId !== 'number' || !data.identity) throw new Error('no identity in it');
    } catch (e) {
      // Never silently replace an identity: contacts trust this one. The owner decides.
      throw new Error(`${this.file} cannot be read (${(e as Error).message}); move ${this.dir} aside to start as a new OMEMO device (contacts verify it again)`);
    }
    this.data = data;
    return true;
  }

  create(n: NewIdentity): void {
    const preKeys: Record<string, KeyPairJson> = {};
    for (const k of n.preKeys) preKeys[k.id] = pairToJson(k.pair);
    this.data = {
      version: 1,
      deviceId: n.deviceId,
      registrationId: n.registrationId,
      identity: pairToJson(n.identity),
      signedPreKey: { id: n.signedPreKey.id, pair: pairToJson(n.signedPreKey.pair), signature: fromAB(n.signedPreKey.signature) },
      preKeys,
      nextPreKeyId: Math.max(0, ...n.preKeys.map((k) => k.id)) + 1,
      sessions: {},
      devices: {},
    };
    this.dirty = true;
    this.flush();
  }

  /** Persists pending changes (atomic). */
  flush(): void {
    if (!this.dirty) return;
    writeFileAtomic(this.file, JSON.stringify(this.data));
    this.dirty = false;
  }

  private touch(): void { this.dirty = true; }

  get deviceId(): number { return this.data.deviceId; }
  get identityPublic(): ArrayBuffer { return toAB(this.data.identity.pub); }
  get signedPreKeyPublic(): { id: number; pub: ArrayBuffer; signature: ArrayBuffer } {
    const s = this.data.signedPreKey;
    return { id: s.id, pub: toAB(s.pair.pub), signature: toAB(s.signature) };
  }
  get preKeyPublics(): { id: number; pub: ArrayBuffer }[] {
    return Object.entries(this.data.preKeys).map(([id, p]) => ({ id: Number(id), pub: toAB(p.pub) }));
  }
  get preKeyCount(): number { return Object.keys(this.data.preKeys).length; }
  takePreKeyId(): number { const id = this.data.nextPreKeyId++; this.touch(); return id; }

  // --- devices and trust ---
  device(jid: string, id: number): DeviceRecord | undefined { return this.data.devices[`${jid}|${id}`]; }
  devices(): { jid: string; id: number; rec: DeviceRecord }[] {
    return Object.entries(this.data.devices).map(([k, rec]) => {
      const i = k.lastIndexOf('|');
      return { jid: k.slice(0, i), id: Number(k.slice(i + 1)), rec };
    });
  }
  /** Records the identity key of a device. A changed key resets trust to undecided. */
  noteIdentity(jid: string, id: number, identityKey: ArrayBuffer): DeviceRecord {
    const k = `${jid}|${id}`;
    const b64 = fromAB(identityKey);
    const old = this.data.devices[k];
    if (old && old.identityKey === b64) return old;
    // BTBV: blind trust until the owner verified some device of this JID.
    const verified = this.devices().some((d) => d.jid === jid && d.rec.trust === 'trusted');
    const rec: DeviceRecord = { identityKey: b64, trust: old ? 'undecided' : verified ? 'undecided' : 'btbv', firstSeen: Date.now() };
    this.data.devices[k] = rec;
    this.touch();
    return rec;
  }
  setTrust(jid: string, id: number, trust: TrustState): boolean {
    const rec = this.data.devices[`${jid}|${id}`];
    if (!rec) return false;
    rec.trust = trust;
    this.touch();
    this.flush();
    return true;
  }

  // --- libsignal StorageType ---
  async getIdentityKeyPair(): Promise<KeyPairType | undefined> { return pairFromJson(this.data.identity); }
  async getLocalRegistrationId(): Promise<number | undefined> { return this.data.registrationId; }
  /** Trust is decided per device at the OMEMO layer (see noteIdentity); libsignal passes only the JID here. */
  async isTrustedIdentity(_identifier: string, _identityKey: ArrayBuffer, _direction: Direction): Promise<boolean> { return true; }
  async saveIdentity(encodedAddress: string, publicKey: ArrayBuffer): Promise<boolean> {
    const i = encodedAddress.lastIndexOf('.');
    const jid = encodedAddress.slice(0, i);
    const id = Number(encodedAddress.slice(i + 1));
    const before = this.device(jid, id)?.identityKey;
    this.noteIdentity(jid, id, publicKey);
    return before !== undefined && before !== fromAB(publicKey);
  }
  async loadPreKey(keyId: string | number): Promise<KeyPairType | undefined> {
    const p = this.data.preKeys[String(keyId)];
    return p ? pairFromJson(p) : undefined;
  }
  async storePreKey(keyId: number | string, keyPair: KeyPairType): Promise<void> {
    this.data.preKeys[String(keyId)] = pairToJson(keyPair);
    this.touch();
  }
  async removePreKey(keyId: number | string): Promise<void> {
    if (!this.data.preKeys[String(keyId)]) return;
    delete this.data.preKeys[String(keyId)];
    this.touch();
    this.onPreKeyRemoved?.(Number(keyId));
  }
  async storeSession(encodedAddress: string, record: string): Promise<void> {
    this.data.sessions[encodedAddress] = record;
    this.touch();
  }
  async loadSession(encodedAddress: string): Promise<string | undefined> { return this.data.sessions[encodedAddress]; }
  hasSession(jid: string, id: number): boolean { return `${jid}.${id}` in this.data.sessions; }
  async loadSignedPreKey(keyId: number | string): Promise<KeyPairType | undefined> {
    return Number(keyId) === this.data.signedPreKey.id ? pairFromJson(this.data.signedPreKey.pair) : undefined;
  }
  async storeSignedPreKey(): Promise<void> { /* generated once in create() */ }
  async removeSignedPreKey(): Promise<void> { /* kept: one signed prekey */ }
}

/** The fingerprint as Conversations shows it: hex of the 32-byte key without the 0x05 prefix, in groups of 8. */
export function fingerprint(identityKey: ArrayBuffer | string): string {
  let b = Buffer.from(typeof identityKey === 'string' ? toAB(identityKey) : identityKey);
  if (b.length === 33 && b[0] === 5) b = b.subarray(1);
  return (b.toString('hex').match(/.{1,8}/g) ?? []).join(' ');
}
