/**
 * The pinned Dragonfly source, through simple-git and a bare mirror cache under the user's cache
 * dir: the first build of a repo clones it. After that, only a full SHA the mirror has, or a name
 * the mirror has as a tag, is answered from the cache; anything else (branches, short SHAs, names
 * that merely look like versions) is fetched every time, so a moved branch builds its new commit.
 * Tags are taken as immutable: one force-moved upstream is picked up by the next fetch, with a
 * warning naming the old and new commit.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { SourceError } from '../errors';
import { describeHolder, LOCK_TEMP, lockIsStale, LockTimeoutError, withLock } from '../lock';
import { pidAlive } from '../owner';
import { gitRemote, redactUrl } from '../secrets';
import { hintOption } from '../option-names';

/** The most of one file d7y-build reads from the Dragonfly tree: go.mod and plugin.go files are kilobytes. */
const MAX_SOURCE_FILE_BYTES = 1024 * 1024;

/**
 * The user's own GIT_* settings that still reach git (CA bundles, ssh, askpass); the other GIT_*
 * variables, and editor and pager variables, are dropped: git runs non-interactively on a mirror
 * d7y-build owns, which d7y-build names itself (GIT_DIR, GIT_INDEX_FILE, GIT_WORK_TREE).
 */
const ALLOWED_GIT_ENV = ['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'GIT_SSH_COMMAND', 'GIT_ASKPASS'];
const OWN_GIT_ENV = ['GIT_DIR', 'GIT_INDEX_FILE', 'GIT_WORK_TREE', 'GIT_TERMINAL_PROMPT', 'GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0'];
const INTERACTIVE_ENV = new Set(['editor', 'visual', 'pager', 'prefix', 'ssh_askpass']);

/** The environment for git: this process's, minus what could make it interactive, plus extra. */
export function gitEnvironment(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}): Record<string, string> {
  const kept = Object.entries(env).filter(([key, value]) => {
    const k = key.toLowerCase();
    if (value === undefined || INTERACTIVE_ENV.has(k)) return false;
    return !k.startsWith('git_') || ALLOWED_GIT_ENV.includes(key.toUpperCase());
  });
  return { ...Object.fromEntries(kept), GIT_TERMINAL_PROMPT: '0', ...extra } as Record<string, string>;
}

function gitIn(dir: string, signal?: AbortSignal, extraEnv: Record<string, string> = {}): SimpleGit {
  return simpleGit({
    baseDir: dir,
    abort: signal,
    allowEnvironment: [...ALLOWED_GIT_ENV, ...OWN_GIT_ENV],
    // The user's own ssh command and askpass helper, from their environment, are theirs to use.
    // GIT_CONFIG_COUNT is d7y-build's own (gitRemote's credentials header): the user's GIT_CONFIG_*
    // never get this far (gitEnvironment drops them).
    unsafe: { allowUnsafeSshCommand: true, allowUnsafeAskPass: true, allowUnsafeConfigEnvCount: true },
    // git's exit status decides. simple-git on its own fails a command only when it also wrote to
    // stderr, so a quiet `rev-parse --verify --quiet` of a missing tag would pass for found.
    errors: (error, result) => {
      if (error !== undefined || result.exitCode === 0) return error;
      const output = Buffer.concat([...result.stdErr, ...result.stdOut]);
      return output.length > 0 ? output : Buffer.from(`git exited with ${result.exitCode}`);
    },
  }).env(gitEnvironment(process.env, extraEnv));
}

export interface ResolvedCommit {
  repo: string;
  ref: string;
  sha: string;
  /** Whether this resolution went to the network. */
  fetched: boolean;
}

export interface SourceOptions {
  cacheDir: string;
  signal?: AbortSignal;
  /** Said while resolving: a lock being waited for, a damaged mirror cloned again, a moved tag, a failed fetch. */
  warn?: (message: string) => void;
}

function gitMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.find((l) => l.startsWith('fatal:'))?.replace(/^fatal:\s*/, '') ?? lines[0] ?? text;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

