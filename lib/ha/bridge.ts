// Keeps Home Assistant in step with an Alarm over any MQTT client: discovery, retained state,
// commands from the HA panel, birth re-publish. Knows nothing of Node-RED.
import { EventEmitter } from 'node:events';
import { Alarm, type ArmMode, type StateChange, ARM_MODES, describeState } from '../alarm/alarm';
import type { MotionEvent } from '../motion/event';
import {
  type Availability, type CameraEventType, type DiscoveryMessage, type Topics,
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
  /** Seconds between idle pictures asked of each camera for HA's camera entity; 0 = none. */
  snapshotEvery?: number;
  configurationUrl?: string;
  /** Object labels (object-detect's) with HA sensors per camera from the start; others are added when first seen. */
  objectLabels?: readonly string[];
  /** The HA area of a camera (its device's suggested area), when set. */
  area?: (camera: string) => string | undefined;
  log?: Logger;
}

/** Why a picture is wanted: the HA button, a motion start, the idle refresh (cheap preview is enough). */
export type SnapshotReason = 'button' | 'motion' | 'idle';

/** How long a picture with object boxes stays in HA before plain pictures may replace it. */
const ANNOTATED_HOLD_MS = 30_000;

export declare interface HaBridge {
  /** The HA button of a camera was pressed. */
  on(event: 'snapshot', listener: (camera: string, reason: SnapshotReason) => void): this;
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
  /** Until when an annotated picture (object boxes) outranks plain ones, per camera. */
  private readonly annotatedUntil = new Map<string, number>();
  /** Zones of the camera's current (or last) motion, and the labels already announced for it. */
  private readonly motionZones = new Map<string, string[]>();
  private readonly announcedLabels = new Map<string, Set<string>>();
  private readonly lastClip = new Map<string, string>();
  private readonly labels = new Set<string>();
  /** Per camera, how many objects of each label its current event shows (empty between events). */
  private readonly objectCounts = new Map<string, Map<string, number>>();
  private idleTimer: NodeJS.Timeout | undefined;
  private attrTimer: NodeJS.Timeout | undefined;
  private readonly subscribed: string[] = [];
  private readonly log: Logger;
  private readonly onState = (c: StateChange) => {
    this.publishState(c.state);
    this.publishAlarmAttributes();
    const cam = c.by.startsWith('motion:') ? c.by.slice(7) : undefined;
    if (c.state === 'triggered' && cam && this.cameras.has(cam)) this.fireEvent(cam, 'alarm_triggered', {});
  };
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
    for (const l of opts.objectLabels ?? []) this.labels.add(l);
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
    const every = this.opts.snapshotEvery ?? 0;
    if (every > 0) {
      this.idleTimer = setInterval(() => {
        if (!this.connected) return;
        for (const c of this.cameras) if (!this.alarm.camerasDown.has(c)) this.emit('snapshot', c, 'idle');
      }, every * 1000);
    }
    this.sub(`${this.opts.baseTopic}/camera/+/snapshot/press`, (t, _p, retained) => {
      if (this.refuseRetained(t, retained)) return;
      const cam = [...this.cameras].find((c) => this.topics.snapshotCommand(c) === t);
      if (cam) this.emit('snapshot', cam, 'button');
      else this.log.warn(`snapshot button for an unknown camera: ${t}`);
    });
  }

  /** Publishes "offline" (a clean shutdown sends no last will) and lets go of everything. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.alarm.off('state', this.onState);
    this.alarm.off('camera', this.onCamera);
    clearInterval(this.idleTimer);
    clearTimeout(this.attrTimer);
    for (const t of this.subscribed.splice(0)) this.link.unsubscribe(t);
    const bye = this.connected ? this.publishLogged(this.availability.topic, this.availability.offline, true) : undefined;
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
  motion(ev: MotionEvent & { objects?: unknown }, camera = ev.camera ?? 'camera'): void {
    const isNew = this.addCamera(camera);
    const newZone = this.learnZones(camera, ev.zones);
    const on = ev.event !== 'end';
    this.motionOn.set(camera, on);
    if (ev.event === 'start') {
      this.lastMotion.set(camera, new Date().toISOString());
      this.announcedLabels.set(camera, new Set());
      this.motionZones.set(camera, []);
    }
    if (on) this.motionZones.set(camera, [...new Set([...(this.motionZones.get(camera) ?? []), ...ev.zones])]);
    if (isNew || newZone) this.publishAll();
    else {
      this.pub(this.topics.motion(camera), on ? 'ON' : 'OFF');
      const last = this.lastMotion.get(camera);
      if (ev.event === 'start' && last) this.pub(this.topics.lastMotion(camera), last);
      this.publishZones(camera, on ? ev.zones : []);
    }
    if (ev.event === 'start') {
      this.fireEvent(camera, 'motion', {});
      this.emit('snapshot', camera, 'motion');
    }
    this.objectSensors(camera, ev);
    const labels = objectLabels(ev.objects).filter((l) => !this.announcedLabels.get(camera)?.has(l));
    if (labels.length) {
      const seen = this.announcedLabels.get(camera) ?? new Set<string>();
      for (const l of labels) seen.add(l);
      this.announcedLabels.set(camera, seen);
      this.fireEvent(camera, 'object', { labels: [...seen] });
    }
  }

  /** The object sensors of a camera: ON and the count while its event shows objects of the label, OFF and 0 at its end. */
  private objectSensors(camera: string, ev: MotionEvent & { objects?: unknown }): void {
    const counts = new Map<string, number>();
    if (ev.event !== 'end') {
      if (!Array.isArray(ev.objects)) return; // plain motion says nothing about objects
      for (const o of ev.objects as Array<{ label?: unknown }>) {
        if (typeof o?.label === 'string' && o.label) counts.set(o.label, (counts.get(o.label) ?? 0) + 1);
      }
    }
    const fresh = [...counts.keys()].filter((l) => !this.labels.has(l));
    for (const l of fresh) this.labels.add(l);
    this.objectCounts.set(camera, counts);
    if (fresh.length) { this.publishAll(); return; }
    this.publishObjects(camera);
  }

  private publishObjects(camera: string): void {
    const counts = this.objectCounts.get(camera);
    for (const l of this.labels) {
      const n = counts?.get(l) ?? 0;
      this.pub(this.topics.objectOccupancy(camera, l), n > 0 ? 'ON' : 'OFF');
      this.pub(this.topics.objectCount(camera, l), String(n));
    }
  }

  /**
   * A picture of a camera, shown by HA's camera and image entities. `annotated`: object-detect's
   * picture with boxes; for a while it outranks the plain pictures (idle refreshes) that follow.
   */
  image(camera: string, jpeg: Buffer, annotated = false): void {
    const now = Date.now();
    if (!annotated && (this.annotatedUntil.get(camera) ?? 0) > now) return;
    if (annotated) this.annotatedUntil.set(camera, now + ANNOTATED_HOLD_MS);
    const isNew = this.addCamera(camera);
    this.images.set(camera, jpeg);
    if (isNew) { this.publishAll(); return; }
    this.pub(this.topics.image(camera), jpeg);
  }

  /** A clip of the camera's motion is ready: HA's event entity says its name. */
  clip(camera: string, name: string): void {
    this.lastClip.set(camera, name);
    if (this.cameras.has(camera)) this.fireEvent(camera, 'motion', { recorded: true });
  }

  /** The alarm keeps the zones (they survive a restart, so their HA sensors do too). */
  private learnZones(camera: string, zones: readonly string[]): boolean {
    return this.alarm.addZones(camera, zones);
  }

  private zonesOf(camera: string): string[] {
    return this.alarm.snapshot.zones?.[camera] ?? [];
  }

  private publishZones(camera: string, active: readonly string[]): void {
    for (const z of this.zonesOf(camera)) this.pub(this.topics.zoneOccupancy(camera, z), active.includes(z) ? 'ON' : 'OFF');
  }

  /** HA's event entity: not retained (a replayed event would fire again at every subscribe). */
  private fireEvent(camera: string, type: CameraEventType, extra: Record<string, unknown>): void {
    const clip = this.lastClip.get(camera);
    this.pub(this.topics.cameraEvent(camera), JSON.stringify({
      event_type: type, camera, zones: this.motionZones.get(camera) ?? [],
      labels: [...(this.announcedLabels.get(camera) ?? [])], ...(clip ? { clip } : {}), ...extra,
    }), false);
  }

  /**
   * Who changed the alarm, how long its timer has left, what set it off. (HA's MQTT alarm panel keeps
   * its own `changed_by` empty and drops that key from JSON attributes, hence `last_changed_by`.)
   * Re-sent every second while a timer runs, so the time left counts down in HA.
   */
  private publishAlarmAttributes(): void {
    clearTimeout(this.attrTimer);
    this.attrTimer = undefined;
    const snap = this.alarm.snapshot;
    const cam = snap.by.startsWith('motion:') ? snap.by.slice(7) : undefined;
    const left = snap.until !== undefined ? Math.max(0, Math.ceil((snap.until - Date.now()) / 1000)) : undefined;
    this.pub(this.topics.alarmAttributes, JSON.stringify({
      last_changed_by: changedBy(snap.by),
      time_left: left ?? null,
      ends_at: snap.until !== undefined ? new Date(snap.until).toISOString() : null,
      triggered_by_camera: snap.state === 'pending' || snap.state === 'triggered' ? cam ?? null : null,
      triggered_by_zone: (snap.state === 'pending' || snap.state === 'triggered') && cam ? (this.motionZones.get(cam) ?? []).join(', ') || null : null,
    }));
    if (left && this.started && this.connected) {
      this.attrTimer = setTimeout(() => this.publishAlarmAttributes(), 1000);
      this.attrTimer.unref();
    }
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
      zones: this.alarm.snapshot.zones,
      objectLabels: [...this.labels],
      configurationUrl: this.opts.configurationUrl,
      suggestedArea: this.suggestedArea(),
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
    this.publishAlarmAttributes();
    for (const cam of this.cameras) {
      this.publishZones(cam, this.motionOn.get(cam) ? this.motionZones.get(cam) ?? [] : []);
      this.pub(this.topics.motion(cam), this.motionOn.get(cam) ? 'ON' : 'OFF');
      const last = this.lastMotion.get(cam);
      if (last) this.pub(this.topics.lastMotion(cam), last);
      const img = this.images.get(cam);
      if (img) this.pub(this.topics.image(cam), img);
      this.publishHealth(cam);
      this.publishObjects(cam);
    }
  }

  /** One device holds every camera: it goes to the area of the first camera that names one. */
  private suggestedArea(): string | undefined {
    for (const c of this.cameras) {
      const a = this.opts.area?.(c);
      if (a) return a;
    }
    return undefined;
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

  /** Fire and forget: a failed publish is logged, never a rejection left unhandled. */
  private pub(topic: string, payload: string | Buffer, retain = true): void {
    if (this.connected) this.publishLogged(topic, payload, retain).catch(() => undefined); // logged inside
  }

  private publishLogged(topic: string, payload: string | Buffer, retain: boolean): Promise<void> {
    return this.link.publish(topic, payload, { qos: 1, retain })
      .catch((e: Error) => this.log.warn(`MQTT publish to ${topic} failed: ${e.message}`));
  }
}

/** Labels of object-detect's objects on a motion event ({label} entries), in order, once each. */
function objectLabels(objects: unknown): string[] {
  if (!Array.isArray(objects)) return [];
  const labels = objects.map((o) => (o && typeof o === 'object' ? (o as { label?: unknown }).label : undefined));
  return [...new Set(labels.filter((l): l is string => typeof l === 'string' && l !== ''))];
}

/** Who changed the alarm, in the words HA shows. */
function changedBy(by: string): string {
  if (by === 'home-assistant') return 'Home Assistant';
  if (by === 'exit delay' || by === 'entry delay' || by === 'trigger time') return `timer (${by})`;
  if (by.startsWith('motion:')) return `motion at ${by.slice(7)}`;
  return by;
}
