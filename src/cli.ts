/**
 * The command line: commander wiring only. Arguments and environment become an Invocation, the
 * command and its spec (parseCommandLine, through config.ts), the command runs, and
 * this file alone writes the result to stdout and the one error message to stderr, and picks the
 * exit code. Everything it writes, logs included, leaves through one mask (secret values, URL
 * credentials) and with its control characters escaped. SIGINT and SIGTERM abort the run; its
 * cleanup runs before the process exits.
 * Each command's code is imported when the command runs: `verify` never loads Docker's client.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Argument, Command, CommanderError, Option } from 'commander';
import { RunFailure } from './session/runner';
import {
  DEFAULT_LOAD_TIMEOUT,
  DEFAULT_OUT_DIR,
  DEFAULT_PING_TIMEOUT,
  resolveApiSpec,
  resolveCacheSpec,
  resolveDoctorSpec,
  resolveConfigSpec,
  resolveInitSpec,
  resolveInspectSpec,
  resolveInstallSpec,
  resolvePruneSpec,
  resolveVerifySpec,
  type ApiFlags,
  type ApiSpec,
  type BuildFlags,
  type BuildSpec,
  type CacheAction,
  type CacheFlags,
  type CacheSpec,
  type DoctorFlags,
  type DoctorSpec,
  type ConfigInputs,
  type ConfigSpec,
  type InitFlags,
  type InitSpec,
  type InspectSpec,
  type InstallFlags,
  type InstallSpec,
  type PruneFlags,
  type PruneSpec,
  type VerifySpec,
} from './config';
import { buildOptions, option } from './cli-options';
import { configInputs } from './config-files';
import { completionScript, SHELLS, type CommandShape, type Shell } from './completion';
import type { Engine } from './docker/engine';
import type { RegistryAuth } from './docker/registry-auth';
import { asD7yError, InterruptedError, MatrixPartlyFailedError, UsageError, type D7yError } from './errors';
import { escapeControl, type Logger } from './log';
import { failureOutcome, formatError, jsonLine, successOutcome } from './outcome';
import { hostFor, PLUGIN_FILE_PATTERN, pluginFileName } from './plugin';
import { createProgress } from './progress';
import { eventLogger, renderEvent } from './events';
import { readPluginMeta } from './plugin-meta';
import {
  CI_FORMATS,
  resolveBuildPlan,
  resolveCiCells,
  type CiFormat,
  type CiMatrixFlags,
  type CiMatrixSpec,
  type MatrixFlags,
  type MatrixSpec,
} from './matrix/spec';
import { knownSecrets, maskSecrets } from './secrets';
import { VERSION } from './version';
import { TARGET_NAMES } from './platform';

interface OutputFlags {
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
}

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  signal: AbortSignal;
  /** The engine the commands use; absent, one from DOCKER_HOST and friends, loaded when a command needs it. */
  engine?: Engine;
}

/** What the command line asks for: a command, its spec (flags and environment through config.ts) and the output flags. */
export type Invocation = { output: OutputFlags } & (
  | { command: 'build'; spec: BuildSpec; watch: boolean }
  | { command: 'build-matrix'; spec: MatrixSpec }
  | { command: 'matrix'; spec: CiMatrixSpec }
  | { command: 'install'; spec: InstallSpec }
  | { command: 'verify'; spec: VerifySpec }
  | { command: 'inspect'; spec: InspectSpec }
  | { command: 'inspect-api'; spec: ApiSpec }
  | { command: 'init'; spec: InitSpec }
  | { command: 'prune'; spec: PruneSpec }
  | { command: 'doctor'; spec: DoctorSpec }
  | { command: 'config'; spec: ConfigSpec }
  | { command: 'completion'; spec: { shell: Shell; tree: CommandShape } }
  | { command: 'cache'; spec: CacheSpec }
);

/** What a command hands back to main: the human stdout lines, the --json result, the exit code. */
interface Outcome {
  lines: string[];
  result: object;
  /** Non-zero for a verdict that is not a failure of d7y-build (verify: will not load). */
  exitCode?: number;
  container?: string;
  /** Lines written as they are (a completion script), not escaped. */
  raw?: boolean;
}
/** What a command's run gets: the logger, and a way to have secret values masked in all output. */
interface RunContext {
  log: Logger;
  redact(values: string[]): void;
  /** Masks the secret values known so far: for what a command writes as it runs (a watch's results). */
  mask(text: string): string;
}

