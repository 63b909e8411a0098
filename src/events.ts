/**
 * Progress as typed events. Steps report through the Logger methods (log.ts); eventLogger turns each
 * call into one ProgressEvent, which goes to a library caller's onEvent, and renderEvent hands it to
 * one of the CLI's renderers (lines, timestamped lines, the live view). So the CLI shows exactly
 * what a library caller receives. Pure.
 */
import type { Fact, Logger, StepStatus } from './log';

export type { Fact, StepStatus };

/** One thing a run reports as it goes; `type` tells them apart. */
export type ProgressEvent =
  /** A line of its own: what a command is about to do. */
  | { type: 'headline'; message: string }
  | { type: 'info'; message: string }
  | { type: 'warning'; message: string }
  /** A line the build container printed (go build, the host's `plugin` command, an image pull); `source` says which. */
  | { type: 'output'; source: string; line: string }
  /** index counts from 1 to total, the number of steps of the command. */
  | { type: 'step-started'; index: number; total: number; name: string }
  | { type: 'step-finished'; index: number; total: number; name: string; status: StepStatus; durationMs: number }
  /** A fact a step established (a plugin compiled, the host compiled, a file installed), with its message as the CLI shows it. */
  | (Fact & { message: string });

export type ProgressEventType = ProgressEvent['type'];

/** A Logger whose every call becomes one event. */
export function eventLogger(emit: (event: ProgressEvent) => void): Logger {
  return {
    headline: (message) => emit({ type: 'headline', message }),
    info: (message, fact) => emit(fact === undefined ? { type: 'info', message } : { ...fact, message }),
    warn: (message) => emit({ type: 'warning', message }),
    output: (source, line) => emit({ type: 'output', source, line }),
    stepStart: (index, total, name) => emit({ type: 'step-started', index, total, name }),
    stepDone: (index, total, name, durationMs, status = 'done') => emit({ type: 'step-finished', index, total, name, status, durationMs }),
    stepFailed: (index, total, name, durationMs) => emit({ type: 'step-finished', index, total, name, status: 'failed', durationMs }),
  };
}

/** An event, drawn by a renderer: facts as the info line they carry. */
export function renderEvent(render: Logger, event: ProgressEvent): void {
  switch (event.type) {
    case 'headline':
      return render.headline(event.message);
    case 'warning':
      return render.warn(event.message);
    case 'output':
      return render.output(event.source, event.line);
    case 'step-started':
      return render.stepStart(event.index, event.total, event.name);
    case 'step-finished':
      if (event.status === 'failed') return render.stepFailed(event.index, event.total, event.name, event.durationMs);
      return render.stepDone(event.index, event.total, event.name, event.durationMs, event.status);
    // Each cell of a matrix under a header line of its own; a failed cell says why in a warning, as its error is no error block of its own.
    case 'cell-started':
      return render.headline(event.message);
    case 'cell-finished':
      return event.status === 'failed' ? render.warn(event.message) : render.info(event.message);
    case 'info':
    case 'plugin-compiled':
    case 'host-compiled':
    case 'installed':
      return render.info(event.message);
  }
}

/** The event with mask applied to every string it carries (secret values, URL credentials). */
export function maskEvent(event: ProgressEvent, mask: (text: string) => string): ProgressEvent {
  return Object.fromEntries(
    Object.entries(event).map(([key, value]) => [key, typeof value === 'string' && key !== 'type' ? mask(value) : value]),
  ) as ProgressEvent;
}
