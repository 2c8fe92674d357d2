// The ffmpeg command lines of a camera, built from its (checked) settings.
// Pure functions: no processes, no files, so every source type is unit-testable.
import type { CameraConfig } from './camera-settings';
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

/** Whether the ring gets H.264 encoded by us (forced: the stream turned out not to be H.264). */
export function encodeFor(c: CameraConfig, forced: boolean): boolean {
  return c.codec === 'encode' || (c.codec === 'auto' && (sourceIsH264(c) === false || forced));
}

/** Copying only pays off for H.264 (what Element and phones play): whether the stream's codec decides that. */
export function mustLookAtCodec(c: CameraConfig): boolean {
  return c.codec === 'auto' && sourceIsH264(c) === null;
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

// A camera's RTSP answer (SDP) carries the H.264 parameters, an MJPEG frame its own size: reading
// seconds of stream first (and 20 frames to guess a frame rate) only delays the first picture by
// 1-3 s after every reconnect, and keeps those packets in memory.
const NETWORK_PROBE = ['-probesize', '32', '-analyzeduration', '0', '-fpsprobesize', '0'];

// One decoder thread and one filter thread: ffmpeg's default of a thread per core plus one each
// holding its own frames cost ~10 MB per camera (720p) for a decode that one core does at a
// fraction of its time (the detection frames are thinned to a few per second before the scaler).
const LEAN_THREADS_GLOBAL = ['-filter_threads', '1', '-filter_complex_threads', '1'];
const LEAN_THREADS_INPUT = ['-threads', '1'];

function keyframeEvery(segmentSeconds: number): string {
  return `expr:gte(t,n_forced*${segmentSeconds})`;
}

/** What one camera ffmpeg writes: detection frames, ring segments, or both (one URL). */
export type RunOutputs = 'both' | 'detect' | 'ring';

export interface CommandOptions {
  ringDir: string;
  encode: boolean;
  startNumber: number;
  framesTo?: string;
  /** Default both. */
  outputs?: RunOutputs;
  /** Segment file names: <prefix>000000001.ts (two runs may write one ring while one takes over). Default seg. */
  segmentPrefix?: string;
  /** An ffmpeg hwaccel for the decoder ('' = software). */
  hwaccel?: string;
}

/**
 * The decoder options for a hwaccel setting. v4l2m2m (the Raspberry Pi's decoder) is an ffmpeg
 * decoder, not a -hwaccel method: it is chosen as the H.264 decoder.
 */
export function hwaccelArgs(hwaccel: string): string[] {
  if (!hwaccel || hwaccel === 'none') return [];
  if (hwaccel === 'v4l2m2m') return ['-c:v', 'h264_v4l2m2m'];
  return ['-hwaccel', hwaccel];
}

/**
 * Builds the process(es) for one camera. The main ffmpeg reads the camera once and writes
 * (a) gray detection frames, thinned to the detection rate before the scaler,
 * as raw bytes to stdout, and (b) the video into keyframe-aligned MPEG-TS
 * segments in `ringDir`, listing each finished one as a CSV line
 * (name,start,end in stream seconds) on file descriptor 3. With camera roles
 * one ffmpeg does (a) from the detect stream and another (b) from the record
 * stream (outputs 'detect' / 'ring'), the latter with nothing to decode.
 */
export function buildCameraCommands(c: CameraConfig, opts: CommandOptions): CameraCommands {
  const outputs = opts.outputs ?? 'both';
  const size = c.width > 0 && c.height > 0 ? `${c.width}x${c.height}` : '';
  const fps = c.fps > 0 ? c.fps : 0;
  const input: string[] = [];
  // rpicam and the test scene pipe their stream into ffmpeg's stdin.
  const url = c.source === 'rpicam' || c.source === 'test' ? 'pipe:0' : c.input;
  let feeder: Command | undefined;
  switch (c.source) {
    case 'v4l2':
      input.push('-f', 'v4l2', '-thread_queue_size', '64');
      if (c.inputFormat) input.push('-input_format', c.inputFormat);
      if (size) input.push('-video_size', size);
      if (fps) input.push('-framerate', String(fps));
      break;
    case 'rtsp':
      // TCP: no lost UDP packets smearing the picture; timeout (µs) ends a dead connection, no sooner
      // than the stall watchdog would (an attempt that waits that long is retried at once, not backed off).
      input.push('-rtsp_transport', 'tcp', '-timeout', String(c.stallTimeoutMs * 1000), ...NETWORK_PROBE);
      break;
    case 'http':
      // multipart JPEGs carry no timestamps: stamp them on arrival, or clips play at a guessed 25 fps.
      input.push('-rw_timeout', String(c.stallTimeoutMs * 1000), '-use_wallclock_as_timestamps', '1', ...NETWORK_PROBE);
      break;
    case 'file':
      input.push('-stream_loop', '-1', '-re');
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
      input.push('-f', 'h264', '-framerate', String(fps || 30), '-use_wallclock_as_timestamps', '1', ...PIPE_PROBE);
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
      input.push('-f', 'mpegts', ...PIPE_PROBE);
      break;
    }
  }
  // area: a proper average over the pixels a small one covers (no aliasing), and cheaper than bicubic.
  const detect = `fps=${c.detectFps},scale=${c.detectWidth}:-2:flags=area,format=gray`;
  const record = opts.encode
    ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline',
      '-pix_fmt', 'yuv420p', '-force_key_frames', keyframeEvery(c.segmentSeconds)]
    : ['-c:v', 'copy'];
  const frames = outputs === 'ring' ? [] : ['-map', '0:v:0', '-vf', detect, '-f', 'rawvideo', '-pix_fmt', 'gray', opts.framesTo ?? 'pipe:1'];
  const ring = outputs === 'detect' ? [] : [
    '-map', '0:v:0', '-an', ...record,
    // Timestamps run on across segments, so that clips join them byte-wise (MPEG-TS concatenates).
    '-f', 'segment', '-segment_time', String(c.segmentSeconds),
    '-segment_start_number', String(opts.startNumber),
    '-segment_list', 'pipe:3', '-segment_list_type', 'csv', '-segment_format', 'mpegts',
    `${opts.ringDir}/${opts.segmentPrefix ?? 'seg'}%09d.ts`,
  ];
  // A stream copy decodes nothing: a hardware decoder is for the run that makes detection frames.
  const decoder = outputs === 'ring' ? [] : hwaccelArgs(opts.hwaccel ?? '');
  const args = [
    // -y: the detection frames may go to a FIFO that exists already.
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info', ...(opts.framesTo && outputs !== 'ring' ? ['-y'] : []), ...LEAN_THREADS_GLOBAL,
    ...input, ...decoder, ...LEAN_THREADS_INPUT, '-i', url, ...frames, ...ring,
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
