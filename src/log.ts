/**
 * Human-readable progress on stderr, as lines; stdout belongs to the result. `verbose` adds what the
 * build container prints; --quiet keeps only warnings; `timestamps` starts each of its own lines
 * with the time of day, for logs read later. Colour as colourWanted says. Every message is masked
 * and has its control characters escaped here, before colour is added: each message is one line on
 * the terminal, whatever file names, refs or container output it quotes. The live view on a
 * terminal is src/progress.ts.
 */

/** A fact a step established, told with its info line: what a library caller can act on without parsing text. */
export type Fact =
  | { type: 'plugin-compiled'; plugin: string; file: string }
  | { type: 'host-compiled'; host: string; fromCache: boolean }
  | { type: 'installed'; path: string }
  /** A matrix's cell begins: index counts from 1 to total; out is where its outputs go. */
  | { type: 'cell-started'; index: number; total: number; ref: string; platform: string; out: string }
  /** A matrix's cell ended; exitCode is its error's, 0 when it passed. */
  | { type: 'cell-finished'; index: number; total: number; ref: string; platform: string; status: 'passed' | 'failed'; exitCode: number };

/** How a step ended: 'skipped' when it had nothing to do. */
export type StepStatus = 'done' | 'skipped' | 'failed';

export interface Logger {
  /** A line of its own, not indented: the run's header. */
  headline(message: string): void;
  info(message: string, fact?: Fact): void;
  warn(message: string): void;
  /** A line of container output: shown with --verbose only. */
  output(source: string, line: string): void;
  stepStart(index: number, total: number, name: string): void;
  stepDone(index: number, total: number, name: string, ms: number, status?: Exclude<StepStatus, 'failed'>): void;
  stepFailed(index: number, total: number, name: string, ms: number): void;
}

export interface LoggerOptions {
  verbose: boolean;
  /** --quiet: warnings only; the result and errors are written elsewhere. */
  quiet?: boolean;
  /** Applied to every line before it is written: masks secrets. */
  mask?: (text: string) => string;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: Record<string, string | undefined>;
  /**
   * Start every line but the container's own (--verbose) with the local time, `12:34:56 `: those
   * come indented under the step whose line carries the time.
   */
  timestamps?: boolean;
  /** The clock of the timestamps. */
  now?: () => Date;
}

/**
 * Control characters of untrusted text made visible, so nothing it holds acts on the terminal: C0
 * but tab (a newline would start a forged line), DEL, C1 (8-bit CSI), and the bidirectional
 * overrides that reorder what is shown. ESC becomes \x1b, so no escape sequence gets through.
 */
export const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r' };

/** A character as a \u escape, as JSON and JavaScript write it. */
export const unicodeEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : unicodeEscape(c));
  });
}

/** Multi-line text (compiler output, a plugin's panic) kept multi-line, each line escaped. */
export function escapeLines(text: string): string[] {
  return text.split('\n').map(escapeControl);
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Whether to paint: never with a non-empty NO_COLOR (no-color.org), always with a non-empty
 * FORCE_COLOR other than "0" (even into a pipe, as CI logs that render colour want), else on a TTY.
 */
export function colourWanted(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  if ((env.NO_COLOR ?? '') !== '') return false;
  const force = env.FORCE_COLOR ?? '';
  if (force !== '') return force !== '0';
  return stream.isTTY === true;
}

/**
 * CI mode: a non-empty CI other than "false" or "0", as CI services set it (and as people unset it
 * with CI=false). Progress is then written as timestamped lines, even to a terminal.
 */
export function ciMode(env: Record<string, string | undefined>): boolean {
  const ci = env.CI ?? '';
  return ci !== '' && ci !== 'false' && ci !== '0';
}

/** SGR colour, or the text as it is when colour is off. */
export function painter(colour: boolean): (code: string, text: string) => string {
  return (code, text) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
}

/** 12:34:56, local time. */
export function timeOfDay(date: Date): string {
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function createLogger({
  verbose,
  quiet = false,
  stream = process.stderr,
  env = process.env,
  mask = (t) => t,
  timestamps = false,
  now = () => new Date(),
}: LoggerOptions): Logger {
  const paint = painter(colourWanted(stream, env));
  const clean = (text: string): string => escapeControl(mask(text));
  const raw = (line: string): void => {
    stream.write(`${line}\n`);
  };
  const write = timestamps ? (line: string) => raw(`${paint('2', timeOfDay(now()))} ${line}`) : raw;
  const progress = quiet ? () => {} : write;
  const counter = (index: number, total: number): string => paint('2', `[${index}/${total}]`);
  return {
    headline: (message) => progress(clean(message)),
    info: (message) => progress(`      ${clean(message)}`),
    warn: (message) => write(`${paint('33', 'warning:')} ${clean(message)}`),
    output: (source, line) => {
      if (verbose) raw(paint('2', `      ${clean(`${source}| ${line}`)}`));
    },
    stepStart: (index, total, name) => progress(`${counter(index, total)} ${name}`),
    stepDone: (index, total, name, ms) => progress(`${counter(index, total)} ${name} ${paint('32', 'done')} in ${formatDuration(ms)}`),
    stepFailed: (index, total, name, ms) => progress(`${counter(index, total)} ${name} ${paint('31', 'failed')} after ${formatDuration(ms)}`),
  };
}

/** For tests and library callers that want silence. */
export const nullLogger: Logger = {
  headline: () => {},
  info: () => {},
  warn: () => {},
  output: () => {},
  stepStart: () => {},
  stepDone: () => {},
  stepFailed: () => {},
};
