/**
 * Reading what `<host> plugin` prints (upstream's cmd/dependency/plugin_cmd.go). The command exits 0
 * whatever happens, so its lines are the only evidence of whether a plugin loaded. Pure.
 */
import { unquoteGo } from '../gostring';
import { PLUGIN_TYPES } from '../plugin';

export interface LoadedPlugin {
  type: string;
  name: string;
  location: string;
  attribute: Record<string, string>;
}

export interface RejectedFile {
  /** The file the line names; for `not support plugin type: <t>`, the type, the only name printed. */
  file: string;
  /** The line as printed, e.g. `not valid plugin binary format x.so: "plugin.Open(...): ..."`. */
  line: string;
  /** The loader's error, unquoted, when the line carries one. */
  reason: string;
}

export interface PluginListing {
  inTree: string[];
  loaded: LoadedPlugin[];
  rejected: RejectedFile[];
  /** The directory the host searched (`search plugin in <dir>`). */
  searchedDir?: string;
  /** Other stderr lines worth showing: "no plugin found", read errors. */
  notes: string[];
}

// v2.0.9 on: "<type> plugin: <name>, location: <file>, attribute: {...}"; v2.0.1: "<type> plugin <name>, ...".
const LOADED = new RegExp(`^(${PLUGIN_TYPES.join('|')}) plugin:? (\\S+), location: (\\S+), attribute: (.*)$`);
const IN_TREE = /^source plugin: (\S+), location: in-tree$/;
const BAD_BINARY = /^not valid plugin binary format (\S+): (.*)$/;
const BAD_NAME = /^not valid plugin name: (.*)$/;
const BAD_DIR = /^not support directory: (.*)$/;
const BAD_TYPE = /^not support plugin type: (.*)$/;
const BAD_ATTRIBUTE = /^marshal attribute for (\S+) error: (.*)$/;
const SEARCH = /^search plugin in (.*)$/;

function parseAttribute(json: string): Record<string, string> {
  try {
    const value: unknown = JSON.parse(json);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
    }
  } catch {
    // upstream prints json.Marshal of a map[string]string: anything else is kept raw below
  }
  return { _raw: json };
}

export function parsePluginOutput(stdout: string, stderr: string): PluginListing {
  const listing: PluginListing = { inTree: [], loaded: [], rejected: [], notes: [] };
  for (const line of stdout.split('\n').map((l) => l.trimEnd())) {
    let m: RegExpExecArray | null;
    if ((m = IN_TREE.exec(line))) listing.inTree.push(m[1]!);
    else if ((m = LOADED.exec(line))) {
      listing.loaded.push({ type: m[1]!, name: m[2]!, location: m[3]!, attribute: parseAttribute(m[4]!) });
    } else if (line !== '') listing.notes.push(line);
  }
  for (const line of stderr.split('\n').map((l) => l.trimEnd())) {
    let m: RegExpExecArray | null;
    if (line === '') continue;
    if ((m = SEARCH.exec(line))) listing.searchedDir = m[1]!;
    else if ((m = BAD_BINARY.exec(line)) || (m = BAD_ATTRIBUTE.exec(line))) {
      listing.rejected.push({ file: m[1]!, line, reason: unquoteGo(m[2]!) });
    } else if ((m = BAD_NAME.exec(line)) || (m = BAD_DIR.exec(line)) || (m = BAD_TYPE.exec(line))) {
      listing.rejected.push({ file: m[1]!, line, reason: line });
    } else listing.notes.push(line);
  }
  return listing;
}

export interface ExpectedPlugin {
  type: string;
  name: string;
  file: string;
}

export interface LoadProblem {
  file: string;
  reason: string;
}

export type ListingVerdict = { ok: true; plugins: LoadedPlugin[] } | { ok: false; problems: LoadProblem[] };

/** Every expected plugin must be listed as loaded from its file, and no file may be rejected. */
export function checkListing(listing: PluginListing, expected: ExpectedPlugin[]): ListingVerdict {
  const problems: LoadProblem[] = listing.rejected.map((r) => ({ file: r.file, reason: r.reason }));
  const plugins: LoadedPlugin[] = [];
  for (const want of expected) {
    const found = listing.loaded.find((p) => p.location === want.file);
    if (found === undefined) {
      if (!listing.rejected.some((r) => r.file === want.file)) {
        const notes = listing.notes.length > 0 ? ` (${listing.notes.join('; ')})` : '';
        problems.push({ file: want.file, reason: `the host does not list it${notes}` });
      }
    } else if (found.type !== want.type || found.name !== want.name) {
      problems.push({ file: want.file, reason: `the host lists it as ${found.type} plugin ${found.name}` });
    } else {
      plugins.push(found);
    }
  }
  return problems.length === 0 ? { ok: true, plugins } : { ok: false, problems };
}
