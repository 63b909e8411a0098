/**
 * The dependency check for plugins with their own go.mod. Such a plugin is built in a Go workspace
 * with the pinned Dragonfly source, so its requirements can raise the version of a module the host
 * also links; plugin.Open would then refuse it ("plugin was built with a different version of
 * package ..."). Comparing `go list -deps` of both sides names the module and the versions before
 * anything is compiled. Pure.
 */

/** The `go list -f` template whose output parseGoList reads: import path, then module identity. */
export const GO_LIST_FORMAT = '{{.ImportPath}}{{with .Module}} {{.Path}} {{.Version}}{{with .Replace}} => {{.Path}} {{.Version}}{{end}}{{end}}';

export interface PackageOrigin {
  importPath: string;
  module: string;
  /** Version, with " => replacement" when replaced; empty for a main or workspace module. */
  version: string;
}

export function parseGoList(output: string): Map<string, PackageOrigin> {
  const packages = new Map<string, PackageOrigin>();
  for (const line of output.split('\n')) {
    const [importPath, module, ...rest] = line.trim().split(/\s+/);
    if (!importPath || !module) continue; // standard library: no module
    packages.set(importPath, { importPath, module, version: rest.join(' ') });
  }
  return packages;
}

export interface ModuleConflict {
  module: string;
  /** The module the host has the packages from: usually `module`, another after a module split. */
  hostModule: string;
  hostVersion: string;
  pluginVersion: string;
  /** The packages both sides link from that module. */
  packages: string[];
}

/** Modules whose packages the plugin would link at another version than the host. */
export function findConflicts(host: Map<string, PackageOrigin>, plugin: Map<string, PackageOrigin>): ModuleConflict[] {
  const byModule = new Map<string, ModuleConflict>();
  for (const [importPath, theirs] of plugin) {
    const ours = host.get(importPath);
    if (ours === undefined || (ours.module === theirs.module && ours.version === theirs.version)) continue;
    const key = `${theirs.module} ${ours.module} ${ours.version} ${theirs.version}`;
    const conflict = byModule.get(key) ?? {
      module: theirs.module,
      hostModule: ours.module,
      hostVersion: ours.version,
      pluginVersion: theirs.version,
      packages: [],
    };
    conflict.packages.push(importPath);
    byModule.set(key, conflict);
  }
  return [...byModule.values()];
}

const shown = (version: string): string => (version === '' ? '(local source)' : version);

/** One line per conflict, e.g. "github.com/google/uuid: host v1.5.0, plugin v1.6.0 (github.com/google/uuid)". */
export function describeConflict(c: ModuleConflict): string {
  const pkgs = c.packages.length > 3 ? `${c.packages.slice(0, 3).join(', ')}, …` : c.packages.join(', ');
  const host = c.hostModule === c.module ? shown(c.hostVersion) : `${c.hostModule} ${shown(c.hostVersion)}`;
  return `${c.module}: Dragonfly links ${host}, the plugin's go.mod selects ${shown(c.pluginVersion)} (shared: ${pkgs})`;
}

/** The go.mod edit that resolves the first conflict. */
export function conflictFix(c: ModuleConflict): string {
  const version = c.hostVersion.split(' ')[0] ?? '';
  if (c.hostModule !== c.module) {
    return `make the plugin's requirements take ${c.packages[0]} from ${c.hostModule}@${version}, as Dragonfly does`;
  }
  return version === ''
    ? `drop the plugin's requirement on ${c.module}`
    : `pin it in the plugin's go.mod: go mod edit -require=${c.module}@${version} (or build against a Dragonfly commit that uses ${c.pluginVersion})`;
}
