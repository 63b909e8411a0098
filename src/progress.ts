/**
 * Which progress a run shows, and the live view. On a terminal that a person watches, a live step
 * list: each finished step a line of its own (✔ or ✖ and its duration), the running one with a
 * spinner and, below it, what it is doing (its last message or the last line the container printed),
 * redrawn in place. Elsewhere, the lines of log.ts: timestamped in CI and when stderr is no terminal
 * (a log file, a pipe, a CI log), as they are on a terminal.
 *
 * The live view writes through the same mask and escaping as the lines: every message is masked and
 * has its control characters escaped before colour and cursor movement are added, so nothing a
 * message quotes moves the cursor.
 */
import { ciMode, colourWanted, createLogger, escapeControl, formatDuration, painter, type Logger } from './log';

export type ProgressStyle = 'live' | 'lines' | 'timestamped';

export interface OutputChoice {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
}

/**
 * Live on a terminal (stderr a TTY, not CI, TERM not "dumb") unless --json, --quiet or --verbose
 * asks for something else: --quiet for near silence, --verbose and --json for every line as it
 * comes. Without a terminal, or in CI, timestamped lines, since they are read later; on a terminal,
 * lines as they are.
 */
export function progressStyle(stream: { isTTY?: boolean }, env: Record<string, string | undefined>, output: OutputChoice): ProgressStyle {
  if (stream.isTTY !== true || ciMode(env)) return 'timestamped';
  if (output.json || output.quiet || output.verbose || env.TERM === 'dumb') return 'lines';
  return 'live';
}

/** A logger whose output ends: after close(), the live view's last state stays and lines follow it. */
export interface ProgressLogger extends Logger {
  close(): void;
}

type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface ProgressOptions extends OutputChoice {
  stream: ProgressStream;
  env: Record<string, string | undefined>;
  mask: (text: string) => string;
  /** The run's abort signal: the live view ends when it fires, so the lines that follow are readable. */
  signal?: AbortSignal;
}

/** The progress the CLI shows, as progressStyle chooses. */
export function createProgress({ stream, env, mask, signal, ...output }: ProgressOptions): ProgressLogger {
  const style = progressStyle(stream, env, output);
  if (style === 'live') {
    const live = createLiveLogger({ stream, env, mask });
    signal?.addEventListener('abort', () => live.close(), { once: true });
    return live;
  }
  const log = createLogger({ verbose: output.verbose, quiet: output.quiet, stream, env, mask, timestamps: style === 'timestamped' });
  return { ...log, close: () => {} };
}

