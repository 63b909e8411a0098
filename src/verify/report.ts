/** How `verify` and `inspect` reports read on a terminal. Pure. */
import path from 'node:path';
import type { InspectReport, VerifyReport } from '.';
import type { AttestedVerifyReport } from './attested';
import { UNKNOWN_GO_VERSION } from './binary';
import { describeMismatch } from './provenance';
import { describeReason } from './verdict';

/** Exit code of `verify` when a plugin will not load: a verdict, not a failure of d7y-build. */
export const VERIFY_WILL_NOT_LOAD = 11;
/** Exit code of `verify --provenance` when the files are not what their provenance (or SBOM) says: a verdict too. */
export const VERIFY_PROVENANCE_MISMATCH = 19;

/** The exit code of a `verify --provenance` verdict: a mismatch first, since then the load verdict is about other files. */
export function attestedExitCode(report: AttestedVerifyReport): number {
  if (!report.matches) return VERIFY_PROVENANCE_MISMATCH;
  return report.load?.loads === false ? VERIFY_WILL_NOT_LOAD : 0;
}

export function formatAttested(report: AttestedVerifyReport): string[] {
  const p = report.provenance;
  const against = `${p.file}${p.sbom === null ? '' : ` and ${p.sbom}`}`;
  if (!report.matches) {
    return [
      `${p.dir} does NOT match ${against}: ${p.mismatches.length} mismatch${p.mismatches.length === 1 ? '' : 'es'}`,
      ...p.mismatches.map((m) => `  - ${describeMismatch(m)}`),
    ];
  }
  return [`${p.dir} matches ${against}: ${p.subjects} files by sha256 and build information`, ...formatVerify(report.load!)];
}

export function formatVerify(report: VerifyReport): string[] {
  const host = `${path.basename(report.host.path)} (${report.host.goVersion}${report.host.dragonflyCommit ? `, Dragonfly ${report.host.dragonflyCommit}` : ''})`;
  const lines: string[] = [];
  for (const p of report.plugins) {
    const built = `${p.goVersion}${p.buildCommit ? `, built against ${p.buildCommit}` : ''}`;
    const notCompared = p.notCompared ? [`  not compared: ${p.notCompared.what.join(', ')}: ${p.notCompared.why}`] : [];
    if (p.loads) {
      lines.push(`${path.basename(p.file)} (${built}): loads into ${host}`);
      for (const d of p.differences) lines.push(`  differs, without effect: ${describeReason(d)}`);
      lines.push(...notCompared);
      continue;
    }
    lines.push(`${path.basename(p.file)} (${built}): will NOT load into ${host}`);
    if (p.goError) {
      const orderNote = !p.orderKnown && p.reasons.some((r) => r.kind === 'package');
      lines.push(
        `  plugin.Open would fail with: ${p.goError}${orderNote ? " (or another of the packages below: the plugin is stripped, so Go's order is unknown)" : ''}`,
      );
    }
    for (const r of p.reasons) lines.push(`  - ${describeReason(r)}`);
    lines.push(...notCompared);
  }
  return lines;
}

export function formatInspect(r: InspectReport): string[] {
  const lines = [
    `file:          ${r.path}`,
    `kind:          ${r.kind === 'plugin' ? 'Go plugin (-buildmode=plugin)' : 'Go executable'}, linux/${r.arch}, ${r.size} bytes`,
    `go:            ${r.goVersion}${r.buildInfoRecorded ? '' : r.goVersion === UNKNOWN_GO_VERSION ? ' (no build information, no DWARF)' : ' (from its DWARF)'}`,
    `main package:  ${r.mainPackage || '(not recorded)'}`,
  ];
  if (r.main) lines.push(`main module:   ${r.main.path} ${r.main.version}`);
  if (r.dragonflyCommit) lines.push(`dragonfly:     ${r.dragonflyCommit}`);
  for (const [k, v] of Object.entries(r.stamps).sort()) lines.push(`stamp:         ${k}=${v}`);
  if (!r.buildInfoRecorded) lines.push('build:         not recorded (Go 1.20 and older write no build information into plugins)');
  for (const [k, v] of Object.entries(r.settings)) lines.push(`build:         ${k}=${v}`);
  for (const d of r.deps) lines.push(`dep:           ${d.path} ${d.version}${d.replace ? ` => ${d.replace.path} ${d.replace.version}` : ''}`.trimEnd());
  lines.push(`symbols:       ${r.hasSymtab ? '.symtab present' : 'stripped (.symtab removed)'}; ${r.exportedPackageHashes} package hashes exported`);
  if (r.packageHashes) lines.push(`plugin checks: ${r.packageHashes.length} package hashes at load time`);
  return lines;
}
