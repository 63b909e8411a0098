/**
 * The command line: commander wiring only. Flags become a spec (config.ts), the pipeline runs, and
 * this file alone writes the result to stdout and the one error message to stderr, and picks the
 * exit code. Everything it writes, logs included, leaves through one mask (secret values, URL
 * credentials) and with its control characters escaped. SIGINT and SIGTERM abort the run; its
 * cleanup runs before the process exits.
 * Each command's code is imported when the command runs: `verify` never loads Docker's client.
 */
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { RunFailure } from './session/runner';
import {
  DEFAULT_MAX_CONTEXT,
  DEFAULT_OUT_DIR,
  DEFAULT_PLUGINS_DIR,
  DEFAULT_PLUGIN_TYPE,
  DEFAULT_REPO,
  outDirFor,
  pingTimeoutFor,
  pluginsDirFor,
  resolveApiSpec,
  resolveInitSpec,
  resolveInstallSpec,
  resolveSpec,
  type ApiFlags,
  type BuildFlags,
  type InitFlags,
  type InstallFlags,
} from './config';
import { asD7yError, InterruptedError, UsageError, type D7yError } from './errors';
import { createLogger, escapeControl, type Logger } from './log';
import { failureOutcome, formatError, jsonLine, successOutcome } from './outcome';
import { FIXED_NAMES, HOST_LIST, hostFor, PLUGIN_FILE_PATTERN, PLUGIN_NAME_CHARS, pluginFileName, PLUGIN_TYPES } from './plugin';
import { readPluginMeta } from './plugin-meta';
import { maskSecrets, urlSecrets } from './secrets';
import { VERSION } from './version';

interface OutputFlags {
  json?: boolean;
  verbose?: boolean;
}

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  signal: AbortSignal;
}

/** What a command hands back to main: the human stdout lines, the --json result, the exit code. */
interface Outcome {
  lines: string[];
  result: object;
  /** Non-zero for a verdict that is not a failure of d7y-build (verify: will not load). */
  exitCode?: number;
  container?: string;
}
/** What a command's run gets: the logger, and a way to have secret values masked in all output. */
interface RunContext {
  log: Logger;
  redact(values: string[]): void;
}
type Run = (ctx: RunContext) => Promise<Outcome>;

const EXAMPLE_OUT = `./${DEFAULT_OUT_DIR}`;
const ENV_HELP = `
Environment: D7Y_COMMIT, D7Y_REPO, D7Y_PLUGINS_DIR and D7Y_NETRC stand in for their flags (a flag
wins); SOURCE_DATE_EPOCH fixes main.buildTime; DOCKER_HOST picks the engine, which must answer
within D7Y_PING_TIMEOUT (default 15s); loading the plugins may take D7Y_LOAD_TIMEOUT (default
2m); D7Y_CACHE_DIR moves the git mirror cache; GOPROXY,
GOPRIVATE, GONOPROXY, GONOSUMDB, GOSUMDB and GOINSECURE reach the build container; GIT_AUTH_TOKEN
is sent, at run time only, to the hosts GOPRIVATE, GONOPROXY and GONOSUMDB name.

Examples:
  d7y-build --commit v2.1.66 --plugins-dir ./plugins ./d7yfs
  d7y-build install --host ${EXAMPLE_OUT}/bin/${hostFor('resource')} ${EXAMPLE_OUT}/plugins/${pluginFileName('resource', 'd7yfs')}`;