const EXAMPLE_OUT = `./${DEFAULT_OUT_DIR}`;
const ENV_HELP = `
Settings: each option is taken from its flag, else its variable (--go-image: D7Y_GO_IMAGE), else the
plugin directory's d7y-plugin.yaml, else the config file (--config, D7Y_CONFIG, else
$XDG_CONFIG_HOME/d7y-build/config.yaml), else its default; d7y-build config shows the result.

Environment: SOURCE_DATE_EPOCH fixes main.buildTime (default: the Dragonfly commit's committer date);
D7Y_NO_CACHE=1 is --no-cache; DOCKER_HOST, DOCKER_CONTEXT or the current Docker context picks the engine, which must answer
within D7Y_PING_TIMEOUT (default ${DEFAULT_PING_TIMEOUT}); loading the plugins may take D7Y_LOAD_TIMEOUT (default
${DEFAULT_LOAD_TIMEOUT}); D7Y_CACHE_DIR moves the git mirror cache; GOPROXY,
GOPRIVATE, GONOPROXY, GONOSUMDB, GOSUMDB and GOINSECURE reach the build container; GIT_AUTH_TOKEN
is sent, at run time only, to the hosts GOPRIVATE, GONOPROXY and GONOSUMDB name.

Examples:
  d7y-build --commit v2.1.66 --plugins-dir ./plugins ./d7yfs
  d7y-build --commit v2.1.66,v2.3.4 ./d7yfs    (a matrix: into ${EXAMPLE_OUT}/<ref>/linux-amd64/ each)
  d7y-build install --host ${EXAMPLE_OUT}/bin/${hostFor('resource')} ${EXAMPLE_OUT}/plugins/${pluginFileName('resource', 'd7yfs')}`;

type ParseIo = Pick<CliIo, 'stdout' | 'stderr' | 'env' | 'cwd'> & {
  /** Takes secret values found in config files (credentials in a repo URL), to mask them in all output. */
  redact?: (values: string[]) => void;
};

/** The options given on the command line: commander's defaults are for --help, config.ts applies them after the variables and files. */
function givenFlags<T>(cmd: Command): T {
  return Object.fromEntries(Object.entries(cmd.opts()).filter(([key]) => cmd.getOptionValueSource(key) !== 'default')) as T;
}

/** The config files a command reads, each one's URL credentials handed to redact as it is read. */
function configFiles(flags: { config?: string }, io: ParseIo): ConfigInputs {
  return configInputs(flags.config, io.env, io.cwd, io.redact);
}

