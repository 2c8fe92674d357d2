# The owner as an independent client (matrix-nio 0.25 + python-olm): waits for the bot's invite,
# joins, says whether the room is encrypted, then prints each text from the bot (decrypted or not)
# as a JSON line until one contains --want or --seconds pass.
import argparse
import asyncio
import json
import sys

from nio import AsyncClient, AsyncClientConfig, LoginResponse, MegolmEvent, RoomMessageText


def say(**kw):
    print(json.dumps(kw), flush=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--homeserver', required=True)
    ap.add_argument('--user', required=True)
    ap.add_argument('--password', required=True)
    ap.add_argument('--store', required=True)
    ap.add_argument('--bot', required=True)
    ap.add_argument('--want', required=True)
    ap.add_argument('--seconds', type=float, default=60)
    a = ap.parse_args()
    client = AsyncClient(a.homeserver, a.user, store_path=a.store,
                         config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True))
    got = []

    def on_message(room, ev):
        if ev.sender != a.bot:
            return
        if isinstance(ev, RoomMessageText):
            say(event='message', room=room.room_id, body=ev.body, decrypted=bool(ev.decrypted))
            if a.want in ev.body:
                got.append(ev.body)
        else:
            say(event='undecryptable', room=room.room_id, session=ev.session_id)

    client.add_event_callback(on_message, (RoomMessageText, MegolmEvent))
    try:
        login = await client.login(a.password, device_name='nio owner')
        if not isinstance(login, LoginResponse):
            say(event='error', error=f'login: {login}')
            return 1
        if client.should_upload_keys:
            await client.keys_upload()
        say(event='ready', device=client.device_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + a.seconds
        room_id = None
        while room_id is None and loop.time() < deadline:
            await client.sync(timeout=1000)
            for rid in client.invited_rooms:
                say(event='invite', room=rid)
                room_id = rid
                break
        if room_id is None:
            say(event='timeout', waiting='invite')
            return 0
        await client.join(room_id)
        joined = False
        while not got and loop.time() < deadline:
            await client.sync(timeout=1000)
            if client.should_upload_keys:
                await client.keys_upload()
            room = client.rooms.get(room_id)
            if room is not None and not joined and room_id not in client.invited_rooms:
                joined = True
                members = sorted(room.users)
                say(event='joined', room=room_id, encrypted=room.encrypted, members=members, topic=room.topic)
        if not got:
            say(event='timeout', waiting='message')
        return 0
    finally:
        await client.close()


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
