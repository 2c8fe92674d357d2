# A libolm client (matrix-nio 0.25 with python-olm) for the Matrix tests: it
# joins a room with the bot, then starts an emoji verification the way nio
# does, with a to-device m.key.verification.start and no request before it,
# and prints what the bot answers as JSON lines on stdout.
import argparse
import asyncio
import json
import sys

from nio import (AsyncClient, AsyncClientConfig, KeyVerificationAccept, KeyVerificationCancel,
                 KeyVerificationKey, LoginResponse)


def say(**kw):
    print(json.dumps(kw), flush=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--homeserver', required=True)
    ap.add_argument('--user', required=True)
    ap.add_argument('--password', required=True)
    ap.add_argument('--store', required=True)
    ap.add_argument('--room', required=True)
    ap.add_argument('--bot', required=True)
    ap.add_argument('--bot-device', required=True)
    ap.add_argument('--seconds', type=float, default=30)
    a = ap.parse_args()

    client = AsyncClient(a.homeserver, a.user, store_path=a.store,
                         config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True))
    try:
        login = await client.login(a.password, device_name='nio witness')
        if not isinstance(login, LoginResponse):
            say(event='error', error=f'login: {login}')
            return 1
        await client.join(a.room)
        await client.sync(timeout=0, full_state=True)
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        device = client.device_store.active_user_devices(a.bot)
        device = next((d for d in device if d.id == a.bot_device), None)
        if device is None:
            say(event='error', error=f'bot device {a.bot_device} unknown to nio')
            return 1

        answers = []

        def on_to_device(ev):
            if isinstance(ev, KeyVerificationCancel):
                answers.append(dict(event='cancel', transaction_id=ev.transaction_id, code=ev.code, reason=ev.reason))
            elif isinstance(ev, (KeyVerificationAccept, KeyVerificationKey)):
                answers.append(dict(event=type(ev).__name__, transaction_id=ev.transaction_id))

        client.add_to_device_callback(on_to_device, (KeyVerificationCancel, KeyVerificationAccept, KeyVerificationKey))
        res = await client.start_key_verification(device)
        tx = next(iter(client.key_verifications), None)
        say(event='started', transaction_id=tx, response=type(res).__name__)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + a.seconds
        while not answers and loop.time() < deadline:
            await client.sync(timeout=2000)
        for ans in answers:
            say(**ans)
        if not answers:
            say(event='timeout', seconds=a.seconds)
        return 0
    finally:
        await client.close()


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
