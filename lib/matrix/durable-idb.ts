// fake-indexeddb (pinned 6.2.8) made durable: the Rust crypto store of
// matrix-js-sdk needs an IndexedDB, and fake-indexeddb keeps it only in memory.
// After every committed read-write transaction the object stores in that
// transaction's scope are copied synchronously from fake-indexeddb's internal
// structures (never read back through IndexedDB while the SDK works: that stalled
// verification) and the whole owner file is written atomically (tmp + fsync +
// rename). On start the file is loaded back into fresh internal structures
// before the SDK opens the database.
import { dirname, join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { serialize, deserialize } from 'node:v8';
import { writeFileAtomic } from '../store/atomic-file';

// Internal shapes of fake-indexeddb 6.2.8 (build/cjs/lib/*.js).
interface RawRecord { key: unknown; value: unknown }
interface RawRecordStore { put(r: RawRecord, noOverwrite?: boolean): unknown; values(): Iterable<RawRecord> }
interface RawIndex {
  name: string; keyPath: string | string[]; multiEntry: boolean; unique: boolean; initialized: boolean;
  storeRecord(r: RawRecord): void;
}
interface RawObjectStore {
  name: string; keyPath: string | string[] | null; autoIncrement: boolean; deleted: boolean;
  keyGenerator: { num: number } | null; records: RawRecordStore; rawIndexes: Map<string, RawIndex>;
}
interface RawDatabase { name: string; version: number; rawObjectStores: Map<string, RawObjectStore> }
interface RawTransaction {
  mode: string; _scope: Set<string>; error: unknown; db: { _rawDatabase: RawDatabase };
  _markFinished(): void;
}
interface FakeFactory { _databases: Map<string, RawDatabase> }

type Ctor<T> = new (...args: never[]) => T;

interface StoreDump {
  name: string; keyPath: string | string[] | null; autoIncrement: boolean; keyGen: number | null;
  indexes: { name: string; keyPath: string | string[]; multiEntry: boolean; unique: boolean }[];
  records: [unknown, unknown][];
}
interface FileDump { v: 1; dbs: { name: string; version: number; stores: Buffer[] }[] }

interface Owner { file: string; prefixes: readonly string[]; cache: Map<string, Map<string, Buffer>>; versions: Map<string, number> }

let installed: { factory: FakeFactory; owners: Owner[]; libDir: string } | undefined;

function fakeLib(): string {
  return join(dirname(require.resolve('fake-indexeddb')), 'lib');
}

/** Installs the process-wide IndexedDB globals (once) with the write-through hook. */
function install(): { factory: FakeFactory; owners: Owner[]; libDir: string } {
  if (installed) return installed;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fake = require('fake-indexeddb') as Record<string, unknown> & { IDBFactory: new () => unknown };
  const factory = new fake.IDBFactory() as FakeFactory;
  const g = globalThis as Record<string, unknown>;
  g.indexedDB = factory;
  for (const name of ['IDBCursor', 'IDBCursorWithValue', 'IDBDatabase', 'IDBFactory', 'IDBIndex', 'IDBKeyRange',
    'IDBObjectStore', 'IDBOpenDBRequest', 'IDBRecord', 'IDBRequest', 'IDBTransaction', 'IDBVersionChangeEvent']) {
    if (fake[name] !== undefined) g[name] = fake[name];
  }
  const owners: Owner[] = [];
  const txProto = (fake.IDBTransaction as { prototype: RawTransaction }).prototype;
  const original = txProto._markFinished;
  // _markFinished runs once a transaction is committed (or rolled back); the
  // stores in a read-write scope are locked by it, so they hold committed state.
  txProto._markFinished = function (this: RawTransaction): void {
    original.call(this);
    if (this.mode === 'readonly') return;
    const raw = this.db._rawDatabase;
    const owner = owners.find((o) => o.prefixes.some((p) => raw.name.startsWith(p)));
    if (!owner) return;
    persist(owner, raw, this.mode === 'versionchange' ? undefined : this._scope);
  };
  installed = { factory, owners, libDir: fakeLib() };
  return installed;
}

function dumpStore(s: RawObjectStore): Buffer {
  const dump: StoreDump = {
    name: s.name, keyPath: s.keyPath, autoIncrement: s.autoIncrement, keyGen: s.keyGenerator ? s.keyGenerator.num : null,
    indexes: [...s.rawIndexes.values()].map((i) => ({ name: i.name, keyPath: i.keyPath, multiEntry: i.multiEntry, unique: i.unique })),
    records: [...s.records.values()].map((r) => [r.key, r.value]),
  };
  return serialize(dump);
}

function persist(owner: Owner, raw: RawDatabase, scope: Set<string> | undefined): void {
  let stores = owner.cache.get(raw.name);
  if (!stores || !scope) {
    // Schema change: everything is in scope, stores may have been removed.
    stores = new Map();
    owner.cache.set(raw.name, stores);
  }
  for (const [name, s] of raw.rawObjectStores) {
    if (!scope || scope.has(name)) stores.set(name, dumpStore(s));
  }
  for (const name of [...stores.keys()]) if (!raw.rawObjectStores.has(name)) stores.delete(name);
  owner.versions.set(raw.name, raw.version);
  write(owner);
}

function write(owner: Owner): void {
  const dump: FileDump = {
    v: 1,
    dbs: [...owner.cache].map(([name, stores]) => ({ name, version: owner.versions.get(name) ?? 1, stores: [...stores.values()] })),
  };
  writeFileAtomic(owner.file, serialize(dump));
}

/**
 * Makes every IndexedDB database whose name starts with one of `prefixes`
 * durable in `file` (one file, so that what belongs together is written
 * together), loading what the file holds first. Call before the SDK opens them.
 */
export function attachDurableStore(file: string, prefixes: string | readonly string[]): void {
  const inst = install();
  const mine = typeof prefixes === 'string' ? [prefixes] : prefixes;
  const taken = mine.find((p) => inst.owners.some((o) => o.prefixes.includes(p)));
  if (taken) throw new Error(`store prefix ${taken} is already in use`);
  const owner: Owner = { file, prefixes: mine, cache: new Map(), versions: new Map() };
  for (const name of [...inst.factory._databases.keys()]) if (mine.some((p) => name.startsWith(p))) inst.factory._databases.delete(name);
  if (existsSync(file)) {
    let dump: FileDump;
    try {
      dump = deserialize(readFileSync(file)) as FileDump;
      if (!Array.isArray(dump?.dbs)) throw new Error('no databases in it');
    } catch (e) {
      // The crypto keys of this device are in it: never start over silently.
      throw new Error(`${file} cannot be read (${(e as Error).message}); empty its folder to log in as a new device (verify it again)`);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Database = require(join(inst.libDir, 'Database.js')) as Ctor<RawDatabase>;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ObjectStore = require(join(inst.libDir, 'ObjectStore.js')) as Ctor<RawObjectStore>;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Index = require(join(inst.libDir, 'Index.js')) as Ctor<RawIndex>;
    const D = Database as unknown as new (name: string, version: number) => RawDatabase;
    const S = ObjectStore as unknown as new (db: RawDatabase, name: string, kp: unknown, ai: boolean) => RawObjectStore;
    const I = Index as unknown as new (s: RawObjectStore, name: string, kp: unknown, me: boolean, u: boolean) => RawIndex;
    for (const d of dump.dbs) {
      const db = new D(d.name, d.version);
      const cache = new Map<string, Buffer>();
      for (const buf of d.stores) {
        const sd = deserialize(buf) as StoreDump;
        const store = new S(db, sd.name, sd.keyPath, sd.autoIncrement);
        if (store.keyGenerator && sd.keyGen !== null) store.keyGenerator.num = sd.keyGen;
        for (const [key, value] of sd.records) store.records.put({ key, value });
        for (const id of sd.indexes) {
          const index = new I(store, id.name, id.keyPath, id.multiEntry, id.unique);
          for (const r of store.records.values()) index.storeRecord(r);
          index.initialized = true;
          store.rawIndexes.set(id.name, index);
        }
        db.rawObjectStores.set(sd.name, store);
        cache.set(sd.name, buf);
      }
      inst.factory._databases.set(d.name, db);
      owner.cache.set(d.name, cache);
      owner.versions.set(d.name, d.version);
    }
  }
  inst.owners.push(owner);
}

/** Stops writing for the owner of this prefix (the in-memory databases stay until the next attach). */
export function detachDurableStore(prefix: string): void {
  if (!installed) return;
  const i = installed.owners.findIndex((o) => o.prefixes.includes(prefix));
  if (i >= 0) installed.owners.splice(i, 1);
}
