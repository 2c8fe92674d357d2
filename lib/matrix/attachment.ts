// The Matrix encrypted-file scheme (spec "Sending encrypted attachments"):
// AES-256-CTR with a random key and a 64-bit random IV prefix (the counter half
// starts at zero), SHA-256 of the ciphertext, the key as a JWK.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export interface EncryptedFile {
  url: string;
  key: { kty: 'oct'; key_ops: string[]; alg: 'A256CTR'; k: string; ext: true };
  iv: string;
  hashes: { sha256: string };
  v: 'v2';
}

/** Unpadded standard base64, as the spec wants for iv and hashes. */
function b64(buf: Buffer): string {
  return buf.toString('base64').replace(/=+$/, '');
}

/** Encrypts bytes; the returned file info lacks only the mxc url of the upload. */
export function encryptAttachment(plain: Uint8Array): { data: Buffer; info: Omit<EncryptedFile, 'url'> } {
  const key = randomBytes(32);
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const data = Buffer.concat([cipher.update(plain), cipher.final()]);
  return {
    data,
    info: {
      v: 'v2',
      key: { kty: 'oct', key_ops: ['encrypt', 'decrypt'], alg: 'A256CTR', k: key.toString('base64url'), ext: true },
      iv: b64(iv),
      hashes: { sha256: b64(createHash('sha256').update(data).digest()) },
    },
  };
}

/** Checks the hash and decrypts (what a receiving client does). */
export function decryptAttachment(data: Uint8Array, file: Pick<EncryptedFile, 'key' | 'iv' | 'hashes'>): Buffer {
  const hash = b64(createHash('sha256').update(data).digest());
  if (hash !== file.hashes.sha256.replace(/=+$/, '')) throw new Error('attachment hash mismatch');
  if (file.key.alg !== 'A256CTR') throw new Error(`unsupported attachment algorithm ${file.key.alg}`);
  const key = Buffer.from(file.key.k, 'base64url');
  const iv = Buffer.from(file.iv, 'base64');
  const decipher = createDecipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}
