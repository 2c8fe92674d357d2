// Keeps Home Assistant in step with an Alarm over any MQTT client: discovery, retained state,
// commands from the HA panel, birth re-publish. Knows nothing of Node-RED.
import { EventEmitter } from 'node:events';
import { Alarm, type ArmMode, type StateChange, ARM_MODES, describeState } from '../alarm/alarm';
import type { MotionEvent } from '../motion/event';
import {
  type Availability, type DiscoveryMessage, type Topics,
  deviceDiscovery, entityDiscovery, parseHaCommand, topics,
} from './discovery';

export interface PublishOptions { qos: 0 | 1; retain: boolean }

/** The little an MQTT connection must offer; the node adapts Node-RED's mqtt-broker to it. */
export interface MqttLink {
  /** Resolves once the broker has it (QoS 1) or at once when not connected; never rejects. */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void>;
  /** `retained`: the broker delivered a stored message (at subscribe), not a live one. */
  subscribe(topic: string, handler: (topic: string, payload: Buffer, retained: boolean) => void): void;
  unsubscribe(topic: string): void;
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface BridgeOptions {
  deviceId: string;
  name: string;
  baseTopic: string;
  prefix?: string;
  availability?: Availability;
  /** Cameras configured up front; more are added as motion or images arrive. */
  cameras?: readonly string[];
  discovery?: 'entity' | 'device';
  modes?: readonly ArmMode[];
  swVersion?: string;
  log?: Logger;
}

export declare interface HaBridge {
  /** The HA button of a camera was pressed. */
  on(event: 'snapshot', listener: (camera: string) => void): this;
  /** A command from HA was refused (wrong code, not allowed) or malformed. */
  on(event: 'rejected', listener: (reason: string) => void): this;
}

const STATUS_TOPIC_SUFFIX = '/status';

export class HaBridge extends EventEmitter {
  readonly topics: Topics;
  readonly availability: Availability;
  private connected = false;
  private started = false;
  private readonly cameras = new Set<string>();
  private readonly motionOn = new Map<string, boolean>();
  private readonly lastMotion = new Map<string, string>();
  private readonly images = new Map<string, Buffer>();
  private readonly subscribed: string[] = [];
  private readonly log: Logger;
  private readonly onState = (c: StateChange) => this.publishState(c.state);
  private readonly onCamera = (camera: string) => {
    if (this.addCamera(camera)) this.publishAll();
    else this.publishHealth(camera);
  };

  constructor(private readonly link: MqttLink, private readonly alarm: Alarm, private readonly opts: BridgeOptions) {
    super();
    this.availability = opts.availability ?? { topic: `${opts.baseTopic}/availability`, online: 'online', offline: 'offline' };
    this.topics = topics(opts.baseTopic, this.availability.topic);
    this.log = opts.log ?? { info: () => {}, warn: () => {} };
    for (const c of opts.cameras ?? []) this.cameras.add(c);
  }

  get statusTopic(): string { return `${this.opts.prefix ?? 'homeassistant'}${STATUS_TOPIC_SUFFIX}`; }

  /** Subscribes (the link re-subscribes by itself after a reconnect) and listens to the alarm. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const c of this.alarm.snapshot.cameras) this.cameras.add(c);
    this.alarm.on('state', this.onState);
    this.alarm.on('camera', this.onCamera);
    this.sub(this.statusTopic, (_t, p) => {
      if (p.toString().trim() === 'online') {
        this.log.info('Home Assistant came online: publishing discovery and state again');
        this.publishAll();
      }
    });
    this.sub(this.topics.alarmCommand, (t, p, retained) => {
      if (!this.refuseRetained(t, retained)) this.handleCommand(p.toString());
    });
    this.sub(`${this.opts.baseTopic}/camera/+/snapshot/press`, (t, _p, retained) => {
      if (this.refuseRetained(t, retained)) return;
      const cam = [...this.cameras].find((c) => this.topics.snapshotCommand(c) === t);
      if (cam) this.emit('snapshot', cam);
      else this.log.warn(`snapshot button for an unknown camera: ${t}`);
    });
  }

  /** Publishes "offline" (a clean shutdown sends no last will) and lets go of everything. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.alarm.off('state', this.onState);
    this.alarm.off('camera', this.onCamera);
    for (const t of this.subscribed.splice(0)) this.link.unsubscribe(t);
    const bye = this.pub(this.availability.topic, this.availability.offline);
    this.connected = false;
    await bye;
  }

  /** Call on every (re)connect: the broker may have lost retained messages, HA may have missed some. */
  setConnected(up: boolean): void {
    const was = this.connected;
    this.connected = up;
    if (up && !was && this.started) this.publishAll();
  }

  get isConnected(): boolean { return this.connected; }