/** The commands, their options and arguments; each action resolves its spec and hands the invocation to found. */
function program(io: ParseIo, found: (invocation: Invocation) => void): Command {
  const root = new Command('d7y-build')
    .description('Build Dragonfly plugins together with the Dragonfly host at one commit, in one container, and prove they load.')
    .argument('<plugin-dir...>', 'plugin source directories (package main, exporting DragonflyPluginInit)');
  for (const o of buildOptions()) root.addOption(o);
  root
    .addOption(new Option('--watch', 'after the build, rebuild the plugins in the same container whenever their files change, until Ctrl-C'))
    .addOption(option.matrix())
    .addOption(new Option('--fail-fast', 'in a matrix, stop at the first failed cell; the cells after it are skipped'))
    .addOption(option.json())
    .addOption(option.verbose())
    .addOption(option.quiet())
    .version(VERSION, '-V, --version')
    .addHelpText('after', ENV_HELP)
    // Options after a subcommand's name are that subcommand's: both have --plugins-dir and --json.
    .enablePositionalOptions()
    // `d7y-build help <command>`, although the root command takes arguments of its own.
    .helpCommand(true)
    .action((dirs: string[], _flags: unknown, cmd: Command) => {
      const flags = givenFlags<BuildFlags & MatrixFlags & OutputFlags & { watch?: boolean }>(cmd);
      if (flags.watch && flags.json) {
        throw new UsageError('--watch and --json do not go together', {
          hint: '--watch runs until Ctrl-C and reports each rebuild as a line; for one JSON outcome, build once without --watch',
        });
      }
      const plan = resolveBuildPlan(dirs, flags, io.env, io.cwd, new Date(), readPluginMeta, configFiles(flags, io));
      if ('matrix' in plan) {
        if (flags.watch) {
          throw new UsageError(`--watch watches one build, but the matrix has ${plan.matrix.cells.length} cells`, {
            hint: 'watch one commit at a time: d7y-build --watch --commit <ref>',
          });
        }
        found({ command: 'build-matrix', spec: plan.matrix, output: flags });
        return;
      }
      const { spec } = plan;
      if (flags.watch && spec.image !== undefined) {
        throw new UsageError('--watch and --image do not go together', {
          hint: 'a watch rebuilds the plugins on every save; build the runtime image once, without --watch, when the plugin is ready',
        });
      }
      found({ command: 'build', spec, watch: flags.watch ?? false, output: flags });
    });

  root
    .command('install')
    .description('install prebuilt plugins into the plugins directory, after proving that --host loads them')
    .argument('<plugin.so...>', `plugin files, named ${PLUGIN_FILE_PATTERN}`)
    .addOption(option.host())
    .addOption(option.pluginsDir())
    .addOption(option.goImage())
    .addOption(option.config())
    .addOption(option.json())
    .addOption(option.keep())
    .addOption(option.verbose())
    .addOption(option.quiet())
    .action((files: string[], flags: InstallFlags & OutputFlags) => {
      found({ command: 'install', spec: resolveInstallSpec(files, flags, io.env, io.cwd, configFiles(flags, io)), output: flags });
    });

  root
    .command('verify')
    .description(
      'say, from the files alone, whether the plugins will load into --host, and why not; with --provenance, first whether the files are the ones a provenance.intoto.json names (exit 0: they load, 11: they will not, 12: cannot tell, 19: not the files the provenance names)',
    )
    .argument('[plugin.so...]', "plugin files, considered in the order Dragonfly loads them (by file name); with --provenance, or a build's --out directory")
    .addOption(option.host())
    .addOption(
      new Option(
        '--provenance [file]',
        "check the files against a build's provenance.intoto.json (and the sbom.cdx.json beside it) before the load verdict (default: the one in the --out given, or beside --host's bin/)",
      ),
    )
    .addOption(option.json())
    .action((files: string[], flags: { host?: string; provenance?: string | boolean } & OutputFlags, cmd: Command) => {
      // Without a provenance to name them, the host and the plugins must be given.
      if (flags.provenance === undefined && flags.host === undefined) {
        cmd.error("error: required option '--host <binary>' not specified", { code: 'commander.missingMandatoryOptionValue' });
      }
      if (flags.provenance === undefined && files.length === 0)
        cmd.error("error: missing required argument 'plugin.so'", { code: 'commander.missingArgument' });
      found({ command: 'verify', spec: resolveVerifySpec(files, flags, io.cwd), output: flags });
    });

  root
    .command('inspect')
    .description('print what a Go binary records: Go version, modules, build settings, stamps, package hashes')
    .argument('<file>', 'a host binary or a plugin .so')
    .addOption(option.json())
    .action((file: string, flags: OutputFlags) => {
      found({ command: 'inspect', spec: resolveInspectSpec(file, io.cwd), output: flags });
    });

  /** inspect-api and init: the plugin type, the commit and where to read it, and the output flags. */
  const apiCommand = (name: string, description: string) =>
    root
      .command(name)
      .description(description)
      .addOption(option.type())
      .addOption(option.commit())
      .addOption(option.repo())
      .addOption(option.goImage())
      .addOption(option.config())
      .addOption(option.json())
      .addOption(option.verbose())
      .addOption(option.quiet());

  apiCommand(
    'inspect-api',
    'print the interface a plugin of --type must implement at --commit: loader, interface, methods with their doc comments, metadata',
  ).action((flags: ApiFlags & OutputFlags) => {
    found({ command: 'inspect-api', spec: resolveApiSpec(flags, io.env, io.cwd, configFiles(flags, io)), output: flags });
  });

  apiCommand('init', 'write a plugin scaffold into a new or empty <dir> that implements the interface of --type as it is at --commit')
    .argument('<dir>', 'the directory to create (new or empty)')
    .addOption(option.name())
    .action((dir: string, flags: InitFlags & OutputFlags) => {
      found({ command: 'init', spec: resolveInitSpec(dir, flags, io.env, io.cwd, configFiles(flags, io)), output: flags });
    });

  root
    .command('prune')
    .description('remove containers and temp files that killed runs left behind, and half-written files in --plugins-dir and --out; running builds are spared')
    .option('--all', "also remove containers of runs that still run, or that other hosts' runs own")
    .addOption(option.pluginsDir())
    .addOption(option.out())
    .addOption(option.config())
    .addOption(option.json())
    .action((flags: PruneFlags & OutputFlags) => {
      found({ command: 'prune', spec: resolvePruneSpec(flags, io.env, io.cwd, configFiles(flags, io)), output: flags });
    });

  const cache = root
    .command('cache')
    .description('list, prune, export and import what d7y-build keeps between builds: Go caches and source trees on the engine, git mirrors here')
    .usage('ls|prune|export|import [options]')
    .argument('[subcommand]')
    .action((name: string | undefined) => {
      throw new UsageError(name === undefined ? 'cache needs a subcommand' : `cache has no subcommand ${JSON.stringify(name)}`, {
        hint: 'run d7y-build cache ls, prune, export or import (d7y-build help cache says more)',
      });
    });
  const cacheAction = (action: CacheAction['action'], description: string) => cache.command(action).description(description).addOption(option.json());
  const foundCache = (action: CacheAction['action'], file: string | undefined, flags: CacheFlags & OutputFlags) => {
    found({ command: 'cache', spec: resolveCacheSpec(action, file, flags, io.env, io.cwd), output: flags });
  };
  cacheAction('ls', 'list the cache volumes with their size and last use, and the git mirrors').action((flags: OutputFlags) =>
    foundCache('ls', undefined, flags),
  );
  cacheAction('prune', 'remove the source-tree volumes and what killed runs left in the cache directory; volumes in use are spared')
    .option('--max-size <size>', 'instead, remove the least recently used source trees (then the other caches) until the volumes hold at most this, e.g. 10g')
    .option('--all', 'remove every cache volume that no container uses, Go caches too')
    .action((flags: CacheFlags & OutputFlags) => foundCache('prune', undefined, flags));
  cacheAction('export', 'write the cache volumes to a file (<file>.tar) or a directory of tars, for `cache import` on another engine')
    .argument('<dir|file.tar>', 'a directory, or a file name ending in .tar')
    .option('--go-image <image>', 'of the builder images, only those on this Go image (default: every one; the volumes go whole)')
    .option(
      '--platform <os/arch>',
      `of the builder images, only those for these platforms, one of ${TARGET_NAMES.join(', ')} or a comma list (default: every one)`,
    )
    .action((target: string, flags: CacheFlags & OutputFlags) => foundCache('export', target, flags));
  cacheAction('import', 'create the cache volumes an export holds, where the engine has none of that name')
    .argument('<dir|file.tar>', 'what `cache export` wrote')
    .action((source: string, flags: OutputFlags) => foundCache('import', source, flags));

  root
    .command('matrix')
    .description("print a matrix's cells (--commit a,b or --matrix <file>) for a CI system's own matrix: each CI job then builds one cell")
    .argument('[plugin-dir...]', 'plugin directories, named in each cell')
    .addOption(new Option('--format <format>', 'the CI system').choices(CI_FORMATS).makeOptionMandatory())
    .addOption(option.commit())
    .addOption(option.platform())
    .addOption(option.matrix())
    .addOption(option.out())
    .addOption(option.config())
    .action((dirs: string[], flags: CiMatrixFlags & { format: CiFormat }) => {
      found({ command: 'matrix', spec: { format: flags.format, cells: resolveCiCells(dirs, flags, io.env, io.cwd, configFiles(flags, io)) }, output: {} });
    });

  root
    .command('doctor')
    .description(
      'check whether a build can succeed here: the engine, disk space, the cache, the Go image and module proxy, the clocks (exit 0: no check failed)',
    )
    .addOption(option.commit())
    .addOption(option.repo())
    .addOption(option.goImage())
    .addOption(option.json())
    .addOption(option.quiet())
    .action((flags: DoctorFlags & OutputFlags) => {
      found({ command: 'doctor', spec: resolveDoctorSpec(flags, io.env, io.cwd), output: flags });
    });
  const config = root
    .command('config')
    .description('print the settings a build of the plugin directories would take, and where each comes from: flag, variable, config file or default')
    .argument('[plugin-dir...]', 'plugin directories, whose d7y-plugin.yaml counts');
  for (const o of buildOptions()) config.addOption(o);
  config.addOption(option.json()).action((dirs: string[], _flags: unknown, cmd: Command) => {
    const flags = givenFlags<BuildFlags & OutputFlags>(cmd);
    found({ command: 'config', spec: resolveConfigSpec(dirs, flags, io.env, io.cwd, readPluginMeta, configFiles(flags, io)), output: flags });
  });

  root
    .command('completion')
    .description('print the shell completion script for bash, zsh or fish, e.g. source <(d7y-build completion bash)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action((shell: Shell) => {
      found({ command: 'completion', spec: { shell, tree: shapeOf(root) }, output: {} });
    });

  const all = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(all)];
  for (const cmd of all(root)) {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => {}, // printed once, by main, like every other error
    });
  }
  return root;
}

