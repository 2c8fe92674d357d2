// Which camera feeds a motion detector, for the editor's snapshot to draw zones on.
// Works on the deployed flow's plain node configs (no Node-RED import).

/** The parts of a deployed node's config that say who sends frames to whom. */
export interface FlowNodeConfig {
  id: string;
  type: string;
  /** Output port -> ids of the nodes wired to it. */
  wires?: string[][];
  /** camera-in: the id of its mantis-camera config node. */
  camera?: string;
  /** Disabled. */
  d?: boolean;
}

/**
 * mantis-camera config ids that may feed `detectorId`, best first: its own (a mantis-camera itself,
 * or the `camera` of a node that names one: object-detect, camera-in), the cameras of camera-in
 * nodes wired straight to it, then the cameras whose name the frames carried (`topics`, newest
 * first; frames that went through other nodes on the way), as `nameOf` names a running camera.
 */
export function upstreamCameras(
  flow: readonly FlowNodeConfig[],
  detectorId: string,
  topics: readonly string[],
  nameOf: (cameraId: string) => string | undefined,
): string[] {
  const out: string[] = [];
  const add = (id: string | undefined): void => { if (id && !out.includes(id)) out.push(id); };
  const self = flow.find((n) => n.id === detectorId);
  if (self?.type === 'mantis-camera') add(self.id);
  else if (self && !self.d) add(self.camera);
  for (const n of flow) {
    if (n.type !== 'camera-in' || n.d) continue;
    if ((n.wires ?? []).some((port) => Array.isArray(port) && port.includes(detectorId))) add(n.camera);
  }
  const cameras = flow.filter((n) => n.type === 'mantis-camera' && !n.d);
  for (const topic of topics) {
    for (const c of cameras) if (nameOf(c.id) === topic) add(c.id);
  }
  return out;
}
