#!/usr/bin/env python3
"""An independent OMEMO peer for the Mantis XMPP tests: slixmpp + slixmpp-omemo
(with the oldmemo backend, i.e. OMEMO 0.3). Trusts blindly (BTBV).

stdout: one JSON object per line:
  {"type": "ready", "jid", "device_id", "fingerprint"}
  {"type": "message", "from", "body", "encrypted", "device", "prekey"}
  {"type": "media", "from", "url", "sha256", "size", "iv_len"}
  {"type": "error", "error"}
  {"type": "result", "id", ...}  (answers to stdin requests)
stdin: one JSON object per line:
  {"cmd": "send", "to", "body", "plain": false, "stamp": optional XEP-0203 delay stamp}
  {"cmd": "bundle", "id", "jid", "device"} -> result with the prekey ids of that bundle
  {"cmd": "devices", "id", "jid"} -> result with the device ids of jid (oldmemo list)
  {"cmd": "roster", "id"} -> result with {jid: subscription} of this account's roster
  {"cmd": "subscribe", "id", "to"} -> asks `to` for a presence subscription
  {"cmd": "quit"}
  {"type": "presence", "from", "ptype"}  (subscription answers: subscribed / unsubscribed)
--pep-access presence: the OMEMO nodes get Prosody's default access model, as Profanity
publishes them: only contacts subscribed to this account's presence may read them.
"""
import argparse
import asyncio
import hashlib
import json
import os
import re
import sys
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any, Dict, FrozenSet, Optional

from omemo.storage import Just, Maybe, Nothing, Storage
from omemo.types import DeviceInformation, JSONType
from slixmpp import JID, ClientXMPP
from slixmpp.plugins import register_plugin
from slixmpp.stanza import Message
from slixmpp_omemo import XEP_0384
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import oldmemo

OLD_NS = oldmemo.oldmemo.NAMESPACE


def out(obj: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class JsonStorage(Storage):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.data: Dict[str, JSONType] = {}
        if os.path.exists(path):
            with open(path, encoding="utf8") as f:
                self.data = json.load(f)

    def _save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf8") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)

    async def _load(self, key: str) -> Maybe[JSONType]:
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key: str, value: JSONType) -> None:
        self.data[key] = value
        self._save()

    async def _delete(self, key: str) -> None:
        self.data.pop(key, None)
        self._save()


class PeerOMEMO(XEP_0384):
    default_config = {"fallback_message": "This message is OMEMO encrypted.", "json_file_path": None}

    def plugin_init(self) -> None:
        self._storage = JsonStorage(self.json_file_path)
        super().plugin_init()

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def _btbv_enabled(self) -> bool:
        return True

    async def _devices_blindly_trusted(self, blindly_trusted: FrozenSet[DeviceInformation], identifier: Optional[str]) -> None:
        pass

    async def _prompt_manual_trust(self, manually_trusted: FrozenSet[DeviceInformation], identifier: Optional[str]) -> None:
        session_manager = await self.get_session_manager()
        for device in manually_trusted:
            await session_manager.set_trust(device.bare_jid, device.identity_key, "BLINDLY_TRUSTED")


register_plugin(PeerOMEMO)