/** Option values that name files or directories: completed as paths. */
const PATH_VALUE = /<(dir|file|binary|url\|path)>/;

/** What completion needs of a command: its flags, values and subcommands, from the declarations. */
function shapeOf(cmd: Command): CommandShape {
  const optionShape = (o: Option) => ({
    flags: [o.short, o.long].filter((f): f is string => f !== undefined),
    takesValue: o.required || o.optional,
    choices: o.argChoices,
    path: PATH_VALUE.test(o.flags),
    description: o.description,
  });
  return {
    name: cmd.name(),
    description: cmd.description(),
    options: [...cmd.options.map(optionShape), { flags: ['-h', '--help'], takesValue: false, path: false, description: 'display help for command' }],
    pathArguments: cmd.registeredArguments.some((a) => a.argChoices === undefined),
    argumentChoices: cmd.registeredArguments.flatMap((a) => a.argChoices ?? []),
    commands: cmd.commands.filter((c) => c.name() !== 'completion' || cmd.parent === null).map(shapeOf),
  };
}

/** Levenshtein distance, small strings only. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length]!;
}

/**
 * `d7y-build instal x.so` would otherwise read "instal" as a plugin directory: a first word that is
 * no path on this machine but close to a command's name is a mistyped command.
 */
function checkMistypedCommand(argv: string[], io: ParseIo): void {
  const first = argv[0];
  if (first === undefined || first.startsWith('-') || first.length > 20) return;
  const names = [...program(io, () => {}).commands.map((c) => c.name()), 'help'];
  if (names.includes(first)) return;
  const close = names.filter((name) => distance(first, name) <= Math.min(2, name.length - 1)).sort((a, b) => distance(first, a) - distance(first, b));
  if (close.length === 0 || existsSync(path.resolve(io.cwd, first))) return;
  throw new UsageError(`unknown command "${first}", and no plugin directory of that name exists`, {
    hint: `did you mean d7y-build ${close[0]}? (d7y-build --help lists the commands)`,
  });
}

