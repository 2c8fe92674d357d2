// Emoji (SAS) verification of the bot by its users: accepts requests from
// allowed users, shows the emoji for a human to compare in the editor (never
// confirmed by itself), ignores requests from before this start (a replayed
// sync), and cancels a start that came without a request (libolm clients such
// as matrix-nio do that; the SDK would leave them waiting).
import { randomUUID } from 'node:crypto';
import type * as Sdk from 'matrix-js-sdk';
import type { VerificationRequest, Verifier, ShowSasCallbacks } from 'matrix-js-sdk/lib/crypto-api/verification.js';
import type { SdkModule } from './sdk';
import type { Log, PendingVerification } from './types';

export interface VerificationHooks {
  log: Log;
  isAllowed(user: string): boolean;
  /** The emoji to compare, or null when there is nothing (any more) to compare. */
  show(v: PendingVerification | null): void;
  verified(user: string): void;
}

/** How long a to-device request waits for its own event (emitted right after it, in the same sync) to learn its time. */
const SENT_AT_WAIT_MS = 5000;

export class Verifications {
  private pending: { info: PendingVerification; sas: ShowSasCallbacks; request: VerificationRequest } | undefined;
  /** Send times of to-device requests by transaction id (content.timestamp). */
  private readonly sentAt = new Map<string, number>();
  private readonly waiting = new Map<string, () => void>();
  private readonly detach: () => void;

  constructor(private readonly sdk: SdkModule, private readonly client: Sdk.MatrixClient, private readonly startedAt: number,
    private readonly hooks: VerificationHooks) {
    const onRequest = (req: VerificationRequest): void => {
      this.onRequest(req).catch((e: Error) => hooks.log('warn', `verification request from ${req.otherUserId}: ${e.message}`));
    };
    const onToDevice = (ev: Sdk.MatrixEvent): void => {
      this.onToDevice(ev).catch((e: Error) => hooks.log('warn', `${ev.getType()} from ${ev.getSender()}: ${e.message}`));
    };
    client.on(sdk.CryptoEvent.VerificationRequestReceived, onRequest);
    client.on(sdk.ClientEvent.ToDeviceEvent, onToDevice);
    this.detach = () => {
      client.off(sdk.CryptoEvent.VerificationRequestReceived, onRequest);
      client.off(sdk.ClientEvent.ToDeviceEvent, onToDevice);
    };
  }

  get current(): PendingVerification | undefined { return this.pending?.info; }

  /** The human confirmed that the emoji match (editor button). Never called automatically. */
  async confirm(id: string): Promise<void> {
    const p = this.pending;
    if (!p || p.info.id !== id) throw new Error('no such pending verification');
    await p.sas.confirm();
  }

  /** The human said the emoji differ, or cancelled. */
  cancel(id: string): void {
    const p = this.pending;
    if (!p || p.info.id !== id) throw new Error('no such pending verification');
    p.sas.mismatch();
    this.clear(p.request);
  }

  stop(): void {
    this.detach();
    if (this.pending) { try { this.pending.sas.cancel(); } catch { /* already gone */ } }
    this.pending = undefined;
    for (const wake of this.waiting.values()) wake();
  }

  private clear(req: VerificationRequest): void {
    if (this.pending?.request !== req) return;
    this.pending = undefined;
    this.hooks.show(null);
  }

  private async onToDevice(ev: Sdk.MatrixEvent): Promise<void> {
    const content = ev.getContent() as { transaction_id?: unknown; timestamp?: unknown; from_device?: unknown; method?: unknown };
    const txn = typeof content.transaction_id === 'string' ? content.transaction_id : undefined;
    if (!txn) return;
    if (ev.getType() === 'm.key.verification.request' && typeof content.timestamp === 'number') {
      this.sentAt.set(txn, content.timestamp);
      if (this.sentAt.size > 200) this.sentAt.delete(this.sentAt.keys().next().value!);
      this.waiting.get(txn)?.();
      return;
    }
    if (ev.getType() !== 'm.key.verification.start') return;
    const sender = ev.getSender()!;
    const crypto = this.client.getCrypto()!;
    if (crypto.getVerificationRequestsToDeviceInProgress(sender).some((r) => r.transactionId === txn)) return;
    // A start without a request (allowed by the spec, sent by libolm clients): the SDK's verifier
    // only runs inside a request, so say so instead of leaving the other side waiting.
    const device = typeof content.from_device === 'string' ? content.from_device : '';
    this.hooks.log('warn', `${sender} (${device || 'unknown session'}) started an emoji verification without a request `
      + '(an older client, e.g. one built on matrix-nio); cancelled it with m.unknown_method. '
      + 'Verify from a client that sends a verification request first (Element: the bot in the member list, Verify).');
    if (!device) return;
    await this.client.sendToDevice('m.key.verification.cancel', new Map([[sender, new Map([[device, {
      transaction_id: txn, code: 'm.unknown_method',
      reason: 'Mantis only takes emoji verification after a verification request (m.key.verification.request).',
    }]])]]));
  }

