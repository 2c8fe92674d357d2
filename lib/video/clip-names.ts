// The names Mantis gives the files it writes into a clips folder. Retention
// touches nothing else, so a folder shared with the owner's own videos is safe.

export type ClipKind = 'motion' | 'command';

const STAMP = String.raw`\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}`;
/** camera-2026-12-02T16-20-00-000-motion.mp4 */
const CLIP = new RegExp(String.raw`^[\w-]{1,40}-${STAMP}-(?:motion|command)\.mp4$`);
/** .camera-2026-12-02T16-20-00-000-motion.part.mp4: a clip being written (ffmpeg picks the muxer by the extension). */
const PART = new RegExp(String.raw`^\.[\w-]{1,40}-${STAMP}-(?:motion|command)\.part\.mp4$`);

export function clipName(camera: string, began: number, kind: ClipKind): string {
  const stamp = new Date(began).toISOString().replace(/[:.]/g, '-').replace('Z', '');
  return `${safeName(camera)}-${stamp}-${kind}.mp4`;
}

/** The temporary name a clip is written under until it is complete. */
export function partName(clip: string): string {
  return `.${clip.replace(/\.mp4$/, '')}.part.mp4`;
}

export function isClipName(name: string): boolean {
  return CLIP.test(name);
}

export function isPartName(name: string): boolean {
  return PART.test(name);
}

function safeName(s: string): string {
  return s.replace(/[^\w-]+/g, '_').slice(0, 40) || 'camera';
}
