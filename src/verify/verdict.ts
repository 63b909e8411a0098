/**
 * Whether plugin.Open in a given host would accept a plugin, decided the way the Go runtime decides
 * (runtime/plugin.go, plugin_lastmoduleinit): every package in the plugin's pkghashes table must
 * have the same link hash as the definition the dynamic linker resolves, which is the host's when
 * the host exports it, else that of a plugin loaded before, else the plugin's own. Pure.
 */
import { moduleOf } from './buildinfo';
import { UNKNOWN_GO_VERSION, type GoBinary } from './binary';

export type Reason =
  | { kind: 'arch'; host: string; plugin: string }
  | { kind: 'cgo-disabled' }
  | { kind: 'go-version'; host: string; plugin: string }
  | {
      kind: 'package';
      package: string;
      /** Whose definition the plugin's is compared with: the host, or a plugin loaded before it. */
      against: string;
      host: { module: string; version: string; hash: string };
      plugin: { module: string; version: string; hash: string };
    }
  | { kind: 'setting'; key: string; host: string; plugin: string };

export interface PluginVerdict {
  file: string;
  loads: boolean;
  /** Why not, in the order Go meets them: architecture, cgo, Go version, packages, settings. */
  reasons: Reason[];
  /** The error plugin.Open would return, when it is one the runtime words itself. */
  goError?: string;
  /** Settings that differ between host and plugin without stopping the load. */
  differences: Reason[];
  /**
   * What could not be compared because the plugin does not record it (no build information in
   * plugins of Go 1.20 and older). The verdict stands: it rests on the package hashes alone.
   */
  notCompared?: { what: string[]; why: string };
}

/** Build settings that change how shared packages compile, so host and plugin must agree on them. */
export const SETTINGS_THAT_MATTER = ['GOOS', 'GOARCH', 'CGO_ENABLED', '-trimpath', '-tags', '-gcflags', '-race', '-asan', '-msan'];
/** Other settings worth showing when they differ. */
const SETTINGS_SHOWN = ['-ldflags', 'GOAMD64', 'GOARM64', 'DefaultGODEBUG'];

function settingDifferences(host: GoBinary, plugin: GoBinary, keys: string[]): Reason[] {
  if (!plugin.buildInfoRecorded) return [];
  const out: Reason[] = [];
  for (const key of keys) {
    const h = host.buildInfo.settings[key] ?? '';
    const p = plugin.buildInfo.settings[key] ?? '';
    if (h !== p) out.push({ kind: 'setting', key, host: h, plugin: p });
  }
  return out;
}

/**
 * Verdicts for plugins loaded one after the other into host, in the order given (Dragonfly loads
 * its plugins directory in file name order).
 */
export function decide(host: GoBinary, plugins: GoBinary[]): PluginVerdict[] {
  // Every plugin dlopen accepted stays in the global symbol scope, even one the runtime then
  // refused on a package hash: its definitions are what later plugins resolve against.
  const opened: GoBinary[] = [];
  return plugins.map((plugin) => {
    const verdict = decideOne(host, plugin, opened);
    if (!verdict.reasons.some((r) => r.kind === 'arch' || r.kind === 'cgo-disabled')) opened.push(plugin);
    return verdict;
  });
}

function resolvedHash(pkg: string, host: GoBinary, before: GoBinary[]): { hash: string; against: GoBinary } | undefined {
  const fromHost = host.exportedHashes.get(pkg);
  if (fromHost !== undefined) return { hash: fromHost, against: host };
  for (const p of before) {
    const h = p.exportedHashes.get(pkg);
    if (h !== undefined) return { hash: h, against: p };
  }
  return undefined;
}

/** GOOS and GOARCH are known from the ELF file itself; the other settings only from build info. */
function notCompared(plugin: GoBinary): PluginVerdict['notCompared'] {
  if (plugin.buildInfoRecorded) return undefined;
  const version = plugin.buildInfo.goVersion;
  const known = version !== UNKNOWN_GO_VERSION;
  return {
    what: [...(known ? [] : ['Go version']), ...SETTINGS_THAT_MATTER.filter((k) => k !== 'GOOS' && k !== 'GOARCH')],
    why: known
      ? `not recorded in a ${version} plugin`
      : 'not recorded in a plugin without Go build information or DWARF (Go 1.20 and older write no build information into plugins)',
  };
}

function decideOne(host: GoBinary, plugin: GoBinary, before: GoBinary[]): PluginVerdict {
  const verdict = decideByFiles(host, plugin, before);
  const unknown = notCompared(plugin);
  return unknown === undefined ? verdict : { ...verdict, notCompared: unknown };
}

function decideByFiles(host: GoBinary, plugin: GoBinary, before: GoBinary[]): PluginVerdict {
  const file = plugin.path;
  const differences = settingDifferences(host, plugin, [...SETTINGS_THAT_MATTER, ...SETTINGS_SHOWN]);
  if (host.arch !== plugin.arch) {
    return { file, loads: false, reasons: [{ kind: 'arch', host: host.arch, plugin: plugin.arch }], differences };
  }
  if (host.buildInfo.settings.CGO_ENABLED !== '1') {
    return { file, loads: false, reasons: [{ kind: 'cgo-disabled' }], goError: 'plugin: not implemented', differences };
  }

  const packages: Reason[] = [];
  for (const { pkg, hash } of plugin.pluginHashes ?? []) {
    const resolved = resolvedHash(pkg, host, before);
    if (resolved === undefined || resolved.hash === hash) continue;
    const theirs = moduleOf(resolved.against.buildInfo, pkg);
    const ours = moduleOf(plugin.buildInfo, pkg);
    packages.push({
      kind: 'package',
      package: pkg,
      against: resolved.against.path,
      host: { module: theirs.path, version: theirs.version, hash: resolved.hash },
      plugin: { module: ours.path, version: ours.version, hash },
    });
  }
  if (packages.length === 0) return { file, loads: true, reasons: [], differences };

  const reasons: Reason[] = [];
  if (host.buildInfo.goVersion !== plugin.buildInfo.goVersion && plugin.buildInfo.goVersion !== UNKNOWN_GO_VERSION) {
    reasons.push({ kind: 'go-version', host: host.buildInfo.goVersion, plugin: plugin.buildInfo.goVersion });
  }
  reasons.push(...packages, ...settingDifferences(host, plugin, SETTINGS_THAT_MATTER));
  const first = packages[0] as Extract<Reason, { kind: 'package' }>;
  return {
    file,
    loads: false,
    reasons,
    goError: `plugin was built with a different version of package ${first.package}`,
    differences: settingDifferences(host, plugin, SETTINGS_SHOWN),
  };
}

/** One line per reason, as the CLI prints it. */
export function describeReason(r: Reason): string {
  switch (r.kind) {
    case 'arch':
      return `architecture: host is ${r.host}, plugin is ${r.plugin}`;
    case 'cgo-disabled':
      return 'the host was built with CGO_ENABLED=0, so plugin.Open is not implemented in it';
    case 'go-version':
      return `Go version: host ${r.host}, plugin ${r.plugin}`;
    case 'package': {
      const side = (s: { module: string; version: string; hash: string }) => `${s.module} ${s.version} (hash ${s.hash})`;
      const against = r.against.endsWith('.so') ? ` (as loaded by ${r.against})` : '';
      return `package ${r.package}: host has ${side(r.host)}${against}, plugin has ${side(r.plugin)}`;
    }
    case 'setting':
      return `${r.key}: host ${JSON.stringify(r.host)}, plugin ${JSON.stringify(r.plugin)}`;
  }
}