  /** Reports motion to HA whatever the alarm state: binary sensor and last-motion time. */
  motion(ev: MotionEvent, camera = ev.camera ?? 'camera'): void {
    const isNew = this.addCamera(camera);
    const on = ev.event !== 'end';
    this.motionOn.set(camera, on);
    if (ev.event === 'start') this.lastMotion.set(camera, new Date().toISOString());
    if (isNew) { this.publishAll(); return; }
    this.pub(this.topics.motion(camera), on ? 'ON' : 'OFF');
    const last = this.lastMotion.get(camera);
    if (ev.event === 'start' && last) this.pub(this.topics.lastMotion(camera), last);
  }

  /** The last snapshot of a camera, shown by the HA image entity. */
  image(camera: string, jpeg: Buffer): void {
    const isNew = this.addCamera(camera);
    this.images.set(camera, jpeg);
    if (isNew) { this.publishAll(); return; }
    this.pub(this.topics.image(camera), jpeg);
  }

  get cameraNames(): string[] { return [...this.cameras]; }

  discoveryMessages(): DiscoveryMessage[] {
    const o = {
      deviceId: this.opts.deviceId,
      name: this.opts.name,
      baseTopic: this.opts.baseTopic,
      prefix: this.opts.prefix,
      availability: this.availability,
      cameras: [...this.cameras],
      modes: this.opts.modes ?? ARM_MODES,
      hasCode: this.alarm.hasCode,
      codeArmRequired: this.alarm.codeArmRequired,
      swVersion: this.opts.swVersion ?? '0.0.0',
    };
    return this.opts.discovery === 'device' ? [deviceDiscovery(o)] : entityDiscovery(o);
  }

  /** Discovery first, then availability and the states, all retained. */
  publishAll(): void {
    if (!this.connected) return;
    for (const m of this.discoveryMessages()) this.pub(m.topic, m.payload);
    this.pub(this.availability.topic, this.availability.online);
    this.publishState(this.alarm.state);
    for (const cam of this.cameras) {
      this.pub(this.topics.motion(cam), this.motionOn.get(cam) ? 'ON' : 'OFF');
      const last = this.lastMotion.get(cam);
      if (last) this.pub(this.topics.lastMotion(cam), last);
      const img = this.images.get(cam);
      if (img) this.pub(this.topics.image(cam), img);
      this.publishHealth(cam);
    }
  }

  private publishHealth(camera: string): void {
    const down = this.alarm.camerasDown.has(camera);
    this.pub(this.topics.problem(camera), down ? 'ON' : 'OFF');
    this.pub(this.topics.cameraAvailability(camera), down ? 'offline' : 'online');
  }

  private publishState(state: string): void {
    this.pub(this.topics.alarmState, state);
  }

  private handleCommand(text: string): void {
    let cmd;
    try {
      cmd = parseHaCommand(text);
    } catch (err) {
      const reason = `ignored malformed Home Assistant command: ${(err as Error).message}`;
      this.log.warn(reason);
      this.emit('rejected', reason);
      return;
    }
    const by = 'home-assistant';
    const r = cmd.action === 'DISARM' ? this.alarm.disarm(cmd.code, by)
      : cmd.action === 'TRIGGER' ? this.alarm.trigger(by)
        : this.alarm.arm(cmd.action.slice(4).toLowerCase() as ArmMode, cmd.code, by);
    if (!r.ok) {
      const reason = `Home Assistant ${cmd.action} refused: ${r.message}; ${describeState(r.state, this.alarm.snapshot.target).toLowerCase()}`;
      this.log.warn(reason);
      this.emit('rejected', reason);
      // Re-send the unchanged state so a panel that guessed ahead snaps back.
      this.publishState(this.alarm.state);
    }
  }

  /**
   * A retained command is not a command: the broker hands it out again at every subscribe (deploy,
   * restart, reconnect), so obeying it would arm or disarm by itself long after anyone asked.
   */
  private refuseRetained(topic: string, retained: boolean): boolean {
    if (!retained) return false;
    const reason = `ignored a retained command on ${topic}: commands must not be retained `
      + `(clear it with: mosquitto_pub -r -n -t '${topic}')`;
    this.log.warn(reason);
    this.emit('rejected', reason);
    return true;
  }

  private addCamera(name: string): boolean {
    if (this.cameras.has(name)) return false;
    this.cameras.add(name);
    this.alarm.addCamera(name);
    return true;
  }

  private sub(topic: string, handler: (topic: string, payload: Buffer, retained: boolean) => void): void {
    this.subscribed.push(topic);
    this.link.subscribe(topic, handler);
  }

  private pub(topic: string, payload: string | Buffer): Promise<void> {
    if (!this.connected) return Promise.resolve();
    // Every caller fires and forgets: a failed publish is logged here, never a rejection left unhandled.
    return this.link.publish(topic, payload, { qos: 1, retain: true })
      .catch((e: Error) => this.log.warn(`MQTT publish to ${topic} failed: ${e.message}`));
  }
}
