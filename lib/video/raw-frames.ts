import type { GrayFrame } from './frame';

/**
 * Cuts a raw gray8 byte stream (ffmpeg `-f rawvideo -pix_fmt gray`) into frames.
 * Chunks from a pipe do not respect frame boundaries, so bytes are gathered
 * into one preallocated frame buffer; each full frame is handed out as a copy
 * because the consumer may keep it (the detector holds its background).
 */
export class RawFrameSplitter {
  private readonly frameSize: number;
  private readonly pending: Buffer;
  private filled = 0;
  private index = 0;

  /**
   * @param clock gives the time of frame number i in ms (wall clock for a live
   * camera, i * 1000 / fps for a file).
   */
  constructor(
    readonly width: number,
    readonly height: number,
    private readonly onFrame: (frame: GrayFrame) => void,
    private readonly clock: (index: number) => number = () => Date.now(),
  ) {
    this.frameSize = width * height;
    this.pending = Buffer.allocUnsafe(this.frameSize);
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(this.frameSize - this.filled, chunk.length - offset);
      chunk.copy(this.pending, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameSize) {
        this.filled = 0;
        const data = new Uint8Array(this.frameSize);
        data.set(this.pending);
        this.onFrame({ width: this.width, height: this.height, data, t: this.clock(this.index++) });
      }
    }
  }

  /** Drops a partial frame, e.g. after the ffmpeg feeding it was restarted. */
  reset(): void {
    this.filled = 0;
  }
}
