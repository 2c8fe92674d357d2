// A real Mosquitto (Debian package) on loopback, plus a small recording MQTT client for assertions.
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { ServerProcess, freePort, waitForPort, waitFor } from './processes';
import { tempDir } from './paths';

export const MOSQUITTO = process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';

export class Mosquitto {
  server: ServerProcess | null = null;
  port = 0;
  readonly dir = tempDir('mosquitto');

  /** users: only these logins are let in (a password file made by mosquitto_passwd); none = anonymous. */
  constructor(private readonly users: Record<string, string> = {}) {}

  get url(): string { return `mqtt://127.0.0.1:${this.port}`; }

  /** Starts on a free port (or the previous one, for a restart). No persistence: a restart forgets retained messages. */
  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const conf = join(this.dir, 'mosquitto.conf');
    const passwords = join(this.dir, 'passwords');
    const logins = Object.entries(this.users);
    writeFileSync(passwords, '');
    for (const [user, password] of logins) execFileSync('mosquitto_passwd', ['-b', passwords, user, password]);
    // Started as root, Mosquitto reads the password file after dropping to its own user.
    chmodSync(this.dir, 0o755);
    chmodSync(passwords, 0o644);
    writeFileSync(conf, [
      `listener ${this.port} 127.0.0.1`,
      ...(logins.length ? ['allow_anonymous false', `password_file ${passwords}`] : ['allow_anonymous true']),
      'persistence false',
      'log_dest stdout',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'));
    this.server = new ServerProcess(MOSQUITTO, ['-c', conf]);
    await waitForPort(this.port, 10_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.server?.output ?? ''}`);
    });
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }
}

export interface Received { topic: string; payload: Buffer; retain: boolean }

/** An MQTT client that records every message it sees. */
export class Recorder {
  readonly messages: Received[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => this.messages.push({ topic, payload, retain: packet.retain }));
  }

  static async connect(url: string, topics: string[], opts: IClientOptions = {}, qos: 0 | 1 = 1): Promise<Recorder> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, ...opts });
    const r = new Recorder(client);
    if (topics.length) await client.subscribeAsync(topics, { qos });
    return r;
  }

  /** The last message on a topic, or undefined. */
  last(topic: string): Received | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i]!.topic === topic) return this.messages[i];
    return undefined;
  }

  /** Waits until the last message on the topic has this payload. */
  async waitFor(topic: string, payload: string, timeoutMs = 10_000): Promise<Received> {
    return waitFor(() => {
      const m = this.last(topic);
      return m && m.payload.toString() === payload ? m : undefined;
    }, timeoutMs, `${topic} = ${payload} (last: ${this.last(topic)?.payload.toString() ?? 'none'})`);
  }

  clear(): void { this.messages.length = 0; }

  async publish(topic: string, payload: string, retain = false, qos: 0 | 1 = 1): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos, retain });
  }

  async end(): Promise<void> { await this.client.endAsync(true); }
}

/** All retained messages under a topic filter, as a fresh subscriber sees them. */
export async function retained(url: string, filter: string, settleMs = 300): Promise<Map<string, Buffer>> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  const got = new Map<string, Buffer>();
  client.on('message', (topic, payload, packet) => { if (packet.retain) got.set(topic, payload); });
  await client.subscribeAsync(filter, { qos: 1 });
  await new Promise((r) => setTimeout(r, settleMs));
  await client.endAsync(true);
  return got;
}
