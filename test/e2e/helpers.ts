/** What the e2e tests share: running the bundled CLI, temp dirs, and asking the engine what is left. */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';

export const root = path.resolve(__dirname, '../..');
export const cli = path.join(root, 'dist/d7y-build.cjs');
export const examples = path.join(root, 'examples');
const run = promisify(execFile);

export interface CliRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Called with the child and its stderr so far on every stderr chunk. */
  onStderr?: (child: ReturnType<typeof spawn>, stderr: string) => void;
}

/** Runs `node dist/d7y-build.cjs args...` to its end. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: options.cwd ?? root,
      env: { ...process.env, D7Y_CACHE_DIR: path.join(inject('scratch'), 'cache'), NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      options.onStderr?.(child, stderr);
    });
    child.on('error', reject);
    child.on('close', (exitCode, signal) => resolve({ exitCode, signal, stdout, stderr }));
  });
}

/** The flags every build in these tests passes: the fixture repo and the offline Go image. */
export function fixtureArgs(commit: string, goImage: string = inject('goImage')): string[] {
  return ['--commit', commit, '--repo', inject('fixtureRepo'), '--go-image', goImage];
}

/** A temp directory removed at the end of the `await using` block. */
export async function tempDir(prefix = 'case-'): Promise<{ path: string } & AsyncDisposable> {
  const dir = await mkdtemp(path.join(inject('scratch'), prefix));
  return { path: dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

/** name → sha256 of every file below dir (empty for a missing dir): for byte-identity checks. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = await digest(p);
    }
  };
  await walk(dir);
  return out;
}

/** sha256 of a file: compare files by digest (deep equality of large Buffers is slow). */
export async function digest(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

export async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** Containers d7y-build created for a run, running or not. */
export async function leftoverContainers(): Promise<string[]> {
  const out = await docker('ps', '-aq', '--filter', 'label=io.d7y-build.run');
  return out === '' ? [] : out.split('\n');
}

/** The fixture's full SHA of a ref. */
export async function fixtureSha(ref: string): Promise<string> {
  const { stdout } = await run('git', ['-C', inject('fixtureRepo'), 'rev-parse', `${ref}^{commit}`]);
  return stdout.trim();
}

/**
 * `docker create createArgs`, the files copied in (host path → container path), started attached to
 * its end, and removed: its output and exit code.
 */
export async function runContainer(createArgs: string[], copies: Array<[string, string]>): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const id = await docker('create', ...createArgs);
  try {
    for (const [from, to] of copies) await docker('cp', from, `${id}:${to}`);
    return await new Promise<{ stdout: string; stderr: string; exitCode: number }>((resolve, reject) => {
      const child = spawn('docker', ['start', '-a', id], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ stdout, stderr, exitCode: code ?? -1 }));
    });
  } finally {
    await docker('rm', '-f', id);
  }
}

/**
 * Runs a built host binary as Dragonfly would run on a server: in a fresh container of the Go image
 * (the binary needs its glibc), with the plugins directory's files where Dragonfly looks for them.
 */
export function runHost(hostBinary: string, pluginsDir: string, args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const script = 'mkdir -p /usr/local/dragonfly && cp -R /opt/plugins /usr/local/dragonfly/plugins && exec /opt/host "$@"';
  return runContainer(
    ['--label', 'io.d7y-build.test=host', inject('goImage'), 'sh', '-c', script, 'host', ...args],
    [
      [hostBinary, '/opt/host'],
      [pluginsDir, '/opt/plugins'],
    ],
  );
}

/** Writes a plugin source tree: file name → content. */
export async function writePlugin(dir: string, files: Record<string, string>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
}

/**
 * -gcflags that make every package's build-cache key new, so a compile really runs for as long as
 * a test needs it to (-D only sets the import path prefix of local imports, which modules ignore).
 */
export function uncachedGcflags(extra = ''): string {
  return `all=${extra}${extra ? ' ' : ''}-D=/d7y-uncached-${randomBytes(6).toString('hex')}`;
}
