import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, lstatSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface EmbeddedNodeRedOptions {
  /** Node-RED's user dir: flows, credentials, the alarm state, the Matrix/XMPP stores. */
  userDir: string;
  host: string;
  port: number;
  /** Copied to the user dir as flows.json when it has none yet (or when resetFlow is set). */
  initialFlow?: string;
  /** Applied to the initial flow on its way into the user dir (npm start's settings). */
  prepareFlow?: (flow: FlowNode[]) => FlowNode[];
  resetFlow?: boolean;
  /** Module to load as Node-RED ('node-red' or an alias such as 'node-red-4'). */
  nodeRedModule?: string;
  /** Makes this package visible to Node-RED as if installed from the palette. */
  linkPackage?: string;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** The editor's login (Node-RED adminAuth): a user name and a bcrypt hash of the password. */
  editorLogin?: { username: string; passwordHash: string };
  /**
   * Credentials to store (encrypted, in flows_cred.json) before the flow starts, by node id, given the
   * flow; e.g. a broker login from the environment. Nodes not listed keep theirs.
   */
  credentials?: (flow: readonly FlowNode[]) => Record<string, Record<string, string>>;
}

export interface FlowNode { id: string; type: string; [key: string]: unknown }

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
/** The runtime's node API (RED.nodes): what start() needs to store credentials before the flow runs. */
interface RuntimeNodes {
  getFlows(): { flows: FlowNode[] } | null;
  getCredentials(id: string): Record<string, unknown> | undefined;
  setFlows(flows: FlowNode[], credentials: null, type: 'full'): Promise<unknown>;
  loadFlows(forceStart: boolean): Promise<unknown>;
}
interface RuntimeEvent { id: string; payload?: { state?: string; error?: string } }
interface NodeRedRuntime {
  init(server: Server, settings: Record<string, unknown>): void;
  nodes: RuntimeNodes;
  events: {
    on(event: 'runtime-event', fn: (e: RuntimeEvent) => void): void;
    off(event: 'runtime-event', fn: (e: RuntimeEvent) => void): void;
  };
  start(): Promise<void>;
  stop(): Promise<void>;
  httpAdmin: Handler;
  httpNode: Handler;
}

const PACKAGE_ROOT = resolve(__dirname, '..', '..', '..');

/** Node-RED in this process, with its editor on http://host:port/ and HTTP-in nodes under /api. */
export class EmbeddedNodeRed {
  private server: Server | undefined;
  private red: NodeRedRuntime | undefined;

  constructor(private readonly options: EmbeddedNodeRedOptions) {}

  get url(): string {
    return `http://${this.options.host}:${this.options.port}`;
  }

  async start(): Promise<void> {
    const o = this.options;
    mkdirSync(o.userDir, { recursive: true });
    lockUserDir(o.userDir);
    const flowFile = join(o.userDir, 'flows.json');
    if (o.initialFlow && (o.resetFlow || !existsSync(flowFile))) {
      const flow = JSON.parse(readFileSync(o.initialFlow, 'utf8')) as FlowNode[];
      writeFileSync(flowFile, `${JSON.stringify(o.prepareFlow ? o.prepareFlow(flow) : flow, null, 2)}\n`, { mode: 0o600 });
      chmodSync(flowFile, 0o600); // an existing file (resetFlow) keeps its mode on a write
    }
    linkPackage(o.userDir, o.linkPackage ?? PACKAGE_ROOT);

    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const red = require(o.nodeRedModule ?? 'node-red') as NodeRedRuntime;
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/api/')) {
        req.url = req.url.slice(4);
        red.httpNode(req, res);
      } else {
        red.httpAdmin(req, res);
      }
    });
    red.init(server, {
      userDir: o.userDir,
      flowFile: 'flows.json',
      uiHost: o.host,
      uiPort: o.port,
      httpAdminRoot: '/',
      httpNodeRoot: '/api',
      logging: { console: { level: o.logLevel ?? 'info', metrics: false, audit: false } },
      diagnostics: { enabled: false, ui: false },
      telemetry: { enabled: false, updateNotification: false },
      externalModules: { palette: { allowInstall: false }, modules: { allowInstall: false } },
      editorTheme: { tours: false, projects: { enabled: false } },
      functionExternalModules: false,
      ...(o.editorLogin ? {
        adminAuth: { type: 'credentials', users: [{ username: o.editorLogin.username, password: o.editorLogin.passwordHash, permissions: '*' }] },
      } : {}),
      // Safe mode loads the flow without starting it, so the credentials are in place before any node runs.
      ...(o.credentials ? { safeMode: true } : {}),
    });
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(o.port, o.host, () => res());
    });
    this.server = server;
    this.red = red;
    const loaded = o.credentials ? flowLoaded(red) : undefined;
    await red.start();
    if (o.credentials && await loaded) await storeCredentials(red.nodes, o.credentials);
  }

  async stop(): Promise<void> {
    const red = this.red;
    const server = this.server;
    this.red = undefined;
    this.server = undefined;
    if (red) await red.stop();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }
}

