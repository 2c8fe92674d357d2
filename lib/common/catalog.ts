// A node's texts (its status, mostly) from its message catalog, locales/<lang>/<node>.json, in the
// runtime's language. Node-RED's RED._ translates; where it answers with the key itself (a runtime
// that has no catalog for the node, node-red-node-test-helper's stub) the English catalog shipped
// beside the node is the fallback, so a status never reads "motion-detect.status.watching".
// Plain data: no Node-RED import, the translate function is passed in.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type CatalogVars = Record<string, string | number>;
export type Translate = (key: string, vars?: CatalogVars) => string;

/** Looks `a.b.c` up in a nested catalog object. */
function lookup(catalog: unknown, key: string): string | undefined {
  let o: unknown = catalog;
  for (const k of key.split('.')) {
    if (o === null || typeof o !== 'object') return undefined;
    o = (o as Record<string, unknown>)[k];
  }
  return typeof o === 'string' ? o : undefined;
}

/** Node-RED's interpolation: __name__. */
export function interpolate(text: string, vars?: CatalogVars): string {
  return text.replace(/__(\w+)__/g, (m, name: string) => (vars && Object.hasOwn(vars, name) ? String(vars[name]) : m));
}

export function catalogText(translate: ((key: string, vars?: CatalogVars) => unknown) | undefined, englishFile: string): Translate {
  let english: unknown = {};
  try {
    english = JSON.parse(readFileSync(englishFile, 'utf8'));
  } catch {
    // Missing or truncated: Node-RED's own catalog still answers; only the fallback is gone.
  }
  return (key, vars) => {
    let t: unknown;
    try { t = translate?.(key, vars); } catch { t = undefined; }
    if (typeof t === 'string' && t !== key && t !== '') return t;
    const en = lookup(english, key);
    return en === undefined ? key : interpolate(en, vars);
  };
}

/**
 * Texts from another node's catalog of this package (the camera statuses live in mantis-camera's,
 * shown by camera-in and record-clip): its Node-RED namespace is "<package name>/<node>".
 * nodeDir is the calling node's folder (dist/nodes/<node>).
 */
export function siblingCatalog(translate: ((key: string, vars?: CatalogVars) => unknown) | undefined, nodeDir: string, node: string): Translate {
  let ns = node;
  try {
    ns = `${(JSON.parse(readFileSync(join(nodeDir, '..', '..', '..', 'package.json'), 'utf8')) as { name: string }).name}/${node}`;
  } catch { /* the English fallback still answers */ }
  const inNamespace = (key: string, vars?: CatalogVars): unknown => {
    const t = translate?.(`${ns}:${key}`, vars);
    // Not found: i18next answers with the key (with or without its namespace).
    return typeof t === 'string' && (t === `${ns}:${key}` || t.endsWith(`:${key}`)) ? key : t;
  };
  return catalogText(inNamespace, join(nodeDir, '..', node, 'locales', 'en-US', `${node}.json`));
}
