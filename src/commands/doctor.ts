/**
 * `d7y-build doctor`: whether a build can succeed here, and what to fix when not. A list of checks,
 * each ok, warn or fail with a one-line finding and, when not ok, a fix: the engine, the free space
 * where the engine and the cache keep their data, the cache directory, the Dragonfly commit and the
 * Go image its go.mod asks for, the Go module proxy as a build container sees it, the Go cache
 * volumes, SOURCE_DATE_EPOCH and the clocks. Each check is bounded in time, and so is the whole: a
 * check that runs out of time is reported as such, and its work aborted.
 */
import { randomUUID } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import type { DoctorSpec } from '../config';
import { DockerEngine } from '../docker/dockerode';
import { engineMessage, type Engine, type EngineInfo, type ImageInfo } from '../docker/engine';
import { runLabels } from '../docker/labels';
import { asD7yError, D7yError, DOCTOR_FOUND_A_PROBLEM, renderHint, UsageError } from '../errors';
import { formatBytes } from '../files';
import { DragonflyMirror } from '../git/source';
import { nullLogger, type Logger } from '../log';
import { currentOwner } from '../owner';
import { CACHE_VOLUMES, checkCacheDir } from '../session/cache';
import { missingGoImageHint } from '../session/image';
import { resolveDragonfly } from '../session/source';
import { buildTimestamp } from '../toolchain/goflags';
import { chooseGoImage, type GoMod } from '../toolchain/gomod';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  /** What was found, in one line. */
  finding: string;
  /** What to do about it, in one line; absent when ok. */
  fix?: string;
}

export interface DoctorReport {
  /** No check failed: a build can succeed. */
  ok: boolean;
  checks: Check[];
}

export interface DoctorResult {
  report: DoctorReport;
  /** 0 when no check failed; the engine's failure's code (3) when it failed; else DOCTOR_FOUND_A_PROBLEM. */
  exitCode: number;
}

/** How long each check may take, in milliseconds, and doctor in all. */
export const DOCTOR_TIMEOUTS = {
  check: 10_000,
  /** Resolving --commit may clone or fetch the repository. */
  source: 60_000,
  /** Starting a container from the Go image and asking the proxy. */
  proxy: 30_000,
  total: 120_000,
};
/** Free space under which a build may run out (warn), or most likely will (fail). */
export const DISK_WARN_BYTES = 5 * 1024 ** 3;
export const DISK_FAIL_BYTES = 1024 ** 3;
/** How far this machine's clock may be behind the engine's. */
export const CLOCK_SKEW_MS = 60_000;
/** What the proxy is asked for: a small module that is always there. */
export const PROBE_MODULE = 'golang.org/x/mod@latest';
/** How long `go list` may wait for the proxy inside the container (coreutils `timeout`, exit 124). */
const PROXY_WAIT_SECONDS = 20;

export interface DoctorOptions {
  engine?: Engine;
  log?: Logger;
  signal?: AbortSignal;
  /** Free bytes, for an unprivileged user, of the filesystem that holds a path; statfs by default. */
  freeBytes?: (path: string) => Promise<number>;
}

async function statfsFree(path: string): Promise<number> {
  const fs = await statfs(path);
  return fs.bavail * fs.bsize;
}

const ok = (name: string, finding: string): Check => ({ name, status: 'ok', finding });
const warn = (name: string, finding: string, fix: string): Check => ({ name, status: 'warn', finding, fix });
const fail = (name: string, finding: string, fix: string | undefined): Check => ({ name, status: 'fail', finding, ...(fix === undefined ? {} : { fix }) });

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/**
 * Runs one check within ms. A D7yError it throws is its failure, the error's hint its fix; anything
 * else is a bug and passes through. Out of time, its work is aborted and it is reported with the
 * status `late` (warn: doctor can't tell). An abort of the run (SIGINT) ends it at once.
 */
