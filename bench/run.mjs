// Benchmark: d7y-build against the classic way of building a Dragonfly plugin and against the floor
// of what any tool can do, on one machine, in one run. Each pair is measured interleaved (A, B, then
// B, A on the next round), so drift of the machine hits both sides alike; medians, min and max.
//
//   node bench/run.mjs [--runs 3] [--plugins 5] [--repo <path> --commit <ref>] [--go-image <image>]
//                      [--only <case,…>] [--out bench/RESULTS.md] [--smoke]
//
// Cases:
//   classic   upstream's plugin-builder way: a fresh image (docker build --no-cache of a generated
//             Dockerfile FROM the Go image, the Dragonfly tree and the plugin copied in) that builds
//             dfget and the plugin with no cache; the image is removed after each run
//   ours cold d7y-build with no cache volumes, no builder image and a fresh D7Y_CACHE_DIR (the Go
//             image present): what a first build on a machine costs. Its first sample comes before
//             the untimed warm-up call, which then only adds to the caches that sample left
//   floor     `go build -buildmode=plugin` of the edited plugin alone in a running container whose
//             Go caches are warm: what no tool can beat; with the CPU time it used (floor CPU),
//             from which the least time N plugins in one call can take follows (N × it / CPUs)
//   ours warm d7y-build after a one-line edit of the plugin
//   imported  d7y-build on an engine whose cache volumes came from `d7y-build cache import` of an
//             export made after a warm build (no builder image, a fresh D7Y_CACHE_DIR, as ours cold)
//   N plugins in one call against N separate warm calls, `--help` against `node -e 0`, and the peak
//   RSS of d7y-build with a large file in the plugin directory (sent: --max-context raised).
//   A table of d7y-build's steps (from --json) shows where ours cold, ours warm, the N plugins in one
//   call and the imported case spend their time.
//
// --only runs just the named cases (classic, cold, floor, warm, one-call, separate, large, imported,
// help, node; the RSS rows come with warm and large, floor CPU with floor), e.g. --only classic,cold; the others are marked
// not run, and only what they need is set up.
//
// Needs the bundle (npm run build), a Docker engine (scripts/engine.sh start) and the Go image
// (scripts/go-image.sh 1.23.5). Without --repo it builds against the generated fixture Dragonfly.
// The cold case removes d7y-build's cache volumes and its builder image for the Go image on the
// engine's platform (found by its labels and recorded build args; the builder images of other Go
// images and for linux/arm64 stay): run it under the e2e lock.
// Exits 1 when any case fails; the table then says which.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/d7y-build.cjs');
const example = path.join(root, 'examples/d7yfs');
const DEFAULT_GO_IMAGE = 'd7y-build/golang:1.23.5-bookworm';
/** The platform every build of the bench is for: d7y-build's default (src/platform.ts). */
const BUILD_PLATFORM = 'linux/amd64';
/** The fixture's tag that has dfget. */
const FIXTURE_COMMIT = 'v2.1.0';
/** What the build container gets of the environment, as d7y-build passes it. */
const passedEnv = ['GOPROXY', 'GOPRIVATE', 'GONOPROXY', 'GONOSUMDB', 'GOSUMDB', 'GOINSECURE'].filter((k) => process.env[k] !== undefined);
const BENCH_LABEL = 'io.d7y-build-bench';
/** d7y-build's labels on its builder image: what it is, and the Go image it was built on (src/docker/labels.ts, src/session/image.ts). */
const LABEL_ROLE = 'io.d7y-build.role';
const LABEL_GO_IMAGE = 'io.d7y-build.go-image';
const MB = 1024 * 1024;

