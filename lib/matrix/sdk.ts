// Loads matrix-js-sdk (ESM only; this package is CommonJS) once, with its
// debug logging turned down to warnings and errors.
import type * as Sdk from 'matrix-js-sdk';
import type * as CryptoApi from 'matrix-js-sdk/lib/crypto-api/index.js';

export type SdkModule = typeof Sdk & typeof CryptoApi;

interface LogLevelLogger { methodFactory: LogFactory; rebuild(): void }
type LogFactory = (method: string, level: number, name: string | symbol) => (...args: unknown[]) => void;
interface LogLevelLib extends LogLevelLogger { getLoggers(): Record<string, LogLevelLogger> }

/** The SDK logs every sync and every encryption at debug level: keep warnings and errors only. */
function quietSdkLogs(loglevel: LogLevelLib): void {
  const wrap = (f: LogFactory): LogFactory => {
    const quiet: LogFactory = (method, level, name) => (method === 'warn' || method === 'error' ? f(method, level, name) : () => undefined);
    (quiet as { quiet?: boolean }).quiet = true;
    return quiet;
  };
  for (const lg of [loglevel, ...Object.values(loglevel.getLoggers())]) {
    if (!(lg.methodFactory as { quiet?: boolean }).quiet) lg.methodFactory = wrap(lg.methodFactory);
    lg.rebuild();
  }
}

let sdkPromise: Promise<SdkModule> | undefined;
export function loadSdk(): Promise<SdkModule> {
  sdkPromise ??= Promise.all([import('matrix-js-sdk'), import('matrix-js-sdk/lib/crypto-api/index.js'), import('loglevel')])
    .then(([m, c, l]) => {
      quietSdkLogs(l.default as unknown as LogLevelLib);
      return { ...m, ...c } as SdkModule;
    });
  return sdkPromise;
}
