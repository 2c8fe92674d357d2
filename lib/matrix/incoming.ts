// Chat messages in: decrypts, finds the facts (sender, encryption, the
// sender's session trust, when it was sent) and lets the shared command gate
// decide; this file only carries out what the gate said (reply, pass on).
import type * as Sdk from 'matrix-js-sdk';
import type { CommandGate } from '../chat/gate';
import type { SdkModule } from './sdk';
import { checkSender } from './trust';
import type { CommandMessage, Log } from './types';

export interface IncomingHooks {
  log: Log;
  reply(roomId: string, text: string): Promise<void>;
  command(msg: CommandMessage): void;
}

/** How long an encrypted message waits for its room key to arrive. */
const KEY_WAIT_MS = 30_000;

export class IncomingCommands {
  private readonly handled = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly sdk: SdkModule, private readonly client: Sdk.MatrixClient, private readonly me: string,
    private readonly gate: CommandGate, private readonly startedAt: number, private readonly hooks: IncomingHooks) {}

  /** For RoomEvent.Timeline: live events only. */
  onTimeline(event: Sdk.MatrixEvent, toStart: boolean | undefined, live: boolean): void {
    if (toStart || !live) return;
    this.onEvent(event).catch((e: Error) => this.hooks.log('error', `handling ${event.getId()}: ${e.message}`));
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async onEvent(event: Sdk.MatrixEvent): Promise<void> {
    if (event.getSender() === this.me) return;
    const encrypted = event.isEncrypted() || event.getType() === 'm.room.encrypted';
    if (encrypted) {
      // History is never an order (the gate says so too): not worth waiting for its keys.
      if (event.getTs() < this.startedAt) return;
      await this.client.decryptEventIfNeeded(event);
      if (event.isDecryptionFailure()) await this.decrypted(event);
      if (event.isDecryptionFailure()) { this.hooks.log('warn', `could not decrypt ${event.getId()} from ${event.getSender()}`); return; }
    }
    if (event.getType() !== 'm.room.message') return;
    const id = event.getId();
    if (!id || this.handled.has(id)) return;
    this.handled.add(id);
    if (this.handled.size > 1000) this.handled.delete(this.handled.values().next().value!);
    const content = event.getContent() as { msgtype?: string; body?: unknown };
    if (content.msgtype !== 'm.text' || typeof content.body !== 'string') return;
    const sender = event.getSender()!;
    const roomId = event.getRoomId()!;
    const decision = await this.gate.decide({ sender, text: content.body, encrypted, sentAt: event.getTs() },
      () => checkSender(this.sdk, this.client, event));
    if (decision.act !== 'command' && decision.log) this.hooks.log(decision.act === 'ignore' ? 'info' : 'warn', decision.log);
    if (decision.act === 'ignore') return;
    if (decision.act === 'reply') { await this.hooks.reply(roomId, decision.text); return; }
    if (decision.reply) await this.hooks.reply(roomId, decision.reply);
    const device = (event.getWireContent() as { device_id?: string }).device_id ?? '';
    this.hooks.command({ command: decision.command, from: { user: sender, device, via: 'matrix' }, roomId, text: content.body });
  }

  /** Keys may arrive a little after the message: waits once for a successful decryption. */
  private decrypted(event: Sdk.MatrixEvent): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.timers.delete(t); resolve(); }, KEY_WAIT_MS);
      this.timers.add(t);
      event.once(this.sdk.MatrixEventEvent.Decrypted, () => { clearTimeout(t); this.timers.delete(t); resolve(); });
    });
  }
}
