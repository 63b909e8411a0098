/**
 * The pinned Dragonfly source, through simple-git and a bare mirror cache under the user's cache
 * dir: the first build of a repo clones it, later builds fetch only when the ref could have moved
 * (a branch, or a ref the cache does not have), so a known commit or tag builds with no network.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { SourceError } from '../errors';
import { withLock } from '../lock';

/**
 * The user's own GIT_* settings that still reach git (credentials helpers, CA bundles, ssh); the
 * other GIT_* variables, and editor and pager variables, are dropped: git runs non-interactively
 * on a mirror d7y-build owns.
 */
const ALLOWED_GIT_ENV = ['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'GIT_SSH_COMMAND', 'GIT_ASKPASS', 'GIT_INDEX_FILE', 'GIT_WORK_TREE'];
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
    allowEnvironment: [...ALLOWED_GIT_ENV, 'GIT_TERMINAL_PROMPT'],
    // The user's own ssh command and askpass helper, from their environment, are theirs to use.
    unsafe: { allowUnsafeSshCommand: true, allowUnsafeAskPass: true },
  }).env(gitEnvironment(process.env, extraEnv));
}

export interface ResolvedCommit {
  repo: string;
  ref: string;
  sha: string;
  /** Whether this resolution went to the network. */
  fetched: boolean;
  /** Set when a fetch failed and the cached ref was used instead. */
  staleWarning?: string;
}

export interface SourceOptions {
  cacheDir: string;
  signal?: AbortSignal;
}

function gitMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.find((l) => l.startsWith('fatal:'))?.replace(/^fatal:\s*/, '') ?? lines[0] ?? text;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** One bare mirror per repository, under <cacheDir>/git/. */
export class DragonflyMirror {
  readonly dir: string;

  constructor(
    readonly repo: string,
    private readonly options: SourceOptions,
  ) {
    const key = createHash('sha256').update(repo).digest('hex').slice(0, 16);
    this.dir = path.join(options.cacheDir, 'git', `${key}.git`);
  }

  private git(): SimpleGit {
    return gitIn(this.dir, this.options.signal);
  }

  /** Clones into a temporary name, then renames: a concurrent build either wins or uses the winner's. */
  private async ensureCloned(): Promise<boolean> {
    if (await exists(this.dir)) return false;
    await mkdir(path.dirname(this.dir), { recursive: true });
    const tmp = `${this.dir}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      await gitIn(path.dirname(this.dir), this.options.signal).clone(this.repo, tmp, ['--mirror', '--quiet']);
      await rename(tmp, this.dir).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } catch (err) {
      throw new SourceError(`cannot clone ${this.repo}: ${gitMessage(err)}`, {
        hint: 'check --repo (a git URL or a local path to a Dragonfly clone) and that it is reachable',
        cause: err,
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return true;
  }

  private async revParse(ref: string): Promise<string | undefined> {
    try {
      const out = (await this.git().raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`])).trim();
      return /^[0-9a-f]{40}$/.test(out) ? out : undefined;
    } catch {
      return undefined;
    }
  }

  private async isTag(ref: string): Promise<boolean> {
    try {
      await this.git().raw(['show-ref', '--verify', '--quiet', `refs/tags/${ref}`]);
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves ref to a full SHA, fetching only when the cache can't answer for sure. */
  async resolve(ref: string): Promise<ResolvedCommit> {
    const cloned = await this.ensureCloned();
    const cached = await this.revParse(ref);
    const immutable = cached !== undefined && (cached.startsWith(ref.toLowerCase()) || (await this.isTag(ref)));
    if (cloned || immutable) {
      if (cached !== undefined) return { repo: this.repo, ref, sha: cached, fetched: cloned };
    } else {
      try {
        // Concurrent fetches into one mirror fight over its ref locks: builds take turns.
        await withLock(`${this.dir}.lock`, () => this.git().raw(['fetch', '--prune', '--quiet', 'origin']), {
          timeoutMs: 10 * 60_000,
          signal: this.options.signal,
        });
      } catch (err) {
        if (cached !== undefined) {
          return {
            repo: this.repo,
            ref,
            sha: cached,
            fetched: false,
            staleWarning: `could not fetch ${this.repo} (${gitMessage(err)}); using the cached ${ref}`,
          };
        }
        throw new SourceError(`cannot fetch ${this.repo}: ${gitMessage(err)}`, {
          hint: 'check the network and --repo; a commit or tag built before needs no network',
          cause: err,
        });
      }
      const sha = await this.revParse(ref);
      if (sha !== undefined) return { repo: this.repo, ref, sha, fetched: true };
    }
    throw new SourceError(`${this.repo} has no commit, branch or tag "${ref}"`, {
      hint: `check --commit; \`git ls-remote ${this.repo}\` lists its branches and tags`,
    });
  }

  /** A file's text at sha, or undefined when the commit has no such file. */
  async readFile(sha: string, file: string): Promise<string | undefined> {
    try {
      return await this.git().raw(['show', `${sha}:${file}`]);
    } catch {
      return undefined;
    }
  }

  /** The committer date of sha, in seconds since the epoch: what Go's pseudo-versions are stamped with. */
  async commitTime(sha: string): Promise<number> {
    return Number((await this.git().raw(['show', '-s', '--format=%ct', sha])).trim());
  }

  async hasDirectory(sha: string, dir: string): Promise<boolean> {
    const out = await this.git().raw(['ls-tree', '-d', '--name-only', sha, '--', dir]);
    return out.trim() !== '';
  }

  /**
   * Writes the tree at sha into dest through a private index and work tree, so that concurrent
   * builds never contend for the mirror's own index.
   */
  async exportTree(sha: string, dest: string): Promise<void> {
    await mkdir(dest, { recursive: true });
    const index = `${dest}.index`;
    try {
      const git = gitIn(this.dir, this.options.signal, { GIT_INDEX_FILE: index, GIT_WORK_TREE: dest });
      await git.raw(['read-tree', sha]);
      await git.raw(['checkout-index', '--all', '--force']);
    } finally {
      await rm(index, { force: true });
    }
  }
}
