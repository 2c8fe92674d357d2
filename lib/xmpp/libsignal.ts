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
    // The bundled copy (scripts/bundle-vendor.mjs): the package itself is a build-time dependency only.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    signalModule = require('../vendor/libsignal.js') as typeof SignalModule;
  } finally {
    HIJACKED.forEach((e, i) => {
      for (const l of listeners(e)) if (!before[i].has(l)) process.removeListener(e, l);
    });
  }
  return signalModule;
}
