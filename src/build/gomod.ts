/** What d7y-build reads from a go.mod: the module path and the Go it asks for. Pure. */

export interface GoMod {
  module?: string;
  /** The `go` line, e.g. "1.23.0" or "1.21". */
  go?: string;
  /** The `toolchain` line without its "go" prefix, e.g. "1.23.5". */
  toolchain?: string;
}

export function parseGoMod(text: string): GoMod {
  const mod: GoMod = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    const [keyword, value] = line.split(/\s+/, 2);
    if (value === undefined) continue;
    const unquoted = value.replace(/^"(.*)"$/, '$1');
    if (keyword === 'module') mod.module = unquoted;
    else if (keyword === 'go') mod.go = unquoted;
    else if (keyword === 'toolchain') mod.toolchain = unquoted.replace(/^go/, '');
  }
  return mod;
}

/** The Go release the module wants built with: its toolchain line, else its go line. */
export function wantedGo(mod: GoMod): string | undefined {
  return mod.toolchain ?? mod.go;
}

/** The official image for that release, as users pull it: golang:<version>-bookworm. */
export function defaultGoImage(mod: GoMod): string | undefined {
  const version = wantedGo(mod);
  return version === undefined ? undefined : `golang:${version}-bookworm`;
}

/** "go1.23.5" or "1.23.5" → [1, 23, 5]; a missing patch counts as 0; undefined when not a version. */
export function parseGoVersion(version: string): [number, number, number] | undefined {
  const m = /^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

/** Negative, zero or positive as a is older than, the same as or newer than b. */
export function compareGoVersions(a: string, b: string): number {
  const va = parseGoVersion(a);
  const vb = parseGoVersion(b);
  if (!va || !vb) throw new Error(`not Go versions: ${a}, ${b}`);
  for (let i = 0; i < 3; i++) {
    const d = va[i]! - vb[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** The release in `go version` output: "go version go1.23.5 linux/amd64" → "go1.23.5 linux/amd64". */
export function parseGoVersionOutput(output: string): { version: string; platform: string } | undefined {
  const m = /\bgo version (go\S+) (\S+)/.exec(output);
  return m ? { version: m[1]!, platform: m[2]! } : undefined;
}
