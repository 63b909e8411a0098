/**
 * The package as a release script gets it: `npm pack`, installed into a fresh project, type-checked
 * against the shipped declarations, and imported by a script that builds the fixture Dragonfly with
 * an example plugin through `build()`, against the real engine. The script runs in a process of its
 * own, so that what the library writes to stdout and stderr (nothing) and the signal handlers it
 * installs (none) can be seen.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { digest, examples, fixtureSha, leftoverContainers, root } from './helpers';

const run = promisify(execFile);
const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };

/** The environment without what npm sets for the script that started vitest: a child npm must not take this package for its project. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return { ...env, NO_COLOR: '1', ...extra };
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, env: cleanEnv(), maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** tsc of this repository over a project of the consumer; its output and exit code. */
async function typecheck(project: string, tsconfig: string): Promise<{ exitCode: number; output: string }> {
  try {
    const { stdout } = await run(path.join(root, 'node_modules/.bin/tsc'), ['--noEmit', '-p', tsconfig], { cwd: project, env: cleanEnv() });
    return { exitCode: 0, output: stdout };
  } catch (err) {
    const { code, stdout } = err as { code: number; stdout: string };
    return { exitCode: code, output: stdout };
  }
}

let work: string;
let project: string;
let tarball: string;

beforeAll(async () => {
  work = path.join(inject('scratch'), 'library');
  project = path.join(work, 'consumer');
  await mkdir(project, { recursive: true });
  // prepack builds the bundles and the declarations first.
  await npm(['pack', '--pack-destination', work], root);
  const packed = (await readdir(work)).filter((f) => f.endsWith('.tgz'));
  expect(packed).toEqual([`d7y-build-${pkg.version}.tgz`]);
  tarball = path.join(work, packed[0]!);
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'release-script', private: true, type: 'module' }));
  await npm(['install', '--prefer-offline', tarball], project);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

afterEach(async () => {
  expect(await leftoverContainers()).toEqual([]);
});

