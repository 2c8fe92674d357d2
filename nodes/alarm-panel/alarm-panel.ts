// alarm-panel: adapts lib/alarm (state machine) and lib/ha (Home Assistant over MQTT) to Node-RED.
// MQTT goes through Node-RED's own mqtt-broker config node, the way the core mqtt in/out nodes use it.
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Alarm, type AlarmState, type ArmMode, type CommandResult, type StateChange,
  describeState,
} from '../../lib/alarm/alarm';
import { HaBridge, type MqttLink, type PublishOptions, type SnapshotReason } from '../../lib/ha/bridge';
import { hostname } from 'node:os';
import { slug, type Availability } from '../../lib/ha/discovery';
import { brokerRefusal, isLoginRefusal } from '../../lib/ha/broker-refusal';
import type { MotionEvent } from '../../lib/motion/event';
import { isCameraHealth, isMotionEvent, parseCommand, who } from '../../lib/alarm/panel-input';
import { catalogText } from '../../lib/common/catalog';
import { describeObjects } from '../../lib/objects/stage';
import type { SeenObject } from '../../lib/objects/types';

interface AlarmPanelDef extends NodeDef {
  broker?: string;
  deviceId?: string;
  deviceName?: string;
  cameras?: string;
  snapshotEvery?: string | number;
  objectLabels?: string;
  objectsOnly?: boolean;
  codeArmRequired?: boolean;
  exitDelay?: string | number;
  entryDelay?: string | number;
  triggerTime?: string | number;
  zonesHome?: string;
  zonesAway?: string;
  zonesNight?: string;
  zonesVacation?: string;
  discovery?: 'entity' | 'device';
}
interface AlarmPanelCreds { code?: string }

interface MqttClientEvents {
  on(event: 'error', fn: (err: Error & { code?: unknown }) => void): unknown;
  off(event: 'error', fn: (err: Error & { code?: unknown }) => void): unknown;
}
/** A message as the mqtt-broker node publishes it (and as it keeps its will/birth). */
interface BrokerMessage { topic: string; payload: string | Buffer; qos: number; retain: boolean }
/** What registers with the broker: it only needs an id and a status() that mirrors the connection. */
interface BrokerUser { id: string; status(s: NodeStatus): void }
/** The parts of Node-RED's mqtt-broker config node (10-mqtt.js, Node-RED 4.1 and 5) used here. */
interface MqttBrokerNode extends Node {
  connected: boolean;
  connecting: boolean;
  brokerurl?: string;
  /** mqtt.js client; replaced on every connect(). Its 'error' says why the broker refused us. */
  client?: MqttClientEvents;
  options: { will?: BrokerMessage };
  birthMessage?: BrokerMessage;
  register(user: BrokerUser): void;
  deregister(user: BrokerUser, done: () => void, autoDisconnect?: boolean): void;
  subscribe(topic: string, options: { qos: number }, cb: (topic: string, payload: Buffer, packet?: { retain?: boolean }) => void, ref: string): void;
  unsubscribe(topic: string, ref: string, removeClientSubscription?: boolean): void;
  publish(msg: BrokerMessage, done?: (err?: unknown) => void): void;
  connect(cb?: () => void): void;
  disconnect(cb: () => void): void;
}

type Msg = NodeMessageInFlow & Record<string, unknown>;

// Wills this module put on broker nodes, and which panel owns each (one will per connection).
const ourWills = new WeakMap<object, string>();
const activePanels = new Set<string>();

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function list(s: string | undefined): string[] {
  return (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);
}

function seconds(v: string | number | undefined, dflt: number): number {
  const n = Number(v);
  return v === undefined || v === '' || !Number.isFinite(n) || n < 0 ? dflt : n;
}

const STATE_FILL: Record<AlarmState, NodeStatus['fill']> = {
  disarmed: 'green', arming: 'yellow', armed_home: 'blue', armed_away: 'blue', armed_night: 'blue',
  armed_vacation: 'blue', pending: 'yellow', triggered: 'red',
};

