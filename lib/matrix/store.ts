// The durable state of one account in one file: the Rust crypto store and the
// SDK's sync state (rooms and the sync token). Keeping the token means a
// restart continues the sync where it stopped instead of starting over, which
// Synapse may answer from its cache of the previous run's sync chain (to-device
// events of a finished verification, old invites) for two minutes.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as Sdk from 'matrix-js-sdk';
import { attachDurableStore, detachDurableStore } from './durable-idb';
import type { SdkModule } from './sdk';
import type { Log } from './types';

export interface AccountStore {
  /** cryptoDatabasePrefix for initRustCrypto. */
  cryptoPrefix: string;
  /** The SDK store for MatrixClient; call startup() on it once the client exists. */
  sync: Sdk.IndexedDBStore;
  /** Closes the sync database and stops writing the file. */
  release(): Promise<void>;
}

/**
 * Loads the store file of this folder and account (or starts an empty one). A
 * resumed session without its file is refused: the same device id with fresh
 * keys would be rejected by the server and distrusted by everyone.
 */
export function openAccountStore(sdk: SdkModule, storeDir: string, userId: string, deviceId: string, resumed: boolean): AccountStore {
  const cryptoPrefix = `mantis-${createHash('sha256').update(`${storeDir}\0${userId}`).digest('hex').slice(0, 16)}`;
  const syncName = `${cryptoPrefix}-sync`;
  const file = join(storeDir, 'crypto-store.v8');
  if (resumed && !existsSync(file)) {
    throw new Error(`crypto store ${file} is missing for device ${deviceId}; empty ${storeDir} to log in as a new device`);
  }
  // The SDK names its sync database "matrix-js-sdk:<dbName>". (An unreadable file fails with its path and the way out.)
  attachDurableStore(file, [cryptoPrefix, `matrix-js-sdk:${syncName}`]);
  const sync = new sdk.IndexedDBStore({ indexedDB: (globalThis as unknown as { indexedDB: IDBFactory }).indexedDB, dbName: syncName });
  const release = async (): Promise<void> => {
    await sync.destroy().catch(() => undefined);
    detachDurableStore(cryptoPrefix);
  };
  return { cryptoPrefix, sync, release };
}

/**
 * Saves the sync state after every sync that moved the token (the SDK itself
 * saves every five minutes only). The crypto store has then committed what
 * that sync brought, so the two never disagree by more than one sync.
 */
export function keepSyncToken(sdk: SdkModule, client: Sdk.MatrixClient, store: Sdk.IndexedDBStore, log: Log): () => Promise<void> {
  // We are the only writer: a save the SDK started would make ours join it with older data and skip this token.
  store.wantsSave = () => false;
  let saved: string | null = null;
  let saving: Promise<void> = Promise.resolve();
  const onSync = (state: Sdk.SyncState): void => {
    if (state !== sdk.SyncState.Syncing) return;
    const token = store.getSyncToken();
    if (!token || token === saved) return;
    saved = token;
    saving = saving.then(() => store.save(true)).catch((e: Error) => log('warn', `saving the sync state: ${e.message}`));
  };
  client.on(sdk.ClientEvent.Sync, onSync);
  // On stop: the save in flight, then what the last sync brought (a restart must not see it again).
  return async () => {
    client.off(sdk.ClientEvent.Sync, onSync);
    await saving;
    if (store.getSyncToken() !== saved) await store.save(true).catch((e: Error) => log('warn', `saving the sync state: ${e.message}`));
  };
}
