/** One 8-bit grayscale detection frame, row-major, width*height bytes. */
export interface GrayFrame {
  width: number;
  height: number;
  data: Uint8Array;
  /** Capture time in ms: wall clock for live cameras, media time for files read by the CLI. */
  t: number;
}
