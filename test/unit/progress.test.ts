/** Which progress a run shows, the timestamped lines, and the live view's frames on a fake terminal. */
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildSummary } from '../../src/commands/build/summary';
import { ciMode, createLogger } from '../../src/log';
import { createLiveLogger, createProgress, displayWidth, fit, progressStyle } from '../../src/progress';

/** A terminal that records each write: what the screen was sent, chunk by chunk. */
class FakeTty extends Writable {
  readonly isTTY = true;
  chunks: string[] = [];
  constructor(public columns = 60) {
    super();
  }
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.chunks.push(chunk.toString());
    done();
  }
  /** The chunks written since the last call. */
  take(): string[] {
    const taken = this.chunks;
    this.chunks = [];
    return taken;
  }
}

const UP = (n: number) => `\x1b[${n}A\r\x1b[J`;

describe('progressStyle', () => {
  const none = { json: false, quiet: false, verbose: false };
  it.each([
    ['a terminal', { isTTY: true }, {}, none, 'live'],
    ['a terminal in CI', { isTTY: true }, { CI: 'true' }, none, 'timestamped'],
    ['a terminal with CI=false', { isTTY: true }, { CI: 'false' }, none, 'live'],
    ['a terminal with CI=0', { isTTY: true }, { CI: '0' }, none, 'live'],
    ['a terminal with an empty CI', { isTTY: true }, { CI: '' }, none, 'live'],
    ['a pipe', { isTTY: false }, {}, none, 'timestamped'],
    ['a stream that does not say', {}, {}, none, 'timestamped'],
    ['a terminal with --json', { isTTY: true }, {}, { ...none, json: true }, 'lines'],
    ['a terminal with --quiet', { isTTY: true }, {}, { ...none, quiet: true }, 'lines'],
    ['a terminal with --verbose', { isTTY: true }, {}, { ...none, verbose: true }, 'lines'],
    ['a dumb terminal', { isTTY: true }, { TERM: 'dumb' }, none, 'lines'],
    ['a pipe with --json', { isTTY: false }, {}, { ...none, json: true }, 'timestamped'],
    ['a terminal with NO_COLOR', { isTTY: true }, { NO_COLOR: '1' }, none, 'live'],
  ])('%s: %s', (_label, stream, env, output, style) => {
    expect(progressStyle(stream, env, output)).toBe(style);
  });

  it('CI mode is a non-empty CI other than false and 0', () => {
    expect([undefined, '', 'false', '0', 'true', '1', 'woodpecker'].map((CI) => ciMode({ CI }))).toEqual([false, false, false, false, true, true, true]);
  });
});

describe('timestamped lines', () => {
  it('start every line of its own with the time of day, not the container output', () => {
    const stream = new FakeTty();
    const log = createLogger({ verbose: true, stream, env: { NO_COLOR: '1' }, timestamps: true, now: () => new Date(2024, 0, 2, 12, 34, 56) });
    log.headline('d7y-build: building');
    log.stepStart(3, 13, 'prepare-image');
    log.info('using d7y-build/builder:abc');
    log.output('image', 'Step 1/4');
    log.warn('toolchain differs');
    log.stepDone(3, 13, 'prepare-image', 1234);
    log.stepFailed(4, 13, 'start-container', 20);
    expect(stream.take().join('')).toBe(
      [
        '12:34:56 d7y-build: building',
        '12:34:56 [3/13] prepare-image',
        '12:34:56       using d7y-build/builder:abc',
        '      image| Step 1/4',
        '12:34:56 warning: toolchain differs',
        '12:34:56 [3/13] prepare-image done in 1.2s',
        '12:34:56 [4/13] start-container failed after 20ms',
        '',
      ].join('\n'),
    );
  });

  it('are what the CLI writes in CI, even on a terminal', () => {
    const stream = new FakeTty();
    const log = createProgress({ stream, env: { CI: 'true', NO_COLOR: '1' }, mask: (t) => t, json: false, quiet: false, verbose: false });
    log.stepDone(1, 2, 'check-inputs', 19);
    log.close();
    expect(stream.take()).toEqual([expect.stringMatching(/^\d\d:\d\d:\d\d \[1\/2\] check-inputs done in 19ms\n$/)]);
  });

  it('are left out on a terminal that is not live (--json)', () => {
    const stream = new FakeTty();
    const log = createProgress({ stream, env: { NO_COLOR: '1' }, mask: (t) => t, json: true, quiet: false, verbose: false });
    log.stepDone(1, 2, 'check-inputs', 19);
    expect(stream.take()).toEqual(['[1/2] check-inputs done in 19ms\n']);
  });
});

