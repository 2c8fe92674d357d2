// The bot's login: the session file in the store folder, or a new login with
// the password (or a given access token), and which start errors are worth a retry.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic-file';
import type { MatrixBotConfig } from './types';

export interface Session { homeserverUrl: string; userId: string; deviceId: string; accessToken: string }

const sessionFile = (storeDir: string): string => join(storeDir, 'session.json');
const baseUrl = (cfg: MatrixBotConfig): string => cfg.homeserverUrl.replace(/\/+$/, '');

/** The session an earlier start left in the store folder, if any. */
export function readSession(cfg: MatrixBotConfig): Session | undefined {
  const file = sessionFile(cfg.storeDir);
  if (!existsSync(file)) return undefined;
  let s: Session;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as Session;
  } catch (e) {
    throw new Error(`${file} cannot be read (${(e as Error).message}); empty ${cfg.storeDir} to log in as a new device`);
  }
  if (s.userId === cfg.userId && s.homeserverUrl === baseUrl(cfg)) return s;
  throw new Error(`store folder ${cfg.storeDir} belongs to ${s.userId} on ${s.homeserverUrl}; use another folder`);
}

/** A new device: logs in with the password, or asks who the access token belongs to. Aborted by `signal`. */
export async function login(cfg: MatrixBotConfig, signal: AbortSignal): Promise<Session> {
  const base = baseUrl(cfg);
  let session: Session;
  if (cfg.accessToken) {
    const r = await fetch(`${base}/_matrix/client/v3/account/whoami`, { headers: { authorization: `Bearer ${cfg.accessToken}` }, signal });
    if (!r.ok) throw new Error(`access token rejected: ${r.status}`);
    const who = await r.json() as { user_id: string; device_id?: string };
    if (!who.device_id) throw new Error('the access token has no device id');
    session = { homeserverUrl: base, userId: who.user_id, deviceId: who.device_id, accessToken: cfg.accessToken };
  } else if (cfg.password) {
    const r = await fetch(`${base}/_matrix/client/v3/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal,
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
  return session;
}

export function saveSession(storeDir: string, s: Session): void {
  writeFileAtomic(sessionFile(storeDir), JSON.stringify(s));
}

/** Ends a password login that a stop overtook, so that it leaves no device behind at the server. */
export async function logout(s: Session): Promise<void> {
  await fetch(`${s.homeserverUrl}/_matrix/client/v3/logout`, { method: 'POST', headers: { authorization: `Bearer ${s.accessToken}` } });
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
