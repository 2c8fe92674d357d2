// Camera configuration and the ffmpeg command lines built from it.
// Pure functions: no processes, no files (except an existence check in
// validateCameraConfig), so every source type is unit-testable.

export type SourceType = 'v4l2' | 'rtsp' | 'http' | 'rpicam' | 'file' | 'test';

/** copy: keep the camera's H.264; encode: libx264 baseline once; auto: copy when the source is H.264. */
export type CodecMode = 'auto' | 'copy' | 'encode';

export interface CameraConfig {
  /** Shown in statuses and used as msg.topic of detection frames. */
  name: string;
  source: SourceType;
  /** v4l2: device path; rtsp/http: URL; file: path; ignored for rpicam and test. */
  input: string;
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

export function cameraConfig(partial: Partial<CameraConfig>): CameraConfig {
  const c = { ...DEFAULT_CAMERA };
  for (const [k, v] of Object.entries(partial)) {
    if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isNaN(v))) {
      (c as unknown as Record<string, unknown>)[k] = v;
    }
  }
  return c;
}

/** Returns a message for a configuration that can never work, or null. */
export function validateCameraConfig(c: CameraConfig, exists: (p: string) => boolean): string | null {
  switch (c.source) {
    case 'rtsp':
      if (!/^rtsps?:\/\/[^/\s]+/i.test(c.input)) return `not an rtsp:// or rtsps:// URL: "${c.input}"`;
      break;
    case 'http':
      if (!/^https?:\/\/[^/\s]+/i.test(c.input)) return `not an http:// or https:// URL: "${c.input}"`;
      break;
    case 'file':
      if (!c.input) return 'no file given';
      if (!exists(c.input)) return `file not found: ${c.input}`;
      break;
    case 'v4l2':
      if (!/^\/dev\/\S+$/.test(c.input)) return `not a device path: "${c.input}" (expected /dev/videoN)`;
      break;
    case 'rpicam':
    case 'test':
      break;
    default:
      return `unknown source type "${String(c.source)}"`;
  }
  if (!(c.detectWidth >= 16 && c.detectWidth <= 4096)) return `detection width ${c.detectWidth} out of range 16..4096`;
  if (!(c.detectFps > 0 && c.detectFps <= 60)) return `detection rate ${c.detectFps} out of range (0, 60]`;
  if (!(c.segmentSeconds >= 0.5 && c.segmentSeconds <= 10)) return `segment length ${c.segmentSeconds} s out of range 0.5..10`;
  return null;
}

/** Whether the main ffmpeg receives H.264 it can copy without knowing more (null: must look at the stream). */
export function sourceIsH264(c: CameraConfig): boolean | null {
  switch (c.source) {
    case 'rpicam':
    case 'test':
      return true;
    case 'http':
      return false; // MJPEG
    case 'v4l2':
      return c.inputFormat === 'h264';
    default:
      return null; // rtsp, file: whatever the stream carries
  }
}

export interface Command { cmd: string; args: string[] }

export interface CameraCommands {
  /** A process whose stdout feeds the main ffmpeg's stdin (rpicam-vid, the test scene encoder). */
  feeder?: Command;
  main: Command;
}

/**
 * The demo scene: a still room (wall, floor, a window, a cupboard) that a
 * figure crosses in 3 s every 8 s, encoded to H.264 like an IP camera would.
 */
export function testSceneGraph(w: number, h: number, fps: number): string {
  const s = (v: number) => Math.round(v);
  const fw = s(w * 0.09), fh = s(h * 0.45);
  return [
    `color=c=0x3a4a5a:s=${w}x${h}:r=${fps}[wall]`,
    `[wall]drawbox=x=0:y=${s(h * 0.72)}:w=${w}:h=${h - s(h * 0.72)}:c=0x5a4a3a:t=fill,` +
      `drawbox=x=${s(w * 0.12)}:y=${s(h * 0.18)}:w=${s(w * 0.24)}:h=${s(h * 0.3)}:c=0x8aa0b0:t=fill,` +
      `drawbox=x=${s(w * 0.7)}:y=${s(h * 0.33)}:w=${s(w * 0.17)}:h=${s(h * 0.42)}:c=0x6a6a7a:t=fill[room]`,
    `color=c=0xd0a080:s=${fw}x${fh}:r=${fps}[figure]`,
    `[room][figure]overlay=eval=frame:y=${s(h * 0.3)}:` +
      `x='if(lt(mod(t\\,8)\\,3)\\,-${fw}+mod(t\\,8)*(${w}+${fw})/3\\,-${fw * 2})'[out0]`,
  ].join(';');
}

// Our own feeders start with a keyframe: no need to read seconds of stream before starting,
// which would arrive later as a burst.
const PIPE_PROBE = ['-probesize', '32', '-analyzeduration', '0'];

