// Config node: one Matrix account (login, crypto store, outbox, verification).
// Client nodes (matrix-e2ee-out / -in) register with it and mirror its status.
import type { NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { claimStoreDir, defaultStoreDir } from '../../lib/store/store-dir';
import { Backoff } from '../../lib/common/backoff';
import { MatrixBot, isTransientStartError, type BotState, type CommandMessage, type PendingVerification } from '../../lib/matrix/bot';
import type { AccountListener, AccountStatus, MatrixAccountNode } from '../../lib/matrix/node-types';
import { join } from 'node:path';
import { catalogText } from '../../lib/common/catalog';

interface AccountDef extends NodeDef {
  homeserver: string;
  userId: string;
  deviceName: string;
  storeDir: string;
  displayName: string;
  allowedUsers: string;
  adminUsers: string;
  owner?: string;
}


function userList(s: string | undefined): string[] {
  return (s ?? '').split(/[\s,;]+/).map((u) => u.trim()).filter((u) => /^@[^:]+:.+$/.test(u));
}

export = function (RED: NodeAPI): void {
  // Status texts in the runtime's language (locales/<lang>/matrix-account.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'matrix-account.json'));
  function MatrixAccount(this: MatrixAccountNode, def: AccountDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const listeners = new Set<AccountListener>();
    let error = '';
    let verification: PendingVerification | undefined;

    const status = (): AccountStatus => {
      const bot = node.bot;
      if (error) return { fill: 'red', shape: 'ring', text: error.slice(0, 60) };
      if (verification) return { fill: 'blue', shape: 'dot', text: _('matrix-account.status.verifying', { emoji: verification.emoji.map((e) => e[0]).join('') }) };
      if (!bot) return { fill: 'grey', shape: 'ring', text: _('matrix-account.status.notConfigured') };
      const q = bot.queueLength;
      const states: Record<BotState, AccountStatus> = {
        stopped: { fill: 'grey', shape: 'ring', text: _('matrix-account.status.stopped') },
        starting: { fill: 'yellow', shape: 'ring', text: _('matrix-account.status.connecting') },
        online: q ? { fill: 'yellow', shape: 'dot', text: _('matrix-account.status.queued', { n: q }) } : { fill: 'green', shape: 'dot', text: _('matrix-account.status.connected') },
        offline: { fill: 'red', shape: 'ring', text: q ? _('matrix-account.status.offlineQueued', { n: q }) : _('matrix-account.status.offline') },
        error: { fill: 'red', shape: 'ring', text: _('matrix-account.status.error') },
      };
      return states[bot.state];
    };
    const publish = (): void => { const s = status(); for (const l of listeners) l.status?.(s); };
    node.accountStatus = status;
    node.subscribe = (l) => { listeners.add(l); l.status?.(status()); return () => listeners.delete(l); };

    const creds = node.credentials ?? {};
    node.configured = !!(def.homeserver || def.userId || creds.password || creds.accessToken);
    if (!node.configured) {
      // The default flow ships an empty account: quiet until the user fills it in.
      node.log('not configured: set the homeserver, user id and password to send alerts over Matrix');
      return;
    }
    if (!def.homeserver || !def.userId || (!creds.password && !creds.accessToken)) {
      error = 'homeserver, user id and a password or access token are needed';
      node.error(error);
      node.bot = undefined;
      return;
    }
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    const storeDir = def.storeDir || defaultStoreDir(userDir, 'mantis-matrix', node.id, def.userId);
    let release: () => void;
    try {
      release = claimStoreDir(storeDir, node.id);
    } catch (e) {
      error = (e as Error).message;
      node.error(error);
      return;
    }
    const bot = new MatrixBot({
      homeserverUrl: def.homeserver,
      userId: def.userId,
      password: creds.password,
      accessToken: creds.accessToken,
      deviceName: def.deviceName || 'Mantis (Node-RED)',
      storeDir,
      allowedUsers: userList(def.allowedUsers),
      adminUsers: userList(def.adminUsers),
      owner: userList(def.owner)[0],
      displayName: def.displayName || 'Mantis',
      log: (level, msg) => (level === 'info' ? node.log(msg) : level === 'warn' ? node.warn(msg) : node.error(msg)),
    });
    node.bot = bot;
    bot.on('state', publish);
    bot.on('outbox', publish);
    bot.on('verification', (v: PendingVerification | null) => {
      verification = v ?? undefined;
      if (v) node.warn(`verification requested by ${v.userId}: confirm the emoji in the editor (${v.emoji.map((e) => `${e[0]} ${e[1]}`).join(', ')})`);
      publish();
    });
    bot.on('command', (c: CommandMessage) => { for (const l of listeners) l.command?.(c); });
    // A homeserver that is down when Node-RED starts is tried again, with back-off; alerts wait in the outbox.
    let retryTimer: NodeJS.Timeout | undefined;
    const backoff = new Backoff(2000, 60_000);
    let closing = false;
    const begin = (): void => {
      bot.start().then(() => { error = ''; backoff.reset(); publish(); }, (e: Error) => {
        if (closing) return;
        const again = isTransientStartError(e);
        const delay = backoff.peek();
        error = again ? `homeserver unreachable, retrying in ${Math.round(delay / 1000)} s` : e.message;
        node.error(`matrix: ${e.message}${again ? ` (retrying in ${Math.round(delay / 1000)} s)` : ''}`);
        publish();
        if (!again) return;
        bot.stop().catch((err: Error) => node.warn(`matrix: stopping after a failed start: ${err.message}`)).finally(() => {
          if (closing) return;
          retryTimer = setTimeout(begin, backoff.next());
        }).catch((err: Error) => node.error(`matrix: ${err.message}`));
      }).catch((e: Error) => node.error(`matrix: ${e.message}`));
    };
    begin();

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      clearTimeout(retryTimer);
      listeners.clear();
      bot.stop().catch((e: Error) => node.warn(e.message)).finally(() => { release(); done(); })
        .catch((e: Error) => node.error(`matrix: closing: ${e.message}`));
    });
  }

  RED.nodes.registerType('matrix-account', MatrixAccount as never, {
    credentials: { password: { type: 'password' }, accessToken: { type: 'password' } },
  });

  // Editor endpoints: the edit dialog polls for a pending verification and sends the human's answer.
  const account = (req: Request, res: Response): MatrixAccountNode | undefined => {
    const n = RED.nodes.getNode(String(req.params.id)) as MatrixAccountNode | null;
    if (!n || n.type !== 'matrix-account') { res.status(404).json({ error: 'no deployed matrix-account with this id' }); return undefined; }
    return n;
  };
  RED.httpAdmin.get('/mantis/matrix-account/:id/verification', RED.auth.needsPermission('matrix-account.read'), (req, res) => {
    const n = account(req, res);
    if (!n) return;
    res.json({ status: n.accountStatus(), deviceId: n.bot?.deviceId ?? null, pending: n.bot?.pendingVerification ?? null });
  });
  const answer = (confirm: boolean) => async (req: Request, res: Response): Promise<void> => {
    const n = account(req, res);
    if (!n) return;
    const id = String((req.body as { id?: unknown } | undefined)?.id ?? '');
    try {
      if (!n.bot) throw new Error('account not started');
      if (confirm) await n.bot.confirmVerification(id);
      else n.bot.cancelVerification(id);
      res.json({ ok: true });
    } catch (e) {
      res.status(409).json({ error: (e as Error).message });
    }
  };
  const answered = (confirm: boolean) => (req: Request, res: Response): void => {
    answer(confirm)(req, res).catch((e: Error) => {
      RED.log.warn(`matrix-account verification answer: ${e.message}`);
      if (!res.headersSent) res.status(500).json({ error: e.message });
    });
  };
  RED.httpAdmin.post('/mantis/matrix-account/:id/verification/confirm', RED.auth.needsPermission('matrix-account.write'), answered(true));
  RED.httpAdmin.post('/mantis/matrix-account/:id/verification/cancel', RED.auth.needsPermission('matrix-account.write'), answered(false));
};
