// The shipped default flow runs as it is in any Node-RED: a demo camera, clips in the user dir,
// an alarm without Home Assistant until it gets a broker, no ${...} left to resolve. `npm start`
// writes the user's copy of it with its settings in: the copy reads them from the environment at
// every start (${MANTIS_...}, which mantis-start always sets), so a setting changed later (a
// systemd Environment= line) still counts, as long as the node keeps the shipped value.
import type { FlowNode } from './node-red';

export function startFlow(flow: readonly FlowNode[]): FlowNode[] {
  // The broker Home Assistant uses: the shipped one, on npm start's embedded broker or MANTIS_MQTT_HOST.
  const broker = flow.find((n) => n.type === 'mqtt-broker');
  return flow.map((n) => {
    switch (n.type) {
      case 'mantis-camera':
        return n.source === 'test' && !n.input ? { ...n, source: '${MANTIS_CAMERA_SOURCE}', input: '${MANTIS_CAMERA_URL}' } : n;
      case 'mqtt-broker':
        return n === broker ? { ...n, broker: '${MANTIS_MQTT_HOST}', port: '${MANTIS_MQTT_PORT}' } : n;
      case 'alarm-panel':
        return !n.broker && broker ? { ...n, broker: broker.id } : n;
      case 'object-detect':
        // npm start switches it by its camera (MANTIS_OBJECTS: off for the demo scene, on otherwise).
        return n.enabled === 'off' ? { ...n, enabled: '${MANTIS_OBJECTS}' } : n;
      case 'record-clip':
        return !n.folder ? { ...n, folder: '${MANTIS_CLIPS_DIR}' } : n;
      default:
        return n;
    }
  });
}
