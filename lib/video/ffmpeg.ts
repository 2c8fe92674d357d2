import { spawn } from 'node:child_process';

export interface RunResult { stdout: Buffer; stderr: string }

/**
 * Runs a short ffmpeg/ffprobe job; rejects with its last error line on a non-zero
 * exit. A job that outlives timeoutMs is killed. `track` gets the child's PID so
 * that an owner shutting down can kill jobs still running.
 */
/** Runs a job to its end; `input`, when given, is written to its stdin (e.g. raw pictures for ffmpeg's pipe:0). */
export function run(cmd: string, args: string[], timeoutMs = 30_000, track?: (pid: number, done: boolean) => void, input?: Uint8Array): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-8000); });
    child.stdin.on('error', () => undefined); // the job ended before reading it all: its exit says why
    if (child.pid) track?.(child.pid, false);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (child.pid) track?.(child.pid, true);
      reject(e.code === 'ENOENT' ? new Error(`${cmd} not found (is ffmpeg installed?)`) : e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (child.pid) track?.(child.pid, true);
      if (code === 0) resolve({ stdout: Buffer.concat(out), stderr: err });
      else reject(new Error(`${cmd} failed (${signal ?? `exit ${code}`}): ${lastLine(err) || 'no message'}`));
    });
    child.stdin.end(input && Buffer.from(input.buffer, input.byteOffset, input.byteLength)); // without input: at once, as /dev/null
  });
}

export function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !/^\[segment @|Opening '/.test(l));
  return lines.at(-1) ?? '';
}

const ERROR_LINE = /error|fail|refused|not found|no such|invalid|timed? ?out|unauthori[sz]ed|forbidden|denied|end of file|unreachable|cannot|could not|unable/i;

/**
 * The line of ffmpeg's output that says why it stopped, shortened for a node
 * status: without "[demuxer @ 0x..]" tags and the URL the user already knows.
 */
export function exitReason(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const line = [...lines].reverse().find((l) => ERROR_LINE.test(l) && !/^\s*(Stream|Input|Output) #/.test(l));
  if (!line) return '';
  return line.replace(/^\[[^\]]+ @ 0x[0-9a-f]+\]\s*/i, '').replace(/^\w+:\/\/\S+?:\s+/, '').replace(/^\S+\.\w{2,4}:\s+/, '');
}

export interface VideoInfo {
  codec: string;
  profile: string;
  width: number;
  height: number;
  /** Seconds. */
  duration: number;
  startTime: number;
}

/** ffprobe of the first video stream. */
export async function probe(ffprobe: string, file: string): Promise<VideoInfo> {
  const { stdout } = await run(ffprobe, [
    '-v', 'error', '-select_streams', 'v:0',
    '-show_entries', 'stream=codec_name,profile,width,height,duration,start_time:format=duration',
    '-of', 'json', file,
  ], 15_000);
  const j = JSON.parse(stdout.toString()) as {
    streams?: Array<{ codec_name?: string; profile?: string; width?: number; height?: number; duration?: string; start_time?: string }>;
    format?: { duration?: string };
  };
  const s = j.streams?.[0];
  if (!s) throw new Error(`no video stream in ${file}`);
  return {
    codec: s.codec_name ?? '',
    profile: s.profile ?? '',
    width: s.width ?? 0,
    height: s.height ?? 0,
    duration: Number(s.duration ?? j.format?.duration ?? 0),
    startTime: Number(s.start_time ?? 0),
  };
}