describe('the packed library', () => {
  it('ships the bundles, the declarations, README and LICENSE, and no sources', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n');
    for (const file of [
      'package/dist/d7y-build.cjs',
      'package/dist/index.cjs',
      'package/dist/types/index.d.ts',
      'package/dist/types/library.d.ts',
      'package/dist/types/package.json',
      'package/builder/build.sh',
      'package/Dockerfile.builder',
      'package/README.md',
      'package/LICENSE',
      'package/package.json',
    ]) {
      expect(files).toContain(file);
    }
    expect(files.filter((f) => /^package\/(src|test)\//.test(f))).toEqual([]);
  });

  it('type-checks a consumer against the shipped declarations, and refuses a wrong call', async () => {
    const compilerOptions = {
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      lib: ['es2023'],
      strict: true,
      noEmit: true,
      // The declarations are checked too, as they are shipped.
      skipLibCheck: false,
      types: ['node'],
      typeRoots: [path.join(root, 'node_modules/@types')],
    };
    const tsconfig = async (name: string, file: string) => writeFile(path.join(project, name), JSON.stringify({ compilerOptions, files: [file] }));
    await writeFile(
      path.join(project, 'good.ts'),
      `import { build, D7yError, UsageError, type BuildOptions, type BuildResult, type ProgressEvent } from 'd7y-build';

const steps: string[] = [];
const options: BuildOptions = {
  plugins: ['./myfs'],
  commit: 'v2.1.0',
  memory: '2g',
  timeout: 1800,
  tags: ['netgo'],
  signal: AbortSignal.timeout(60_000),
  onEvent: (event: ProgressEvent) => {
    if (event.type === 'step-finished') steps.push(\`\${event.name} \${event.status} \${event.durationMs.toFixed(0)}ms\`);
    if (event.type === 'plugin-compiled') steps.push(event.file);
  },
};

export async function release(): Promise<string[]> {
  try {
    const result: BuildResult = await build(options);
    return result.artifacts.map((a) => \`\${a.kind} \${a.path} \${a.sha256 ?? ''}\`);
  } catch (err) {
    if (err instanceof UsageError) throw new Error(\`\${err.message} (\${err.hint ?? 'no hint'})\`);
    if (err instanceof D7yError) process.exitCode = err.exitCode;
    throw err;
  }
}
`,
    );
    await writeFile(
      path.join(project, 'bad.ts'),
      `import { build, UsageError } from 'd7y-build';

export async function release(): Promise<void> {
  await build({ plugins: './myfs' });
  await build({ plugins: ['./myfs'], comit: 'v2.1.0' });
  const code: string = new UsageError('x').exitCode;
  const result = await build({ plugins: ['./myfs'] });
  console.log(result.artifactz, code);
}
`,
    );
    await tsconfig('tsconfig.json', 'good.ts');
    await tsconfig('tsconfig.bad.json', 'bad.ts');

    expect(await typecheck(project, 'tsconfig.json')).toEqual({ exitCode: 0, output: '' });
    const bad = await typecheck(project, 'tsconfig.bad.json');
    expect(bad.exitCode).not.toBe(0);
    // Each mistake is caught, by the shipped types: the option's type, the unknown option, the result's fields, the error's.
    expect(bad.output).toMatch(/bad\.ts\(4,\d+\): error TS2322: Type 'string' is not assignable to type 'string\[\]'/);
    expect(bad.output).toMatch(/bad\.ts\(5,\d+\): error TS2561: .*'comit'.*'commit'/);
    expect(bad.output).toMatch(/bad\.ts\(6,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
    expect(bad.output).toMatch(/bad\.ts\(8,\d+\): error TS2551: Property 'artifactz' does not exist on type 'BuildResult'/);
  });

  it('builds through build() in a script: the result, its files, the events, and typed errors', async () => {
    const out = path.join(work, 'out');
    const plugins = path.join(work, 'plugins');
    const report = path.join(work, 'report.json');
    const options = {
      plugins: [path.join(examples, 'd7yfs')],
      commit: 'v2.1.0',
      repo: inject('fixtureRepo'),
      goImage: inject('goImage'),
      out,
      pluginsDir: plugins,
    };
    await writeFile(
      path.join(project, 'release.mjs'),
      `import { writeFileSync } from 'node:fs';
import { build, D7yError, InterruptedError, UsageError } from 'd7y-build';

const [options, missing, report] = [JSON.parse(process.argv[2]), process.argv[3], process.argv[4]];
const events = [];
const result = await build({ ...options, onEvent: (event) => events.push(event) });
const failure = (err) => ({ name: err.name, message: err.message, hint: err.hint, exitCode: err.exitCode, step: err.step, typed: err instanceof D7yError });
const missingDir = await build({ ...options, plugins: [missing] }).catch((err) => ({ ...failure(err), usage: err instanceof UsageError }));
const aborted = await build({ ...options, signal: AbortSignal.abort() }).catch((err) => ({ ...failure(err), interrupted: err instanceof InterruptedError }));
const handlers = ['SIGINT', 'SIGTERM'].map((s) => process.listenerCount(s));
writeFileSync(report, JSON.stringify({ result, events, missingDir, aborted, handlers }));
`,
    );
    const missing = path.join(work, 'nosuchplugin');
    const script = await run(process.execPath, ['release.mjs', JSON.stringify(options), missing, report], {
      cwd: project,
      env: cleanEnv({ D7Y_CACHE_DIR: path.join(inject('scratch'), 'cache'), SOURCE_DATE_EPOCH: '1704164645' }),
      maxBuffer: 64 * 1024 * 1024,
    });
    // The library writes nothing: progress went to onEvent.
    expect(script).toMatchObject({ stdout: '', stderr: '' });

    interface Event {
      type: string;
      name?: string;
      status?: string;
      durationMs?: number;
      message?: string;
      plugin?: string;
      file?: string;
      host?: string;
      path?: string;
    }
    const { result, events, missingDir, aborted, handlers } = JSON.parse(await readFile(report, 'utf8')) as {
      result: {
        commit: string;
        buildTime: string;
        installed: string[];
        artifacts: Array<{ kind: string; path: string; sha256?: string }>;
        steps: Array<{ name: string; status: string; durationMs: number }>;
      };
      events: Event[];
      missingDir: Record<string, unknown>;
      aborted: Record<string, unknown>;
      handlers: number[];
    };

    const sha = await fixtureSha('v2.1.0');
    const installed = path.join(plugins, 'd7y-resource-plugin-d7yfs.so');
    expect(result).toMatchObject({ commit: sha, buildTime: '2024-01-02T03:04:05Z', installed: [installed] });
    expect(result.artifacts.map((a) => [a.kind, a.path])).toEqual([
      ['host', path.join(out, 'bin/dfget')],
      ['loader-check', path.join(out, 'bin/d7y-loadcheck')],
      ['plugin', path.join(out, 'plugins/d7y-resource-plugin-d7yfs.so')],
      ['manifest', path.join(out, 'manifest.json')],
    ]);
    for (const a of result.artifacts.filter((x) => x.kind !== 'manifest')) expect(await digest(a.path)).toBe(a.sha256);
    expect(await digest(installed)).toBe(result.artifacts.find((a) => a.kind === 'plugin')!.sha256);

    // Every step started and finished as the result's timings say; the facts came as typed events.
    expect(events[0]).toMatchObject({ type: 'headline', message: expect.stringContaining('resource plugin d7yfs against Dragonfly v2.1.0') });
    expect(events.filter((e) => e.type === 'step-started').map((e) => e.name)).toEqual(result.steps.map((s) => s.name));
    expect(events.filter((e) => e.type === 'step-finished').map((e) => ({ name: e.name, status: e.status, durationMs: e.durationMs }))).toEqual(result.steps);
    expect(events.filter((e) => e.type === 'plugin-compiled')).toEqual([
      { type: 'plugin-compiled', plugin: 'd7yfs', file: 'd7y-resource-plugin-d7yfs.so', message: 'built d7y-resource-plugin-d7yfs.so' },
    ]);
    expect(events.filter((e) => e.type === 'host-compiled')).toEqual([expect.objectContaining({ host: 'dfget' })]);
    expect(events.filter((e) => e.type === 'installed')).toEqual([{ type: 'installed', path: installed, message: `installed ${installed}` }]);
    expect(events.some((e) => e.type === 'info')).toBe(true);

    expect(missingDir).toMatchObject({
      name: 'UsageError',
      typed: true,
      usage: true,
      exitCode: 2,
      step: 'check-inputs',
      message: expect.stringContaining(missing),
      hint: expect.any(String),
    });
    expect(aborted).toMatchObject({ name: 'InterruptedError', typed: true, interrupted: true, exitCode: 130 });
    expect(handlers).toEqual([0, 0]);
  });

  it('installs the d7y-build bin, which prints its version', async () => {
    const { stdout } = await run(path.join(project, 'node_modules/.bin/d7y-build'), ['--version'], { cwd: project, env: cleanEnv() });
    expect(stdout).toBe(`${pkg.version}\n`);
    // And the package loads with require too, as one CommonJS module.
    const required = await run(process.execPath, ['-e', "const l = require('d7y-build'); console.log(typeof l.build, new l.UsageError('x').exitCode)"], {
      cwd: project,
      env: cleanEnv(),
    });
    expect(required.stdout).toBe('function 2\n');
  });
});
