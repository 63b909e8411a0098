/**
 * Docker's multiplexed exec stream, decoded without intermediate streams so that, when the socket
 * ends, every byte has already reached its handler. Pure.
 */

export type StreamName = 'stdout' | 'stderr';

/**
 * Splits Docker's framed stream (8-byte header: stream type, 3 zero bytes, big-endian length) into
 * stdout and stderr payloads. Frames may arrive split across or packed into chunks.
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Array<{ stream: StreamName; data: Buffer }> {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Array<{ stream: StreamName; data: Buffer }> = [];
    while (this.buffer.length >= 8) {
      const type = this.buffer.readUInt8(0);
      const length = this.buffer.readUInt32BE(4);
      if (this.buffer.length < 8 + length) break;
      const data = this.buffer.subarray(8, 8 + length);
      // type 0 would be stdin, never sent back; anything not stderr is output
      frames.push({ stream: type === 2 ? 'stderr' : 'stdout', data });
      this.buffer = this.buffer.subarray(8 + length);
    }
    return frames;
  }

  /** Bytes of an incomplete frame left when the stream ended. */
  get pending(): number {
    return this.buffer.length;
  }
}

/** Collects a stream's text and hands out complete lines as they form. */
export class LineCollector {
  private partial = '';
  private readonly chunks: string[] = [];

  constructor(private readonly onLine: (line: string) => void = () => {}) {}

  write(text: string): void {
    this.chunks.push(text);
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.onLine(line);
  }

  /** Flushes the last unterminated line and returns the whole text. */
  end(): string {
    if (this.partial !== '') this.onLine(this.partial);
    this.partial = '';
    return this.chunks.join('');
  }
}

/** The last `max` lines of text, with a note of how many were cut. */
export function tail(text: string, max: number): string {
  const lines = text.replace(/\n+$/, '').split('\n');
  if (lines.length <= max) return lines.join('\n');
  return [`… (${lines.length - max} earlier lines cut)`, ...lines.slice(-max)].join('\n');
}