/**
 * The command line to what it asks for, through commander and config.ts; undefined when commander
 * answered by itself. Throws CommanderError for what commander refuses or answers (help, version:
 * exit code 0), UsageError for what config.ts refuses.
 */
export function parseCommandLine(argv: string[], io: ParseIo): Invocation | undefined {
  checkMistypedCommand(argv, io);
  let invocation: Invocation | undefined;
  program(io, (i) => (invocation = i)).parse(argv, { from: 'user' });
  return invocation;
}

/** Runs what the command line asked for. Each command's code is imported here, when it runs. */
/** The user's registry credentials for a command that may pull the Go image, masked once found. */
async function userRegistryAuth(io: CliIo, redact: (values: string[]) => void): Promise<RegistryAuth> {
  const { registryAuth } = await import('./docker/registry-auth');
  return registryAuth(undefined, io.env, redact);
}

async function runInvocation(invocation: Invocation, io: CliIo, { log, redact, mask }: RunContext): Promise<Outcome> {
  switch (invocation.command) {
    case 'build': {
      const { runBuild } = await import('./commands/build');
      // With --watch: each good round's paths on stdout as it installs them, each failed round's error block on stderr, as a build's.
      const watch = invocation.watch
        ? {
            installed: (files: string[]) => io.stdout.write(files.map((f) => `${escapeControl(mask(f))}\n`).join('')),
            failed: (error: D7yError) => io.stderr.write(`${mask(formatError(error))}\n`),
          }
        : undefined;
      const result = await runBuild(invocation.spec, { log, signal: io.signal, env: io.env, engine: io.engine, redact }, watch);
      if (!invocation.output.json) {
        const { buildSummary } = await import('./commands/build/summary');
        for (const line of buildSummary(result)) log.headline(line);
      }
      return { lines: result.installed, result, container: result.container };
    }
    case 'build-matrix': {
      const { runMatrix } = await import('./commands/matrix');
      const { matrixTable } = await import('./matrix/table');
      const table = (result: Parameters<typeof matrixTable>[0]) => {
        if (!invocation.output.json) for (const line of matrixTable(result)) log.headline(line);
      };
      const result = await runMatrix(invocation.spec, { log, signal: io.signal, env: io.env, engine: io.engine, redact, mask }).catch((err: unknown) => {
        if (err instanceof MatrixPartlyFailedError) table(err.result);
        throw err;
      });
      table(result);
      // Nothing is installed: each passed cell's directory is where its plugins are.
      return { lines: result.cells.filter((c) => c.status === 'passed').map((c) => c.out), result };
    }
    case 'matrix': {
      const { ciMatrix } = await import('./matrix/ci');
      return { lines: ciMatrix(invocation.spec.format, invocation.spec.cells).split('\n'), result: invocation.spec };
    }
    case 'install': {
      const { runInstall } = await import('./commands/install');
      const result = await runInstall(invocation.spec, { log, signal: io.signal, env: io.env, engine: io.engine, redact });
      return { lines: result.installed, result };
    }
    case 'verify': {
      const { spec } = invocation;
      if (spec.provenance !== undefined) {
        const { verifyProvenance } = await import('./verify/attested');
        const { attestedExitCode, formatAttested } = await import('./verify/report');
        const report = await verifyProvenance({ provenance: spec.provenance === true ? undefined : spec.provenance, host: spec.host, plugins: spec.plugins });
        return { lines: formatAttested(report), result: report, exitCode: attestedExitCode(report) };
      }
      const { verifyFiles } = await import('./verify');
      const { formatVerify, VERIFY_WILL_NOT_LOAD } = await import('./verify/report');
      const report = await verifyFiles(spec.host!, spec.plugins);
      return { lines: formatVerify(report), result: report, exitCode: report.loads ? 0 : VERIFY_WILL_NOT_LOAD };
    }
    case 'inspect': {
      const { inspectFile } = await import('./verify');
      const { formatInspect } = await import('./verify/report');
      const report = await inspectFile(invocation.spec.file);
      return { lines: formatInspect(report), result: report };
    }
    case 'inspect-api': {
      const { spec } = invocation;
      log.headline(`d7y-build ${VERSION}: the ${spec.type} plugin interface at Dragonfly ${spec.ref}`);
      const { inspectApi } = await import('./commands/inspect-api');
      const { formatApi } = await import('./scaffold/render');
      const result = await inspectApi(spec, { log, signal: io.signal, engine: io.engine, registryAuth: await userRegistryAuth(io, redact) });
      return { lines: formatApi(result), result };
    }
    case 'init': {
      const { spec } = invocation;
      log.headline(`d7y-build ${VERSION}: init ${spec.type} plugin ${spec.name} in ${spec.dir} against Dragonfly ${spec.ref}`);
      const { initScaffold } = await import('./commands/init');
      const result = await initScaffold(spec, { log, signal: io.signal, engine: io.engine, registryAuth: await userRegistryAuth(io, redact) });
      return { lines: result.files, result };
    }
    case 'config': {
      const { formatConfig } = await import('./commands/config');
      return { lines: formatConfig(invocation.spec), result: invocation.spec };
    }
    case 'completion': {
      return { lines: [completionScript(invocation.spec.shell, invocation.spec.tree)], result: { shell: invocation.spec.shell }, raw: true };
    }
    case 'prune': {
      const { runPrune } = await import('./commands/prune');
      const result = await runPrune(invocation.spec, io);
      const lines = [
        ...result.removedContainers.map((id) => `removed container ${id.slice(0, 12)}`),
        ...result.sparedContainers.map((id) => `spared container ${id.slice(0, 12)}: its run is still going (--all removes it)`),
        ...result.removedPaths.map((p) => `removed ${p}`),
      ];
      return { lines: lines.length > 0 ? lines : ['nothing to prune'], result };
    }
    case 'cache': {
      const { spec } = invocation;
      const { runCache } = await import('./commands/cache');
      const engine = io.engine ?? new (await import('./docker/dockerode')).DockerEngine(undefined, { pingTimeoutMs: spec.pingTimeoutMs });
      return runCache(engine, spec, { log, signal: io.signal });
    }
    case 'doctor': {
      log.headline(`d7y-build ${VERSION}: doctor`);
      const { doctor, formatDoctor } = await import('./commands/doctor');
      const { report, exitCode } = await doctor(invocation.spec, { engine: io.engine, log, signal: io.signal });
      return { lines: formatDoctor(report), result: report, exitCode };
    }
  }
}

