// `npm run bench`: runs every bench module beside this file and prints one
// JSON object per figure: {"name": ..., "value": ..., "unit": ..., ...}.
// A bench module exports `run(report)`; pass a name fragment as argv[2] to run only some.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  target?: number;
  [extra: string]: unknown;
}
export type Report = (figure: Figure) => void;

async function main(): Promise<void> {
  const only = process.argv[2];
  const modules = readdirSync(__dirname)
    .filter((f) => f.endsWith('.js') && f !== 'run.js')
    .filter((f) => !only || f.includes(only))
    .sort();
  const report: Report = (figure) => process.stdout.write(`${JSON.stringify(figure)}\n`);
  let failed = false;
  for (const file of modules) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(join(__dirname, file)) as { run?: (r: Report) => Promise<void> };
    if (typeof mod.run !== 'function') continue;
    try {
      await mod.run(report);
    } catch (err) {
      failed = true;
      process.stderr.write(`bench ${file} failed: ${(err as Error).stack ?? String(err)}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}

main().catch((err: Error) => { process.stderr.write(`bench failed: ${err.stack ?? String(err)}\n`); process.exit(1); });
