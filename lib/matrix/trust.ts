// Whether the session that sent a command is trusted, and if not, what is
// missing and what its user can do, in words (never an SDK enum value).
import type * as Sdk from 'matrix-js-sdk';
import type { DeviceCheck } from '../chat/gate';
import type { SdkModule } from './sdk';

const notVerifiedByBot: DeviceCheck = {
  ok: false,
  why: 'Mantis has not verified you yet',
  advice: 'Verify Mantis from your client (Element: the bot in the member list, Verify), compare the emoji with the Node-RED editor, then send the command again.',
};

const notCrossSigned = (device: string): DeviceCheck => ({
  ok: false,
  why: `your session ${device || '(unknown)'} is not verified (cross-signed) by you`,
  advice: 'Verify it from a session you already verified (Element: Settings, Sessions, or the prompt at login), then send the command again.',
});

/** The sender's session must be cross-signed by its owner, and the owner verified by the bot. */
export async function checkSender(sdk: SdkModule, client: Sdk.MatrixClient, event: Sdk.MatrixEvent): Promise<DeviceCheck> {
  const crypto = client.getCrypto()!;
  const sender = event.getSender()!;
  const device = (event.getWireContent() as { device_id?: string }).device_id ?? '';
  const info = await crypto.getEncryptionInfoForEvent(event);
  if (!info) return { ok: false, why: 'the message was not end-to-end encrypted', advice: 'Turn on encryption for this room and send the command again.' };
  if (info.shieldColour !== sdk.EventShieldColour.NONE) {
    const R = sdk.EventShieldReason;
    switch (info.shieldReason) {
      case R.UNVERIFIED_IDENTITY: return notVerifiedByBot;
      case R.UNSIGNED_DEVICE: return notCrossSigned(device);
      case R.UNKNOWN_DEVICE:
        return { ok: false, why: `Mantis does not know your session ${device} yet (its keys have not arrived)`, advice: 'Send the command again in a minute.' };
      case R.AUTHENTICITY_NOT_GUARANTEED:
        return { ok: false, why: 'the keys of this message came from a backup or another session, so Mantis cannot tell who sent it', advice: 'Send the command again.' };
      case R.MISMATCHED_SENDER_KEY:
        return { ok: false, why: `the keys of this message do not belong to your session ${device}`, advice: 'Send the command again; if this stays, sign out of that session and in again.' };
      case R.SENT_IN_CLEAR:
        return { ok: false, why: 'the message was not end-to-end encrypted', advice: 'Turn on encryption for this room and send the command again.' };
      case R.VERIFICATION_VIOLATION:
        return { ok: false, why: 'your identity changed after Mantis verified you', advice: 'Verify Mantis again from your client, then send the command again.' };
      default:
        return { ok: false, why: `Mantis cannot confirm that session ${device} belongs to you`, advice: 'Verify Mantis from your client and this session from one you already verified, then send the command again.' };
    }
  }
  if (!(await crypto.getUserVerificationStatus(sender)).isCrossSigningVerified()) return notVerifiedByBot;
  if (device) {
    const st = await crypto.getDeviceVerificationStatus(sender, device);
    if (!st?.crossSigningVerified) return notCrossSigned(device);
  }
  return { ok: true };
}
