import { createServer, type Server, type Socket } from 'node:net';

/**
 * A small in-process MQTT broker (aedes) so that the default flow's alarm
 * panel has something to talk to on a machine without Mosquitto.
 */
export class EmbeddedBroker {
  private server: Server | undefined;
  private closeBroker: (() => Promise<void>) | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(readonly host: string, readonly port: number) {}

  async start(): Promise<void> {
    const { Aedes } = await import('aedes');
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
    this.server = server;
    this.closeBroker = () => new Promise<void>((r) => broker.close(() => r()));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await this.closeBroker?.();
    this.closeBroker = undefined;
    // server.close() waits for every client to leave: a connected Home Assistant would keep Ctrl-C waiting.
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
