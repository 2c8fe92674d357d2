// Camera roles: the ring of segments (clips, snapshots, object crops) as a
// stream copy of the camera's record stream (its main stream), by an ffmpeg
// of its own that decodes nothing. While the record stream is away, the
// detect stream is copied into the ring instead (smaller clips beat no clips),
// and the record stream is tried again in the background: it takes the ring
// back with its first segment, so the ring never goes without video.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { StateLog } from '../common/state-log';
import type { CameraConfig } from './camera-settings';
import { CameraRun, type RunEnd, type SourceInfo } from './camera-run';
import { reachabilityCheck } from './reachable';
import { Reconnect } from './reconnect';
import type { Segment, SegmentRing } from './segments';
import { encodeFor, mustLookAtCodec } from './source';

/** Which stream fills the ring now. */
export type RingSource = 'none' | 'record' | 'detect';
export interface RecordState { source: RingSource; text: string }

type Role = 'record' | 'detect';

/**
 * Events: 'source' (SourceInfo of the stream that writes the ring), 'segment'
 * (Segment), 'state' (RecordState, on a change), 'log' ({ level, text }).
 */
export class RecordStream extends EventEmitter {
  state: RecordState = { source: 'none', text: 'record stream starting' };
  private readonly runs = new Map<Role, CameraRun>();
  /** The run whose segments the ring takes. */
  private writer: CameraRun | null = null;
  private readonly nextNumber: Record<Role, number> = { record: 0, detect: 0 };
  private readonly forceEncode: Record<Role, boolean> = { record: false, detect: false };
  private readonly configs: Record<Role, CameraConfig>;
  private readonly reconnect: Reconnect;
  private readonly stateLog = new StateLog();
  private readonly abort = new AbortController();
  private recordAway = '';
  private readonly sources = new WeakMap<CameraRun, SourceInfo>();

  constructor(config: CameraConfig, private readonly ring: SegmentRing, private readonly readBuffer: Buffer) {
    super();
    this.configs = { record: { ...config, input: config.record }, detect: config };
    this.reconnect = new Reconnect(config.maxBackoffMs, reachabilityCheck(this.configs.record));
  }

  get pids(): number[] {
    return [...this.runs.values()].flatMap((r) => r.pids);
  }

  start(): void {
    this.spawn('record');
  }

  /** Ends both runs; resolves when they are gone. */
  async stop(): Promise<void> {
    this.abort.abort();
    const ends = [...this.runs.values()].map((run) => new Promise((r) => {
      run.once('end', r);
      run.kill(undefined, 'SIGTERM');
      setTimeout(() => run.kill(undefined, 'SIGKILL'), 2000).unref();
    }));
    await Promise.all(ends);
  }

  private spawn(role: Role): void {
    if (this.abort.signal.aborted || this.runs.has(role)) return;
    const config = this.configs[role];
    let run: CameraRun;
    try {
      run = new CameraRun(config, this.ring, this.readBuffer, {
        encode: encodeFor(config, this.forceEncode[role]), startNumber: this.nextNumber[role], outputs: 'ring',
        segmentPrefix: role === 'record' ? 'rec' : 'sub', admit: () => this.admit(run, role),
      });
    } catch (e) {
      this.setState('none', `record stream: cannot start the ${role} stream's ffmpeg: ${(e as Error).message}`, 'error');
      return;
    }
    this.runs.set(role, run);
    run.on('source', (info: SourceInfo) => this.onSource(run, role, info));
    run.on('segment', (seg: Segment) => { if (this.writer === run) this.emit('segment', seg); });
    run.on('end', (end: RunEnd) => this.onEnd(run, role, end));
  }

  /** Whether the ring takes this run's segment: the record stream takes it over, the detect stream only fills in. */
  private admit(run: CameraRun, role: Role): boolean {
    if (this.writer === run) return true;
    if (this.runs.get(role) !== run) return false; // a run already ended or replaced
    const other = this.runs.get(role === 'record' ? 'detect' : 'record');
    if (role === 'detect' && this.writer && this.writer === other) return false;
    if (other && role === 'record') other.kill('the record stream is back');
    this.writer = run;
    this.ring.newRun(); // another stream, another clock
    const info = this.sources.get(run);
    if (info) this.emit('source', info);
    if (role === 'record') {
      const again = this.recordAway ? ' again' : '';
      this.recordAway = '';
      this.setState('record', 'recording the record stream', 'info', `record stream: recording it${again}`);
    } else {
      this.setState('detect', 'record stream away', 'warn', `record stream away (${this.recordAway || 'not answering'}): recording the detect stream until it is back`);
    }
    return true;
  }

  private onSource(run: CameraRun, role: Role, info: SourceInfo): void {
    this.sources.set(run, info);
    if (this.writer === run) this.emit('source', info);
    if (!run.encode && mustLookAtCodec(this.configs[role]) && info.codec !== 'h264') {
      // As with one URL: only H.264 is copied (what Element and phones play).
      this.forceEncode[role] = true;
      run.kill('encoding once: the stream is not H.264');
    }
  }

  private onEnd(run: CameraRun, role: Role, end: RunEnd): void {
    this.nextNumber[role] = Math.max(this.nextNumber[role], run.lastNumber + 2);
    if (this.runs.get(role) === run) this.runs.delete(role);
    const wasWriter = this.writer === run;
    if (wasWriter) this.writer = null;
    if (this.abort.signal.aborted) return;
    if (role === 'detect') {
      // Killed because the record stream took over, or the detect stream is away too (the camera's own run reports that).
      if (this.writer === null) this.waitThen('detect', run.startedAt);
      return;
    }
    if (end.fatal) {
      this.setState('none', `record stream: ${end.reason}`, 'error');
      return;
    }
    if (end.frames > 0 && end.lasted >= 30_000) this.reconnect.worked();
    if (this.forceEncode.record && !run.encode) { this.spawn('record'); return; }
    this.recordAway = end.reason;
    if (wasWriter || this.state.source === 'none') {
      this.setState('none', 'record stream away, switching to the detect stream', 'warn', `record stream away (${end.reason}): switching to the detect stream`);
    }
    if (!this.runs.has('detect') && this.writer === null) this.spawn('detect');
    this.waitThen('record', run.startedAt);
  }

  private waitThen(role: Role, startedAt: number): void {
    const signal = this.abort.signal;
    // The detect stream's own run watches that camera's return: here one look a second is enough.
    const wait = role === 'record' ? this.reconnect.wait(startedAt, signal) : sleep(1000, undefined, { signal });
    wait.then(() => {
      if (signal.aborted) return;
      if (role === 'record' || this.writer === null) this.spawn(role);
    }, (e: Error) => {
      if (!signal.aborted) this.setState('none', `record stream: ${e.message}`, 'error');
    });
  }

  /** text: short, for the node status; line: for the log, with the reason. */
  private setState(source: RingSource, text: string, level: 'info' | 'warn' | 'error', line = text): void {
    if (this.state.source === source && this.state.text === text) return;
    this.state = { source, text };
    this.emit('state', this.state);
    const logged = this.stateLog.note(`${source}:${text}`, line);
    if (logged) this.emit('log', { level, text: logged });
  }
}