function program(io: CliIo, setRun: (run: Run, output: OutputFlags) => void): Command {
  const root = new Command('d7y-build')
    .description('Build Dragonfly plugins together with the Dragonfly host at one commit, in one container, and prove they load.')
    .argument('<plugin-dir...>', 'plugin source directories (package main, exporting DragonflyPluginInit)')
    .option('--commit <ref>', 'Dragonfly branch, tag or SHA to build against [env D7Y_COMMIT]')
    .option('--repo <url|path>', `Dragonfly git repository [env D7Y_REPO] (default: ${DEFAULT_REPO})`)
    .addOption(new Option('--type <type>', 'plugin type').choices([...PLUGIN_TYPES]).default(DEFAULT_PLUGIN_TYPE))
    .option('--name <name>', `plugin name, ${PLUGIN_NAME_CHARS} (default: the "name" DragonflyPluginInit returns, else the directory name; ${FIXED_NAMES})`)
    .option('--plugins-dir <dir>', `where plugins are installed [env D7Y_PLUGINS_DIR] (default: ${DEFAULT_PLUGINS_DIR})`)
    .option('--out <dir>', 'where the host, plugins and manifest.json are written', DEFAULT_OUT_DIR)
    .option('--go-image <image>', 'Go image to build with (default: the official image of the Go release go.mod asks for, e.g. golang:1.20.14-bookworm)')
    .option('--tags <tags>', 'build tags, comma-separated, for host and plugins alike')
    .option('--gcflags <flags>', 'go build -gcflags, for host and plugins alike')
    .option('--trimpath', 'build with -trimpath, the default (host and plugins alike)')
    .option('--no-trimpath', 'build without -trimpath (host and plugins alike)')
    .option('--race', 'build with -race (host and plugins alike)')
    .option('--build-commit <s>', 'value stamped into main.buildCommit (default: the Dragonfly short SHA)')
    .option('--memory <size>', 'memory limit of the build container, e.g. 2g (6m to the engine\'s memory)')
    .option('--cpus <n>', 'CPU limit of the build container, e.g. 2 (0.01 to the engine\'s CPUs)')
    .option('--timeout <duration>', 'give up (and clean up) after this long, e.g. 30m (1s to 168h)')
    .option('--max-context <size>', `the most a plugin directory may send to the build (default: ${DEFAULT_MAX_CONTEXT})`)
    .option('--netrc <file>', 'credentials for private Go modules, used at run time only [env D7Y_NETRC]; GIT_AUTH_TOKEN works too')
    .option('--json', 'print one JSON outcome on stdout; logs stay on stderr')
    .option('--keep', 'keep the build container for debugging and print its id')
    .option('--verbose', "show the build container's output")
    .version(VERSION, '-V, --version')
    .addHelpText('after', ENV_HELP)
    // Options after a subcommand's name are that subcommand's: both have --plugins-dir and --json.
    .enablePositionalOptions()
    // `d7y-build help <command>`, although the root command takes arguments of its own.
    .helpCommand(true)
    .action((dirs: string[], flags: BuildFlags & OutputFlags) => {
      const spec = resolveSpec(dirs, flags, io.env, io.cwd, new Date(), readPluginMeta);
      setRun(async ({ log, redact }) => {
        log.headline(`d7y-build ${VERSION}: ${spec.type} plugin${spec.plugins.length > 1 ? 's' : ''} ${spec.plugins.map((p) => p.name).join(', ')} against Dragonfly ${spec.ref}`);
        const { build } = await import('./commands/build');
        const { loadSecrets } = await import('./secrets');
        const secrets = await loadSecrets(spec.netrcFile, io.env);
        redact(secrets.values);
        const result = await build(spec, { log, signal: io.signal, secrets });
        return { lines: result.installed, result, container: result.container };
      }, flags);
    });

  root
    .command('install')
    .description('install prebuilt plugins into the plugins directory, after proving that --host loads them')
    .argument('<plugin.so...>', `plugin files, named ${PLUGIN_FILE_PATTERN}`)
    .option('--host <binary>', `the ${HOST_LIST} the plugins must load into`)
    .option('--plugins-dir <dir>', `where plugins are installed [env D7Y_PLUGINS_DIR] (default: ${DEFAULT_PLUGINS_DIR})`)
    .option('--go-image <image>', 'image to run the host in (default: the Go image in manifest.json beside the host\'s bin/)')
    .option('--json', 'print one JSON outcome on stdout; logs stay on stderr')
    .option('--keep', 'keep the container for debugging and print its id')
    .option('--verbose', "show the container's output")
    .action((files: string[], flags: InstallFlags & OutputFlags) => {
      const spec = resolveInstallSpec(files, flags, io.env, io.cwd);
      setRun(async ({ log }) => {
        log.headline(`d7y-build ${VERSION}: install ${spec.plugins.map((p) => p.file).join(', ')} for ${spec.host}`);
        const { installPrebuilt } = await import('./commands/install');
        const result = await installPrebuilt(spec, { log, signal: io.signal });
        return { lines: result.installed, result };
      }, flags);
    });

  root
    .command('verify')
    .description('say, from the files alone, whether the plugins will load into --host, and why not (exit 0: they load, 11: they will not, 12: cannot tell)')
    .argument('<plugin.so...>', 'plugin files, considered in the order Dragonfly loads them (by file name)')
    .requiredOption('--host <binary>', `the ${HOST_LIST} binary`)
    .option('--json', 'print the report as one JSON document')
    .action((files: string[], flags: { host: string } & OutputFlags) => {
      setRun(async () => {
        const { verifyFiles } = await import('./verify');
        const { formatVerify, VERIFY_WILL_NOT_LOAD } = await import('./verify/report');
        const report = await verifyFiles(path.resolve(io.cwd, flags.host), files.map((f) => path.resolve(io.cwd, f)));
        return { lines: formatVerify(report), result: report, exitCode: report.loads ? 0 : VERIFY_WILL_NOT_LOAD };
      }, flags);
    });

  root
    .command('inspect')
    .description('print what a Go binary records: Go version, modules, build settings, stamps, package hashes')
    .argument('<file>', 'a host binary or a plugin .so')
    .option('--json', 'print the report as one JSON document')
    .action((file: string, flags: OutputFlags) => {
      setRun(async () => {
        const { inspectFile } = await import('./verify');
        const { formatInspect } = await import('./verify/report');
        const report = await inspectFile(path.resolve(io.cwd, file));
        return { lines: formatInspect(report), result: report };
      }, flags);
    });

  /** inspect-api and init: the plugin type, the commit and where to read it, and the output flags. */
  const apiCommand = (name: string, description: string) =>
    root
      .command(name)
      .description(description)
      .addOption(new Option('--type <type>', 'plugin type').choices([...PLUGIN_TYPES]).makeOptionMandatory())
      .option('--commit <ref>', 'Dragonfly branch, tag or SHA [env D7Y_COMMIT]')
      .option('--repo <url|path>', `Dragonfly git repository [env D7Y_REPO] (default: ${DEFAULT_REPO})`)
      .option('--go-image <image>', 'Go image of the container that reads the sources (default: as for builds)')
      .option('--json', 'print the result as one JSON document')
      .option('--verbose', "show the container's output");

  apiCommand('inspect-api', 'print the interface a plugin of --type must implement at --commit: loader, interface, methods with their doc comments, metadata')
    .action((flags: ApiFlags & OutputFlags) => {
      const spec = resolveApiSpec(flags, io.env, io.cwd);
      setRun(async ({ log }) => {
        io.stderr.write(`d7y-build ${VERSION}: the ${spec.type} plugin interface at Dragonfly ${spec.ref}\n`);
        const { inspectApi } = await import('./commands/inspect-api');
        const { formatApi } = await import('./scaffold/render');
        const result = await inspectApi(spec, { log, signal: io.signal });
        return { lines: formatApi(result), result };
      }, flags);
    });

  apiCommand('init', 'write a plugin scaffold into a new or empty <dir> that implements the interface of --type as it is at --commit')
    .argument('<dir>', 'the directory to create (new or empty)')
    .option('--name <name>', `plugin name, ${PLUGIN_NAME_CHARS} (default: ${FIXED_NAMES}, else the directory name)`)
    .action((dir: string, flags: InitFlags & OutputFlags) => {
      const spec = resolveInitSpec(dir, flags, io.env, io.cwd);
      setRun(async ({ log }) => {
        io.stderr.write(`d7y-build ${VERSION}: init ${spec.type} plugin ${spec.name} in ${spec.dir} against Dragonfly ${spec.ref}\n`);
        const { initScaffold } = await import('./commands/init');
        const result = await initScaffold(spec, { log, signal: io.signal });
        return { lines: result.files, result };
      }, flags);
    });

  root
    .command('prune')
    .description('remove containers and temp files that killed runs left behind; running builds are spared')
    .option('--all', "also remove containers of runs that still run, or that other hosts' runs own")
    .option('--plugins-dir <dir>', `also sweep this directory for half-written installs [env D7Y_PLUGINS_DIR] (default: ${DEFAULT_PLUGINS_DIR})`)
    .option('--out <dir>', 'also sweep this output directory for half-written files', DEFAULT_OUT_DIR)
    .option('--json', 'print the result as one JSON document')
    .action((flags: { all?: boolean; pluginsDir?: string; out?: string } & OutputFlags) => {
      setRun(async () => {
        const { prune } = await import('./commands/prune');
        const { DockerEngine } = await import('./docker/engine');
        const out = outDirFor(flags, io.cwd);
        const dirs = [pluginsDirFor(flags, io.env, io.cwd), ...['bin', 'plugins', '.'].map((d) => path.join(out, d))];
        const engine = new DockerEngine(undefined, { pingTimeoutMs: pingTimeoutFor(io.env) });
        const result = await prune(engine, { all: flags.all ?? false, dirs }, io.signal);
        const lines = [
          ...result.removedContainers.map((id) => `removed container ${id.slice(0, 12)}`),
          ...result.sparedContainers.map((id) => `spared container ${id.slice(0, 12)}: its run is still going (--all removes it)`),
          ...result.removedPaths.map((p) => `removed ${p}`),
        ];
        return { lines: lines.length > 0 ? lines : ['nothing to prune'], result };
      }, flags);
    });

  for (const cmd of [root, ...root.commands]) {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => {}, // printed once, by main, like every other error
    });
  }
  return root;
}