function writeOut(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  // Secret values are masked in everything written, from the first line: the credentials of URLs
  // in the arguments and the environment (D7Y_REPO, GOPROXY, proxies), GIT_AUTH_TOKEN, and (once
  // read) the passwords of --netrc.
  const secrets = knownSecrets(argv, io.env);
  const mask = (text: string) => maskSecrets(text, secrets);

  // Until the command line is parsed, --json anywhere in it asks for the error as a JSON document.
  const jsonAsked = argv.includes('--json');
  let invocation: Invocation | undefined;
  // No arguments at all: what the tool does and how, rather than an error about a missing one.
  if (argv.length === 0) argv = ['--help'];
  if (jsonAsked && (argv.includes('--version') || argv.includes('-V'))) {
    const { versions } = await import('./versions');
    await writeOut(io.stdout, jsonLine(await versions(io.env, io.engine), mask));
    return 0;
  }
  try {
    invocation = parseCommandLine(argv, { ...io, redact: (values) => secrets.push(...values) });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      // commander puts its "(Did you mean …?)" on a line of its own: one line, like every error.
      const message = err.message.replace(/^error: /, '').replace(/\n(?=\(Did you mean)/, ' ');
      const error = new UsageError(message, { hint: 'run d7y-build --help for the options' });
      return report(error, io, jsonAsked, mask);
    }
    return report(asD7yError(err), io, jsonAsked, mask);
  }
  if (invocation === undefined) return 0;

  const { json, verbose, quiet } = invocation.output;
  const progress = createProgress({
    verbose: verbose ?? false,
    quiet: quiet ?? false,
    json: json ?? false,
    stream: io.stderr,
    env: io.env,
    mask,
    signal: io.signal,
  });
  // The progress shown is the events a library caller gets, drawn.
  const log = eventLogger((event) => renderEvent(progress, event));
  try {
    // The live view ends before anything else is written: the result, the error, the kept container.
    const outcome = await runInvocation(invocation, io, { log, redact: (values) => secrets.push(...values), mask }).finally(() => progress.close());
    if (json) {
      await writeOut(io.stdout, jsonLine(successOutcome(outcome.result), mask));
    } else {
      await writeOut(io.stdout, outcome.lines.map((l) => `${outcome.raw ? l : escapeControl(mask(l))}\n`).join(''));
      if (outcome.container) log.headline(`kept container ${outcome.container}`);
    }
    return outcome.exitCode ?? 0;
  } catch (err) {
    const failure = err instanceof RunFailure ? err : undefined;
    return report(failure?.error ?? asD7yError(err), io, json ?? false, mask, failure);
  }
}

/** The one error block on stderr (and the --json document): formatError escapes, mask masks. */
async function report(error: D7yError, io: CliIo, json: boolean, mask: (text: string) => string, failure?: RunFailure): Promise<number> {
  io.stderr.write(`${mask(formatError(error))}\n`);
  if (json) await writeOut(io.stdout, jsonLine(failureOutcome(error, failure), mask));
  return error.exitCode;
}

/** The process entry: real streams, environment and signals. */
export async function run(): Promise<void> {
  const controller = new AbortController();
  // A reader that went away (`d7y-build --help | head`) is no failure of d7y-build: stop writing.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      stream.destroy();
    });
  }
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      // A second signal: the user wants out now, cleanup or not.
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
    interrupted = true;
    // Aborting first ends the live view, so this line is written below it.
    controller.abort(new InterruptedError(signal));
    process.stderr.write(`\n${signal}: stopping, removing the build container…\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  process.exitCode = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
  });
}