  /** When the request was sent: the server's time of the room event, or the sender's timestamp of a to-device request. */
  private async requestTime(req: VerificationRequest): Promise<number | undefined> {
    const txn = req.transactionId;
    if (!txn) return undefined;
    if (req.roomId) {
      const local = this.client.getRoom(req.roomId)?.findEventById(txn)?.getTs();
      if (local !== undefined) return local;
      const ev = await this.client.fetchRoomEvent(req.roomId, txn).catch(() => undefined);
      return typeof ev?.origin_server_ts === 'number' ? ev.origin_server_ts : undefined;
    }
    if (!this.sentAt.has(txn)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, SENT_AT_WAIT_MS);
        this.waiting.set(txn, () => { clearTimeout(t); resolve(); });
      });
      this.waiting.delete(txn);
    }
    return this.sentAt.get(txn);
  }

  private async onRequest(req: VerificationRequest): Promise<void> {
    const { log } = this.hooks;
    const who = `${req.otherUserId}${req.otherDeviceId ? ` (${req.otherDeviceId})` : ''}`;
    const sentAt = await this.requestTime(req);
    if (sentAt !== undefined && sentAt < this.startedAt) {
      // Replayed by a sync (history, a restart): answering it would show emoji that no client shows.
      log('info', `ignoring a verification request from ${who} sent before this start (${new Date(sentAt).toISOString()})`);
      return;
    }
    if (!this.hooks.isAllowed(req.otherUserId)) {
      log('warn', `declined verification from ${req.otherUserId} (not an allowed user)`);
      await req.cancel().catch(() => undefined);
      return;
    }
    const Phase = this.sdk.VerificationPhase;
    const cancelledEarly = (): boolean => {
      if (req.phase !== Phase.Cancelled) return false;
      log('warn', `verification request from ${req.otherUserId} was cancelled before Mantis accepted it (${req.cancellationCode ?? 'no reason given'})`);
      return true;
    };
    if (cancelledEarly()) return;
    log('info', `verification request from ${who}`);
    let started = false;
    const onChange = (): void => {
      if (!started && req.verifier) {
        started = true;
        this.runVerifier(req, req.verifier);
      }
      if (req.phase === Phase.Cancelled || req.phase === Phase.Done) {
        req.off(this.sdk.VerificationRequestEvent.Change, onChange);
        this.clear(req);
      }
    };
    req.on(this.sdk.VerificationRequestEvent.Change, onChange);
    try {
      await req.accept();
    } catch (e) {
      req.off(this.sdk.VerificationRequestEvent.Change, onChange);
      if (cancelledEarly()) return;
      log('warn', `could not accept the verification request from ${who}: ${(e as Error).message}. Start the verification again from your client.`);
      await req.cancel().catch(() => undefined);
      return;
    }
    onChange();
  }

  private runVerifier(req: VerificationRequest, verifier: Verifier): void {
    verifier.on(this.sdk.VerifierEvent.ShowSas, (sas: ShowSasCallbacks) => {
      const info: PendingVerification = {
        id: req.transactionId ?? randomUUID(),
        userId: req.otherUserId,
        deviceId: req.otherDeviceId,
        emoji: (sas.sas.emoji ?? []).map(([e, n]) => [e, n] as [string, string]),
        decimal: sas.sas.decimal,
      };
      this.pending = { info, sas, request: req };
      this.hooks.show(info);
    });
    verifier.verify().then(() => {
      this.hooks.log('info', `verified ${req.otherUserId}`);
      this.hooks.verified(req.otherUserId);
    }).catch((e: Error) => this.hooks.log('warn', `verification with ${req.otherUserId} ended: ${e.message}`)).finally(() => this.clear(req))
      .catch((e: Error) => this.hooks.log('error', `verification with ${req.otherUserId}: ${e.message}`));
  }
}