describe('the live view', () => {
  // The fake timers move Date.now, the view's clock, with them.
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const pass = (ms: number) => vi.advanceTimersByTime(ms);
  const live = (stream: FakeTty, env: Record<string, string> = { NO_COLOR: '1' }, now = Date.now) =>
    createLiveLogger({ stream, env, mask: (t) => t.split('tok-1234').join('***'), interval: 100, now });

  it('draws each step with a spinner and its detail, in place, and leaves the finished steps', () => {
    const tty = new FakeTty();
    const log = live(tty);
    log.headline('d7y-build 0.1.0: resource plugin d7yfs');
    log.stepStart(1, 13, 'check-inputs');
    expect(tty.take()).toEqual(['d7y-build 0.1.0: resource plugin d7yfs\n', '⠋ [ 1/13] check-inputs        0s\n']);

    log.info('Docker 27.5.1 at unix:///var/run/docker.sock');
    expect(tty.take()).toEqual([]); // a message waits for the next frame
    pass(100);
    expect(tty.take()).toEqual([`${UP(1)}⠙ [ 1/13] check-inputs        0s\n  Docker 27.5.1 at unix:///var/run/docker.sock\n`]);

    pass(1100);
    log.stepDone(1, 13, 'check-inputs', 1234);
    log.stepStart(2, 13, 'resolve-source');
    const frames = tty.take();
    // a frame each 100 ms (the spinner turns), then the step's line for good, then the next step
    expect(frames).toHaveLength(13);
    expect(frames[9]).toBe(`${UP(2)}⠙ [ 1/13] check-inputs        1s\n  Docker 27.5.1 at unix:///var/run/docker.sock\n`);
    expect(frames.slice(11)).toEqual([`${UP(2)}✔ [ 1/13] check-inputs        1.2s\n`, '⠹ [ 2/13] resolve-source      0s\n']);

    log.stepFailed(2, 13, 'resolve-source', 20);
    log.close();
    expect(tty.take()).toEqual([`${UP(1)}✖ [ 2/13] resolve-source      failed after 20ms\n`]);
  });

  it('redraws at most once an interval, and not at all when nothing changed', () => {
    const tty = new FakeTty();
    const log = live(tty, { NO_COLOR: '1' }, () => 0); // the clock stands: the spinner too
    log.stepStart(8, 13, 'compile-plugins');
    tty.take();
    for (let i = 0; i < 50; i++) log.output('d7yfs', `go: downloading example.com/m${i} v1.0.0`);
    vi.advanceTimersByTime(100);
    expect(tty.take()).toEqual([`${UP(1)}⠋ [ 8/13] compile-plugins     0s\n  d7yfs| go: downloading example.com/m49 v1.0.0\n`]);
    vi.advanceTimersByTime(1000);
    expect(tty.take()).toEqual([]);
    log.output('d7yfs', '   ');
    vi.advanceTimersByTime(100);
    expect(tty.take()).toEqual([]); // blank lines say nothing
    log.close();
  });

  it('escapes, masks and cuts the detail to the terminal width', () => {
    const tty = new FakeTty(40);
    const log = live(tty);
    log.stepStart(9, 13, 'compile-host');
    tty.take();
    log.output('dfget', 'tok-1234 \x1b[2J\x1b]0;title\x07 \u202e and then some more words that do not fit');
    pass(100);
    const [frame] = tty.take();
    const detail = frame!.split('\n')[1]!;
    expect(detail).toBe('  dfget| *** \\x1b[2J\\x1b]0;title\\x07 \\…');
    expect(displayWidth(detail)).toBe(39);
    log.close();
  });

  it('writes warnings and headlines once, above the running step', () => {
    const tty = new FakeTty();
    const log = live(tty);
    log.stepStart(4, 13, 'start-container');
    log.warn("Dragonfly's go.mod names toolchain go1.23.5\x1b[31m");
    log.info('container abc123');
    pass(100);
    expect(tty.take()).toEqual([
      '⠋ [ 4/13] start-container     0s\n',
      `${UP(1)}warning: Dragonfly's go.mod names toolchain go1.23.5\\x1b[31m\n⠋ [ 4/13] start-container     0s\n`,
      `${UP(1)}⠙ [ 4/13] start-container     0s\n  container abc123\n`,
    ]);
    log.close();
  });

  it('counts the rows a wrapped line takes when it erases', () => {
    const tty = new FakeTty(20);
    const log = live(tty);
    log.stepStart(10, 13, 'validate');
    log.info('x');
    pass(100);
    // "⠙ [10/13] validate            0s" is 32 columns: two rows of 20 (the least width
    // assumed), and the detail one.
    expect(tty.take().at(-1)).toBe(`${UP(2)}⠙ [10/13] validate            0s\n  x\n`);
    log.stepDone(10, 13, 'validate', 5);
    expect(tty.take()).toEqual([`${UP(3)}✔ [10/13] validate            5ms\n`]);
    log.close();
  });

  it('paints unless NO_COLOR says no', () => {
    const tty = new FakeTty();
    const log = live(tty, {});
    log.stepStart(1, 2, 'check-inputs');
    log.stepDone(1, 2, 'check-inputs', 3);
    log.close();
    expect(tty.take()).toEqual([
      '\x1b[36m⠋\x1b[0m \x1b[2m[1/2]\x1b[0m check-inputs        \x1b[2m0s\x1b[0m\n',
      `${UP(1)}\x1b[32m✔\x1b[0m \x1b[2m[1/2]\x1b[0m check-inputs        \x1b[2m3ms\x1b[0m\n`,
    ]);
  });

  it('after close, erases the running step and writes plain lines', () => {
    const tty = new FakeTty();
    const log = live(tty);
    log.stepStart(8, 13, 'compile-plugins');
    log.close();
    log.stepFailed(8, 13, 'compile-plugins', 1500);
    log.headline('kept container abc');
    pass(1000);
    expect(tty.take()).toEqual(['⠋ [ 8/13] compile-plugins     0s\n', UP(1), '[8/13] compile-plugins failed after 1.5s\n', 'kept container abc\n']);
  });

  it('ends when the run is aborted', () => {
    const tty = new FakeTty();
    const abort = new AbortController();
    const log = createProgress({ stream: tty, env: { NO_COLOR: '1' }, mask: (t) => t, json: false, quiet: false, verbose: false, signal: abort.signal });
    log.stepStart(5, 13, 'upload-sources');
    abort.abort();
    log.stepFailed(5, 13, 'upload-sources', 10);
    expect(tty.take().slice(1)).toEqual([UP(1), '[5/13] upload-sources failed after 10ms\n']);
  });
});