const usage = 'usage: node bench/run.mjs [--runs N] [--plugins N] [--repo <path> --commit <ref>] [--go-image <image>] [--only <case,…>] [--out FILE] [--smoke]';
let values;
try {
  ({ values } = parseArgs({
    options: {
      runs: { type: 'string' },
      plugins: { type: 'string' },
      repo: { type: 'string' },
      commit: { type: 'string' },
      'go-image': { type: 'string', default: DEFAULT_GO_IMAGE },
      only: { type: 'string' },
      out: { type: 'string', default: path.join(root, 'bench/RESULTS.md') },
      smoke: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  console.error(`${err.message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const count = (name, fallback) => {
  const n = Number(values[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} ${values[name]} is not a whole number of at least 1\n${usage}`);
    process.exit(2);
  }
  return n;
};
if (values.repo !== undefined && values.commit === undefined) {
  console.error(`--repo needs --commit: the ref of that checkout to build (one that has cmd/dfget)\n${usage}`);
  process.exit(2);
}
const smoke = values.smoke;
const runs = count('runs', smoke ? 1 : 3);
const pluginCount = count('plugins', smoke ? 2 : 5);
/** `--help` and `node -e 0` take milliseconds: more runs for a stable median. */
const startupRuns = smoke ? 3 : Math.max(20, runs);
/** The large file in the plugin directory: 200 MB, 20 MB for the smoke run. */
const largeBytes = (smoke ? 20 : 200) * MB;
const goImage = values['go-image'];
const outFile = path.resolve(values.out);
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const log = (line) => process.stderr.write(`bench: ${line}\n`);

/** The commands measure() started that have not ended: an interrupted bench stops them first. */
const running = new Set();

/** Runs a command to its end; its stdout, or an error carrying the end of its stderr. */
function sh(cmd, args, options = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MB, stdio: ['ignore', 'pipe', 'pipe'], ...options }).trim();
  } catch (err) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${tail(err.stderr || err.message)}`);
  }
}

const tail = (text, lines = 8) => String(text).trim().split('\n').slice(-lines).join('\n');

/** The high-water mark of a process's resident memory, in KiB, while it still runs. */
function vmHwm(pid) {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs a command, timing it from spawn to exit; with `rss`, also its peak RSS in KiB: from GNU time
 * when installed, else from polling /proc/<pid>/status (VmHWM only grows, so the last read is close).
 * A non-zero exit is an error with the end of the command's stderr.
 */
function measure(cmd, args, { env, rss = false } = {}) {
  return new Promise((resolve, reject) => {
    const timeFile = rss && gnuTime ? path.join(os.tmpdir(), `d7y-bench-time-${randomBytes(6).toString('hex')}`) : undefined;
    const [file, argv] = timeFile ? [gnuTime, ['-o', timeFile, '-f', '%M', cmd, ...args]] : [cmd, args];
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.on('close', () => running.delete(child));
    let peak = 0;
    const poll = rss && !timeFile ? setInterval(() => (peak = Math.max(peak, vmHwm(child.pid))), 5) : undefined;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (poll) clearInterval(poll);
      let rssKb;
      if (timeFile) {
        rssKb = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop());
        rmSync(timeFile, { force: true });
      } else if (rss) {
        rssKb = peak;
      }
      if (code !== 0) reject(new Error(`${[cmd, ...args].join(' ')} exited ${code ?? signal}: ${tail(stderr)}`));
      else resolve({ ms, rssKb, stdout, stderr });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The fixture generator of the test environment. */
const FIXTURE_SCRIPT = path.join(root, 'test/env/fixture-dragonfly.sh');

// ---------------------------------------------------------------------------------------------
// Cases: a row each, filled with samples (ms or KiB) or marked failed.

class Case {
  constructor(name, what, unit) {
    Object.assign(this, { name, what, unit, samples: [], error: undefined });
  }
  /** Runs one sample unless the case already failed; a failure marks the case and is logged. */
  async sample(fn) {
    if (this.error !== undefined) return;
    try {
      this.samples.push(await fn());
    } catch (err) {
      this.error = err.message;
      log(`${this.name} failed: ${err.message}`);
    }
  }
}

const cases = {
  classic: new Case(
    'classic',
    'docker build --no-cache of a fresh image FROM the Go image: the tree and the plugin copied in, dfget (-ldflags stamped) and the plugin built with no cache; image removed after',
    's',
  ),
  cold: new Case('ours cold', 'd7y-build with no cache volumes, no builder image and a fresh D7Y_CACHE_DIR; the Go image present', 's'),
  floor: new Case('floor', '`go build -buildmode=plugin` of the edited plugin alone, docker exec in a running container with warm GOCACHE/GOMODCACHE', 's'),
  warm: new Case('ours warm', 'd7y-build after a one-line plugin edit (host, loader check, validation, install included)', 's'),
  oneCall: new Case('plugins in one call', `${pluginCount} copies of examples/d7yfs, each edited, in one d7y-build call`, 's'),
  separate: new Case(
    'plugins in separate calls',
    `the same ${pluginCount} plugins, each edited, in ${pluginCount} warm d7y-build calls one after another`,
    's',
  ),
  large: new Case(
    'ours warm, large context',
    `d7y-build after a one-line edit, a ${largeBytes / MB} MB file in the plugin directory (sent: --max-context raised)`,
    's',
  ),
  imported: new Case(
    'imported cache on a fresh engine',
    "d7y-build with the cache volumes of `cache import` (an export after a warm build) and nothing else of ours cold's: no builder image, a fresh D7Y_CACHE_DIR; the import not timed",
    's',
  ),
  help: new Case('--help', '`node dist/d7y-build.cjs --help`', 'ms'),
  node: new Case('node -e 0', '`node -e 0`: the start-up of node itself', 'ms'),
  rssWarm: new Case('peak RSS, warm', 'd7y-build process, ours warm', 'MB'),
  rssLarge: new Case('peak RSS, large context', `d7y-build process, ours warm with the ${largeBytes / MB} MB file`, 'MB'),
  floorCpu: new Case(
    'floor CPU',
    "user + system CPU time of the floor's compile (bash's time): N plugins compiling at once need N times it, over the cores",
    's',
  ),
};
/** Not a failure: cases --only leaves out keep their row, so the table keeps its shape. */
const notApplicable = new Set();

/** --only: the cases by their names on the command line; the RSS and CPU rows follow the runs they come from. */
const selectable = {
  classic: cases.classic,
  cold: cases.cold,
  floor: cases.floor,
  warm: cases.warm,
  'one-call': cases.oneCall,
  separate: cases.separate,
  large: cases.large,
  imported: cases.imported,
  help: cases.help,
  node: cases.node,
};
if (values.only !== undefined) {
  const names = values.only
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  const unknown = names.filter((n) => !(n in selectable));
  if (names.length === 0 || unknown.length > 0) {
    console.error(
      `--only ${values.only}: ${unknown.length > 0 ? `no case ${unknown.join(', ')}` : 'no case named'}; the cases: ${Object.keys(selectable).join(', ')}\n${usage}`,
    );
    process.exit(2);
  }
  for (const [name, c] of Object.entries(selectable)) {
    if (names.includes(name)) continue;
    c.error = 'not run (--only)';
    notApplicable.add(c);
  }
  for (const [rss, from] of [
    [cases.rssWarm, cases.warm],
    [cases.rssLarge, cases.large],
    [cases.floorCpu, cases.floor],
  ]) {
    if (notApplicable.has(from)) {
      rss.error = from.error;
      notApplicable.add(rss);
    }
  }
}
/** Whether a case is to run. */
const selected = (c) => !notApplicable.has(c);

/** Where the time of ours cold, ours warm, the one call of N plugins and the imported case goes: step name → durations (ms), from --json. */
const steps = { cold: new Map(), warm: new Map(), oneCall: new Map(), imported: new Map() };
function recordSteps(into, outcome) {
  for (const step of outcome.steps) into.set(step.name, [...(into.get(step.name) ?? []), step.durationMs]);
}

// ---------------------------------------------------------------------------------------------
// The setup every case shares.

const work = mkdtempSync(path.join(os.tmpdir(), 'd7y-bench-'));
const cleanups = [];
let serial = 0;
const scratch = (prefix) => {
  const dir = path.join(work, `${prefix}-${serial++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

/** A plugin in the work dir: a copy of examples/d7yfs under its own name and scheme. */
function copyPlugin(parent, name) {
  const dir = path.join(parent, name);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(example)) {
    writeFileSync(path.join(dir, f.replaceAll('d7yfs', name)), readFileSync(path.join(example, f), 'utf8').replaceAll('d7yfs', name));
  }
  return dir;
}

/** A one-line edit: the plugin's `benchEdit` constant takes a new value, so the plugin really recompiles. */
function editPlugin(dir) {
  const file = path.join(
    dir,
    readdirSync(dir)
      .filter((f) => f.endsWith('.go'))
      .sort()[0],
  );
  const source = readFileSync(file, 'utf8').replace(/\nconst benchEdit = \d+\n$/, '\n');
  writeFileSync(file, `${source}\nconst benchEdit = ${serial++}\n`);
  return file;
}

let repo;
let commit;
let sha;
const warmCache = path.join(work, 'cache');

/** One d7y-build call against the bench's repository and Go image; its --json outcome. */
async function d7yBuild(pluginDirs, { cacheDir = warmCache, extra = [], rss = false } = {}) {
  const dir = scratch('run');
  try {
    const result = await measure(
      process.execPath,
      [
        cli,
        '--commit',
        commit,
        '--repo',
        repo,
        '--go-image',
        goImage,
        '--json',
        '--out',
        path.join(dir, 'out'),
        '--plugins-dir',
        path.join(dir, 'plugins'),
        ...extra,
        ...pluginDirs,
      ],
      { env: { D7Y_CACHE_DIR: cacheDir, NO_COLOR: '1' }, rss },
    );
    return { ...result, outcome: JSON.parse(result.stdout) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Machine facts for RESULTS.md.

function machine() {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const engine = JSON.parse(sh('docker', ['info', '--format', '{{json .}}']));
  return {
    cpu,
    cores: os.cpus().length,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    docker: `${sh('docker', ['version', '--format', '{{.Server.Version}}'])} (engine: ${engine.NCPU} CPUs, ${(engine.MemTotal / 1024 ** 3).toFixed(1)} GiB, storage ${engine.Driver})`,
  };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  sh('docker', ['image', 'inspect', goImage]);
  if (values.repo === undefined) {
    repo = path.join(work, 'dragonfly');
    log(`generating the fixture Dragonfly in ${repo}`);
    sh('bash', [FIXTURE_SCRIPT, repo]);
    commit = FIXTURE_COMMIT;
  } else {
    repo = path.resolve(values.repo);
    commit = values.commit;
  }
  sha = sh('git', ['-C', repo, 'rev-parse', `${commit}^{commit}`]);
  const short = sha.slice(0, 7);
  const goVersion = sh('docker', ['run', '--rm', goImage, 'go', 'version']).replace(/^go version /, '');
  const goLayers = JSON.parse(sh('docker', ['image', 'inspect', '--format', '{{json .RootFS.Layers}}', goImage]));
  const buildTime = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const pluginLdflags = `-X main.buildCommit=${short} -X main.buildTime=${buildTime}`;
  const goEnv = ['-e', 'GOTOOLCHAIN=local', '-e', 'CGO_ENABLED=1', '-e', 'GOFLAGS=-buildvcs=false', ...passedEnv.flatMap((k) => ['-e', k])];

  // classic: the build context, made once (the classic way builds from a checkout already on disk).
  const classicContext = path.join(work, 'classic');
  mkdirSync(path.join(classicContext, 'dragonfly'), { recursive: true });
  sh('bash', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', '_', repo, sha, path.join(classicContext, 'dragonfly')]);
  cpSync(example, path.join(classicContext, 'plugin'), { recursive: true });
  const pluginFiles = readdirSync(example)
    .filter((f) => f.endsWith('.go'))
    .map((f) => `/src/plugin/${f}`);
  const hostLdflags = [
    `-X d7y.io/dragonfly/v2/version.GitCommit=${short}`,
    `-X d7y.io/dragonfly/v2/version.BuildTime=${buildTime}`,
    '-X d7y.io/dragonfly/v2/version.Gotags=none',
    `-X 'd7y.io/dragonfly/v2/version.GoVersion=${goVersion}'`,
    '-X d7y.io/dragonfly/v2/version.Gogcflags=none',
  ].join(' ');
  writeFileSync(
    path.join(classicContext, 'Dockerfile'),
    [
      `FROM ${goImage}`,
      ...passedEnv.map((k) => `ARG ${k}`),
      'ENV GOTOOLCHAIN=local CGO_ENABLED=1 GOFLAGS=-buildvcs=false',
      'COPY dragonfly /src/dragonfly',
      'COPY plugin /src/plugin',
      'WORKDIR /src/dragonfly',
      `RUN ${JSON.stringify(['go', 'build', '-buildmode=default', '-trimpath', `-ldflags=${hostLdflags}`, '-o', '/opt/dragonfly/bin/dfget', './cmd/dfget'])}`,
      `RUN ${JSON.stringify(['go', 'build', '-buildmode=plugin', '-trimpath', `-ldflags=${pluginLdflags}`, '-o', '/opt/dragonfly/plugins/d7y-resource-plugin-d7yfs.so', ...pluginFiles])}`,
      '',
    ].join('\n'),
  );
  /**
   * The image of the first classic run stays until the floor container runs on it: the Go build
   * cache that build filled (as root, in the Go image's default GOCACHE) warms the floor's.
   */
  let floorBase;
  const classicRun = async () => {
    const tag = `d7y-build-bench/classic:${randomBytes(6).toString('hex')}`;
    let kept = false;
    try {
      const { ms } = await measure('docker', [
        'build',
        '--no-cache',
        '--pull=false',
        '--label',
        `${BENCH_LABEL}=classic`,
        ...passedEnv.flatMap((k) => ['--build-arg', k]),
        '-t',
        tag,
        classicContext,
      ]);
      if (selected(cases.floor) && floorBase === undefined) {
        floorBase = tag;
        kept = true;
        // Cleanups run last first: the floor container (pushed later) goes before its image.
        cleanups.push(() => sh('docker', ['image', 'rm', '-f', tag]));
      }
      return ms;
    } finally {
      if (!kept) sh('docker', ['image', 'rm', '-f', tag]);
    }
  };

  // floor: one running container, the tree and the plugin copied in, caches warmed by one untimed
  // build. It runs on the first classic image when there is one, whose Go build cache holds all the
  // plugin needs but the plugin itself (-trimpath: the packages' directories are not in the keys),
  // else on the Go image, and then that build compiles it all.
  const floorPlugin = copyPlugin(path.join(work, 'floor'), 'd7yfs');
  let floor;
  const floorBuild = () => {
    sh('docker', ['cp', floorPlugin, `${floor}:/work/`]);
    const files = readdirSync(floorPlugin)
      .filter((f) => f.endsWith('.go'))
      .map((f) => `/work/d7yfs/${f}`);
    // bash's time gives the CPU the compile used, as its last line of stderr: "<user> <system>".
    return measure('docker', [
      'exec',
      '-w',
      '/work/dragonfly',
      floor,
      'bash',
      '-c',
      'TIMEFORMAT="%3U %3S"; time go "$@"',
      'bash',
      'build',
      '-buildmode=plugin',
      '-trimpath',
      `-ldflags=${pluginLdflags}`,
      '-o',
      '/work/out/d7y-resource-plugin-d7yfs.so',
      ...files,
    ]);
  };
  const startFloor = async () => {
    floor = sh('docker', ['run', '-d', '--label', `${BENCH_LABEL}=floor`, ...goEnv, floorBase ?? goImage, 'sleep', 'infinity']);
    cleanups.push(() => sh('docker', ['rm', '-f', floor]));
    sh('docker', ['exec', floor, 'mkdir', '-p', '/work/dragonfly', '/work/out']);
    sh('bash', ['-c', 'git -C "$1" archive "$2" | docker cp - "$3:/work/dragonfly"', '_', repo, sha, floor]);
    log(`warming the floor container's Go caches (on ${floorBase === undefined ? goImage : 'the first classic image'})`);
    await floorBuild();
  };

  // ours: the plugins. The first cold sample comes before the untimed warm-up call, which then
  // only adds to the caches that sample left (the other plugins, the large context).
  const warmPlugin = copyPlugin(path.join(work, 'warm'), 'd7yfs');
  const many = Array.from({ length: pluginCount }, (_, i) => copyPlugin(path.join(work, 'many'), `benchfs${i + 1}`));
  const largePlugin = copyPlugin(path.join(work, 'large'), 'd7yfs');
  const largeFile = path.join(largePlugin, 'large.bin');
  writeFileSync(largeFile, '');
  truncateSync(largeFile, largeBytes);
  const largeArgs = ['--max-context', `${Math.ceil(largeBytes / MB) + 10}m`];
  /** The export the imported case starts from: the caches of the warm-up call. */
  const exported = path.join(work, 'export.tar');
  const warmUp = async () => {
    log("warming d7y-build's caches");
    const manyWanted = selected(cases.oneCall) || selected(cases.separate);
    await d7yBuild([warmPlugin, ...(manyWanted ? many : [])]);
    if (selected(cases.large)) await d7yBuild([largePlugin], { extra: largeArgs });
    // The builder image of the Go image and platform the bench builds with (d7y-build's default
    // platform), not every one the engine has: those of other Go images and the cross one are
    // gigabytes that the imported case never uses.
    if (selected(cases.imported)) {
      sh(process.execPath, [cli, 'cache', 'export', '--go-image', goImage, '--platform', BUILD_PLATFORM, exported], {
        env: { ...process.env, D7Y_CACHE_DIR: warmCache },
      });
    }
  };

  /**
   * The builder image d7y-build uses for the Go image on the engine's platform, as the engine has it
   * (none before a first build): its tags. Found, not built: a builder image labelled with the Go
   * image (GO_IMAGE_LABEL, src/session/image.ts), on the Go image's layers as they are now (its tag
   * derives from the Go image's id: one on an earlier image of that name is not used), and native,
   * which no label says, but the build args the classic builder records with the RUN step do: no
   * D7Y_CROSS_PACKAGES. The builder images of other Go images and the cross one for linux/arm64,
   * minutes to rebuild, are not among them.
   */
  const nativeBuilderTags = () => {
    const ids = sh('docker', ['image', 'ls', '-q', '--no-trunc', '--filter', `label=${LABEL_ROLE}=builder`, '--filter', `label=${LABEL_GO_IMAGE}=${goImage}`]);
    return [...new Set(ids.split('\n').filter(Boolean))].flatMap((id) => {
      const image = JSON.parse(sh('docker', ['image', 'inspect', '--format', '{{json .}}', id]));
      const onGoImage = goLayers.every((layer, i) => image.RootFS.Layers[i] === layer);
      const args = sh('docker', ['history', '--no-trunc', '--format', '{{.CreatedBy}}', id])
        .split('\n')
        .map((line) => /^\|\d+ (.*?) \/bin\/sh -c /.exec(line)?.[1])
        .find((recorded) => recorded?.includes('D7Y_CROSS_PACKAGES='));
      const native = args !== undefined && / D7Y_CROSS_PACKAGES=( |$)/.test(` ${args}`);
      return onGoImage && native ? image.RepoTags : [];
    });
  };
  /** An engine without d7y-build's cache volumes and its builder image for the Go image and this platform. */
  const forget = () => {
    const volumes = sh('docker', ['volume', 'ls', '-q', '--filter', 'label=io.d7y-build']).split('\n').filter(Boolean);
    if (volumes.length > 0) sh('docker', ['volume', 'rm', ...volumes]);
    const tags = nativeBuilderTags();
    if (tags.length > 0) sh('docker', ['image', 'rm', ...tags]);
  };
  const coldRun = async () => {
    forget();
    const cacheDir = scratch('cold-cache');
    try {
      const { ms, outcome } = await d7yBuild([warmPlugin], { cacheDir });
      // What forget() finds is what the build used, or later samples would not be cold.
      const found = nativeBuilderTags();
      if (found.length !== 1 || found[0] !== outcome.builderImage) {
        throw new Error(`the build used the builder image ${outcome.builderImage}, but the bench finds ${found.join(', ') || 'none'} for ${goImage}`);
      }
      recordSteps(steps.cold, outcome);
      return ms;
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  };
  const importedRun = async () => {
    forget();
    const cacheDir = scratch('imported-cache');
    try {
      sh(process.execPath, [cli, 'cache', 'import', exported], { env: { ...process.env, D7Y_CACHE_DIR: cacheDir } });
      const { ms, outcome } = await d7yBuild([warmPlugin], { cacheDir });
      if (!outcome.sourceTree.reused) throw new Error('the imported source tree was not used');
      recordSteps(steps.imported, outcome);
      return ms;
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  };
  const warmRun = async () => {
    editPlugin(warmPlugin);
    const { ms, rssKb, outcome } = await d7yBuild([warmPlugin], { rss: true });
    cases.rssWarm.samples.push(rssKb / 1024);
    recordSteps(steps.warm, outcome);
    return ms;
  };
  const floorRun = async () => {
    editPlugin(floorPlugin);
    const { ms, stderr } = await floorBuild();
    const [user, system] = stderr.trim().split('\n').pop().split(' ').map(Number);
    cases.floorCpu.samples.push((user + system) * 1000);
    return ms;
  };
  const oneCallRun = async () => {
    many.forEach(editPlugin);
    const { ms, outcome } = await d7yBuild(many);
    recordSteps(steps.oneCall, outcome);
    return ms;
  };
  const separateRun = async () => {
    many.forEach(editPlugin);
    let total = 0;
    for (const dir of many) total += (await d7yBuild([dir])).ms;
    return total;
  };
  const largeRun = async () => {
    editPlugin(largePlugin);
    const { ms, rssKb } = await d7yBuild([largePlugin], { extra: largeArgs, rss: true });
    cases.rssLarge.samples.push(rssKb / 1024);
    return ms;
  };

  /** A then B on even rounds, B then A on odd ones; a case --only leaves out is not run. */
  const pair = async (round, a, b) => {
    const order = round % 2 === 0 ? [a, b] : [b, a];
    for (const [c, fn] of order) if (selected(c)) await c.sample(fn);
  };
  for (let round = 0; round < runs; round++) {
    log(`round ${round + 1} of ${runs}`);
    await pair(round, [cases.classic, classicRun], [cases.cold, coldRun]);
    if (round === 0) {
      await warmUp();
      if (selected(cases.floor)) await startFloor();
    }
    await pair(round, [cases.floor, floorRun], [cases.warm, warmRun]);
    await pair(round, [cases.oneCall, oneCallRun], [cases.separate, separateRun]);
    if (selected(cases.large)) await cases.large.sample(largeRun);
    if (selected(cases.imported)) await cases.imported.sample(importedRun);
  }
  // The RSS and CPU rows fail with the runs they come from.
  cases.rssWarm.error ??= cases.warm.error;
  cases.rssLarge.error ??= cases.large.error;
  cases.floorCpu.error ??= cases.floor.error;

  if (selected(cases.help) || selected(cases.node)) log(`--help and node -e 0, ${startupRuns} runs each`);
  for (let round = 0; round < startupRuns && (selected(cases.help) || selected(cases.node)); round++) {
    await pair(
      round,
      [cases.help, async () => (await measure(process.execPath, [cli, '--help'])).ms],
      [cases.node, async () => (await measure(process.execPath, ['-e', '0'])).ms],
    );
  }

  return { goVersion, short };
}

// ---------------------------------------------------------------------------------------------
// The report.

/** Samples are in ms (seconds shown) or MB. */
const fmt = (value, unit) => (unit === 's' ? (value / 1000).toFixed(2) : value.toFixed(1));

function table() {
  const engineCpus = Number(sh('docker', ['info', '--format', '{{.NCPU}}']));
  const rows = Object.values(cases).map((c) => {
    if (c.error !== undefined) return `| ${c.name} | ${notApplicable.has(c) ? c.error : `failed: ${c.error.split('\n')[0]}`} | | | | | ${c.what} |`;
    const [med, min, max] = [median(c.samples), Math.min(...c.samples), Math.max(...c.samples)].map((v) => fmt(v, c.unit));
    return `| ${c.name} | ${med} | ${min} | ${max} | ${c.unit} | ${c.samples.length} | ${c.what} |`;
  });
  const ratio = (name, a, b) => {
    const value =
      a.error === undefined && b.error === undefined
        ? `${(median(a.samples) / median(b.samples)).toFixed(2)}`
        : notApplicable.has(a) || notApplicable.has(b)
          ? 'n/a (not run)'
          : 'n/a (a case failed)';
    return `| ${name} | ${value} |`;
  };
  return [
    '| case | median | min | max | unit | runs | what |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    '| ratio of medians | value |',
    '|---|---|',
    ratio('warm / floor', cases.warm, cases.floor),
    ratio('cold / classic', cases.cold, cases.classic),
    ratio('imported / cold', cases.imported, cases.cold),
    ratio('one call / separate calls', cases.oneCall, cases.separate),
    // The least one call can take: its plugins' compiles alone, each the floor's CPU time, on the engine's CPUs.
    `| one call's compile bound / separate calls | ${
      cases.floorCpu.error === undefined && cases.separate.error === undefined
        ? ((pluginCount * median(cases.floorCpu.samples)) / engineCpus / median(cases.separate.samples)).toFixed(2)
        : 'n/a'
    } |`,
    ratio('--help / node -e 0', cases.help, cases.node),
    '',
    `| step (median s) | ours cold | ours warm | ${cases.oneCall.name} | imported |`,
    '|---|---|---|---|---|',
    ...[...new Set(Object.values(steps).flatMap((m) => [...m.keys()]))].map((name) => {
      const cell = (m) => (m.has(name) ? fmt(median(m.get(name)), 's') : '');
      return `| ${name} | ${cell(steps.cold)} | ${cell(steps.warm)} | ${cell(steps.oneCall)} | ${cell(steps.imported)} |`;
    }),
  ].join('\n');
}

function report(facts, tableText) {
  const m = machine();
  const goImageId = sh('docker', ['image', 'inspect', '--format', '{{.Id}}', goImage]).slice(7, 19);
  return [
    '# d7y-build benchmark',
    '',
    `Written by \`node bench/run.mjs${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}: ` +
      `${runs} interleaved run${runs === 1 ? '' : 's'} per case (${startupRuns} for the start-up pair), ` +
      `${pluginCount} plugins for the N-plugin pair, wall time from spawn to exit.`,
    '',
    tableText,
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores`,
    `- memory: ${m.memory}`,
    `- OS: ${m.kernel}, Node ${m.node}`,
    `- Docker: ${m.docker}`,
    `- Go image: ${goImage} (${goImageId}), ${facts.goVersion}`,
    `- Dragonfly: ${values.repo === undefined ? `the generated fixture (${path.relative(root, FIXTURE_SCRIPT)})` : repo} at ${commit} (${sha})`,
    `- peak RSS from ${gnuTime ? 'GNU time (/usr/bin/time)' : 'VmHWM in /proc/<pid>/status, polled'}`,
    '',
  ].join('\n');
}

/** Everything the bench made, gone: its containers and images (by label and name), its work directory. */
function cleanUp() {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch (err) {
      log(`cleanup: ${err.message}`);
    }
  }
  cleanups.length = 0;
  rmSync(work, { recursive: true, force: true });
}

// Interrupted: the running commands are stopped as a terminal would (the docker CLI then cancels its
// build, whose container the engine would otherwise finish alone), then what the bench made goes.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
]) {
  process.once(signal, () => {
    log(`${signal}: stopping, then cleaning up`);
    const ended = [...running].map((child) => new Promise((resolve) => child.once('close', resolve)));
    for (const child of running) child.kill('SIGINT');
    void Promise.all(ended).then(() => {
      cleanUp();
      for (const kind of [
        ['ps', '-aq'],
        ['images', '-q'],
      ]) {
        const ids = sh('docker', [...kind, '--filter', `label=${BENCH_LABEL}`])
          .split('\n')
          .filter(Boolean);
        if (ids.length > 0) sh('docker', [kind[0] === 'ps' ? 'rm' : 'rmi', '-f', ...ids]);
      }
      process.exit(code);
    });
  });
}

let facts;
let failed = false;
try {
  facts = await main();
} catch (err) {
  log(`setup failed: ${err.message}`);
  failed = true;
} finally {
  cleanUp();
}
if (!failed) {
  const text = table();
  console.log(text);
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, report(facts, text));
  log(`wrote ${outFile}`);
  failed = Object.values(cases).some((c) => c.error !== undefined && !notApplicable.has(c));
}
process.exit(failed ? 1 : 0);
