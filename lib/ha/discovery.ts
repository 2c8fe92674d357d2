// Pure builders of Home Assistant MQTT discovery messages and the topics Mantis uses.
// https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery
import type { ArmMode } from '../alarm/alarm';

export interface Availability {
  topic: string;
  online: string;
  offline: string;
}

export interface DiscoveryOptions {
  /** Stable id of this Mantis instance: HA device identifier, unique-id prefix, topic segment. */
  deviceId: string;
  /** Device name shown in HA. */
  name: string;
  /** Root of Mantis's own topics, e.g. "mantis/<deviceId>". */
  baseTopic: string;
  /** Discovery prefix HA listens on (HA's default "homeassistant"). */
  prefix?: string;
  availability: Availability;
  cameras: readonly string[];
  /** Arm modes offered on the HA panel. */
  modes: readonly ArmMode[];
  /** A PIN is configured: HA asks for it and passes it on (validated by Mantis). */
  hasCode: boolean;
  codeArmRequired: boolean;
  swVersion: string;
  /** Zone names seen per camera: one occupancy binary_sensor each. */
  zones?: Readonly<Record<string, readonly string[]>>;
  /** Object labels (object-detect): per camera an occupancy binary_sensor and a count sensor each. */
  objectLabels?: readonly string[];
  /** Where the device's "Visit" link in HA leads: the Node-RED editor. */
  configurationUrl?: string;
  /** The area HA offers for the device (from the camera's setting). */
  suggestedArea?: string;
}

export interface DiscoveryMessage {
  topic: string;
  /** JSON text; "" removes the entity. */
  payload: string;
}

// No "qos" in the configs: HA's default 0 for commands. A QoS 1 command makes the broker send HA a
// PUBACK right before the state it answers, and with Nagle on the broker's socket that state then waits
// for HA's delayed ACK (~40 ms). Mantis's own state publishes are QoS 1 and retained.
export const ORIGIN = { name: 'Mantis', support_url: 'https://github.com/mantis-alarm/node-red-mantis' };

/** Topic- and id-safe form of a name: HA object ids allow [a-zA-Z0-9_-]. */
export function slug(name: string): string {
  const s = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^\w-]+/g, '_').replace(/^_+|_+$/g, '').toLowerCase();
  return s || 'camera';
}

export interface Topics {
  availability: string;
  alarmState: string;
  alarmCommand: string;
  motion(camera: string): string;
  lastMotion(camera: string): string;
  image(camera: string): string;
  snapshotCommand(camera: string): string;
  /** ON while the camera sends no frames (binary_sensor, device class problem). */
  problem(camera: string): string;
  /** online/offline: the camera's own entities become unavailable while it is dead. */
  cameraAvailability(camera: string): string;
  /** JSON attributes of the alarm panel: who changed it, time left, what triggered it. */
  alarmAttributes: string;
  /** Not retained: one JSON message per event (HA's event entity). */
  cameraEvent(camera: string): string;
  zoneOccupancy(camera: string, zone: string): string;
  /** ON while object-detect sees an object of that label (binary_sensor, occupancy). */
  objectOccupancy(camera: string, label: string): string;
  /** How many of that label it sees (sensor). */
  objectCount(camera: string, label: string): string;
}

export function topics(baseTopic: string, availabilityTopic?: string): Topics {
  const cam = (c: string) => `${baseTopic}/camera/${slug(c)}`;
  return {
    availability: availabilityTopic ?? `${baseTopic}/availability`,
    alarmState: `${baseTopic}/alarm/state`,
    alarmCommand: `${baseTopic}/alarm/set`,
    motion: (c) => `${cam(c)}/motion`,
    lastMotion: (c) => `${cam(c)}/last_motion`,
    image: (c) => `${cam(c)}/snapshot`,
    snapshotCommand: (c) => `${cam(c)}/snapshot/press`,
    problem: (c) => `${cam(c)}/problem`,
    cameraAvailability: (c) => `${cam(c)}/availability`,
    alarmAttributes: `${baseTopic}/alarm/attributes`,
    cameraEvent: (c) => `${cam(c)}/event`,
    zoneOccupancy: (c, z) => `${cam(c)}/zone/${slug(z)}`,
    objectOccupancy: (c, l) => `${cam(c)}/object/${slug(l)}`,
    objectCount: (c, l) => `${cam(c)}/object/${slug(l)}/count`,
  };
}

/** Command template: the code travels with the action, as JSON. */
export const COMMAND_TEMPLATE = '{"action":"{{ action }}","code":"{{ code }}"}';

type Component = Record<string, unknown>;

