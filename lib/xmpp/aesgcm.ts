// XEP-0454 OMEMO media sharing: the file is AES-256-GCM encrypted (tag
// appended), uploaded, and the https link is sent as aesgcm://...#<iv><key>.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface EncryptedFile { ciphertext: Buffer; iv: Buffer; key: Buffer }

export function encryptFile(data: Buffer): EncryptedFile {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
  return { ciphertext, iv, key };
}

/** Turns the upload's GET URL into the aesgcm:// link carrying IV and key in the fragment. */
export function aesgcmLink(getUrl: string, iv: Buffer, key: Buffer): string {
  const u = getUrl.replace(/^https?:\/\//, 'aesgcm://');
  return `${u}#${iv.toString('hex')}${key.toString('hex')}`;
}

export interface ParsedLink { url: string; iv: Buffer; key: Buffer }

/** Parses an aesgcm:// link; the IV may be 12 (XEP-0454) or 16 bytes (older clients). */
export function parseAesgcmLink(link: string, scheme: 'https' | 'http' = 'https'): ParsedLink {
  const m = /^aesgcm:\/\/([^#\s]+)#([0-9a-fA-F]+)$/.exec(link.trim());
  if (!m) throw new Error('not an aesgcm:// link');
  const frag = Buffer.from(m[2], 'hex');
  if (frag.length !== 44 && frag.length !== 48) throw new Error(`bad aesgcm fragment length ${frag.length}`);
  const ivLen = frag.length - 32;
  return { url: `${scheme}://${m[1]}`, iv: frag.subarray(0, ivLen), key: frag.subarray(ivLen) };
}

export function decryptFile(ciphertextWithTag: Buffer, iv: Buffer, key: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAuthTag(ciphertextWithTag.subarray(ciphertextWithTag.length - 16));
  return Buffer.concat([d.update(ciphertextWithTag.subarray(0, ciphertextWithTag.length - 16)), d.final()]);
}
