/**
 * What the bundled CLI loads before a command runs: `--help` and `--version` load the entry and
 * the chunks it shares with the commands, and none of the modules that cost time to load and that
 * only a command uses: yaml (dist/cli/yaml.cjs, required when a config file is there), the engine
 * client, node:crypto, node:child_process. Bundled for real by scripts/bundle.mjs into a directory
 * of its own, then run by Node with a preload that records what the process loaded.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');
let dir: string;
let cli: string;
let runs = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'd7y-cli-start-'));
  execFileSync(process.execPath, ['scripts/bundle.mjs', '--outdir', path.join(dir, 'dist')], { cwd: root, stdio: 'pipe' });
  cli = path.join(dir, 'dist/d7y-build.cjs');
  // Node's own modules the process loaded, and every file it required, written as it exits.
  await writeFile(
    path.join(dir, 'record.cjs'),
    "process.on('exit', () => require('node:fs').writeFileSync(process.env.D7Y_RECORD, JSON.stringify({ builtins: process.moduleLoadList, files: Object.keys(require.cache) })));\n",
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Loaded {
  stdout: string;
  stderr: string;
  status: number | null;
  builtins: string[];
  files: string[];
  /** The sources of the bundle's files that were loaded, from their source maps. */
  sources: string[];
}

async function start(args: string[], env: Record<string, string> = {}): Promise<Loaded> {
  const record = path.join(dir, `record-${++runs}.json`);
  const run = spawnSync(process.execPath, ['--require', path.join(dir, 'record.cjs'), cli, ...args], {
    cwd: dir,
    env: { ...process.env, ...env, D7Y_RECORD: record },
    encoding: 'utf8',
  });
  const { stdout, stderr, status } = run;
  const { builtins, files } = JSON.parse(await readFile(record, 'utf8')) as { builtins: string[]; files: string[] };
  const bundled = files.filter((f) => f.startsWith(path.join(dir, 'dist', 'cli') + path.sep));
  // A source map names its sources relative to the file it maps; here, relative to the project.
  const sources = await Promise.all(
    bundled.map(async (f) => {
      const map = JSON.parse(await readFile(`${f}.map`, 'utf8')) as { sources: string[] };
      return map.sources.map((s) => path.relative(root, path.resolve(path.dirname(f), s)));
    }),
  );
  return { stdout, stderr, status, builtins, files: bundled.map((f) => path.basename(f)), sources: sources.flat() };
}

describe('what the bundled CLI loads to start', () => {
  for (const args of [['--help'], ['--version']]) {
    it(`${args.join(' ')} loads no yaml, no engine client, no node:crypto, no node:child_process`, async () => {
      const loaded = await start(args);
      expect(loaded.stdout).toMatch(args[0] === '--help' ? /^Usage: d7y-build / : /^\d+\.\d+\.\d+/);
      // The command table is there; what only the commands use is not.
      expect(loaded.files).toContain('main.cjs');
      expect(loaded.sources).toContain('src/cli.ts');
      expect(loaded.files).not.toContain('yaml.cjs');
      expect(loaded.sources.filter((s) => /^node_modules\/(yaml|dockerode|docker-modem|ssh2|tar-stream|tar-fs|simple-git)\//.test(s))).toEqual([]);
      expect(loaded.builtins).not.toContain('NativeModule crypto');
      expect(loaded.builtins).not.toContain('NativeModule child_process');
    });
  }

  it("a command that talks to the engine loads its client, without dockerode's BuildKit session or the SSH transport", async () => {
    const loaded = await start(['cache', 'ls'], { DOCKER_HOST: `unix://${path.join(dir, 'no-engine.sock')}` });
    expect(loaded.status).toBe(3);
    expect(loaded.stderr).toMatch(/no Docker engine answers at unix:/);
    expect(loaded.sources).toContain('node_modules/dockerode/lib/docker.js');
    expect(loaded.sources.filter((s) => /^node_modules\/(@grpc|protobufjs|ssh2)\//.test(s))).toEqual([]);
    expect(loaded.files).not.toContain('ssh2.cjs');
  });

  it('an ssh:// engine loads the SSH transport, from dist/cli/ssh2.cjs', async () => {
    // Nothing listens on port 1: the transport is loaded, and the connection refused.
    const loaded = await start(['cache', 'ls'], { DOCKER_HOST: 'ssh://nobody@127.0.0.1:1' });
    expect(loaded.status).toBe(3);
    expect(loaded.stderr).toMatch(/no Docker engine answers at ssh:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    expect(loaded.files).toContain('ssh2.cjs');
  });

  it('a config file to read loads yaml, from dist/cli/yaml.cjs', async () => {
    const config = path.join(dir, 'config.yaml');
    await writeFile(config, 'repo: https://example.com/dragonfly.git\n');
    const loaded = await start(['config', '--config', config]);
    expect(loaded.stdout).toContain('https://example.com/dragonfly.git');
    expect(loaded.files).toContain('yaml.cjs');
  });
});
