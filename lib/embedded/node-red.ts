import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, lstatSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface EmbeddedNodeRedOptions {
  /** Node-RED's user dir: flows, credentials, the alarm state, the Matrix/XMPP stores. */
  userDir: string;
  host: string;
  port: number;
  /** Copied to the user dir as flows.json when it has none yet (or when resetFlow is set). */
  initialFlow?: string;
  resetFlow?: boolean;
  /** Module to load as Node-RED ('node-red' or an alias such as 'node-red-4'). */
  nodeRedModule?: string;
  /** Makes this package visible to Node-RED as if installed from the palette. */
  linkPackage?: string;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
interface NodeRedRuntime {
  init(server: Server, settings: Record<string, unknown>): void;
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
    const flowFile = join(o.userDir, 'flows.json');
    if (o.initialFlow && (o.resetFlow || !existsSync(flowFile))) copyFileSync(o.initialFlow, flowFile);
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
    });
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(o.port, o.host, () => res());
    });
    this.server = server;
    this.red = red;
    await red.start();
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
