// The names Mantis gives the files it writes into a clips folder. Retention
// touches nothing else, so a folder shared with the owner's own videos is safe.

export type ClipKind = 'motion' | 'command';

const STAMP = String.raw`\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}`;
/** camera-2026-12-02T16-20-00-000-motion.mp4 */
const CLIP = new RegExp(String.raw`^[\w-]{1,40}-${STAMP}-(?:motion|command)\.mp4$`);
/**
 * Clips being written live in this subfolder of the clips folder, under their final name (ffmpeg
 * picks the muxer by the extension), and are renamed into the folder when complete: whatever
 * picks up *.mp4 there (the owner's player, a media server) never sees half a clip.
 */
export const PARTIAL_DIR = '.mantis-partial';

export function clipName(camera: string, began: number, kind: ClipKind): string {
  const stamp = new Date(began).toISOString().replace(/[:.]/g, '-').replace('Z', '');
  return `${safeName(camera)}-${stamp}-${kind}.mp4`;
}

export function isClipName(name: string): boolean {
  return CLIP.test(name);
}

function safeName(s: string): string {
  return s.replace(/[^\w-]+/g, '_').slice(0, 40) || 'camera';
}
