// A camera's settings: their defaults and ranges, checked with the same
// mechanism as motion-detect's (lib/common/settings.ts), so that a bad one is
// refused with a message naming it instead of being replaced or hanging ffmpeg.
import { choiceSetting, ConfigError, numberSetting, type Range } from '../common/settings';

export type SourceType = 'v4l2' | 'rtsp' | 'http' | 'rpicam' | 'file' | 'test';

/** copy: keep the camera's H.264; encode: libx264 baseline once; auto: copy when the source is H.264. */
export type CodecMode = 'auto' | 'copy' | 'encode';

export interface CameraConfig {
  /** Shown in statuses and used as msg.topic of detection frames. */
  name: string;
  source: SourceType;
  /** v4l2: device path; rtsp/http: URL; file: path; ignored for rpicam and test. With a record stream: the detect stream. */
  input: string;
  /** The record stream (the camera's main stream) for the ring, clips and snapshots; '' = the input does both. rtsp/http/file. */
  record: string;
  /** ffmpeg hardware decoding for the detection frames: none, auto, or a method (vaapi, drm, v4l2m2m...). */
  hwaccel: string;
  /** Capture size and rate (v4l2, rpicam, test). 0 = camera default. */
  width: number;
  height: number;
  fps: number;
  /** v4l2 input format, e.g. mjpeg, yuyv422, h264 ('' = driver default). */
  inputFormat: string;
  /** Detection frames: width in pixels (height keeps the aspect ratio) and rate. */
  detectWidth: number;
  detectFps: number;
  codec: CodecMode;
  /** Target length of a ring segment; segments start on keyframes, so a long GOP makes them longer. */
  segmentSeconds: number;
  /** How much recorded video the ring keeps (must cover the longest pre-roll). */
  keepSeconds: number;
  ffmpegPath: string;
  ffprobePath: string;
  rpicamPath: string;
  /** No frame for this long: the ffmpeg is considered hung and restarted. */
  stallTimeoutMs: number;
  /** Reconnect back-off: 1 s, 2 s, 4 s, ... up to this. */
  maxBackoffMs: number;
  /** Where ring segments live ('' = /dev/shm when writable, else the temp dir). */
  ringDir: string;
}

export const DEFAULT_CAMERA: CameraConfig = {
  name: 'camera',
  source: 'test',
  input: '',
  record: '',
  hwaccel: 'none',
  width: 1280,
  height: 720,
  fps: 15,
  inputFormat: '',
  detectWidth: 320,
  detectFps: 5,
  codec: 'auto',
  segmentSeconds: 1,
  keepSeconds: 20,
  ffmpegPath: 'ffmpeg',
  ffprobePath: 'ffprobe',
  rpicamPath: 'rpicam-vid',
  stallTimeoutMs: 10_000,
  maxBackoffMs: 8_000,
  ringDir: '',
};

/** Every setting as a user or a flow may give it: numbers may be strings, '' or undefined = default. */
export type CameraSettings = { [K in keyof CameraConfig]?: CameraConfig[K] | string | null };

type NumberKey = 'width' | 'height' | 'fps' | 'detectWidth' | 'detectFps' | 'segmentSeconds' | 'keepSeconds' | 'stallTimeoutMs' | 'maxBackoffMs';

// The editor (nodes/mantis-camera/mantis-camera.html) checks the same ranges while typing.
export const CAMERA_RANGES: Record<NumberKey, Range> = {
  width: { min: 16, max: 7680, integer: true, even: true, zero: "the camera's default", what: 'capture width in pixels' },
  height: { min: 16, max: 4320, integer: true, even: true, zero: "the camera's default", what: 'capture height in pixels' },
  fps: { min: 1, max: 120, zero: "the camera's default", what: 'capture rate in frames per second' },
  detectWidth: { min: 16, max: 4096, integer: true, what: 'detection frame width in pixels' },
  detectFps: { min: 0.1, max: 60, what: 'detection frames per second' },
  segmentSeconds: { min: 0.5, max: 10, what: 'segment length in seconds' },
  keepSeconds: { min: 2, max: 3600, what: 'seconds of video kept for pre-roll' },
  stallTimeoutMs: { min: 1000, max: 600_000, what: 'ms without video before ffmpeg is restarted' },
  maxBackoffMs: { min: 1000, max: 3_600_000, what: 'longest reconnect back-off in ms' },
};