function keyframeEvery(segmentSeconds: number): string {
  return `expr:gte(t,n_forced*${segmentSeconds})`;
}

/**
 * Builds the process(es) for one camera. The main ffmpeg decodes once and writes
 * (a) gray detection frames, thinned to the detection rate before the scaler,
 * as raw bytes to stdout, and (b) the video into keyframe-aligned MPEG-TS
 * segments in `ringDir`, listing each finished one as a CSV line
 * (name,start,end in stream seconds) on file descriptor 3.
 */
export function buildCameraCommands(
  c: CameraConfig,
  opts: { ringDir: string; encode: boolean; startNumber: number; framesTo?: string },
): CameraCommands {
  const size = c.width > 0 && c.height > 0 ? `${c.width}x${c.height}` : '';
  const fps = c.fps > 0 ? c.fps : 0;
  const input: string[] = [];
  let feeder: Command | undefined;
  switch (c.source) {
    case 'v4l2':
      input.push('-f', 'v4l2', '-thread_queue_size', '64');
      if (c.inputFormat) input.push('-input_format', c.inputFormat);
      if (size) input.push('-video_size', size);
      if (fps) input.push('-framerate', String(fps));
      input.push('-i', c.input);
      break;
    case 'rtsp':
      // TCP: no lost UDP packets smearing the picture; timeout (µs) ends a dead connection.
      input.push('-rtsp_transport', 'tcp', '-timeout', '5000000', '-i', c.input);
      break;
    case 'http':
      // multipart JPEGs carry no timestamps: stamp them on arrival, or clips play at a guessed 25 fps.
      input.push('-rw_timeout', '5000000', '-use_wallclock_as_timestamps', '1', '-i', c.input);
      break;
    case 'file':
      input.push('-stream_loop', '-1', '-re', '-i', c.input);
      break;
    case 'rpicam': {
      const args = ['-t', '0', '--codec', 'h264', '--inline', '-n'];
      if (c.width > 0) args.push('--width', String(c.width));
      if (c.height > 0) args.push('--height', String(c.height));
      if (fps) args.push('--framerate', String(fps), '--intra', String(Math.max(1, Math.round(fps * c.segmentSeconds))));
      args.push('-o', '-');
      feeder = { cmd: c.rpicamPath, args };
      // A raw H.264 elementary stream carries no timestamps: stamp frames on arrival, so that
      // segment times stay true even when the sensor delivers fewer frames than asked (low light).
      input.push('-f', 'h264', '-framerate', String(fps || 30), '-use_wallclock_as_timestamps', '1', ...PIPE_PROBE, '-i', 'pipe:0');
      break;
    }
    case 'test': {
      const w = c.width > 0 ? c.width : 1280, h = c.height > 0 ? c.height : 720, r = fps || 15;
      feeder = {
        cmd: c.ffmpegPath,
        args: [
          '-hide_banner', '-nostdin', '-loglevel', 'error', '-re',
          '-f', 'lavfi', '-i', testSceneGraph(w, h, r),
          '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
          '-g', String(Math.max(1, Math.round(r * c.segmentSeconds))),
          '-flush_packets', '1', '-f', 'mpegts', 'pipe:1',
        ],
      };
      input.push('-f', 'mpegts', ...PIPE_PROBE, '-i', 'pipe:0');
      break;
    }
  }
  // area: a proper average over the pixels a small one covers (no aliasing), and cheaper than bicubic.
  const detect = `fps=${c.detectFps},scale=${c.detectWidth}:-2:flags=area,format=gray`;
  const record = opts.encode
    ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline',
      '-pix_fmt', 'yuv420p', '-force_key_frames', keyframeEvery(c.segmentSeconds)]
    : ['-c:v', 'copy'];
  const args = [
    // -y: the detection frames may go to a FIFO that exists already.
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info', ...(opts.framesTo ? ['-y'] : []),
    ...input,
    '-map', '0:v:0', '-vf', detect, '-f', 'rawvideo', '-pix_fmt', 'gray', opts.framesTo ?? 'pipe:1',
    '-map', '0:v:0', '-an', ...record,
    // Timestamps run on across segments, so that clips join them byte-wise (MPEG-TS concatenates).
    '-f', 'segment', '-segment_time', String(c.segmentSeconds),
    '-segment_start_number', String(opts.startNumber),
    '-segment_list', 'pipe:3', '-segment_list_type', 'csv', '-segment_format', 'mpegts',
    `${opts.ringDir}/seg%09d.ts`,
  ];
  return { feeder, main: { cmd: c.ffmpegPath, args } };
}

/** rtsp://host/x + user/password -> rtsp://user:password@host/x (credentials kept out of the flow). */
export function withCredentials(url: string, user?: string, password?: string): string {
  if (!user) return url;
  try {
    const u = new URL(url);
    u.username = user;
    if (password) u.password = password;
    return u.toString();
  } catch {
    return url;
  }
}
