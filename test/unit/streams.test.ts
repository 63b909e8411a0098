import { describe, expect, it } from 'vitest';
import { FrameDecoder, LineCollector, tail, type StreamName } from '../../src/docker/streams';

/** One frame of Docker's multiplexed stream: type, three zero bytes, big-endian length, payload. */
function frame(type: number, payload: string): Buffer {
  const data = Buffer.from(payload, 'utf8');
  const header = Buffer.alloc(8);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

const decoded = (frames: Array<{ stream: StreamName; data: Buffer }>): Array<[StreamName, string]> => frames.map((f) => [f.stream, f.data.toString('utf8')]);

describe('FrameDecoder', () => {
  it('decodes stdout (type 1) and stderr (type 2)', () => {
    const decoder = new FrameDecoder();
    expect(decoded(decoder.push(frame(1, 'out\n')))).toEqual([['stdout', 'out\n']]);
    expect(decoded(decoder.push(frame(2, 'err\n')))).toEqual([['stderr', 'err\n']]);
    expect(decoder.pending).toBe(0);
  });

  it('decodes several frames in one chunk, in order', () => {
    const decoder = new FrameDecoder();
    const chunk = Buffer.concat([frame(1, 'a'), frame(2, 'b'), frame(1, 'c'), frame(1, '')]);
    expect(decoded(decoder.push(chunk))).toEqual([
      ['stdout', 'a'],
      ['stderr', 'b'],
      ['stdout', 'c'],
      ['stdout', ''],
    ]);
    expect(decoder.pending).toBe(0);
  });

  it('decodes frames split across chunks, header and payload alike', () => {
    const stream = Buffer.concat([frame(1, 'hello world'), frame(2, 'oops')]);
    const decoder = new FrameDecoder();
    // split inside the first header, inside the first payload, and inside the second header
    const cuts = [3, 12, 22, stream.length];
    const got: Array<[StreamName, string]> = [];
    let from = 0;
    const pendingAfter: number[] = [];
    for (const to of cuts) {
      got.push(...decoded(decoder.push(stream.subarray(from, to))));
      pendingAfter.push(decoder.pending);
      from = to;
    }
    expect(got).toEqual([
      ['stdout', 'hello world'],
      ['stderr', 'oops'],
    ]);
    expect(pendingAfter).toEqual([3, 12, 3, 0]);
  });

  it('decodes a stream fed one byte at a time', () => {
    const stream = Buffer.concat([frame(2, 'x'), frame(1, 'yz')]);
    const decoder = new FrameDecoder();
    const got: Array<[StreamName, string]> = [];
    for (let i = 0; i < stream.length; i++) got.push(...decoded(decoder.push(stream.subarray(i, i + 1))));
    expect(got).toEqual([
      ['stderr', 'x'],
      ['stdout', 'yz'],
    ]);
  });

  it('keeps an incomplete trailing frame pending', () => {
    const decoder = new FrameDecoder();
    const partial = frame(1, 'truncated').subarray(0, 10);
    expect(decoded(decoder.push(Buffer.concat([frame(1, 'whole'), partial])))).toEqual([['stdout', 'whole']]);
    expect(decoder.pending).toBe(10);
  });

  it('keeps a bare partial header pending', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(Buffer.from([2, 0, 0]))).toEqual([]);
    expect(decoder.pending).toBe(3);
  });

  it('decodes a payload that is not valid text on its own split across chunks', () => {
    const stream = frame(1, 'é€');
    const decoder = new FrameDecoder();
    const a = decoder.push(stream.subarray(0, 9));
    const b = decoder.push(stream.subarray(9));
    expect(a).toEqual([]);
    expect(decoded(b)).toEqual([['stdout', 'é€']]);
  });
});

describe('LineCollector', () => {
  it('hands out complete lines as they form', () => {
    const lines: string[] = [];
    const collector = new LineCollector((line) => lines.push(line));
    collector.write('first li');
    expect(lines).toEqual([]);
    collector.write('ne\nsecond line\nthi');
    expect(lines).toEqual(['first line', 'second line']);
    collector.write('rd\n');
    expect(lines).toEqual(['first line', 'second line', 'third']);
  });

  it('keeps empty lines', () => {
    const lines: string[] = [];
    const collector = new LineCollector((line) => lines.push(line));
    collector.write('a\n\nb\n');
    expect(lines).toEqual(['a', '', 'b']);
  });

  it('flushes the last partial line on end() and returns the whole text', () => {
    const lines: string[] = [];
    const collector = new LineCollector((line) => lines.push(line));
    collector.write('one\ntw');
    collector.write('o');
    expect(lines).toEqual(['one']);
    expect(collector.end()).toBe('one\ntwo');
    expect(lines).toEqual(['one', 'two']);
  });

  it('does not emit an extra empty line on end() after a newline', () => {
    const lines: string[] = [];
    const collector = new LineCollector((line) => lines.push(line));
    collector.write('one\n');
    expect(collector.end()).toBe('one\n');
    expect(lines).toEqual(['one']);
  });

  it('works without a handler', () => {
    const collector = new LineCollector();
    collector.write('a\nb');
    expect(collector.end()).toBe('a\nb');
  });
});

describe('tail', () => {
  const text = ['1', '2', '3', '4', '5'].join('\n');

  it.each([
    ['fewer lines than max', text, 10, text],
    ['exactly max lines', text, 5, text],
    ['trailing newlines are dropped', `${text}\n\n`, 5, text],
    ['cuts and notes how many', text, 2, '… (3 earlier lines cut)\n4\n5'],
    ['one line kept', `${text}\n`, 1, '… (4 earlier lines cut)\n5'],
  ])('%s', (_label, input, max, want) => {
    expect(tail(input, max)).toBe(want);
  });
});