/** `camera`: the entity shows what that camera sees, so it is unavailable while the camera is dead. */
interface Entity { platform: string; objectId: string; config: Component; camera?: string }

function device(o: DiscoveryOptions): Component {
  return {
    identifiers: [o.deviceId],
    name: o.name,
    manufacturer: 'Mantis',
    model: 'Node-RED motion alarm',
    sw_version: o.swVersion,
    ...(o.configurationUrl ? { configuration_url: o.configurationUrl } : {}),
    ...(o.suggestedArea ? { suggested_area: o.suggestedArea } : {}),
  };
}

/** A name as HA shows it after the device's: "garden" -> "Garden" (HA prefixes "Mantis"). */
export function displayName(name: string): string {
  return name.replace(/(^|[\s_-])(\p{Ll})/gu, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

export const CAMERA_EVENT_TYPES = ['motion', 'object', 'alarm_triggered'] as const;
export type CameraEventType = typeof CAMERA_EVENT_TYPES[number];

/** Per camera: the live picture (MQTT camera on the snapshot topic), its event entity, one occupancy sensor per zone. */
function cameraPictureAndEvents(o: DiscoveryOptions, t: Topics, cam: string): Entity[] {
  const s = slug(cam);
  const title = displayName(cam);
  const list: Entity[] = [
    {
      platform: 'camera', objectId: `${s}_camera`, camera: cam, config: {
        name: `${title} Camera`, unique_id: `${o.deviceId}_${s}_camera`, topic: t.image(cam),
      },
    },
    {
      platform: 'event', objectId: `${s}_event`, camera: cam, config: {
        name: `${title} Event`, unique_id: `${o.deviceId}_${s}_event`, state_topic: t.cameraEvent(cam),
        event_types: [...CAMERA_EVENT_TYPES], device_class: 'motion',
      },
    },
  ];
  for (const z of o.zones?.[cam] ?? []) {
    list.push({
      platform: 'binary_sensor', objectId: `${s}_zone_${slug(z)}`, camera: cam, config: {
        name: `${title} ${displayName(z)} Occupancy`, unique_id: `${o.deviceId}_${s}_zone_${slug(z)}`,
        device_class: 'occupancy', state_topic: t.zoneOccupancy(cam, z), payload_on: 'ON', payload_off: 'OFF',
      },
    });
  }
  // As Frigate's integration has them: binary_sensor.<device>_<camera>_person and its count.
  for (const l of o.objectLabels ?? []) {
    const ls = slug(l);
    list.push({
      platform: 'binary_sensor', objectId: `${s}_${ls}`, camera: cam, config: {
        name: `${title} ${displayName(l)}`, unique_id: `${o.deviceId}_${s}_${ls}`, device_class: 'occupancy',
        state_topic: t.objectOccupancy(cam, l), payload_on: 'ON', payload_off: 'OFF',
      },
    });
    list.push({
      platform: 'sensor', objectId: `${s}_${ls}_count`, camera: cam, config: {
        name: `${title} ${displayName(l)} Count`, unique_id: `${o.deviceId}_${s}_${ls}_count`, state_class: 'measurement',
        state_topic: t.objectCount(cam, l), icon: 'mdi:counter',
      },
    });
  }
  return list;
}

function entities(o: DiscoveryOptions): Entity[] {
  const t = topics(o.baseTopic, o.availability.topic);
  const list: Entity[] = [];
  const alarm: Component = {
    name: 'Alarm',
    unique_id: `${o.deviceId}_alarm`,
    state_topic: t.alarmState,
    json_attributes_topic: t.alarmAttributes,
    command_topic: t.alarmCommand,
    command_template: COMMAND_TEMPLATE,
    supported_features: [...o.modes.map((m) => `arm_${m}`), 'trigger'],
    code_arm_required: o.hasCode && o.codeArmRequired,
    code_disarm_required: o.hasCode,
    code_trigger_required: false,
  };
  // REMOTE_CODE: HA shows a keypad and passes the code on; Mantis checks it.
  if (o.hasCode) alarm.code = 'REMOTE_CODE';
  list.push({ platform: 'alarm_control_panel', objectId: 'alarm', config: alarm });
  for (const cam of o.cameras) {
    const s = slug(cam);
    const title = displayName(cam);
    list.push({
      platform: 'binary_sensor', objectId: `${s}_motion`, camera: cam, config: {
        name: `${title} Motion`, unique_id: `${o.deviceId}_${s}_motion`, device_class: 'motion',
        state_topic: t.motion(cam), payload_on: 'ON', payload_off: 'OFF',
      },
    });
    list.push({
      platform: 'image', objectId: `${s}_snapshot`, camera: cam, config: {
        name: `${title} Snapshot`, unique_id: `${o.deviceId}_${s}_snapshot`,
        image_topic: t.image(cam), content_type: 'image/jpeg',
      },
    });
    list.push({
      platform: 'sensor', objectId: `${s}_last_motion`, camera: cam, config: {
        name: `${title} Last Motion`, unique_id: `${o.deviceId}_${s}_last_motion`, device_class: 'timestamp',
        state_topic: t.lastMotion(cam),
      },
    });
    list.push({
      platform: 'button', objectId: `${s}_take_snapshot`, camera: cam, config: {
        name: `${title} Take Snapshot`, unique_id: `${o.deviceId}_${s}_take_snapshot`,
        command_topic: t.snapshotCommand(cam), payload_press: 'PRESS', icon: 'mdi:camera',
      },
    });
    // Stays available while the camera is dead: that is when it has something to say.
    list.push({
      platform: 'binary_sensor', objectId: `${s}_problem`, config: {
        name: `${title} Problem`, unique_id: `${o.deviceId}_${s}_problem`, device_class: 'problem',
        entity_category: 'diagnostic', state_topic: t.problem(cam), payload_on: 'ON', payload_off: 'OFF',
      },
    });
    list.push(...cameraPictureAndEvents(o, t, cam));
  }
  return list;
}

/** Mantis's availability, and for a camera's entities also that camera's (both must be online). */
function availabilityBlock(a: Availability, cameraTopic?: string): Component {
  const list = [{ topic: a.topic, payload_available: a.online, payload_not_available: a.offline }];
  if (!cameraTopic) return { availability: list };
  list.push({ topic: cameraTopic, payload_available: 'online', payload_not_available: 'offline' });
  return { availability: list, availability_mode: 'all' };
}

/** One retained config message per entity (works on every HA version with MQTT discovery). */
export function entityDiscovery(o: DiscoveryOptions): DiscoveryMessage[] {
  const prefix = o.prefix ?? 'homeassistant';
  const dev = device(o);
  const origin = { ...ORIGIN, sw_version: o.swVersion };
  const t = topics(o.baseTopic, o.availability.topic);
  return entities(o).map((e) => ({
    topic: `${prefix}/${e.platform}/${o.deviceId}/${e.objectId}/config`,
    payload: JSON.stringify({
      ...e.config, ...availabilityBlock(o.availability, e.camera && t.cameraAvailability(e.camera)), device: dev, origin,
    }),
  }));
}

/** One retained config message for the whole device (HA 2024.11 and later). */
export function deviceDiscovery(o: DiscoveryOptions): DiscoveryMessage {
  const prefix = o.prefix ?? 'homeassistant';
  const cmps: Record<string, Component> = {};
  const t = topics(o.baseTopic, o.availability.topic);
  for (const e of entities(o)) {
    // A component's own availability replaces the device's shared one.
    const own = e.camera ? availabilityBlock(o.availability, t.cameraAvailability(e.camera)) : {};
    cmps[e.objectId] = { platform: e.platform, ...e.config, ...own };
  }
  return {
    topic: `${prefix}/device/${o.deviceId}/config`,
    payload: JSON.stringify({
      device: device(o),
      origin: { ...ORIGIN, sw_version: o.swVersion },
      components: cmps,
      ...availabilityBlock(o.availability),
    }),
  };
}

export type HaAction = 'ARM_AWAY' | 'ARM_HOME' | 'ARM_NIGHT' | 'ARM_VACATION' | 'DISARM' | 'TRIGGER';
export type HaCommand = { action: HaAction; code?: string };

const ACTIONS: readonly HaAction[] = ['ARM_AWAY', 'ARM_HOME', 'ARM_NIGHT', 'ARM_VACATION', 'DISARM', 'TRIGGER'];

/**
 * Parses what HA sends on the alarm command topic: the JSON of COMMAND_TEMPLATE, or a bare
 * action (HA's default payloads, e.g. from a panel configured by hand). Throws on anything else.
 */
export function parseHaCommand(payload: string): HaCommand {
  const text = payload.trim();
  if ((ACTIONS as readonly string[]).includes(text)) return { action: text as HaAction };
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw new Error(`not JSON and not an action: ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('command is not a JSON object');
  const { action, code } = j as { action?: unknown; code?: unknown };
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) {
    throw new Error(`unknown action ${JSON.stringify(action)}`);
  }
  if (code !== undefined && code !== null && typeof code !== 'string' && typeof code !== 'number') {
    throw new Error('code must be a string');
  }
  // HA renders a missing code as "" or "None" in the template.
  const c = code === undefined || code === null ? '' : String(code);
  return c && c !== 'None' ? { action: action as HaAction, code: c } : { action: action as HaAction };
}