/** The Node-RED editor as a browser elsewhere on the network reaches it, opened at this node. */
function editorUrl(settings: { uiHost?: string; uiPort?: number; httpAdminRoot?: string | false; https?: unknown }, nodeId: string): string | undefined {
  if (settings.httpAdminRoot === false) return undefined;
  const loopbackOrAny = !settings.uiHost || ['0.0.0.0', '::', '127.0.0.1', 'localhost', '::1'].includes(settings.uiHost);
  const host = loopbackOrAny ? hostname() : settings.uiHost!;
  const root = `/${(settings.httpAdminRoot ?? '/').replace(/^\/+|\/+$/g, '')}/`.replace('//', '/');
  return `${settings.https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${settings.uiPort ?? 1880}${root}#node/${nodeId}`;
}

export = function (RED: NodeAPI): void {
  // Status texts in the runtime's language (locales/<lang>/alarm-panel.json).
  const _ = catalogText(RED._, join(__dirname, 'locales', 'en-US', 'alarm-panel.json'));
  const version = readVersion();

  /** The HA area set on the mantis-camera config node of that name, if any. */
  function cameraArea(camera: string): string | undefined {
    let area: string | undefined;
    RED.nodes.eachNode((n) => {
      const c = n as { type: string; name?: unknown; area?: unknown };
      if (!area && c.type === 'mantis-camera' && c.name === camera && typeof c.area === 'string' && c.area.trim()) area = c.area.trim();
    });
    return area;
  }

  function AlarmPanelNode(this: Node<AlarmPanelCreds>, config: AlarmPanelDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const deviceId = slug(config.deviceId || `mantis_${node.id}`);
    const zones: Partial<Record<ArmMode, string[]>> = {
      home: list(config.zonesHome), away: list(config.zonesAway),
      night: list(config.zonesNight), vacation: list(config.zonesVacation),
    };
    const userDir = RED.settings.userDir ?? join(process.cwd(), '.mantis-data');
    const alarm = new Alarm({
      code: node.credentials?.code || undefined,
      codeArmRequired: !!config.codeArmRequired,
      exitDelay: seconds(config.exitDelay, 0),
      entryDelay: seconds(config.entryDelay, 0),
      triggerTime: seconds(config.triggerTime, 180),
      zones,
      file: join(userDir, 'mantis', `alarm-${slug(node.id)}.json`),
    });
    alarm.on('error', (err) => node.error(err.message));

    // The input msg being answered, so the state message reuses it (msg.roomId / msg.to survive).
    let replyTo: Msg | null = null;
    let mqtt: 'none' | 'missing' | 'connecting' | 'connected' | 'disconnected' = 'none';
    // Why the broker would not have us (e.g. "not authorised"), until it does.
    let mqttProblem = '';

    // While a delay runs (exit, entry, trigger time) the status counts it down once a second.
    let tick: NodeJS.Timeout | undefined;
    let closed = false;
    const updateStatus = (): void => {
      if (closed) return;
      const snap = alarm.snapshot;
      const s = snap.state;
      const mode = (m: string): string => _(`alarm-panel.status.mode.${m}`);
      let label = s.startsWith('armed_') ? _('alarm-panel.status.armed', { mode: mode(s.slice(6)) })
        : s === 'arming' && snap.target.startsWith('armed_') ? _('alarm-panel.status.armingMode', { mode: mode(snap.target.slice(6)) })
          : _(`alarm-panel.status.state.${s}`);
      clearTimeout(tick);
      tick = undefined;
      if (snap.until !== undefined && (s === 'arming' || s === 'pending' || s === 'triggered')) {
        label += ` ${Math.max(0, Math.ceil((snap.until - Date.now()) / 1000))} s`;
        tick = setTimeout(updateStatus, 1000);
      }
      const refused = mqtt !== 'connected' && mqttProblem !== '';
      const conn = refused ? _('alarm-panel.status.mqtt.refused', { problem: mqttProblem }) : _(`alarm-panel.status.mqtt.${mqtt}`);
      const blind = [...alarm.camerasDown].map(([cam, why]) => ` · ${cam}: ${why}`).join('');
      const fault = refused || blind !== '';
      node.status({
        fill: fault ? 'red' : STATE_FILL[s],
        shape: !fault && (mqtt === 'connected' || mqtt === 'none') ? 'dot' : 'ring',
        text: `${label} · ${conn}${blind}`,
      });
    };

    const stateMsg = (base: Msg | null, state: AlarmState, previous: AlarmState, by: string, text: string, extra: Record<string, unknown> = {}): NodeMessage => {
      const m = (base ?? { topic: 'alarm' }) as Msg;
      m.payload = state;
      m.text = text;
      m.alarm = { state, previous, by, target: alarm.snapshot.target, ...extra };
      return m;
    };

    alarm.on('state', (c: StateChange) => {
      const base = replyTo;
      replyTo = null;
      updateStatus();
      node.send([stateMsg(base, c.state, c.previous, c.by, describeState(c.state, c.target)), null, null]);
    });
    alarm.on('camera', updateStatus);

    // ---- MQTT through the mqtt-broker config node ----
    let broker: MqttBrokerNode | null = null;
    let bridge: HaBridge | null = null;
    let reconnectingForWill = false;
    const user: BrokerUser = {
      id: node.id,
      // The broker reports its connection to its users through status(); mirror it.
      status: (s) => {
        const t = String(s.text ?? '');
        const next = t.endsWith('.connected') ? 'connected' : t.endsWith('.connecting') ? 'connecting' : 'disconnected';
        // connect() reports "connecting" before it makes its new client: look once it has.
        process.nextTick(hookClient);
        if (next === mqtt) return;
        mqtt = next;
        if (next === 'connected') mqttProblem = '';
        bridge?.setConnected(next === 'connected');
        updateStatus();
      },
    };

    // Node-RED's broker node swallows the client's errors (it logs only "Connection failed to broker"):
    // listen to its current client ourselves to say why.
    let hooked: MqttClientEvents | undefined;
    const onClientError = (err: Error & { code?: unknown }): void => {
      const reason = brokerRefusal(err);
      if (reason === mqttProblem) return; // once per reason, not once per retry
      mqttProblem = reason;
      const where = broker?.brokerurl ?? 'the MQTT broker';
      node.warn(isLoginRefusal(err)
        ? `${where} refused the login: ${reason}; check the user and password on the broker node's Security tab`
        : `${where}: ${reason}; retrying`);
      updateStatus();
    };
    function hookClient(): void {
      const c = broker?.client;
      if (closed || !c || c === hooked) return;
      hooked?.off('error', onClientError);
      c.on('error', onClientError);
      hooked = c;
    }

    if (config.broker) {
      broker = RED.nodes.getNode(config.broker) as MqttBrokerNode | null;
      if (!broker || typeof broker.register !== 'function') {
        broker = null;
        mqtt = 'missing';
        node.warn('the configured MQTT broker node does not exist; working without Home Assistant');
      }
    }

    if (broker) {
      const b = broker;
      const availability = setUpWill(b, `mantis/${deviceId}/availability`);
      const link: MqttLink = {
        publish: (topic: string, payload: string | Buffer, opts: PublishOptions) => new Promise<void>((resolve) => {
          // The broker node drops (without calling back) what is published while it is down.
          if (!b.connected) return resolve();
          b.publish({ topic, payload, qos: opts.qos, retain: opts.retain }, (err) => {
            if (err) node.warn(`MQTT publish to ${topic} failed: ${String(err)}`);
            resolve();
          });
        }),
        subscribe: (topic, handler) => b.subscribe(topic, { qos: 1 }, (t, p, packet) => handler(t, p, packet?.retain === true), node.id),
        unsubscribe: (topic) => b.unsubscribe(topic, node.id, true),
      };
      bridge = new HaBridge(link, alarm, {
        deviceId,
        name: config.deviceName || config.name || 'Mantis',
        baseTopic: `mantis/${deviceId}`,
        availability,
        cameras: list(config.cameras),
        discovery: config.discovery === 'device' ? 'device' : 'entity',
        swVersion: version,
        snapshotEvery: seconds(config.snapshotEvery, 10),
        // A flow from before object-detect has no sensors for objects until one is seen.
        objectLabels: list(config.objectLabels),
        configurationUrl: editorUrl(RED.settings as Parameters<typeof editorUrl>[0], node.id),
        area: cameraArea,
        log: { info: (m) => node.log(m), warn: (m) => node.warn(m) },
      });
      // preview: the idle refresh needs only camera-in's cheap small picture.
      bridge.on('snapshot', (camera: string, reason: SnapshotReason) => {
        node.send([null, null, { topic: 'snapshot', payload: 'snapshot', camera, by: 'home-assistant', reason, preview: reason === 'idle' }]);
      });
    }

    /**
     * The last will belongs to the broker connection. If the user set one in the broker's Messages
     * tab, it becomes the availability topic; otherwise Mantis installs its own (retained "offline")
     * and, when the broker is already connected, reconnects it once so the will takes effect.
     */
    function setUpWill(b: MqttBrokerNode, ownTopic: string): Availability {
      const own: Availability = { topic: ownTopic, online: 'online', offline: 'offline' };
      const w = b.options.will;
      const owner = w ? ourWills.get(w) : undefined;
      if (w && w.topic && owner === undefined) {
        const birth = b.birthMessage;
        const online = birth && birth.topic === w.topic ? String(birth.payload) : 'online';
        node.log(`using the broker's last will topic ${w.topic} as availability`);
        return { topic: w.topic, online, offline: String(w.payload) };
      }
      if (w && owner !== node.id && owner !== undefined && activePanels.has(owner)) {
        node.warn('another alarm-panel owns this broker connection\'s last will; a crash shows up in HA only for that one');
        return own;
      }
      if (w && w.topic === ownTopic && owner === node.id) return own;
      const will: BrokerMessage = { topic: ownTopic, payload: 'offline', qos: 1, retain: true };
      b.options.will = will;
      ourWills.set(will, node.id);
      if (b.client && (b.connected || b.connecting)) {
        node.log('reconnecting the MQTT broker once to install the last will');
        reconnectingForWill = true;
        b.disconnect(() => b.connect());
      }
      return own;
    }

    // ---- input ----
    const answer = (msg: Msg, r: CommandResult): NodeMessage | null => {
      if (r.ok) {
        if (r.changed) return null; // the 'state' event already sent it, reusing msg
        return stateMsg(msg, r.state, r.state, who(msg), describeState(r.state, alarm.snapshot.target));
      }
      node.warn(`${who(msg)}: ${r.message}; state unchanged (${r.state})`);
      const text = r.error === 'wrong_code' ? `Wrong code. ${describeState(r.state, alarm.snapshot.target)}.`
        : r.error === 'code_required' ? `A code is required. ${describeState(r.state, alarm.snapshot.target)}.`
          : `Not now: ${r.message}. ${describeState(r.state, alarm.snapshot.target)}.`;
      return stateMsg(msg, r.state, r.state, who(msg), text, { error: r.error });
    };

    node.on('input', (inMsg: NodeMessageInFlow, send: (m: Array<NodeMessage | null>) => void, done: (err?: Error) => void) => {
      const msg = inMsg as Msg;
      try {
        const p = msg.payload;
        if (Buffer.isBuffer(p)) {
          const mime = typeof msg.mimetype === 'string' ? msg.mimetype : '';
          if (mime === 'video/mp4') {
            // record-clip's clip: HA's event entity names it.
            const camera = typeof msg.camera === 'string' ? msg.camera : (bridge?.cameraNames[0] ?? 'camera');
            if (typeof msg.filename === 'string') bridge?.clip(camera, msg.filename);
          } else if (mime !== 'image/jpeg') {
            node.warn(`ignored a Buffer payload with mimetype "${mime}"; expected image/jpeg`);
          } else {
            const camera = typeof msg.camera === 'string' ? msg.camera
              : (typeof msg.topic === 'string' && msg.topic && msg.topic !== 'snapshot' ? msg.topic : (bridge?.cameraNames[0] ?? 'camera'));
            bridge?.image(camera, p);
          }
          return done();
        }
        if (msg.topic === 'camera-health' && isCameraHealth(p)) {
          const camera = p.camera ?? (typeof msg.camera === 'string' ? msg.camera : 'camera');
          alarm.cameraHealth(camera, p.ok, p.reason);
          return done();
        }
        if (msg.topic === 'motion' && isMotionEvent(p)) {
          const camera = p.camera ?? (typeof msg.camera === 'string' ? msg.camera : 'camera');
          const ev: MotionEvent = { ...p, camera, zones: p.zones ?? [] };
          bridge?.motion(ev, camera);
          // object-detect's picture with the boxes drawn: it outranks the plain snapshot in HA.
          if (Buffer.isBuffer(msg.image)) bridge?.image(camera, msg.image, true);
          const objects = (p as { objects?: unknown }).objects;
          const seen: SeenObject[] = Array.isArray(objects) ? objects as SeenObject[] : [];
          // Told so, plain motion (no object-detect verdict) is shown in HA but sets nothing off.
          if (config.objectsOnly && !seen.length) return done();
          const out = alarm.motion(ev);
          if (out.alarm) {
            msg.alarm = { state: alarm.state, target: alarm.snapshot.target, camera };
            if (out.first) {
              const what = seen.length ? describeObjects(seen, camera) : `Motion at ${camera}`;
              msg.text = alarm.state === 'triggered' ? `${what} — alarm triggered`
                : `${what} — entry delay running, disarm now or the alarm goes off`;
            }
            send([null, msg, null]);
          }
          return done();
        }
        const cmd = parseCommand(msg);
        if (cmd === 'other') return done();
        if (!cmd) {
          node.warn('ignored a message that is neither motion, a command nor a JPEG snapshot');
          return done();
        }
        if (msg.retain === true) {
          // From an mqtt in node: the broker replays a retained message at every subscribe.
          node.warn(`ignored a retained command from ${typeof msg.topic === 'string' ? msg.topic : 'MQTT'}: commands must not be retained`);
          return done();
        }
        const by = who(msg);
        let r: CommandResult;
        replyTo = msg;
        try {
          switch (cmd.command) {
            case 'arm': r = alarm.arm(cmd.mode, cmd.code, by); break;
            case 'disarm': r = alarm.disarm(cmd.code, by); break;
            case 'trigger': r = alarm.trigger(by); break;
            case 'status': r = { ok: true, changed: false, state: alarm.state }; updateStatus(); break;
          }
        } finally {
          replyTo = null;
        }
        const reply = answer(msg, r);
        if (reply) send([reply, null, null]);
        done();
      } catch (err) {
        done(err as Error);
      }
    });

    node.on('close', (removed: boolean, done: () => void) => {
      activePanels.delete(node.id);
      closed = true;
      clearTimeout(tick);
      hooked?.off('error', onClientError);
      hooked = undefined;
      alarm.stop();
      const b = broker;
      const br = bridge;
      if (!b || !br) return done();
      // A clean shutdown sends no last will: the bridge says "offline" itself; wait for the ack (2 s at most).
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => { timer = setTimeout(r, 2000); });
      const finish = (): void => {
        clearTimeout(timer);
        if (removed) {
          const w = b.options.will;
          if (w && ourWills.get(w) === node.id) delete b.options.will;
        }
        b.deregister(user, done, removed);
      };
      // Whatever fails while stopping, Node-RED gets its done(): a redeploy must never hang on this node.
      void Promise.race([br.stop(), late])
        .catch((e: Error) => node.warn(`MQTT: saying offline failed: ${e.message}`))
        .then(finish)
        .catch((e: Error) => { node.warn(`MQTT: closing: ${e.message}`); done(); });
    });

    // ---- start ----
    activePanels.add(node.id);
    alarm.start();
    updateStatus();
    if (broker && bridge) {
      // While it reconnects for the will, wait for its "connected" instead of publishing into a closing client.
      const up = broker.connected && !reconnectingForWill;
      mqtt = up ? 'connected' : 'connecting';
      bridge.start();
      broker.register(user);
      hookClient();
      if (up) bridge.setConnected(true);
      updateStatus();
    }
  }

  RED.nodes.registerType<Node<AlarmPanelCreds>, AlarmPanelDef, unknown, AlarmPanelCreds>('alarm-panel', AlarmPanelNode, {
    credentials: { code: { type: 'password' } },
  });
};
