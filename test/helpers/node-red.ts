// The real Node-RED runtime, driven by node-red-node-test-helper.
import { dirname, join } from 'node:path';
import { repoRoot } from './paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper') as NodeRedTestHelper;
helper.init(require.resolve('node-red'));

export interface TestNode {
  id: string;
  on(event: 'input', cb: (msg: Record<string, unknown>) => void): void;
  receive(msg: Record<string, unknown>): void;
  status?: unknown;
  [k: string]: unknown;
}

export interface NodeRedTestHelper {
  init(nodeRedPath: string): void;
  load(nodes: unknown[], flow: unknown[], credentials?: Record<string, unknown>): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): TestNode;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  settings(s: Record<string, unknown>): void;
  log(): { args: unknown[][] } & Record<string, unknown>;
}

export { helper };

/** One of Node-RED's own core node modules (e.g. 'function/10-switch.js'), from the node-red package in use. */
export function coreNode(file: string, nodeRedModule = 'node-red'): unknown {
  const nodesPkg = require.resolve('@node-red/nodes/package.json', { paths: [dirname(require.resolve(`${nodeRedModule}/package.json`))] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(join(dirname(nodesPkg), 'core', file));
}

/** The compiled runtime module of one of our nodes, as Node-RED would require it. */
export function mantisNode(name: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(join(repoRoot, 'dist', 'nodes', name, `${name}.js`));
}
