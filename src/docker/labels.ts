/** Every container, volume and image d7y-build creates carries these labels; cleanup selects by them. */
import { VERSION } from '../version';

export const LABEL = {
  /** Present on everything d7y-build creates. */
  tool: 'io.d7y-build',
  version: 'io.d7y-build.version',
  /** The run (one CLI invocation) that created a container. */
  run: 'io.d7y-build.run',
  /** The process that owns the run, and when it started: `prune` spares live owners. */
  pid: 'io.d7y-build.pid',
  started: 'io.d7y-build.started',
  /** On volumes and images: what the resource is (go-mod-cache, go-build-cache, builder). */
  role: 'io.d7y-build.role',
} as const;

export function toolLabels(role?: string): Record<string, string> {
  return {
    [LABEL.tool]: 'true',
    [LABEL.version]: VERSION,
    ...(role === undefined ? {} : { [LABEL.role]: role }),
  };
}

export function runLabels(runId: string, pid: number, started: Date): Record<string, string> {
  return {
    ...toolLabels('build'),
    [LABEL.run]: runId,
    [LABEL.pid]: String(pid),
    [LABEL.started]: started.toISOString(),
  };
}