async function bounded(name: string, ms: number, signal: AbortSignal, slowFix: string, run: (signal: AbortSignal) => Promise<Check>): Promise<Check> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Check>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`${name} took more than ${seconds(ms)}`));
      resolve(warn(name, `no answer within ${seconds(ms)}`, slowFix));
    }, ms);
  });
  let onAbort = () => {};
  const interrupted = new Promise<never>((_resolve, reject) => {
    onAbort = () => {
      controller.abort(signal.reason);
      reject(signal.reason);
    };
  });
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const checked = run(controller.signal).catch((err: unknown) => {
    if (err instanceof D7yError) return fail(name, err.message, err.hint);
    throw err;
  });
  try {
    return await Promise.race([checked, late, interrupted]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/** "3.2 GiB free in <where>", ok, warn or fail by DISK_WARN_BYTES and DISK_FAIL_BYTES. */
export function spaceCheck(name: string, free: number, where: string, fix: string): Check {
  const finding = `${formatBytes(free)} free ${where}`;
  if (free < DISK_FAIL_BYTES) return fail(name, `${finding}: less than ${formatBytes(DISK_FAIL_BYTES)}`, fix);
  if (free < DISK_WARN_BYTES) return warn(name, `${finding}: less than ${formatBytes(DISK_WARN_BYTES)}`, fix);
  return ok(name, finding);
}

function describeEngine(info: EngineInfo): string {
  const rootless = info.rootless === undefined ? '' : info.rootless ? ', rootless' : ', not rootless';
  return `Docker ${info.serverVersion} (API ${info.apiVersion}, ${info.os}/${info.arch}) at ${info.address}${rootless}`;
}

async function engineDiskCheck(info: EngineInfo, freeBytes: (path: string) => Promise<number>): Promise<Check> {
  const name = 'engine-disk';
  const dir = info.rootDir;
  if (dir === undefined) {
    return warn(
      name,
      'the engine does not say where it keeps its data: free space unknown',
      "check the free space of the engine's data directory (`docker info` names it Docker Root Dir)",
    );
  }
  const elsewhere = `check the free space of ${dir} on the engine's machine (df -h ${dir}): builds need a few GiB for images, containers and the Go caches`;
  if (info.local !== true) return warn(name, `the engine at ${info.address} keeps its data in ${dir} on its own machine: free space unknown`, elsewhere);
  let free: number;
  try {
    free = await freeBytes(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return warn(
      name,
      `${dir}, where the engine keeps its data, can't be measured from here (${code}); the engine may run in a VM: free space unknown`,
      elsewhere,
    );
  }
  return spaceCheck(
    name,
    free,
    `in ${dir}, where the engine keeps images, containers and the Go cache volumes`,
    'make room there: `docker system df` shows what takes it, `docker image prune` removes unused images',
  );
}

async function cacheDirCheck(spec: DoctorSpec): Promise<Check> {
  if (spec.cache instanceof UsageError) throw spec.cache;
  await checkCacheDir(spec.cache.dir, spec.cache.origin);
  return ok('cache-dir', `${spec.cache.dir} (from ${spec.cache.origin}) is writable`);
}

/** Runs `go list` of PROBE_MODULE in a throwaway container of the Go image, with the environment builds get. */
async function proxyCheck(engine: Engine, image: ImageInfo, imageRef: string, spec: DoctorSpec, signal: AbortSignal): Promise<Check> {
  const name = 'go-proxy';
  const container = await engine.createContainer({
    image: image.id,
    // A run's labels: `d7y-build prune` removes the container should doctor be killed.
    labels: runLabels(randomUUID(), currentOwner()),
    volumes: [],
    env: spec.goEnv,
    workdir: '/tmp',
    platform: spec.platform,
  });
  // Out of time or interrupted: removing the container ends the exec that waits in it.
  const remove = () => void container.remove().catch(() => {});
  signal.addEventListener('abort', remove, { once: true });
  try {
    const env = await container.exec(['go', 'env', 'GOPROXY']);
    if (env.exitCode !== 0) {
      return fail(name, `\`go env GOPROXY\` fails in ${imageRef}: ${lastLine(env.stderr || env.stdout)}`, 'pass a golang image with --go-image');
    }
    const proxy = `GOPROXY=${env.stdout.trim()}`;
    const answer = await container.exec(['timeout', String(PROXY_WAIT_SECONDS), 'go', 'list', '-m', '-json', PROBE_MODULE]);
    const version = answer.exitCode === 0 ? moduleVersion(answer.stdout) : undefined;
    if (version !== undefined) return ok(name, `${proxy} answers a build container: ${PROBE_MODULE} is ${version}`);
    const why = answer.exitCode === 124 ? `no answer within ${PROXY_WAIT_SECONDS} s` : lastLine(answer.stderr || answer.stdout);
    return warn(
      name,
      `${proxy} does not answer a build container (${why})`,
      "builds that download modules will fail: set GOPROXY (GOPRIVATE, GONOPROXY for private modules) to a proxy the engine's containers reach; modules already in the cache volume, or vendored, need none",
    );
  } finally {
    signal.removeEventListener('abort', remove);
    await container.remove();
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() || 'no output';
}

function moduleVersion(json: string): string | undefined {
  try {
    const version = (JSON.parse(json) as { Version?: unknown }).Version;
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

async function goCachesCheck(engine: Engine): Promise<Check> {
  let sizes: Map<string, number | undefined>;
  try {
    sizes = new Map((await engine.listVolumes({ usage: true })).map((v) => [v.name, v.sizeBytes]));
  } catch (err) {
    if (err instanceof D7yError) throw err;
    return warn('go-caches', `the engine does not tell the volumes' sizes: ${engineMessage(err)}`, '`docker system df -v` lists them');
  }
  const parts = CACHE_VOLUMES.map((v) => {
    if (!sizes.has(v.name)) return `${v.name} absent (the first build creates it)`;
    const size = sizes.get(v.name);
    return `${v.name} ${size === undefined ? 'size unknown' : formatBytes(size)}`;
  });
  return ok('go-caches', parts.join(', '));
}

function buildTimeCheck(spec: DoctorSpec, now: number): Check {
  const name = 'build-time';
  const epoch = spec.sourceDateEpoch;
  if (epoch instanceof UsageError) return fail(name, epoch.message, epoch.hint);
  if (epoch === undefined) return ok(name, "SOURCE_DATE_EPOCH is unset: builds stamp the Dragonfly commit's date");
  const stamp = buildTimestamp(epoch);
  if (epoch * 1000 > now) {
    return warn(
      name,
      `SOURCE_DATE_EPOCH=${epoch} (${stamp}) is in the future`,
      'set SOURCE_DATE_EPOCH to the time of the last commit, e.g. $(git log -1 --format=%ct), or unset it',
    );
  }
  return ok(name, `SOURCE_DATE_EPOCH=${epoch}: builds stamp ${stamp}`);
}

/** This machine's clock against the engine's, as it answered the ping at localMs. */
function clockCheck(info: EngineInfo, localMs: number): Check {
  const name = 'clock';
  const engineMs = info.systemTime === undefined ? NaN : Date.parse(info.systemTime);
  if (Number.isNaN(engineMs)) return ok(name, 'the engine does not report its time: not compared');
  const behind = engineMs - localMs;
  if (behind > CLOCK_SKEW_MS) {
    return warn(
      name,
      `this machine's clock is ${seconds(behind)} behind the engine's`,
      "sync this machine's clock (e.g. timedatectl set-ntp true): builds stamp main.buildTime from it, while files in the build container get the engine's time",
    );
  }
  // Ahead of the engine is harmless: what is stamped is not later than the container's files.
  if (-behind > CLOCK_SKEW_MS) return ok(name, `this machine's clock is ${seconds(-behind)} ahead of the engine's`);
  return ok(name, `this machine's clock is within a minute of the engine's (${behind >= 0 ? 'behind' : 'ahead'} by ${seconds(Math.abs(behind))})`);
}

/** Runs every check; what needs the engine only when it answers, what needs a Go image only when there is one. */
export async function doctor(spec: DoctorSpec, options: DoctorOptions = {}): Promise<DoctorResult> {
  const signal = options.signal ?? new AbortController().signal;
  const log = options.log ?? nullLogger;
  const freeBytes = options.freeBytes ?? statfsFree;
  const deadline = Date.now() + DOCTOR_TIMEOUTS.total;
  const within = (name: string, ms: number, slowFix: string, run: (signal: AbortSignal) => Promise<Check>) =>
    bounded(name, Math.max(0, Math.min(ms, deadline - Date.now())), signal, slowFix, run);
  const checkAgain = 'run d7y-build doctor again; if it stays slow, so will builds';

  // The engine answers within D7Y_PING_TIMEOUT, as for a build, and within doctor's total time.
  let engine: Engine | undefined;
  let info: EngineInfo | undefined;
  let answeredAt = 0;
  let engineFailure: D7yError | undefined;
  try {
    if (spec.pingTimeoutMs instanceof UsageError) throw spec.pingTimeoutMs;
    const client = options.engine ?? new DockerEngine(undefined, { pingTimeoutMs: Math.min(spec.pingTimeoutMs, DOCTOR_TIMEOUTS.total) });
    info = await client.ping(signal);
    answeredAt = Date.now();
    engine = client;
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    engineFailure = asD7yError(err);
  }
  const engineCheck = info !== undefined ? ok('engine', describeEngine(info)) : fail('engine', engineFailure!.message, engineFailure!.hint);

  const cacheDir = await within('cache-dir', DOCTOR_TIMEOUTS.check, "check that the cache directory's filesystem answers (a hung network mount?)", () =>
    cacheDirCheck(spec),
  );
  const cache = cacheDir.status === 'ok' && !(spec.cache instanceof UsageError) ? spec.cache : undefined;

  /** source, go-image and go-proxy, each needing the one before. */
  const goChecks = async (): Promise<Check[]> => {
    const checks: Check[] = [];
    const found: { goMod?: GoMod; at?: string } = {};
    const ref = spec.ref;
    if (ref !== undefined && cache === undefined) {
      checks.push(warn('source', `${ref} not resolved: the git mirror needs the cache directory`, 'fix the cache directory (see cache-dir)'));
    } else if (ref !== undefined && cache !== undefined) {
      checks.push(
        await within(
          'source',
          DOCTOR_TIMEOUTS.source,
          'a first clone of a large repository takes a while: run a build (or doctor) again when it is done, or pass --repo with a local clone',
          async (s) => {
            const mirror = new DragonflyMirror(spec.repo, { cacheDir: cache.dir, signal: s, warn: (m) => log.warn(m) });
            const { commit, shortSha, goMod } = await resolveDragonfly(mirror, ref);
            found.goMod = goMod;
            found.at = shortSha;
            return ok('source', `${ref} is ${commit.sha} in ${spec.repo}${commit.fetched ? '' : ' (from the mirror cache)'}`);
          },
        ),
      );
    }
    if (engine === undefined || (found.goMod === undefined && spec.goImage === undefined)) return checks;
    const client = engine;
    let image: { ref: string; info: ImageInfo } | undefined;
    checks.push(
      await within('go-image', DOCTOR_TIMEOUTS.check, checkAgain, async () => {
        const choice = chooseGoImage(found.goMod ?? {}, spec.goImage);
        if (choice === undefined)
          return fail('go-image', `go.mod at ${found.at} names no Go release to pick a Go image by`, 'pass --go-image, e.g. --go-image golang:1.23.5-bookworm');
        const present = await client.inspectImage(choice.image);
        if (present === undefined) {
          return warn(
            'go-image',
            `${choice.image} (${choice.reason}) is not on the engine: the first build pulls it`,
            `if the engine can't reach the registry: ${renderHint(missingGoImageHint(choice.release), 'cli')}`,
          );
        }
        image = { ref: choice.image, info: present };
        return ok('go-image', `${choice.image} (${choice.reason}) is on the engine`);
      }),
    );
    const run = image;
    if (run !== undefined) {
      checks.push(
        await within('go-proxy', DOCTOR_TIMEOUTS.proxy, 'the proxy or the engine is slow: builds that download modules will be slow too', (s) =>
          proxyCheck(client, run.info, run.ref, spec, s),
        ),
      );
    }
    return checks;
  };

  const [engineDisk, cacheDisk, go, goCaches] = await Promise.all([
    info === undefined ? undefined : within('engine-disk', DOCTOR_TIMEOUTS.check, checkAgain, () => engineDiskCheck(info, freeBytes)),
    cache === undefined
      ? undefined
      : within('cache-disk', DOCTOR_TIMEOUTS.check, checkAgain, async () =>
          spaceCheck(
            'cache-disk',
            await freeBytes(cache.dir),
            `in ${cache.dir}, where the git mirrors live`,
            'make room there, or set D7Y_CACHE_DIR to a directory on a disk with room',
          ),
        ),
    goChecks(),
    engine === undefined ? undefined : within('go-caches', DOCTOR_TIMEOUTS.check, checkAgain, () => goCachesCheck(engine)),
  ]);

  const checks = [
    engineCheck,
    engineDisk,
    cacheDir,
    cacheDisk,
    ...go,
    goCaches,
    buildTimeCheck(spec, Date.now()),
    info === undefined ? undefined : clockCheck(info, answeredAt),
  ].filter((c): c is Check => c !== undefined);
  const report = { ok: checks.every((c) => c.status !== 'fail'), checks };
  const exitCode = report.ok ? 0 : engineFailure !== undefined ? engineFailure.exitCode : DOCTOR_FOUND_A_PROBLEM;
  return { report, exitCode };
}

/** The report as a person reads it: `ok|warn|FAIL  name: finding`, and `  fix: …` under each that is not ok. */
export function formatDoctor(report: DoctorReport): string[] {
  return report.checks.flatMap((c) => [
    `${(c.status === 'fail' ? 'FAIL' : c.status).padEnd(6)}${c.name}: ${c.finding}`,
    ...(c.fix === undefined ? [] : [`  fix: ${c.fix}`]),
  ]);
}
