/**
 * What a successful build says last, on stderr: each file built with its size and the start of its
 * sha256 (to compare with manifest.json or another machine), where the plugins were installed, how
 * long the steps took, and whether the host came from the host cache. Pure.
 */
import path from 'node:path';
import { formatBytes } from '../../files';
import { formatDuration } from '../../log';
import type { HostCacheOutcome } from './host-cache';
import type { BuildResult, BuiltFile } from './index';

const KIND: Record<BuiltFile['kind'], string> = { host: 'host', 'loader-check': 'loader check', plugin: 'plugin', manifest: 'manifest' };
/** Hex digits of the sha256 shown: enough to tell files apart by eye. */
const SHORT_SHA = 12;

export type SummaryInput = Pick<BuildResult, 'artifacts' | 'installed' | 'steps' | 'image'> & {
  /** Where the provenance and the SBOM were written, when the result has them. */
  attestations?: BuildResult['attestations'];
  /** Whether the host came from the host cache. */
  cache?: HostCacheOutcome;
};

/** The host cache's part in the build, in words. */
function hostCacheLine(cache: HostCacheOutcome): string {
  if (cache.host === 'off') return 'host cache: off (--no-cache)';
  const key = cache.hostKey.slice(0, SHORT_SHA);
  return cache.host === 'hit' ? `host cache: hit, the host taken from it (key ${key})` : `host cache: miss, the host built and stored (key ${key})`;
}

export function buildSummary(result: SummaryInput): string[] {
  const total = result.steps.reduce((sum, s) => sum + s.durationMs, 0);
  const files = result.artifacts.filter((f): f is BuiltFile & { sha256: string; size: number } => f.sha256 !== undefined && f.size !== undefined);
  const kindWidth = Math.max(...files.map((f) => KIND[f.kind].length));
  const sizes = files.map((f) => formatBytes(f.size));
  const sizeWidth = Math.max(...sizes.map((s) => s.length));
  const lines = [`built in ${formatDuration(total)} (${result.steps.length} steps):`];
  files.forEach((f, i) =>
    lines.push(`  ${KIND[f.kind].padEnd(kindWidth)}  ${sizes[i]!.padStart(sizeWidth)}  sha256:${f.sha256.slice(0, SHORT_SHA)}  ${f.path}`),
  );
  if (result.attestations !== undefined) lines.push(`provenance ${result.attestations.provenance}, SBOM ${result.attestations.sbom}`);
  const byDir = new Map<string, string[]>();
  for (const file of result.installed) byDir.set(path.dirname(file), [...(byDir.get(path.dirname(file)) ?? []), path.basename(file)]);
  for (const [dir, names] of byDir) lines.push(`installed into ${dir}: ${names.join(', ')}`);
  if (result.image !== undefined) {
    lines.push(`image ${result.image.ref}  ${result.image.id}`);
    if (result.image.digest !== undefined) lines.push(`pushed ${result.image.ref}@${result.image.digest}`);
  }
  if (result.cache !== undefined) lines.push(hostCacheLine(result.cache));
  return lines;
}
