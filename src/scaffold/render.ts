/**
 * The interface a plugin type must implement at a Dragonfly commit, as `inspect-api` prints it, and
 * the plugin scaffold `init` writes from it: every method of the interface as declared at that
 * commit, with zero-value results. Pure: from d7y-apicheck's report to text.
 */
import { DRAGONFLY_MODULE } from '../session/source';
import { InternalError } from '../errors';
import type { Loader, LoaderParam } from '../validate/loader';
import { fixedName, loaderMetadata, PLUGIN_NAME, pluginFileName, type PluginType } from '../plugin';

/** One method of the interface, as `d7y-apicheck iface` prints it. */
export interface ApiMethod {
  name: string;
  /** As declared: EvaluateParents(parents []*resource.Peer, ...) []*resource.Peer */
  source: string;
  doc?: string;
  /** With the package's own types qualified by its name: Download(request *source.Request) (*source.Response, error) */
  qualified: string;
}

/** What `d7y-apicheck iface <dir> <Iface>` prints. */
export interface IfaceReport {
  package: string;
  methods: ApiMethod[];
  /** local name → import path, of the imports the signatures use. */
  imports: Record<string, string>;
}

/** d7y-apicheck's JSON, or undefined when it is not the shape of an interface report. */
export function parseIfaceReport(stdout: string): IfaceReport | undefined {
  try {
    const r = JSON.parse(stdout) as IfaceReport;
    const ok =
      typeof r.package === 'string' &&
      Array.isArray(r.methods) &&
      r.methods.every((m) => typeof m.name === 'string' && typeof m.source === 'string' && typeof m.qualified === 'string') &&
      typeof r.imports === 'object' &&
      r.imports !== null &&
      Object.values(r.imports).every((p) => typeof p === 'string');
    return ok ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The plugin API of one type at one commit: what `inspect-api --json` prints and `init` generates from. */
export interface PluginApi {
  type: PluginType;
  ref: string;
  repo: string;
  commit: string;
  /** The commit's committer date, RFC 3339 UTC. */
  commitTime: string;
  /** The go line of Dragonfly's go.mod at the commit. */
  goModGo?: string;
  loader: { importPath: string; function: 'LoadPlugin'; params: LoaderParam[] };
  interface: { importPath: string; package: string; name: string };
  methods: ApiMethod[];
  imports: Record<string, string>;
  /** The file Dragonfly loads; <name> stands for the plugin's name where the type allows any. */
  plugin: { file: string; name?: string; namePattern: string };
  /** What DragonflyPluginInit must return as metadata, <name> as above. */
  metadata: Record<string, string>;
}

const NAME_PLACEHOLDER = '<name>';

/** What the commit says of the plugin type, with d7y-apicheck's report on its loader's interface. */
export type ApiFacts = Pick<PluginApi, 'type' | 'ref' | 'repo' | 'commit' | 'commitTime' | 'goModGo'> & { loader: Loader };

export function pluginApi(facts: ApiFacts, report: IfaceReport): PluginApi {
  const { loader, ...rest } = facts;
  const name = fixedName(facts.type);
  return {
    ...rest,
    loader: { importPath: loader.importPath, function: 'LoadPlugin', params: loader.params },
    interface: { importPath: loader.importPath, package: report.package, name: loader.iface },
    methods: report.methods,
    imports: report.imports,
    plugin: { file: pluginFileName(facts.type, name ?? NAME_PLACEHOLDER), name, namePattern: PLUGIN_NAME.source },
    metadata: loaderMetadata(facts.type, name ?? NAME_PLACEHOLDER),
  };
}

/** Untrusted text from the repository, made safe for a terminal: control characters shown as escapes. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function docLines(doc: string | undefined, indent: string): string[] {
  if (doc === undefined || doc.trim() === '') return [];
  return doc
    .trimEnd()
    .split('\n')
    .map((l) => (l === '' ? `${indent}//` : `${indent}// ${l}`));
}

/** inspect-api's text: the loader, the interface, the metadata and each method with its doc comment. */
export function formatApi(api: PluginApi): string[] {
  const params = api.loader.params.map((p) => (p === 'dir' ? 'dir' : 'name')).join(', ');
  const pkg = api.interface.package;
  return [
    `Dragonfly ${api.ref} (${api.commit}): ${api.type} plugins`,
    `loader:    ${pkg}.LoadPlugin(${params}) in ${api.loader.importPath}`,
    `interface: ${api.interface.importPath}.${api.interface.name}`,
    `file:      ${api.plugin.file}${api.plugin.name === undefined ? ` (<name>: ${api.plugin.namePattern})` : ''}`,
    `metadata:  ${Object.entries(api.metadata)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    `methods (${api.methods.length}):`,
    ...api.methods.flatMap((m) => [...docLines(m.doc, '  '), `  ${m.qualified}`].map(printable)),
    ...(Object.keys(api.imports).length === 0
      ? []
      : [
          'imports:',
          ...importLines(api.imports)
            .filter((l) => l !== '')
            .map((l) => `  ${printable(l.trim())}`),
        ]),
  ];
}

/** The go.mod version of Dragonfly at ref: the tag when it is a v2 release, else a pseudo-version. */
export function moduleVersion(ref: string, sha: string, commitTime: string): string {
  if (/^v2\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(ref)) return ref;
  const stamp = commitTime.replace(/\.\d+Z$/, 'Z').replace(/[-:TZ]/g, '');
  return `v2.0.0-${stamp}-${sha.slice(0, 12)}`;
}

/** Splits at the commas outside brackets: "a int, b map[string]int" → ["a int", "b map[string]int"]. */
function splitTopLevel(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (c === ',' && depth === 0) {
      parts.push(list.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = list.slice(start).trim();
  if (last !== '') parts.push(last);
  return parts;
}

/** The index of the bracket that closes the one at `open`. */
function closing(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if ('([{'.includes(text[i]!)) depth++;
    else if (')]}'.includes(text[i]!) && --depth === 0) return i;
  }
  throw new InternalError(`d7y-apicheck printed unbalanced brackets: ${text}`);
}

/** Keywords a Go type may start with followed by a space; a parameter name is never one. */
const TYPE_KEYWORDS = new Set(['chan', 'func', 'interface', 'map', 'struct']);

/**
 * A method's signature split for a stub: the parameter list as declared, and a result list with
 * names (the declared ones, else `_`), so that a bare `return` returns the zero values of any type.
 */
export function stubSignature(method: Pick<ApiMethod, 'name' | 'qualified'>): { params: string; results: string } {
  const { name, qualified } = method;
  const open = name.length;
  if (!qualified.startsWith(name) || qualified[open] !== '(') throw new InternalError(`d7y-apicheck printed no signature of ${name}: ${qualified}`);
  const close = closing(qualified, open);
  const params = qualified.slice(open + 1, close);
  const rest = qualified.slice(close + 1).trim();
  if (rest === '') return { params, results: '' };
  const list = rest.startsWith('(') && closing(rest, 0) === rest.length - 1 ? splitTopLevel(rest.slice(1, -1)) : [rest];
  const named = list.some((r) => {
    const m = /^([A-Za-z_]\w*)\s+\S/.exec(r);
    return m !== null && !TYPE_KEYWORDS.has(m[1]!);
  });
  return { params, results: named ? `(${list.join(', ')})` : `(${list.map((t) => `_ ${t}`).join(', ')})` };
}

/** Import specs, standard library first, each group sorted by path, every one named as the signatures use it. */
function importLines(imports: Record<string, string>): string[] {
  const spec = ([local, p]: [string, string]) => `\t${local === p ? '' : `${local} `}${JSON.stringify(p)}`;
  const entries = Object.entries(imports).sort((a, b) => a[1].localeCompare(b[1]));
  const std = entries.filter(([, p]) => !p.split('/')[0]!.includes('.'));
  const other = entries.filter(([, p]) => p.split('/')[0]!.includes('.'));
  return [...std.map(spec), ...(std.length > 0 && other.length > 0 ? [''] : []), ...other.map(spec)];
}

function importBlock(imports: Record<string, string>): string {
  const lines = importLines(imports);
  if (lines.length === 0) return '';
  return `import (\n${lines.join('\n')}\n)\n\n`;
}

/** A map[string]string literal's entries, values aligned as gofmt aligns them. */
function mapEntries(entries: Array<[string, string]>, indent: string): string {
  const keys = entries.map(([k]) => `${JSON.stringify(k)}:`);
  const width = Math.max(...keys.map((k) => k.length));
  return entries.map(([, v], i) => `${indent}${keys[i]!.padEnd(width)} ${v},`).join('\n');
}

/** Names the plugin's type can't take: Go's keywords and predeclared identifiers, and the scaffold's own. */
const GO_RESERVED = new Set([
  ...'break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var'.split(
    ' ',
  ),
  ...'any bool byte comparable complex64 complex128 error float32 float64 int int8 int16 int32 int64 rune string uint uint8 uint16 uint32 uint64 uintptr'.split(
    ' ',
  ),
  ...'true false iota nil append cap clear close complex copy delete imag len make max min new panic print println real recover'.split(' '),
  // The scaffold's own names: DragonflyPluginInit's parameter is in scope where the type is used.
  ...'main init buildCommit buildTime DragonflyPluginInit option testing'.split(' '),
]);

/** The plugin's struct type: named after the plugin unless that name is taken in the file's scope. */
export function typeNameFor(name: string, taken: Iterable<string>): string {
  const used = new Set([...GO_RESERVED, ...taken]);
  if (/^[a-z]/.test(name) && !used.has(name)) return name;
  return /^[a-z]/.test(name) ? `${name}Plugin` : `plugin${name}`;
}

export interface ScaffoldOptions {
  /** The plugin's name: the file names, the metadata and the module path. */
  name: string;
  /** The scaffold directory's base name, for the build command in README.md. */
  dirName: string;
  /** The repository flag of the build command, when not the default. */
  repo?: string;
}

/** The files `init` writes, by name: <name>.go, <name>_test.go, go.mod, d7y-plugin.yaml and README.md. */
export function scaffoldFiles(api: PluginApi, options: ScaffoldOptions): Record<string, string> {
  const { name } = options;
  const pkg = api.interface.package;
  const ifacePath = api.interface.importPath;
  const typeName = typeNameFor(name, [pkg, ...Object.keys(api.imports)]);
  const usesOwnPackage = api.methods.some((m) => new RegExp(`\\b${pkg}\\.`).test(m.qualified));
  // Imports are per file: only <name>.go, when its signatures name the interface's own types, needs both.
  const clash = usesOwnPackage ? api.imports[pkg] : undefined;
  if (clash !== undefined) {
    throw new InternalError(`the interface's package ${pkg} and its import ${clash} have the same name: init can't import both`);
  }
  const imports = { ...api.imports, ...(usesOwnPackage ? { [pkg]: ifacePath } : {}) };
  const metadata = loaderMetadata(api.type, name);
  const at = `Dragonfly ${api.ref} (${api.commit.slice(0, 12)})`;
  const qualifiedIface = `${pkg}.${api.interface.name}`;

  const methods = api.methods.map((m) => {
    const { params, results } = stubSignature(m);
    const doc = docLines(m.doc, '');
    return [...doc, `func (*${typeName}) ${m.name}(${params})${results === '' ? '' : ` ${results}`} {`, ...(results === '' ? [] : ['\treturn']), '}'].join(
      '\n',
    );
  });
  const metaEntries: Array<[string, string]> = [
    ...Object.entries(metadata).map(([k, v]): [string, string] => [k, JSON.stringify(v)]),
    ['buildCommit', 'buildCommit'],
    ['buildTime', 'buildTime'],
  ];

  const main = `// ${name} is a Dragonfly ${api.type} plugin. Its value implements
// ${ifacePath}.${api.interface.name} as it is at ${at}.
// Scaffolded by d7y-build init: each method returns zero values until it is written.
package main

${importBlock(imports)}// Stamped by the build: -X main.buildCommit=... -X main.buildTime=...
var (
	buildCommit = "unknown"
	buildTime   = "unknown"
)

// ${typeName} implements ${qualifiedIface}.
type ${typeName} struct{}

${methods.join('\n\n')}

// DragonflyPluginInit is what Dragonfly calls after plugin.Open: the value and the metadata its loader checks.
func DragonflyPluginInit(option map[string]string) (interface{}, map[string]string, error) {
	return &${typeName}{}, map[string]string{
${mapEntries(metaEntries, '\t\t')}
	}, nil
}
`;

  const test = `package main

import (
	"testing"

	${pkg} ${JSON.stringify(ifacePath)}
)

// TestDragonflyPluginInit checks what ${pkg}.LoadPlugin checks at ${at}:
// the metadata, and that the value implements ${qualifiedIface}. Builds leave _test.go files out.
func TestDragonflyPluginInit(t *testing.T) {
	value, meta, err := DragonflyPluginInit(map[string]string{})
	if err != nil {
		t.Fatalf("DragonflyPluginInit: %v", err)
	}
	if _, ok := value.(${qualifiedIface}); !ok {
		t.Fatalf("%T does not implement ${qualifiedIface}", value)
	}
	for key, want := range map[string]string{
${mapEntries(
  Object.entries(metadata).map(([k, v]) => [k, JSON.stringify(v)]),
  '\t\t',
)}
	} {
		if got := meta[key]; got != want {
			t.Errorf("metadata %q is %q, want %q", key, got, want)
		}
	}
}
`;

  const version = moduleVersion(api.ref, api.commit, api.commitTime);
  const goMod = `module example.com/${name}
${api.goModGo === undefined ? '' : `\ngo ${api.goModGo}\n`}
require ${DRAGONFLY_MODULE} ${version}
`;

  const commit = version === api.ref ? api.ref : api.commit;
  const flags = [
    `--type ${api.type}`,
    `--commit ${commit}`,
    ...(options.repo === undefined ? [] : [`--repo ${shellQuote(options.repo)}`]),
    ...(fixedName(api.type) === undefined && name !== options.dirName ? [`--name ${name}`] : []),
  ];
  // What a build needs to know of the plugin, so that `d7y-build <dir>` needs no flags; quoted, so no value reads as a number.
  const pluginConfig = `# What d7y-build builds this plugin as, and against which Dragonfly: flags and D7Y_* variables win.
type: ${api.type}
name: ${JSON.stringify(name)}
commit: ${JSON.stringify(commit)}
${options.repo === undefined ? '' : `repo: ${JSON.stringify(options.repo)}\n`}`;
  const readme = `# ${name}

A Dragonfly ${api.type} plugin, scaffolded by \`d7y-build init\`. \`${name}.go\` implements
\`${ifacePath}.${api.interface.name}\` as it is at ${at};
each method returns zero values until you write it. \`DragonflyPluginInit\` returns the metadata
Dragonfly's loader checks (${Object.entries(metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}) and the build's stamps.

## Build

From the directory above this one, build the plugin with its host at that commit, prove that the
host loads it, and install \`${pluginFileName(api.type, name)}\`:

\`\`\`sh
d7y-build ${flags.join(' ')} ${shellQuote(`./${options.dirName}`)}
\`\`\`

\`d7y-plugin.yaml\` says the same (type, name, commit${options.repo === undefined ? '' : ', repository'}), so \`d7y-build ${shellQuote(`./${options.dirName}`)}\`
alone builds it too; a flag or a \`D7Y_*\` variable wins over it.

d7y-build builds the plugin in a Go workspace with the pinned Dragonfly tree: the
\`require ${DRAGONFLY_MODULE}\` line in go.mod is replaced by that tree, so it needs no go.sum entry.
\`d7y-build inspect-api --type ${api.type} --commit ${commit}\` prints the interface with its doc comments.

## Test

\`${name}_test.go\` calls DragonflyPluginInit and checks the metadata and the interface. Builds leave
it out; run it with \`go mod tidy && go test ./...\` where ${DRAGONFLY_MODULE} ${version} can be downloaded.
`;

  return { [`${name}.go`]: main, [`${name}_test.go`]: test, 'go.mod': goMod, 'd7y-plugin.yaml': pluginConfig, 'README.md': readme };
}

/** A word for a POSIX shell: as is when plain, else single-quoted. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
