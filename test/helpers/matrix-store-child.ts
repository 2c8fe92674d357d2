// Child process for the durable IndexedDB test: commits read-write transactions
// in a loop through fake-indexeddb + the write-through, and prints the counter
// after each one has completed (what the SDK would have been told is durable).
import { attachDurableStore } from '../../lib/matrix/durable-idb';

const [file, mode] = process.argv.slice(2) as [string, string];
attachDurableStore(file, 'crashtest');
const idb = (globalThis as unknown as { indexedDB: IDBFactory }).indexedDB;
const open = idb.open('crashtest::db', 2);
open.onupgradeneeded = () => {
  const db = open.result;
  if (!db.objectStoreNames.contains('kv')) db.createObjectStore('kv');
  if (!db.objectStoreNames.contains('log')) {
    const log = db.createObjectStore('log', { autoIncrement: true });
    log.createIndex('byN', 'n', { unique: true });
  }
};
open.onsuccess = () => {
  const db = open.result;
  if (mode === 'read') {
    const tx = db.transaction(['kv', 'log'], 'readonly');
    const get = tx.objectStore('kv').get('counter');
    const count = tx.objectStore('log').count();
    const idx = tx.objectStore('log').index('byN').count();
    tx.oncomplete = () => process.stdout.write(`${JSON.stringify({ counter: get.result ?? 0, log: count.result, index: idx.result })}\n`);
    return;
  }
  const read = db.transaction('kv', 'readonly').objectStore('kv').get('counter');
  read.onsuccess = () => {
    let n = (read.result as number | undefined) ?? 0;
    const step = (): void => {
      n++;
      const tx = db.transaction(['kv', 'log'], 'readwrite');
      tx.objectStore('kv').put(n, 'counter');
      // Some bulk, like the crypto store's sessions: keeps each write non-trivial.
      tx.objectStore('log').add({ n, blob: new Uint8Array(2048).fill(n & 255) });
      tx.oncomplete = () => { process.stdout.write(`${n}\n`); step(); };
    };
    step();
  };
};
