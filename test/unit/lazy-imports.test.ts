/**
 * `verify` and `inspect` answer from the files alone: neither the CLI's entry nor what those commands
 * import may load dockerode. Read from the bundler's import graph, following static imports only
 * (the CLI imports each command's module with a dynamic import, when the command runs).
 */
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');
let graph: Metafile['inputs'];

beforeAll(async () => {
  const result = await build({
    entryPoints: ['src/main.ts'],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    metafile: true,
    external: ['cpu-features', '*.node'],
    logLevel: 'silent',
  });
  graph = result.metafile.inputs;
});

/** Every input reached from these files through static imports. */
function staticClosure(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const imp of graph[file]?.imports ?? []) {
      if (imp.kind !== 'dynamic-import' && !imp.external) queue.push(imp.path);
    }
  }
  return seen;
}

const loadsDockerode = (files: Set<string>) => [...files].some((f) => f.startsWith('node_modules/dockerode/'));

describe('what each command loads', () => {
  it('the CLI entry loads no engine client before a command runs', () => {
    const entry = staticClosure(['src/main.ts']);
    expect(entry.has('src/cli.ts')).toBe(true);
    expect(loadsDockerode(entry)).toBe(false);
  });

  it('verify and inspect load no engine client', () => {
    expect(loadsDockerode(staticClosure(['src/verify/index.ts', 'src/verify/report.ts']))).toBe(false);
  });

  it('matrix prints its cells without an engine client', () => {
    expect(loadsDockerode(staticClosure(['src/matrix/spec.ts', 'src/matrix/ci.ts']))).toBe(false);
  });

  it('the commands that reach an engine do load it, through docker/dockerode.ts', () => {
    expect(loadsDockerode(staticClosure(['src/commands/build/index.ts']))).toBe(true);
    expect(loadsDockerode(staticClosure(['src/docker/engine.ts']))).toBe(false);
  });
});