const SOURCES: readonly SourceType[] = ['v4l2', 'rtsp', 'http', 'rpicam', 'file', 'test'];
const RECORD_SOURCES: readonly SourceType[] = ['rtsp', 'http', 'file'];
const CODECS: readonly CodecMode[] = ['auto', 'copy', 'encode'];

// What the Device / URL field must look like for each source.
const INPUT: Partial<Record<SourceType, [RegExp, string]>> = {
  rtsp: [/^rtsps?:\/\/[^/\s]+/i, 'not an rtsp:// or rtsps:// URL'],
  http: [/^https?:\/\/[^/\s]+/i, 'not an http:// or https:// URL'],
  v4l2: [/^\/dev\/\S+$/, 'not a device path (expected /dev/videoN)'],
  file: [/\S/, 'no file given'],
};

const given = (v: unknown): boolean => v !== undefined && v !== null && !(typeof v === 'string' && v.trim() === '');

/**
 * The settings over the defaults, every one checked: throws ConfigError
 * naming the first one out of its range (a number that is not one, a size of
 * 0x0 or 99999x99999, a rate of -1 or 0.001), never replaces it silently.
 */
export function cameraConfig(settings: CameraSettings): CameraConfig {
  const c: CameraConfig = { ...DEFAULT_CAMERA };
  const s = settings as Record<string, unknown>;
  for (const key of Object.keys(CAMERA_RANGES) as NumberKey[]) {
    if (given(s[key])) c[key] = numberSetting(key, s[key], CAMERA_RANGES[key]);
  }
  if (given(s.source)) c.source = choiceSetting('source', s.source, SOURCES);
  if (given(s.codec)) c.codec = choiceSetting('codec', s.codec, CODECS);
  for (const key of ['name', 'input', 'record', 'hwaccel', 'inputFormat', 'ffmpegPath', 'ffprobePath', 'rpicamPath', 'ringDir'] as const) {
    if (given(s[key])) c[key] = String(s[key]).trim();
  }
  if (!/^[\w-]*$/.test(c.inputFormat)) throw new ConfigError(`inputFormat: ${JSON.stringify(c.inputFormat)} is not a V4L2 format name (mjpeg, yuyv422, h264)`);
  const rule = INPUT[c.source];
  if (rule && !rule[0].test(c.input)) throw new ConfigError(`input: ${rule[1]}: "${c.input}"`);
  if (c.record) {
    if (!RECORD_SOURCES.includes(c.source)) throw new ConfigError(`record: a separate record stream is for RTSP, HTTP and file sources, not ${c.source}`);
    if (!rule![0].test(c.record)) throw new ConfigError(`record: ${rule![1]}: "${c.record}"`);
  }
  if (!/^[\w-]+$/.test(c.hwaccel)) throw new ConfigError(`hwaccel: ${JSON.stringify(c.hwaccel)} is not none, auto or an ffmpeg hwaccel name (vaapi, drm, v4l2m2m)`);
  if (c.source === 'test' && (c.width === 0 || c.fps === 0)) {
    throw new ConfigError(`${c.width === 0 ? 'width' : 'fps'}: 0 means the camera's default, which the test scene does not have (give ${c.width === 0 ? '16..7680' : '1..120'})`);
  }
  if ((c.width === 0) !== (c.height === 0)) throw new ConfigError(`width, height: give both or neither (0 = the camera's default), got ${c.width}x${c.height}`);
  if (c.keepSeconds < 2 * c.segmentSeconds) {
    throw new ConfigError(`keepSeconds: ${c.keepSeconds} must be at least two segments (${2 * c.segmentSeconds} s)`);
  }
  return c;
}
