/** Every container, volume and image d7y-build creates carries these labels; cleanup selects by them. */
import type { Owner } from '../owner';
import { VERSION } from '../version';

export const LABEL = {
  /** Present on everything d7y-build creates. */
  tool: 'io.d7y-build',
  version: 'io.d7y-build.version',
  /** The run (one CLI invocation) that created a container. */
  run: 'io.d7y-build.run',
  /** The process that owns the run (host, pid, process start): `prune` spares live owners. */
  host: 'io.d7y-build.host',
  pid: 'io.d7y-build.pid',
  started: 'io.d7y-build.started',
  /** On volumes and images: what the resource is (go-mod-cache, go-build-cache, host-cache, dragonfly-source, builder). */
  role: 'io.d7y-build.role',
  /** On a source-tree volume: the full SHA of the Dragonfly tree it holds. */
  sha: 'io.d7y-build.sha',
} as const;

export function toolLabels(role?: string): Record<string, string> {
  return {
    [LABEL.tool]: 'true',
    [LABEL.version]: VERSION,
    ...(role === undefined ? {} : { [LABEL.role]: role }),
  };
}

export function runLabels(runId: string, owner: Owner): Record<string, string> {
  return {
    ...toolLabels('build'),
    [LABEL.run]: runId,
    [LABEL.host]: owner.host,
    [LABEL.pid]: String(owner.pid),
    [LABEL.started]: new Date(owner.startedMs).toISOString(),
  };
}

/** The owner a container's labels name; undefined when they name none (not made by a run). */
export function ownerOf(labels: Record<string, string>): Owner | undefined {
  const pid = Number(labels[LABEL.pid]);
  const startedMs = Date.parse(labels[LABEL.started] ?? '');
  const host = labels[LABEL.host];
  if (!Number.isInteger(pid) || Number.isNaN(startedMs) || host === undefined) return undefined;
  return { host, pid, startedMs };
}