const FULL_SHA = /^[0-9a-f]{40}$/i;

/** A mirror, <key>.git, and what is set aside beside it: a clone under way, or a damaged mirror on its way out. */
const MIRROR = /^[0-9a-f]{16}\.git$/;
const ASIDE = /^([0-9a-f]{16}\.git)\.(?:tmp|damaged)-[0-9a-f]{8}$/;

export interface MirrorListing {
  /** Each mirror's directory and the repository it mirrors (its URL as stored: without credentials). */
  mirrors: Array<{ dir: string; repo: string | undefined }>;
  /** What crashes left: clones and damaged mirrors set aside whose lock nobody holds, stale locks, lock temp files of dead processes. */
  leftovers: string[];
}

/** The git mirrors under cacheDir, and the leftovers of runs that were killed while cloning. */
export async function listMirrors(cacheDir: string): Promise<MirrorListing> {
  const root = path.join(cacheDir, 'git');
  const names = await readdir(root).catch(() => [] as string[]);
  const listing: MirrorListing = { mirrors: [], leftovers: [] };
  for (const name of names.sort()) {
    const file = path.join(root, name);
    if (MIRROR.test(name)) {
      const config = await readFile(path.join(file, 'config'), 'utf8').catch(() => '');
      listing.mirrors.push({ dir: file, repo: /\[remote "origin"\][^[]*?\n\s*url\s*=\s*(.+)/.exec(config)?.[1]?.trim() });
      continue;
    }
    const aside = ASIDE.exec(name);
    // Set aside under the mirror's lock: a leftover only when nobody holds that lock.
    const leftover = aside
      ? !(await exists(path.join(root, `${aside[1]}.lock`))) || (await lockIsStale(path.join(root, `${aside[1]}.lock`)))
      : name.endsWith('.lock')
        ? await lockIsStale(file)
        : LOCK_TEMP.test(name) && !pidAlive(Number(LOCK_TEMP.exec(name)![1]));
    if (leftover) listing.leftovers.push(file);
  }
  return listing;
}

/** One bare mirror per repository, under <cacheDir>/git/, named by a hash of the URL without credentials. */
export class DragonflyMirror {
  readonly dir: string;
  private readonly lockFile: string;

  constructor(
    readonly repo: string,
    private readonly options: SourceOptions,
  ) {
    const key = createHash('sha256').update(redactUrl(repo)).digest('hex').slice(0, 16);
    this.dir = path.join(options.cacheDir, 'git', `${key}.git`);
    this.lockFile = `${this.dir}.lock`;
  }

  /** git on the mirror, named by GIT_DIR: a damaged mirror never lets git find a repository above it. */
  private git(extraEnv: Record<string, string> = {}): SimpleGit {
    return gitIn(path.dirname(this.dir), this.options.signal, { GIT_DIR: this.dir, ...extraEnv });
  }

  private warn(message: string): void {
    this.options.warn?.(message);
  }

  /** Runs fn holding the mirror's lock: clones and fetches into one mirror take turns. */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await withLock(this.lockFile, fn, {
        timeoutMs: 10 * 60_000,
        signal: this.options.signal,
        onWait: (holder) => this.warn(`waiting for the git mirror lock ${this.lockFile}, held by ${describeHolder(holder)}`),
      });
    } catch (err) {
      if (!(err instanceof LockTimeoutError)) throw err;
      throw new SourceError(`the git mirror of ${this.repo} has been locked for 10 minutes: ${err.message}`, {
        hint: `if no other d7y-build is running, remove ${err.file}`,
      });
    }
  }

  /** Why the mirror can't be used (missing, or no git repository: no HEAD, objects or refs), or undefined. */
  private async damage(): Promise<string | undefined> {
    if (!(await exists(this.dir))) return 'missing';
    try {
      await this.git().raw(['rev-parse', '--git-dir']);
      return undefined;
    } catch (err) {
      return gitMessage(err);
    }
  }

  /**
   * Clones when the mirror is missing or damaged, into a temporary name then renamed, under the
   * mirror's lock. The clone's remote URL is stored without credentials; fetches name the URL.
   */
  private async ensureMirror(): Promise<boolean> {
    if ((await this.damage()) === undefined) return false;
    await mkdir(path.dirname(this.dir), { recursive: true });
    return this.locked(async () => {
      const damage = await this.damage();
      if (damage === undefined) return false; // another build cloned it meanwhile
      if (damage !== 'missing') {
        this.warn(`the git mirror ${this.dir} is damaged (${damage}): cloning ${this.repo} again`);
        const doomed = `${this.dir}.damaged-${randomBytes(4).toString('hex')}`;
        await rename(this.dir, doomed);
        await rm(doomed, { recursive: true, force: true });
      }
      const tmp = `${this.dir}.tmp-${randomBytes(4).toString('hex')}`;
      try {
        const remote = gitRemote(this.repo);
        await gitIn(path.dirname(this.dir), this.options.signal, remote.env).clone(remote.url, tmp, ['--mirror', '--quiet']);
        await gitIn(path.dirname(this.dir), this.options.signal, { GIT_DIR: tmp }).raw(['config', 'remote.origin.url', redactUrl(this.repo)]);
        await rename(tmp, this.dir);
      } catch (err) {
        throw new SourceError(`cannot clone ${this.repo}: ${gitMessage(err)}`, {
          hint: `check ${hintOption('repo')} (a git URL or a local path to a Dragonfly clone) and that it is reachable`,
          cause: err,
        });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return true;
    });
  }

  private async revParse(ref: string): Promise<string | undefined> {
    try {
      const out = (await this.git().raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`])).trim();
      return FULL_SHA.test(out) ? out : undefined;
    } catch {
      return undefined;
    }
  }

  /** What the mirror alone may answer: a full SHA it has, or a name it has as a tag. */
  private async pinned(ref: string): Promise<string | undefined> {
    return this.revParse(FULL_SHA.test(ref) ? ref.toLowerCase() : `refs/tags/${ref}`);
  }

  /** Every tag and the commit it names. */
  private async tags(): Promise<Map<string, string>> {
    const out = await this.git().raw(['for-each-ref', '--format=%(refname:strip=2) %(objectname) %(*objectname)', 'refs/tags']);
    return new Map(
      out
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const [name = '', object = '', peeled] = l.split(' ');
          return [name, peeled || object] as const;
        }),
    );
  }

  /**
   * Fetches every ref from the URL as given, pruning; warns of tags that moved upstream. The stored
   * remote URL is set without credentials each time, so a mirror an older d7y-build cloned with a
   * credentialed URL loses them too.
   */
  private async fetch(): Promise<void> {
    await this.locked(async () => {
      const before = await this.tags();
      const remote = gitRemote(this.repo);
      await this.git(remote.env).raw(['fetch', '--prune', '--quiet', '--end-of-options', remote.url, '+refs/*:refs/*']);
      await this.git().raw(['config', 'remote.origin.url', redactUrl(this.repo)]);
      for (const [tag, now] of await this.tags()) {
        const was = before.get(tag);
        if (was !== undefined && was !== now) {
          this.warn(
            `tag ${tag} of ${this.repo} moved upstream from ${was.slice(0, 12)} to ${now.slice(0, 12)}; builds of ${tag} use ${now.slice(0, 12)} from now on`,
          );
        }
      }
    });
  }

  /** Resolves ref to a full SHA, fetching unless the ref is a full SHA or a tag the mirror has. */
  async resolve(ref: string): Promise<ResolvedCommit> {
    const cloned = await this.ensureMirror();
    if (!cloned) {
      const pinned = await this.pinned(ref);
      if (pinned !== undefined) return { repo: this.repo, ref, sha: pinned, fetched: false };
      try {
        await this.fetch();
      } catch (err) {
        if (err instanceof SourceError) throw err;
        const cached = await this.revParse(ref);
        if (cached !== undefined) {
          this.warn(`could not fetch ${this.repo} (${gitMessage(err)}); using the cached ${ref}, which may be behind`);
          return { repo: this.repo, ref, sha: cached, fetched: false };
        }
        throw new SourceError(`cannot fetch ${this.repo}: ${gitMessage(err)}`, {
          hint: `check the network and ${hintOption('repo')}; a commit or tag built before needs no network (if the mirror is damaged, remove ${this.dir})`,
          cause: err,
        });
      }
    }
    const sha = await this.revParse(ref);
    if (sha !== undefined) return { repo: this.repo, ref, sha, fetched: true };
    throw new SourceError(`${this.repo} has no commit, branch or tag "${ref}"`, {
      hint: `check ${hintOption('commit')}; \`git ls-remote ${this.repo}\` lists its branches and tags`,
    });
  }

  /** A damaged mirror, named, with the fix. */
  private unreadable(what: string, err: unknown): SourceError {
    return new SourceError(`the git mirror ${this.dir} cannot read ${what}: ${gitMessage(err)}`, {
      hint: `remove ${this.dir}: the next build clones ${this.repo} again`,
      cause: err,
    });
  }

  /**
   * A file's text at sha, or undefined when the commit has no such file (or something else by that
   * name). The files d7y-build reads (go.mod, a loader's plugin.go) are small: one larger than
   * maxBytes is refused before it is read, so a hostile repository can't fill memory.
   */
  async readFile(sha: string, file: string, maxBytes = MAX_SOURCE_FILE_BYTES): Promise<string | undefined> {
    let listed: string;
    try {
      // "<mode> <type> <object> <size>\t<name>"
      listed = await this.git().raw(['ls-tree', '-l', sha, '--', file]);
    } catch (err) {
      throw this.unreadable(`${file} at ${sha.slice(0, 12)}`, err);
    }
    const [, type, , size] = listed.split('\t')[0]!.trim().split(/\s+/);
    if (type !== 'blob') return undefined;
    if (Number(size) > maxBytes) {
      throw new SourceError(`${this.repo} at ${sha.slice(0, 12)} has a ${file} of ${size} bytes, more than the ${maxBytes} d7y-build reads`, {
        hint: `point ${hintOption('repo')} at a clone of Dragonfly: its ${file} is a few kilobytes`,
      });
    }
    try {
      return await this.git().raw(['show', `${sha}:${file}`]);
    } catch (err) {
      throw this.unreadable(`${file} at ${sha.slice(0, 12)}`, err);
    }
  }

  /** The committer date of sha, in seconds since the epoch: what Go's pseudo-versions are stamped with. */
  async commitTime(sha: string): Promise<number> {
    let out: string;
    try {
      out = (await this.git().raw(['show', '-s', '--format=%ct', sha])).trim();
    } catch (err) {
      throw this.unreadable(`the commit ${sha.slice(0, 12)}`, err);
    }
    if (!/^-?\d+$/.test(out)) throw this.unreadable(`the committer date of ${sha.slice(0, 12)}`, new Error(`git said ${JSON.stringify(out)}`));
    return Number(out);
  }

  async hasDirectory(sha: string, dir: string): Promise<boolean> {
    try {
      return (await this.git().raw(['ls-tree', '-d', '--name-only', sha, '--', dir])).trim() !== '';
    } catch (err) {
      throw this.unreadable(`the tree of ${sha.slice(0, 12)}`, err);
    }
  }

  /**
   * Writes the tree at sha into dest through a private index and work tree, so that concurrent
   * builds never contend for the mirror's own index.
   */
  async exportTree(sha: string, dest: string): Promise<void> {
    await mkdir(dest, { recursive: true });
    const index = `${dest}.index`;
    try {
      const git = this.git({ GIT_INDEX_FILE: index, GIT_WORK_TREE: dest });
      await git.raw(['read-tree', sha]);
      await git.raw(['checkout-index', '--all', '--force']);
    } catch (err) {
      throw this.unreadable(`the tree of ${sha.slice(0, 12)}`, err);
    } finally {
      await rm(index, { force: true });
    }
  }
}