class Peer(ClientXMPP):
    def __init__(self, jid: str, password: str, http: bool, pep_access: str) -> None:
        # loopback test server without TLS: allow SCRAM in the clear
        super().__init__(jid, password, plugin_config={"feature_mechanisms": {"unencrypted_scram": True}})
        self.http = http
        self.pep_access = pep_access
        self.add_event_handler("presence_subscribed", lambda p: out({"type": "presence", "from": p["from"].bare, "ptype": "subscribed"}))
        self.add_event_handler("presence_unsubscribed", lambda p: out({"type": "presence", "from": p["from"].bare, "ptype": "unsubscribed"}))
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("omemo_initialized", self.on_omemo_ready)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("carbon_sent", self.on_carbon_sent)
        self.quitting = False
        self.done: asyncio.Future = asyncio.get_event_loop().create_future()
        self.stdin_started = False
        self.tasks: set = set()
        self.arrivals = 0

    async def on_disconnected(self, _event: Any) -> None:
        if self.quitting:
            if not self.done.done():
                self.done.set_result(True)
            return
        out({"type": "disconnected"})
        await asyncio.sleep(1)
        self.connect(host=self.host_port[0], port=self.host_port[1])

    async def start(self, _event: Any) -> None:
        self.send_presence()
        await self.get_roster()
        try:
            await self.plugin["xep_0280"].enable()
        except Exception as e:  # noqa: BLE001
            out({"type": "warning", "errors": [f"carbons: {e}"]})

    async def on_carbon_sent(self, msg: Message) -> None:
        # What another device of this account sent: decrypt it as that device's sibling.
        inner = msg["carbon_sent"]
        xep_0384: XEP_0384 = self.plugin["xep_0384"]
        if not xep_0384.is_encrypted(inner):
            return
        try:
            message, device = await xep_0384.decrypt_message(inner)
        except Exception as e:  # noqa: BLE001
            out({"type": "error", "error": f"decrypt carbon: {type(e).__name__}: {e}"})
            return
        out({"type": "carbon", "to": inner["to"].bare, "body": message["body"], "device": device.device_id})

    async def on_omemo_ready(self, _event: Any) -> None:
        xep_0384: XEP_0384 = self.plugin["xep_0384"]
        sm = await xep_0384.get_session_manager()
        own = await sm.get_own_device_information()
        fp = await sm.get_own_fingerprints() if hasattr(sm, "get_own_fingerprints") else None
        ident = own[0].identity_key.hex()
        if self.pep_access != "open":
            for node in (f"{OLD_NS}.devicelist", f"{OLD_NS}.bundles:{own[0].device_id}"):
                form = self.plugin["xep_0004"].make_form("submit")
                form.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/pubsub#node_config")
                form.add_field(var="pubsub#access_model", value=self.pep_access)
                await self.plugin["xep_0060"].set_node_config(JID(self.boundjid.bare), node, form)
        out({"type": "ready", "jid": self.boundjid.bare, "device_id": own[0].device_id, "identity_key": ident,
             "fingerprints": list(fp) if fp else None})
        if not self.stdin_started:
            self.stdin_started = True
            self.stdin_task = asyncio.ensure_future(self.read_stdin())  # keep a reference, or it is collected

    async def on_message(self, stanza: Message) -> None:
        if stanza["type"] not in ("chat", "normal"):
            return
        # Handlers run concurrently; n records the order in which stanzas arrived.
        self.arrivals += 1
        n = self.arrivals
        xep_0384: XEP_0384 = self.plugin["xep_0384"]
        namespaces = xep_0384.is_encrypted(stanza)
        if not namespaces:
            out({"type": "message", "from": stanza["from"].bare, "body": stanza["body"], "encrypted": False, "n": n})
            return
        # Was this a prekey message (a new session) for us?
        prekey = False
        enc = stanza.xml.find("{%s}encrypted" % OLD_NS)
        own = (await (await xep_0384.get_session_manager()).get_own_device_information())[0].device_id
        if enc is not None:
            for key in enc.iter("{%s}key" % OLD_NS):
                if key.get("rid") == str(own) and key.get("prekey") in ("true", "1"):
                    prekey = True
        try:
            message, device = await xep_0384.decrypt_message(stanza)
        except Exception as e:  # noqa: BLE001
            out({"type": "error", "error": f"decrypt: {type(e).__name__}: {e}", "from": stanza["from"].bare})
            return
        body = message["body"]
        out({"type": "message", "from": stanza["from"].bare, "body": body, "encrypted": True,
             "namespaces": sorted(namespaces), "device": device.device_id, "prekey": prekey, "n": n})
        if body and body.startswith("aesgcm://"):
            self.tasks.add(asyncio.ensure_future(self.download(stanza["from"].bare, body)))

    async def download(self, sender: str, link: str) -> None:
        try:
            m = re.match(r"^aesgcm://([^#]+)#([0-9a-fA-F]+)$", link.strip())
            if not m:
                raise ValueError("bad link")
            frag = bytes.fromhex(m.group(2))
            iv, key = frag[:-32], frag[-32:]
            url = ("http://" if self.http else "https://") + m.group(1)
            data = await asyncio.get_running_loop().run_in_executor(None, lambda: urllib.request.urlopen(url, timeout=20).read())
            plain = AESGCM(key).decrypt(iv, data, None)
            out({"type": "media", "from": sender, "url": url, "sha256": hashlib.sha256(plain).hexdigest(),
                 "size": len(plain), "iv_len": len(iv)})
        except Exception as e:  # noqa: BLE001
            out({"type": "error", "error": f"download: {type(e).__name__}: {e}"})

    async def read_stdin(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                self.quitting = True
                self.disconnect()
                return
            try:
                req = json.loads(line)
                await self.handle(req)
            except Exception as e:  # noqa: BLE001
                out({"type": "error", "error": f"{type(e).__name__}: {e}", "request": line.decode(errors="replace")})

    async def handle(self, req: Dict[str, Any]) -> None:
        cmd = req.get("cmd")
        xep_0384: XEP_0384 = self.plugin["xep_0384"]
        if cmd == "send":
            to = JID(req["to"])
            msg = self.make_message(mto=to, mtype="chat")
            msg["body"] = req["body"]
            if req.get("stamp"):
                # XEP-0203: sent earlier, delivered now (what offline storage and replays carry)
                msg.xml.append(ET.fromstring(f'<delay xmlns="urn:xmpp:delay" stamp="{req["stamp"]}"/>'))
            if req.get("plain"):
                msg.send()
            else:
                # With a mutual presence subscription slixmpp-omemo waits for PEP pushes of the
                # device list, which Prosody sends only to clients whose caps it knows (this peer
                # sends none): fetch the list as a client without cached devices does.
                await xep_0384.refresh_device_lists({JID(to.bare)}, force_download=True)
                encrypted, errors = await xep_0384.encrypt_message(msg, to)
                if errors:
                    out({"type": "warning", "errors": [repr(e) for e in errors]})
                if encrypted is None:
                    raise RuntimeError("nothing to send")
                encrypted.send()
            out({"type": "result", "id": req.get("id"), "ok": True})
        elif cmd == "bundle":
            iq = await self.plugin["xep_0060"].get_items(JID(req["jid"]), f"{OLD_NS}.bundles:{req['device']}", max_items=1)
            ids = [int(e.get("preKeyId")) for e in iq.xml.iter("{%s}preKeyPublic" % OLD_NS)]
            ik = [e.text for e in iq.xml.iter("{%s}identityKey" % OLD_NS)]
            out({"type": "result", "id": req.get("id"), "prekeys": ids, "identity_key": ik[0] if ik else None})
        elif cmd == "devices":
            await xep_0384.refresh_device_lists({JID(req["jid"])}, force_download=True)
            iq = await self.plugin["xep_0060"].get_items(JID(req["jid"]), f"{OLD_NS}.devicelist", max_items=1)
            ids = [int(e.get("id")) for e in iq.xml.iter("{%s}device" % OLD_NS)]
            out({"type": "result", "id": req.get("id"), "devices": ids})
        elif cmd == "roster":
            await self.get_roster()
            items = {str(j): self.client_roster[j]["subscription"] for j in self.client_roster}
            out({"type": "result", "id": req.get("id"), "roster": items})
        elif cmd == "subscribe":
            self.send_presence_subscription(pto=req["to"])
            out({"type": "result", "id": req.get("id"), "ok": True})
        elif cmd == "quit":
            self.quitting = True
            self.disconnect()
        else:
            raise ValueError(f"unknown cmd {cmd}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5222)
    ap.add_argument("--store", required=True)
    ap.add_argument("--http", action="store_true", help="fetch aesgcm:// links over http (test server without TLS)")
    ap.add_argument("--pep-access", default="open", help="access model of the OMEMO nodes (presence: as Profanity)")
    a = ap.parse_args()
    peer = Peer(a.jid, a.password, a.http, a.pep_access)
    peer.enable_plaintext = True  # loopback test server without TLS
    peer.enable_starttls = False
    peer.enable_direct_tls = False
    for p in ("xep_0030", "xep_0060", "xep_0163", "xep_0199", "xep_0280", "xep_0334"):
        peer.register_plugin(p)
    peer.register_plugin("xep_0384", {"json_file_path": a.store}, module=sys.modules[__name__])
    peer.host_port = (a.host, a.port)
    peer.connect(host=a.host, port=a.port)
    asyncio.get_event_loop().run_until_complete(peer.done)


if __name__ == "__main__":
    main()
