// Between reconnect attempts: is the camera there again? A TCP connect to the
// camera's port, or a look at its device node, costs next to nothing, where an
// ffmpeg per check would cost a process start and a stream probe each time.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import type { CameraConfig } from './camera-settings';

const DEFAULT_PORTS: Record<string, number> = { 'rtsp:': 554, 'rtsps:': 322, 'http:': 80, 'https:': 443 };

function portOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** A check that resolves true when the camera may answer now; null when there is nothing cheaper than trying. */
export function reachabilityCheck(c: CameraConfig, timeoutMs = 1000): (() => Promise<boolean>) | null {
  switch (c.source) {
    case 'rtsp':
    case 'http': {
      let url: URL;
      try { url = new URL(c.input); } catch { return null; }
      const port = Number(url.port) || DEFAULT_PORTS[url.protocol];
      const host = url.hostname.replace(/^\[|\]$/g, '');
      return port ? () => portOpen(host, port, timeoutMs) : null;
    }
    case 'v4l2':
      return () => Promise.resolve(existsSync(c.input));
    default:
      return null; // rpicam, test, file: nothing to look at from outside
  }
}
