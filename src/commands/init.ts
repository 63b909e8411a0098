/**
 * `d7y-build init`: a plugin scaffold that implements its type's interface as it is at the given
 * Dragonfly commit, generated from the interface d7y-apicheck reads there. The directory appears
 * whole or not at all: the files are written into a temp directory beside it, then renamed.
 */
import { chmod, lstat, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { assertWritableDir } from '../artifacts/place';
import { need, runSession, type RunOptions } from '../session/session';
import type { Step, StepTiming } from '../session/runner';
import { DEFAULT_REPO, type InitSpec } from '../config';
import { InstallError, UsageError } from '../errors';
import { API_STEPS, type ApiContext } from './inspect-api';
import { scaffoldFiles, type PluginApi } from '../scaffold/render';

interface InitContext extends ApiContext {
  spec: InitSpec;
  state: ApiContext['state'] & { files?: string[] };
}

const NOT_EMPTY_HINT = 'pass a new or empty directory: init never writes into one that holds files';

/** The target must be new or an empty directory, in an existing writable one: checked before any work. */
async function checkTarget(ctx: InitContext): Promise<void> {
  const { dir } = ctx.spec;
  const parent = path.dirname(dir);
  const parentInfo = await lstat(parent).catch(() => undefined);
  if (parentInfo === undefined || !parentInfo.isDirectory()) {
    throw new UsageError(`${parent} is not a directory, so init can't create ${dir} in it`, {
      hint: `create ${parent} first, or pass a directory in an existing one`,
    });
  }
  await assertWritableDir(parent, 'the parent of');
  const info = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (info === undefined) return;
  if (!info.isDirectory()) throw new UsageError(`${dir} exists and is not a directory`, { hint: NOT_EMPTY_HINT });
  if ((await readdir(dir)).length > 0) throw new UsageError(`${dir} is not empty`, { hint: NOT_EMPTY_HINT });
}

async function writeScaffold(ctx: InitContext): Promise<void> {
  const { spec } = ctx;
  const files = scaffoldFiles(need(ctx.state.api, 'the API'), {
    name: spec.name,
    dirName: path.basename(spec.dir),
    repo: spec.repo === DEFAULT_REPO ? undefined : spec.repo,
  });
  let tmp: string;
  try {
    tmp = await mkdtemp(path.join(path.dirname(spec.dir), `.${path.basename(spec.dir)}.d7y-tmp-${process.pid}-`));
  } catch (err) {
    // A parent that takes no new entries although access(2) says it is writable (/proc, /sys, a full disk).
    throw new InstallError(`cannot write beside ${spec.dir}: ${(err as Error).message}`, {
      hint: 'pass a directory in a place this user can write files to',
      cause: err,
    });
  }
  // Gone after the rename; on any failure before it, this leaves nothing behind.
  ctx.cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  try {
    await chmod(tmp, 0o755);
    for (const [name, content] of Object.entries(files)) await writeFile(path.join(tmp, name), content, { mode: 0o644 });
  } catch (err) {
    throw new InstallError(`cannot write the scaffold for ${spec.dir}: ${(err as Error).message}`, {
      hint: 'free space, or pass a directory on another file system',
      cause: err,
    });
  }
  try {
    // Onto a missing or empty directory only: rename(2) refuses one that has gained files meanwhile.
    await rename(tmp, spec.dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') {
      throw new UsageError(`${spec.dir} is no longer empty`, { hint: NOT_EMPTY_HINT, cause: err });
    }
    throw new InstallError(`cannot create ${spec.dir}: ${(err as Error).message}`, { hint: 'pass a directory this user can create', cause: err });
  }
  ctx.state.files = Object.keys(files).map((name) => path.join(spec.dir, name));
  for (const file of ctx.state.files) ctx.log.info(`wrote ${file}`);
}

export const INIT_STEPS: ReadonlyArray<Step<InitContext>> = [
  { name: 'check-target', run: checkTarget },
  ...API_STEPS,
  { name: 'write-scaffold', run: writeScaffold },
];

export interface InitResult {
  dir: string;
  name: string;
  type: PluginApi['type'];
  commit: string;
  interface: string;
  files: string[];
  steps: StepTiming[];
}

export async function initScaffold(spec: InitSpec, options: RunOptions = {}): Promise<InitResult> {
  const { ctx, steps } = await runSession(INIT_STEPS, spec, options);
  const api = need(ctx.state.api, 'the API');
  return {
    dir: spec.dir,
    name: spec.name,
    type: spec.type,
    commit: api.commit,
    interface: `${api.interface.importPath}.${api.interface.name}`,
    files: need(ctx.state.files, 'the written files'),
    steps,
  };
}
