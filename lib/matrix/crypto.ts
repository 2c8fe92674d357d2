// End-to-end encryption for the bot's device: the Rust crypto on the durable
// store, room keys only for verified devices, and cross-signing set up once
// (answering the server's password question when it asks).
import type * as Sdk from 'matrix-js-sdk';
import type { Lifetime } from '../common/lifetime';
import type { Log } from './types';

export async function initCrypto(client: Sdk.MatrixClient, cryptoPrefix: string, userId: string, password: string | undefined,
  run: Lifetime, log: Log): Promise<void> {
  await run.step(client.initRustCrypto({ useIndexedDB: true, cryptoDatabasePrefix: cryptoPrefix }));
  const crypto = client.getCrypto()!;
  // Room keys only go to devices we verified (the owner after SAS), never to strangers.
  crypto.globalBlacklistUnverifiedDevices = true;
  const ready = await run.step(crypto.isCrossSigningReady());
  // Ready here only means the keys are in our store: a start stopped during their upload left them unpublished.
  // (Unknown while the homeserver is down: then go on offline and repair on a later start.)
  const published = ready && await run.step(publishedCrossSigning(client, userId).catch(() => true));
  if (published) return;
  log('info', ready ? 'cross-signing keys were never published (an earlier start stopped during the upload); setting them up again' : 'bootstrapping cross-signing');
  await run.step(crypto.bootstrapCrossSigning({
    setupNewCrossSigning: ready,
    authUploadDeviceSigningKeys: async (makeRequest) => {
      try {
        await run.step(makeRequest(null));
      } catch (err) {
        // User-interactive auth: answer the password stage with the session the server gave.
        const data = (err as { data?: { session?: string; flows?: unknown } }).data;
        if (!data?.session || !password) throw err;
        log('info', 'the server asks for the password (user-interactive auth) to upload cross-signing keys');
        await run.step(makeRequest({
          type: 'm.login.password', session: data.session, password, identifier: { type: 'm.id.user', user: userId },
        } as never));
      }
    },
  }));
}

/** Whether the homeserver has a master cross-signing key for the user. */
async function publishedCrossSigning(client: Sdk.MatrixClient, userId: string): Promise<boolean> {
  const r = await client.http.authedRequest<{ master_keys?: Record<string, unknown> }>(
    'POST' as Sdk.Method, '/keys/query', undefined, { device_keys: { [userId]: [] } });
  return !!r.master_keys?.[userId];
}
