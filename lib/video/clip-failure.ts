// Why a clip was not made, in words the owner can act on (never raw ffmpeg stderr).
import type { CameraStatus } from './camera';

export type FailureCode = 'disk-full' | 'camera-away' | 'not-writable' | 'failed';

export class ClipFailure extends Error {
  constructor(readonly code: FailureCode, message: string) {
    super(message);
    this.name = 'ClipFailure';
  }
}

const MB = 1024 * 1024;

/** clipsLeft: Mantis still has clips there to delete for the next clip. */
export function diskFull(folder: string, free: number, clipsLeft: boolean): ClipFailure {
  const mb = Number.isFinite(free) ? Math.floor(free / MB) : 0;
  const what = clipsLeft ? 'oldest clips are being removed' : 'free space or lower the size limit';
  return new ClipFailure('disk-full', `disk full: ${mb} MB free in ${folder}; ${what}`);
}

export function cameraAway(camera: string, status: CameraStatus): ClipFailure {
  const why = status.text.replace(/^camera (?:is )?away /i, ''); // "camera away since 16:53: …" says "away" once
  return new ClipFailure('camera-away', `camera ${camera} is away (${why}); no clip recorded`);
}

export function cameraNotBack(camera: string, waitedMs: number): ClipFailure {
  return new ClipFailure('camera-away', `camera ${camera} did not come back within ${Math.round(waitedMs / 1000)} s; no clip recorded`);
}

const NO_SPACE = /No space left|ENOSPC|Disk quota exceeded|EDQUOT/i;
const NOT_WRITABLE = /Permission denied|EACCES|EPERM|Read-only file system|EROFS/i;

/** `free` and `need` are bytes: less free space than the clip needs is a full disk whatever ffmpeg said. */
export function isDiskFull(error: Error, free: number, need: number): boolean {
  return NO_SPACE.test(error.message) || free < need;
}

/** Words for a failure that is not a full disk. */
export function describeFailure(error: Error, opts: { folder: string; camera: string; status: CameraStatus }): ClipFailure {
  if (error instanceof ClipFailure) return error;
  if (opts.status.state !== 'watching') return cameraAway(opts.camera, opts.status);
  if (NOT_WRITABLE.test(error.message)) {
    const ro = /Read-only|EROFS/i.test(error.message);
    return new ClipFailure('not-writable', `cannot write clips to ${opts.folder}: ${ro ? 'read-only file system' : 'permission denied'}`);
  }
  // "ffmpeg failed (exit 1): [mp4 @ 0x55..] Error ..." -> the part after the tags.
  const reason = error.message.replace(/^\S*ffmpeg failed \([^)]*\):\s*/, '').replace(/\[[^\]]+ @ 0x[0-9a-f]+\]\s*/gi, '');
  return new ClipFailure('failed', `clip failed: ${reason}`);
}
