// libsignal on demand, without its side effects. Its curve25519 is an
// emscripten build that, when loaded, adds process-wide 'uncaughtException'
// and 'unhandledRejection' handlers: they take over Node-RED's crash handling
// and report unrelated errors as aborts in curveasm.js. We take them off again.
import type * as SignalModule from '@privacyresearch/libsignal-protocol-typescript';

const HIJACKED: readonly string[] = ['uncaughtException', 'unhandledRejection'];
type Listener = (...args: unknown[]) => void;

// libsignal costs ~14 MB of RSS as soon as it is required: required on first
// use, so a flow without an XMPP account never pays for it.
let signalModule: typeof SignalModule | undefined;

export function signal(): typeof SignalModule {
  if (signalModule) return signalModule;
  const listeners = (e: string): Listener[] => (process.listeners as (e: string) => Listener[])(e);
  const before = HIJACKED.map((e) => new Set(listeners(e)));
  try {
    signalModule = loadBundled();
  } finally {
    HIJACKED.forEach((e, i) => {
      for (const l of listeners(e)) if (!before[i].has(l)) process.removeListener(e, l);
    });
  }
  return signalModule;
}

/**
 * The bundled copy (scripts/bundle-vendor.mjs, part of `npm run build`): installs have no libsignal
 * package, it is a build-time dependency. A checkout compiled by tsc alone has no bundle: the package then.
 */
function loadBundled(): typeof SignalModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../vendor/libsignal.js') as typeof SignalModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' || !/vendor[\\/]libsignal/.test((err as Error).message)) throw err;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@privacyresearch/libsignal-protocol-typescript') as typeof SignalModule;
  }
}