describe('fit', () => {
  it('cuts by columns, wide characters taking two', () => {
    expect(fit('abcdef', 6)).toBe('abcdef');
    expect(fit('abcdefg', 6)).toBe('abcde…');
    expect(fit('漢字漢字', 6)).toBe('漢字…');
    expect(displayWidth('漢字…')).toBe(5);
  });
});

describe('the summary', () => {
  const result = {
    artifacts: [
      { kind: 'host' as const, path: '/w/out/bin/dfget', sha256: 'a'.repeat(64), size: 45 * 1024 ** 2 },
      { kind: 'loader-check' as const, path: '/w/out/bin/d7y-loadcheck', sha256: 'b'.repeat(64), size: 3 * 1024 ** 2 },
      { kind: 'plugin' as const, path: '/w/out/plugins/d7y-resource-plugin-d7yfs.so', sha256: 'c'.repeat(64), size: 900 * 1024 },
      { kind: 'manifest' as const, path: '/w/out/manifest.json' },
    ],
    installed: ['/p/d7y-resource-plugin-d7yfs.so', '/p/d7y-resource-plugin-humanfs.so'],
    steps: [
      { name: 'check-inputs', status: 'done' as const, durationMs: 300 },
      { name: 'compile-host', status: 'done' as const, durationMs: 12_000 },
    ],
  };

  it('names each file with its size and short sha256, where the plugins went and the time', () => {
    expect(buildSummary(result)).toEqual([
      'built in 12.3s (2 steps):',
      `  host           45 MiB  sha256:${'a'.repeat(12)}  /w/out/bin/dfget`,
      `  loader check    3 MiB  sha256:${'b'.repeat(12)}  /w/out/bin/d7y-loadcheck`,
      `  plugin        900 KiB  sha256:${'c'.repeat(12)}  /w/out/plugins/d7y-resource-plugin-d7yfs.so`,
      'installed into /p: d7y-resource-plugin-d7yfs.so, d7y-resource-plugin-humanfs.so',
    ]);
  });

  it('names the provenance and the SBOM when the result has them', () => {
    const lines = buildSummary({ ...result, attestations: { provenance: '/w/out/provenance.intoto.json', sbom: '/w/out/sbom.cdx.json' } });
    expect(lines).toContain('provenance /w/out/provenance.intoto.json, SBOM /w/out/sbom.cdx.json');
    expect(lines.at(-1)).toBe('installed into /p: d7y-resource-plugin-d7yfs.so, d7y-resource-plugin-humanfs.so');
  });

  it('names the runtime image with its id, and the digest it was pushed as', () => {
    const image = { ref: 'reg.example/d7y/dfget-plugins:v2.1.0', id: `sha256:${'e'.repeat(64)}` };
    expect(buildSummary({ ...result, image }).slice(-1)).toEqual([`image reg.example/d7y/dfget-plugins:v2.1.0  sha256:${'e'.repeat(64)}`]);
    expect(buildSummary({ ...result, image: { ...image, digest: `sha256:${'f'.repeat(64)}` } }).slice(-2)).toEqual([
      `image reg.example/d7y/dfget-plugins:v2.1.0  sha256:${'e'.repeat(64)}`,
      `pushed reg.example/d7y/dfget-plugins:v2.1.0@sha256:${'f'.repeat(64)}`,
    ]);
  });

  it('adds the cache facts only when the result has them', () => {
    const key = 'ab'.repeat(32);
    expect(buildSummary({ ...result, cache: { host: 'hit', hostKey: key } }).at(-1)).toBe(`host cache: hit, the host taken from it (key ${key.slice(0, 12)})`);
    expect(buildSummary({ ...result, cache: { host: 'miss', hostKey: key } }).at(-1)).toBe(
      `host cache: miss, the host built and stored (key ${key.slice(0, 12)})`,
    );
    expect(buildSummary({ ...result, cache: { host: 'off' } }).at(-1)).toBe('host cache: off (--no-cache)');
    expect(buildSummary(result).some((l) => l.startsWith('host cache'))).toBe(false);
  });
});
