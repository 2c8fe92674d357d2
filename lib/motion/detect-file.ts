// Runs the motion detector over a video file: what the mantis-detect CLI does,
// and what tests and benchmarks use to check the detector on real footage.
import type { MotionEvent } from './event';
import { MotionDetector } from './detector';
import type { FrameAnalysis } from './analyzer';
import type { GrayFrame } from '../video/frame';
import { GrayFileReader, type GrayFileInfo, type GrayFileOptions } from '../video/gray-file';

export interface FileDetection { events: MotionEvent[]; info: GrayFileInfo }

/**
 * Detects motion in a file. `config` is the detector config (throws ConfigError
 * before ffmpeg starts when invalid). An event still going on at the end of the
 * file is closed with an `end` at the last frame.
 */
export async function detectFile(
  path: string,
  config: unknown = {},
  opts: GrayFileOptions & { onEvent?: (e: MotionEvent) => void; onFrame?: (t: number, a: FrameAnalysis, frame: GrayFrame, detector: MotionDetector) => void } = {},
): Promise<FileDetection> {
  const detector = new MotionDetector(config);
  const events: MotionEvent[] = [];
  const emit = (e: MotionEvent): void => { events.push(e); opts.onEvent?.(e); };
  let lastT = 0;
  const reader = new GrayFileReader(path, (frame) => {
    lastT = frame.t;
    for (const e of detector.push(frame)) emit(e);
    if (opts.onFrame && detector.last) opts.onFrame(frame.t, detector.last, frame, detector);
  }, opts);
  const info = await reader.start();
  for (const e of detector.reset(lastT)) emit(e);
  return { events, info };
}