export interface LiveOptions {
  stream: ProgressStream;
  env: Record<string, string | undefined>;
  mask?: (text: string) => string;
  /** The least time between two redraws of the running step, in ms. */
  interval?: number;
  /** The clock of the spinner and of the running step's time, in ms. */
  now?: () => number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** Step names are padded to this width, so that the durations line up. */
const NAME_WIDTH = 19;
/** Colour codes the live view adds; what a message holds is escaped and has none. */
const OWN_SGR = /\x1b\[\d+m/g;

/**
 * Columns a character takes on a terminal: 2 for the East Asian wide and fullwidth ranges and
 * emoji, else 1. Enough to keep a truncated line within its row.
 */
function charWidth(code: number): number {
  const wide =
    (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2e80 && code <= 0xa4cf) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x1f300 && code <= 0x1faff) ||
    (code >= 0x20000 && code <= 0x3fffd);
  return wide ? 2 : 1;
}

export function displayWidth(text: string): number {
  let width = 0;
  for (const c of text.replace(OWN_SGR, '')) width += charWidth(c.codePointAt(0)!);
  return width;
}

/** text cut to at most `columns` columns, with … where it was cut. */
export function fit(text: string, columns: number): string {
  if (displayWidth(text) <= columns) return text;
  let out = '';
  let width = 0;
  for (const c of text) {
    const w = charWidth(c.codePointAt(0)!);
    if (width + w > columns - 1) break;
    out += c;
    width += w;
  }
  return `${out}…`;
}

interface Running {
  index: number;
  total: number;
  name: string;
  started: number;
  /** What the step is doing: its last message, or the last line the container printed. Raw. */
  detail?: string;
}

/**
 * The live view. Finished steps, warnings and headlines are written once, above the running step;
 * the running step and its detail (the live region) are erased and redrawn below them: at each
 * event that ends or starts a step at once, and otherwise at most every `interval` ms, and only
 * when what they show changed. The cursor always rests on the line below the region, so that
 * erasing it is moving up as many rows as it took and clearing to the end of the screen.
 */
export function createLiveLogger({ stream, env, mask = (t) => t, interval = 100, now = Date.now }: LiveOptions): ProgressLogger {
  const paint = painter(colourWanted(stream, env));
  const clean = (text: string): string => escapeControl(mask(text));
  const after = createLogger({ verbose: false, stream, env, mask });
  let running: Running | undefined;
  /** Rows the region takes on the screen. */
  let drawn = 0;
  /** The region as last written. */
  let shown = '';
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  // One column spare: some terminals wrap a line that fills its row exactly.
  const columns = (): number => Math.max(20, (stream.columns ?? 80) - 1);
  const rows = (line: string): number => Math.max(1, Math.ceil(displayWidth(line) / columns()));
  const erase = (): string => (drawn > 0 ? `\x1b[${drawn}A\r\x1b[J` : '');
  const counter = (index: number, total: number): string => paint('2', `[${String(index).padStart(String(total).length)}/${total}]`);
  const label = (mark: string, index: number, total: number, name: string): string => `${mark} ${counter(index, total)} ${clean(name).padEnd(NAME_WIDTH)}`;

  const region = (): string[] => {
    if (running === undefined) return [];
    const { index, total, name, started, detail } = running;
    const elapsed = now() - started;
    const spinner = SPINNER[Math.floor(now() / interval) % SPINNER.length]!;
    const lines = [`${label(paint('36', spinner), index, total, name)} ${paint('2', `${Math.floor(elapsed / 1000)}s`)}`];
    if (detail !== undefined) lines.push(paint('2', `  ${fit(clean(detail), columns() - 2)}`));
    return lines;
  };

  /** Writes `above` for good, then the region if it changed; one write, so the screen never shows half. */
  const draw = (above: string[] = []): void => {
    const lines = region();
    const text = lines.join('\n');
    if (above.length === 0 && text === shown) return;
    stream.write(`${erase()}${[...above, ...lines].map((l) => `${l}\n`).join('')}`);
    drawn = lines.reduce((sum, l) => sum + rows(l), 0);
    shown = text;
  };

  const live: Logger = {
    headline: (message) => draw([clean(message)]),
    info: (message) => {
      if (running) running.detail = message;
      else draw([`      ${clean(message)}`]);
    },
    warn: (message) => draw([`${paint('33', 'warning:')} ${clean(message)}`]),
    output: (source, line) => {
      if (running && line.trim() !== '') running.detail = `${source}| ${line}`;
    },
    stepStart: (index, total, name) => {
      running = { index, total, name, started: now() };
      timer ??= setInterval(() => draw(), interval).unref();
      draw();
    },
    stepDone: (index, total, name, ms) => {
      running = undefined;
      draw([`${label(paint('32', '✔'), index, total, name)} ${paint('2', formatDuration(ms))}`]);
    },
    stepFailed: (index, total, name, ms) => {
      running = undefined;
      draw([`${label(paint('31', '✖'), index, total, name)} ${paint('31', `failed after ${formatDuration(ms)}`)}`]);
    },
  };

  /** The live view until close(), then plain lines. */
  const current = (): Logger => (closed ? after : live);
  return {
    headline: (message) => current().headline(message),
    info: (message) => current().info(message),
    warn: (message) => current().warn(message),
    output: (source, line) => current().output(source, line),
    stepStart: (index, total, name) => current().stepStart(index, total, name),
    stepDone: (index, total, name, ms) => current().stepDone(index, total, name, ms),
    stepFailed: (index, total, name, ms) => current().stepFailed(index, total, name, ms),
    close: () => {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      // What stays is what was written for good; a step still running is reported by the lines after.
      running = undefined;
      if (drawn > 0) stream.write(erase());
      drawn = 0;
    },
  };
}