/**
 * The credentials file and .config.runtime.json (which holds the key to it) are for this user only:
 * the folder becomes 0700 and what Node-RED wrote before 0600 (new files follow the umask: npm start sets 077).
 */
function lockUserDir(userDir: string): void {
  const lock = (path: string, mode: number): void => {
    try {
      chmodSync(path, mode);
    } catch (err) {
      // Not ours to change (another owner): say so, and start anyway.
      console.warn(`Mantis: could not make ${path} private: ${(err as Error).message}`);
    }
  };
  lock(userDir, 0o700);
  for (const f of readdirSync(userDir)) {
    if (/^(\.?flows_cred|\.config\.|\.sessions)/.test(f)) lock(join(userDir, f), 0o600);
  }
}

/** Resolves true once the flow is loaded and held in safe mode; false when it could not be loaded (Node-RED says why). */
function flowLoaded(red: NodeRedRuntime): Promise<boolean> {
  // red.start() resolves before the flow is read; these states come on the way to (or instead of) safe mode.
  const onTheWay = new Set(['missing-types', 'missing-modules', 'credentials_load_failed', 'safe-mode']);
  return new Promise((resolve) => {
    const on = (e: RuntimeEvent): void => {
      if (e.id !== 'runtime-state' || !e.payload) return;
      const ok = e.payload.state === 'safe';
      if (!ok && (!e.payload.error || onTheWay.has(e.payload.error))) return;
      red.events.off('runtime-event', on);
      resolve(ok);
    };
    red.events.on('runtime-event', on);
  });
}

/** Stores the wanted credentials where they differ from the stored ones, then starts the flow (out of safe mode). */
async function storeCredentials(nodes: RuntimeNodes, wanted: NonNullable<EmbeddedNodeRedOptions['credentials']>): Promise<void> {
  const flows = nodes.getFlows()?.flows ?? [];
  const want = wanted(flows);
  const differs = (id: string): boolean => {
    const have = nodes.getCredentials(id) ?? {};
    return Object.entries(want[id] ?? {}).some(([k, v]) => have[k] !== v);
  };
  const changed = new Set(Object.keys(want).filter(differs));
  if (!changed.size) {
    await nodes.loadFlows(true);
    return;
  }
  // A full deploy with the credentials on the nodes, as the editor sends them; Node-RED encrypts and saves them.
  await nodes.setFlows(flows.map((n) => (changed.has(n.id) ? { ...n, credentials: { ...want[n.id] } } : n)), null, 'full');
}

/** userDir/node_modules/<our name> -> the package, so Node-RED loads its nodes and examples. */
function linkPackage(userDir: string, packageRoot: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { name } = require(join(packageRoot, 'package.json')) as { name: string };
  const link = join(userDir, 'node_modules', name);
  mkdirSync(dirname(link), { recursive: true });
  try {
    if (lstatSync(link)) rmSync(link, { recursive: true, force: true });
  } catch { /* not there yet */ }
  symlinkSync(packageRoot, link, 'dir');
}
