/**
 * Human-readable progress on stderr; stdout belongs to the result. `verbose` adds what the build
 * container prints. Colour only on a TTY, and never with NO_COLOR.
 */

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** A line of container output: shown with --verbose only. */
  output(source: string, line: string): void;
  stepStart(index: number, total: number, name: string): void;
  stepDone(index: number, total: number, name: string, ms: number): void;
  stepFailed(index: number, total: number, name: string, ms: number): void;
}

export interface LoggerOptions {
  verbose: boolean;
  /** Applied to every line before it is written: masks secrets. */
  mask?: (text: string) => string;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: Record<string, string | undefined>;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

export function createLogger({ verbose, stream = process.stderr, env = process.env, mask = (t) => t }: LoggerOptions): Logger {
  const colour = stream.isTTY === true && env.NO_COLOR === undefined;
  const paint = (code: string, text: string): string => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  const write = (line: string): void => {
    stream.write(`${mask(line)}\n`);
  };
  const counter = (index: number, total: number): string => paint('2', `[${index}/${total}]`);
  return {
    info: (message) => write(`      ${message}`),
    warn: (message) => write(`${paint('33', 'warning:')} ${message}`),
    output: (source, line) => {
      if (verbose) write(paint('2', `      ${source}| ${line}`));
    },
    stepStart: (index, total, name) => write(`${counter(index, total)} ${name}`),
    stepDone: (index, total, name, ms) =>
      write(`${counter(index, total)} ${name} ${paint('32', 'done')} in ${formatDuration(ms)}`),
    stepFailed: (index, total, name, ms) =>
      write(`${counter(index, total)} ${name} ${paint('31', 'failed')} after ${formatDuration(ms)}`),
  };
}

/** For tests and library callers that want silence. */
export const nullLogger: Logger = {
  info: () => {},
  warn: () => {},
  output: () => {},
  stepStart: () => {},
  stepDone: () => {},
  stepFailed: () => {},
};
