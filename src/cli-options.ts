/**
 * The options more than one command takes, each declared once, so that a flag reads and helps
 * alike on every command that has it. A fresh Option per call: commander keeps per-command state on
 * them. The defaults the texts name are config.ts's, which applies them.
 */
import { Option } from 'commander';
import { DEFAULT_MAX_CONTEXT, DEFAULT_OUT_DIR, DEFAULT_PLUGIN_TYPE, DEFAULT_PLUGINS_DIR, DEFAULT_REPO, envName, type OptionKey } from './config';
import { DEFAULT_TARGET, ENGINE_PLATFORM, TARGET_NAMES } from './platform';
import { FIXED_NAMES, HOST_LIST, PLUGIN_NAME_CHARS, PLUGIN_TYPES } from './plugin';

/** " [env D7Y_GO_IMAGE]": each build option's variable, named in its help. */
const env = (key: OptionKey) => ` [env ${envName(key)}]`;

export const option = {
  commit: () => new Option('--commit <ref>', `Dragonfly branch, tag or SHA${env('commit')}; a build takes several, comma-separated, as a matrix`),
  repo: () => new Option('--repo <url|path>', `Dragonfly git repository${env('repo')} (default: ${DEFAULT_REPO})`),
  type: () => new Option('--type <type>', `plugin type${env('type')}`).choices(PLUGIN_TYPES),
  name: () =>
    new Option(
      '--name <name>',
      `plugin name, ${PLUGIN_NAME_CHARS}${env('name')} (default: ${FIXED_NAMES}; else the "name" DragonflyPluginInit returns, else the directory name)`,
    ),
  pluginsDir: () => new Option('--plugins-dir <dir>', `where plugins are installed${env('pluginsDir')} (default: ${DEFAULT_PLUGINS_DIR})`),
  out: () => new Option('--out <dir>', `where the host, plugins and manifest.json are written${env('out')} (default: ${DEFAULT_OUT_DIR})`),
  goImage: () =>
    new Option(
      '--go-image <image>',
      `Go image the container runs${env('goImage')} (default: the official image of the Go release go.mod asks for, e.g. golang:1.20.14-bookworm; for install, the image manifest.json beside the host's bin/ names)`,
    ),
  host: () => new Option('--host <binary>', `the ${HOST_LIST} binary the plugins must load into`),
  json: () => new Option('--json', 'print one JSON document on stdout; logs stay on stderr'),
  keep: () => new Option('--keep', `keep the container for debugging and print its id${env('keep')}`),
  verbose: () => new Option('--verbose', "show the container's output"),
  quiet: () => new Option('--quiet', 'print only warnings, errors and the final paths').conflicts('verbose'),
  platform: () =>
    new Option(
      '--platform <os/arch>',
      `the platform the host and plugins are built for, one of ${TARGET_NAMES.join(', ')}, or a comma list of them (a matrix); cross-compiled and validated under qemu in the ${ENGINE_PLATFORM} container${env('platform')} (default: ${DEFAULT_TARGET})`,
    ),
  matrix: () =>
    new Option('--matrix <file>', 'a YAML or JSON file listing the commits of a matrix, each with its own Go image and plugin directories if need be'),
  config: () => new Option('--config <file>', 'the config file of build settings [env D7Y_CONFIG] (default: $XDG_CONFIG_HOME/d7y-build/config.yaml)'),
} satisfies Record<string, () => Option>;

/**
 * The options of a build, for the build itself and for `config`, which shows what a build would
 * take. The type's default is for --help: config.ts applies it after the variables and files.
 */
export function buildOptions(): Option[] {
  return [
    option.commit(),
    option.repo(),
    option.type().default(DEFAULT_PLUGIN_TYPE),
    option.name(),
    option.pluginsDir(),
    option.out(),
    option.goImage(),
    option.platform(),
    new Option('--tags <tags>', `build tags, comma-separated, for host and plugins alike${env('tags')}`),
    new Option('--gcflags <flags>', `go build -gcflags, for host and plugins alike${env('gcflags')}`),
    new Option('--trimpath', `build with -trimpath, the default (host and plugins alike)${env('trimpath')}`),
    new Option('--no-trimpath', 'build without -trimpath (host and plugins alike)'),
    new Option('--race', `build with -race (host and plugins alike)${env('race')}`),
    new Option('--build-commit <s>', `value stamped into main.buildCommit${env('buildCommit')} (default: the Dragonfly short SHA)`),
    new Option(
      '--build-time <time>',
      "value stamped into main.buildTime: an RFC 3339 time, now, or commit (default: SOURCE_DATE_EPOCH, else the Dragonfly commit's committer date)",
    ),
    new Option('--no-cache', 'build the host and plugins from scratch: no host from the host cache, none stored, an empty Go build cache [env D7Y_NO_CACHE=1]'),
    new Option('--memory <size>', `memory limit of the build container, e.g. 2g (6m to the engine's memory)${env('memory')}`),
    new Option('--cpus <n>', `CPU limit of the build container, e.g. 2 (0.01 to the engine's CPUs)${env('cpus')}`),
    new Option('--timeout <duration>', `give up (and clean up) after this long, e.g. 30m (1s to 168h)${env('timeout')}`),
    new Option('--max-context <size>', `the most a plugin directory may send to the build${env('maxContext')} (default: ${DEFAULT_MAX_CONTEXT})`),
    new Option('--netrc <file>', `credentials for private Go modules, used at run time only${env('netrc')}; GIT_AUTH_TOKEN works too`),
    new Option(
      '--registry-auth <file>',
      `a Docker config.json whose credentials go ahead of ~/.docker/config.json's for --push and a Go image pull${env('registryAuth')}`,
    ),
    new Option(
      '--image <name:tag>',
      `after validation, build a runnable image of the host with the plugins, e.g. registry.example/d7y/dfget-plugins:v2.1.0${env('image')}`,
    ),
    new Option('--push', `push the --image to its registry${env('push')}`),
    option.keep(),
    option.config(),
  ];
}
