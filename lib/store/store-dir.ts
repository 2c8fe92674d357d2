import { existsSync } from 'node:fs';
import { join } from 'node:path';

const safe = (s: string): string => s.replace(/[^\w.@-]/g, '_');

/**
 * Where a chat account keeps its session, keys and outbox when the user named no folder:
 * one folder per account (`@bot:example.org`, `bot@example.org`), so that a flow imported again,
 * which gives the config node a new id, finds the same device and keys instead of creating a
 * new device that everyone must verify again. A folder named after the node id (as releases up
 * to 0.1 made them) is kept where it exists.
 */
export function defaultStoreDir(userDir: string, kind: 'mantis-matrix' | 'mantis-xmpp', nodeId: string, account: string): string {
  const legacy = join(userDir, kind, safe(nodeId));
  return existsSync(legacy) ? legacy : join(userDir, kind, safe(account));
}

const claimed = new Map<string, string>();

/**
 * One running account per store folder: two config nodes of the same account (a flow
 * imported twice) would otherwise write the same keys and sessions over each other.
 * Returns the release function, or throws naming the node that has it.
 */
export function claimStoreDir(dir: string, owner: string): () => void {
  const holder = claimed.get(dir);
  if (holder !== undefined && holder !== owner) throw new Error(`another account node (${holder}) already uses the store folder ${dir}; give this one its own folder`);
  claimed.set(dir, owner);
  return () => { if (claimed.get(dir) === owner) claimed.delete(dir); };
}
