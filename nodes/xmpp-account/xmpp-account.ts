// Config node: one XMPP account with OMEMO (stream, keys, outbox, trust).
// Client nodes (xmpp-omemo-out / -in) register with it and mirror its status.
import type { NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { claimStoreDir, defaultStoreDir } from '../../lib/store/store-dir';
import { XmppAccount, type CommandEvent, type RefusedEvent } from '../../lib/xmpp/account';
import type { XmppAccountNode, XmppListener, XmppStatus } from '../../lib/xmpp/node-types';
import { join } from 'node:path';
import { catalogText } from '../../lib/common/catalog';

interface AccountDef extends NodeDef {
  jid: string;
  server: string;
  port: string;
  resource: string;
  allowed: string;
  admins: string;
  storeDir: string;
  insecure?: boolean;
}

const JID_RE = /^[^@/\s]+@[^@/\s]+$/;

function jidList(s: string | undefined): string[] {
  return (s ?? '').split(/[\s,;]+/).map((u) => u.trim().toLowerCase()).filter((u) => JID_RE.test(u));
}

export = function (RED: NodeAPI): void {
  // Status texts in the runtime's language (locales/<lang>/xmpp-account.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'xmpp-account.json'));
  function XmppAccountConfig(this: XmppAccountNode, def: AccountDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const listeners = new Set<XmppListener>();
    let error = '';

    const status = (): XmppStatus => {
      const acc = node.account;
      if (error) return { fill: 'red', shape: 'ring', text: error.slice(0, 60) };
      if (!acc) return { fill: 'grey', shape: 'ring', text: _('xmpp-account.status.notConfigured') };
      const q = acc.queueLength;
      switch (acc.state) {
        case 'online': return q ? { fill: 'yellow', shape: 'dot', text: _('xmpp-account.status.queued', { n: q }) } : { fill: 'green', shape: 'dot', text: _('xmpp-account.status.connected') };
        case 'connecting': return { fill: 'yellow', shape: 'ring', text: q ? _('xmpp-account.status.connectingQueued', { n: q }) : _('xmpp-account.status.connecting') };
        case 'stopped': return { fill: 'grey', shape: 'ring', text: _('xmpp-account.status.stopped') };
        default: return { fill: 'red', shape: 'ring', text: `${q ? _('xmpp-account.status.offlineQueued', { n: q }) : _('xmpp-account.status.offline')}${acc.lastError ? `: ${acc.lastError}` : ''}`.slice(0, 60) };
      }
    };
    const publish = (): void => { const s = status(); for (const l of listeners) l.status?.(s); };
    node.accountStatus = status;
    node.subscribe = (l) => { listeners.add(l); l.status?.(status()); return () => listeners.delete(l); };

    const password = node.credentials?.password;
    const jid = (def.jid ?? '').trim().toLowerCase();
    const port = def.port ? Number(def.port) : undefined;
    node.configured = !!(jid || password);
    if (!node.configured) {
      // The default flow ships an empty account: quiet until the user fills it in.
      node.log('not configured: set the JID and password to send alerts over XMPP');
      return;
    }
    if (!JID_RE.test(jid) || !password) {
      error = 'a JID (user@domain) and a password are needed';
    } else if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      error = `bad port "${def.port}"`;
    }
    if (error) {
      node.error(`xmpp-account: ${error}`);
      node.account = undefined;
      return;
    }
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    const storeDir = def.storeDir?.trim() || defaultStoreDir(userDir, 'mantis-xmpp', node.id, jid);
    let release: () => void;
    try {
      release = claimStoreDir(storeDir, node.id);
    } catch (e) {
      error = (e as Error).message;
      node.error(`xmpp-account: ${error}`);
      return;
    }
    const account = new XmppAccount({
      jid,
      password: password!,
      host: def.server?.trim() || undefined,
      port,
      resource: def.resource?.trim() || 'mantis',
      allowed: jidList(def.allowed),
      admins: jidList(def.admins),
      allowInsecure: def.insecure === true,
      storeDir,
    });
    node.account = account;
    account.on('state', publish);
    account.on('queue', publish);
    account.on('warn', (w: string) => node.warn(w));
    account.on('dropped', (to: string, why: string) => node.error(`not sent to ${to}: ${why}`));
    account.on('refused', (r: RefusedEvent) => node.warn(`${r.reason}${r.device ? ` (device ${r.device})` : ''}`));
    account.on('command', (c: CommandEvent) => { for (const l of listeners) l.command?.(c); });
    account.start().then(publish, (e: Error) => {
      error = e.message;
      node.error(`xmpp-account: ${e.message}`);
      publish();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      listeners.clear();
      account.stop().catch((e: Error) => node.warn(e.message)).finally(() => { release(); done(); })
        .catch((e: Error) => node.error(`xmpp: closing: ${e.message}`));
    });
  }

  RED.nodes.registerType('xmpp-account', XmppAccountConfig as never, {
    credentials: { password: { type: 'password' } },
  });

  // Editor endpoints: fingerprints of the bot and of every contact device, and trust decisions.
  const accountOf = (req: Request, res: Response): XmppAccountNode | undefined => {
    const n = RED.nodes.getNode(String(req.params.id)) as XmppAccountNode | null;
    if (!n || n.type !== 'xmpp-account' || !n.account) { res.status(404).json({ error: 'no deployed xmpp-account with this id' }); return undefined; }
    return n;
  };
  RED.httpAdmin.get('/mantis/xmpp-account/:id/devices', RED.auth.needsPermission('xmpp-account.read'), (req, res) => {
    const n = accountOf(req, res);
    if (!n?.account) return;
    res.json({ status: n.accountStatus(), jid: n.account.jid, devices: n.account.devices() });
  });
  RED.httpAdmin.post('/mantis/xmpp-account/:id/trust', RED.auth.needsPermission('xmpp-account.write'), (req, res) => {
    const n = accountOf(req, res);
    if (!n?.account) return;
    const b = (req.body ?? {}) as { jid?: unknown; device?: unknown; trust?: unknown };
    const trust = String(b.trust);
    if (!['trusted', 'distrusted', 'btbv'].includes(trust)) { res.status(400).json({ error: 'trust must be trusted, distrusted or btbv' }); return; }
    const ok = n.account.setTrust(String(b.jid ?? ''), Number(b.device), trust as 'trusted' | 'distrusted' | 'btbv');
    if (!ok) { res.status(404).json({ error: 'unknown device' }); return; }
    res.json({ ok: true });
  });
};
