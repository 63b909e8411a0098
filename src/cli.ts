/**
 * The command line: commander wiring only. Flags become a BuildSpec (config.ts), the build runs, and
 * this file alone writes the result to stdout and the one error message to stderr, and picks the
 * exit code. SIGINT and SIGTERM abort the build; its cleanup runs before the process exits.
 */
import { Command, CommanderError, Option } from 'commander';
import { build, BuildFailure } from './build';
import { DEFAULT_OUT_DIR, DEFAULT_PLUGINS_DIR, DEFAULT_REPO, resolveSpec, type BuildFlags } from './config';
import { asD7yError, InterruptedError, UsageError, type D7yError } from './errors';
import { createLogger } from './log';
import { failureOutcome, formatError, successOutcome } from './outcome';
import { PLUGIN_TYPES } from './plugin';
import { VERSION } from './version';

interface CliFlags extends BuildFlags {
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

function program(): Command {
  return new Command('d7y-build')
    .description('Build Dragonfly plugins together with the Dragonfly host at one commit, in one container, and prove they load.')
    .argument('<plugin-dir...>', 'plugin source directories (package main, exporting DragonflyPluginInit)')
    .option('--commit <ref>', 'Dragonfly branch, tag or SHA to build against [env D7Y_COMMIT]')
    .option('--repo <url|path>', `Dragonfly git repository [env D7Y_REPO] (default: ${DEFAULT_REPO})`)
    .addOption(new Option('--type <type>', 'plugin type').choices([...PLUGIN_TYPES]).default('resource'))
    .option('--name <name>', 'plugin name, [a-z0-9]+ (default: the directory name; evaluator/searcher for scheduler/manager)')
    .option('--plugins-dir <dir>', `where plugins are installed [env D7Y_PLUGINS_DIR] (default: ${DEFAULT_PLUGINS_DIR})`)
    .option('--out <dir>', 'where the host, plugins and manifest.json are written', DEFAULT_OUT_DIR)
    .option('--go-image <image>', 'Go image to build with (default: golang:<go.mod version>-bookworm)')
    .option('--tags <tags>', 'build tags, comma-separated, for host and plugins alike')
    .option('--gcflags <flags>', 'go build -gcflags, for host and plugins alike')
    .option('--no-trimpath', 'build without -trimpath (host and plugins alike)')
    .option('--race', 'build with -race (host and plugins alike)')
    .option('--build-commit <s>', 'value stamped into main.buildCommit (default: the Dragonfly short SHA)')
    .option('--json', 'print one JSON outcome on stdout; logs stay on stderr')
    .option('--keep', 'keep the build container for debugging and print its id')
    .option('--verbose', "show the build container's output")
    .version(VERSION, '-V, --version')
    .addHelpText(
      'after',
      `
Environment: D7Y_COMMIT, D7Y_REPO, D7Y_PLUGINS_DIR stand in for their flags (a flag wins);
SOURCE_DATE_EPOCH fixes main.buildTime; DOCKER_HOST picks the engine; GOPROXY, GOPRIVATE,
GONOPROXY, GONOSUMDB, GOSUMDB and GOINSECURE reach the build container.

Example:
  d7y-build --commit v2.1.66 --plugins-dir ./plugins ./d7yfs`,
    )
    .showHelpAfterError(false)
    .exitOverride();
}

function writeOut(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const cmd = program().configureOutput({
    writeOut: (s) => io.stdout.write(s),
    writeErr: (s) => io.stderr.write(s),
    outputError: () => {}, // printed once, below, like every other error
  });

  let dirs: string[];
  let flags: CliFlags;
  try {
    cmd.parse(argv, { from: 'user' });
    dirs = cmd.processedArgs[0] as string[];
    flags = cmd.opts<CliFlags>();
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      const error = new UsageError(err.message.replace(/^error: /, ''), { hint: 'run d7y-build --help for the options' });
      return report(error, io, argv.includes('--json'));
    }
    throw err;
  }

  const json = flags.json ?? false;
  const log = createLogger({ verbose: flags.verbose ?? false, stream: io.stderr, env: io.env });
  try {
    const spec = resolveSpec(dirs, flags, io.env, io.cwd);
    io.stderr.write(`d7y-build ${VERSION}: ${spec.type} plugin${spec.plugins.length > 1 ? 's' : ''} ${spec.plugins.map((p) => p.name).join(', ')} against Dragonfly ${spec.ref}\n`);
    const result = await build(spec, { log, signal: io.signal });
    if (json) {
      await writeOut(io.stdout, `${JSON.stringify(successOutcome(result))}\n`);
    } else {
      await writeOut(io.stdout, result.installed.map((p) => `${p}\n`).join(''));
      if (result.container) io.stderr.write(`kept container ${result.container}\n`);
    }
    return 0;
  } catch (err) {
    const failure = err instanceof BuildFailure ? err : undefined;
    return report(failure?.error ?? asD7yError(err), io, json, failure);
  }
}

async function report(error: D7yError, io: CliIo, json: boolean, failure?: BuildFailure): Promise<number> {
  io.stderr.write(`${formatError(error)}\n`);
  if (json) await writeOut(io.stdout, `${JSON.stringify(failureOutcome(error, failure))}\n`);
  return error.exitCode;
}

/** The process entry: real streams, environment and signals. */
export async function run(): Promise<void> {
  const controller = new AbortController();
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
