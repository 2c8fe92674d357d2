import { Camera, type CameraStatus } from './camera';

/**
 * A camera shared by several users (the camera-in and record-clip nodes of one
 * config node): its ffmpeg runs while at least one user holds it.
 */
export class SharedCamera {
  private users = new Set<string>();

  constructor(readonly camera: Camera) {}

  acquire(user: string): Camera {
    this.users.add(user);
    if (this.users.size === 1) this.camera.start();
    return this.camera;
  }

  async release(user: string): Promise<void> {
    if (!this.users.delete(user) || this.users.size > 0) return;
    await this.camera.stop();
  }

  async close(): Promise<void> {
    this.users.clear();
    await this.camera.stop();
  }
}

export interface StatusBadge { fill: 'red' | 'green' | 'yellow' | 'blue' | 'grey'; shape: 'dot' | 'ring'; text: string }

/**
 * How a camera state looks in a Node-RED node status (plain data, no Node-RED import). With a
 * translate function, a status that has a catalog entry (mantis-camera.status.<key>) reads in the
 * runtime's language; the others (ffmpeg's own words) as they are.
 */
export function cameraBadge(s: CameraStatus, translate?: (key: string, vars?: Record<string, string | number>) => string): StatusBadge {
  const full = s.message && translate ? translate(`mantis-camera.status.${s.message.key}`, s.message.vars) : s.text;
  const text = full.length > 60 ? `${full.slice(0, 57)}...` : full;
  switch (s.state) {
    case 'watching': return { fill: 'green', shape: 'dot', text };
    case 'starting': return { fill: 'yellow', shape: 'ring', text };
    case 'reconnecting': return { fill: 'yellow', shape: 'ring', text };
    case 'error': return { fill: 'red', shape: 'ring', text };
    default: return { fill: 'grey', shape: 'ring', text };
  }
}
