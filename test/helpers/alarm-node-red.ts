// The real Node-RED runtime with the core mqtt-broker node and alarm-panel, for alarm/HA tests.
// Also runnable as a child process (`node alarm-node-red.js <config json>`) for the kill -9 test:
// it loads the flow, prints READY and then just runs until killed.
import { coreNode, helper, mantisNode, type TestNode } from './node-red';

/** Node-RED's own mqtt-broker / mqtt in / mqtt out module, from the node-red package in use. */
export function coreMqttNode(nodeRedModule = 'node-red'): unknown {
  return coreNode('network/10-mqtt.js', nodeRedModule);
}

export interface PanelFlowOptions {
  mqttPort?: number;
  deviceId?: string;
  cameras?: string;
  exitDelay?: number;
  entryDelay?: number;
  triggerTime?: number;
  zonesAway?: string;
  /** An `mqtt in` node registered with the broker before the panel (it connects the broker first). */
  withMqttIn?: boolean;
  /** Broker Messages-tab settings, e.g. {willTopic, willPayload, willRetain}. */
  brokerExtra?: Record<string, unknown>;
  /** The broker node's Security tab (its credentials). */
  brokerLogin?: { user: string; password: string };
  /** A motion-detect node md1 in front of the panel, both its outputs wired to it (frames go to md1). */
  withDetect?: boolean;
  /** Seconds between the panel's idle picture requests (0 = none, the default here). */
  snapshotEvery?: number;
  /** A mantis-camera config node named like the first camera, with this HA area (no user: it never starts). */
  cameraArea?: string;
}

/**
 * A flow: [mqtt-broker b1 (if mqttPort)], alarm-panel p1 wired to helper nodes o1, o2, o3. The nodes sit
 * on a tab as in a real flow file, so Node-RED stops them before the (global) broker config node.
 */
export function panelFlow(o: PanelFlowOptions): Array<Record<string, unknown>> {
  const flow: Array<Record<string, unknown>> = [{ id: 'f1', type: 'tab', label: 'alarm' }];
  if (o.mqttPort) {
    flow.push({
      id: 'b1', type: 'mqtt-broker', name: 'test broker', broker: '127.0.0.1', port: String(o.mqttPort),
      clientid: '', autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true,
      ...o.brokerExtra,
    });
    if (o.withMqttIn) {
      flow.push({ id: 'in1', type: 'mqtt in', z: 'f1', broker: 'b1', topic: 'other/#', qos: '1', datatype: 'utf8', wires: [[]] });
    }
  }
  flow.push(
    {
      id: 'p1', type: 'alarm-panel', z: 'f1', name: 'alarm', broker: o.mqttPort ? 'b1' : '', deviceId: o.deviceId ?? 'mantis_t',
      deviceName: 'Mantis test', cameras: o.cameras ?? 'door', exitDelay: o.exitDelay ?? 0, entryDelay: o.entryDelay ?? 0,
      triggerTime: o.triggerTime ?? 0, zonesAway: o.zonesAway ?? '', discovery: 'entity', snapshotEvery: o.snapshotEvery ?? 0,
      wires: [['o1'], ['o2'], ['o3']],
    },
    { id: 'o1', type: 'helper', z: 'f1' }, { id: 'o2', type: 'helper', z: 'f1' }, { id: 'o3', type: 'helper', z: 'f1' },
  );
  if (o.cameraArea !== undefined) {
    const name = (o.cameras ?? 'door').split(',')[0]!.trim();
    flow.push({ id: 'cam1', type: 'mantis-camera', name, area: o.cameraArea, source: 'test', input: '', width: 320, height: 180, fps: 5 });
  }
  if (o.withDetect) {
    flow.push({
      id: 'md1', type: 'motion-detect', z: 'f1', threshold: 25, minArea: 0.3, minDuration: 0.4, endDelay: 2, updateInterval: 1,
      zones: '', masks: '', advanced: '', wires: [['p1'], ['p1']],
    });
  }
  return flow;
}

export async function loadPanel(o: PanelFlowOptions, code?: string, nodeRedModule = 'node-red'): Promise<void> {
  const credentials: Record<string, unknown> = {};
  if (code) credentials.p1 = { code };
  if (o.brokerLogin) credentials.b1 = o.brokerLogin;
  const nodes = [coreMqttNode(nodeRedModule), mantisNode('alarm-panel'), ...(o.withDetect ? [mantisNode('motion-detect')] : []),
    ...(o.cameraArea !== undefined ? [mantisNode('mantis-camera')] : [])];
  await helper.load(nodes, panelFlow(o), credentials);
}

/** Collects the messages a helper node receives. */
export function collect(id: string): Array<Record<string, unknown>> {
  const got: Array<Record<string, unknown>> = [];
  helper.getNode(id).on('input', (m) => got.push(m));
  return got;
}

export function panel(): TestNode { return helper.getNode('p1'); }

if (require.main === module) {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as PanelFlowOptions & { userDir: string; nodeRed?: string };
  // 'node-red-4' runs the same flow on Node-RED 4.1's runtime and its own 10-mqtt.js.
  if (cfg.nodeRed) helper.init(require.resolve(cfg.nodeRed));
  helper.settings({ userDir: cfg.userDir, mqttReconnectTime: 500 });
  loadPanel(cfg, undefined, cfg.nodeRed).then(() => process.stdout.write('READY\n'), (err: Error) => {
    process.stderr.write(`${err.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