function writeOut(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  // Secret values are masked in everything written, from the first line: the credentials of URLs
  // in the arguments and the environment (D7Y_REPO, GOPROXY, proxies), GIT_AUTH_TOKEN, and (once
  // read) the passwords of --netrc.
  const secrets = [...argv, ...Object.values(io.env)].flatMap((text) => urlSecrets(text ?? ''));
  const token = io.env.GIT_AUTH_TOKEN?.trim();
  if (token) secrets.push(token);
  const mask = (text: string) => maskSecrets(text, secrets);

  let run: Run | undefined;
  let output: OutputFlags = { json: argv.includes('--json') };
  // No arguments at all: what the tool does and how, rather than an error about a missing one.
  if (argv.length === 0) argv = ['--help'];
  try {
    await program(io, (r, o) => {
      run = r;
      output = o;
    }).parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      // commander puts its "(Did you mean …?)" on a line of its own: one line, like every error.
      const message = err.message.replace(/^error: /, '').replace(/\n(?=\(Did you mean)/, ' ');
      const error = new UsageError(message, { hint: 'run d7y-build --help for the options' });
      return report(error, io, output.json ?? false, mask);
    }
    return report(asD7yError(err), io, output.json ?? false, mask);
  }
  if (run === undefined) return 0;

  const log = createLogger({ verbose: output.verbose ?? false, stream: io.stderr, env: io.env, mask });
  try {
    const outcome = await run({ log, redact: (values) => secrets.push(...values) });
    if (output.json) {
      await writeOut(io.stdout, jsonLine(successOutcome(outcome.result), mask));
    } else {
      await writeOut(io.stdout, outcome.lines.map((l) => `${escapeControl(mask(l))}\n`).join(''));
      if (outcome.container) log.headline(`kept container ${outcome.container}`);
    }
    return outcome.exitCode ?? 0;
  } catch (err) {
    const failure = err instanceof RunFailure ? err : undefined;
    return report(failure?.error ?? asD7yError(err), io, output.json ?? false, mask, failure);
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
    process.stderr.write(`\n${signal}: stopping, removing the build container…\n`);
    controller.abort(new InterruptedError(signal));
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
