/**
 * The options more than one command takes, each declared once, so that a flag reads and helps
 * alike on every command that has it. A fresh Option per call: commander keeps per-command state on
 * them. The defaults the texts name are config.ts's, which applies them.
 */
import { Option } from 'commander';
import { DEFAULT_OUT_DIR, DEFAULT_PLUGINS_DIR, DEFAULT_REPO } from './config';
import { FIXED_NAMES, HOST_LIST, PLUGIN_NAME_CHARS, PLUGIN_TYPES } from './plugin';

export const option = {
  commit: () => new Option('--commit <ref>', 'Dragonfly branch, tag or SHA [env D7Y_COMMIT]'),
  repo: () => new Option('--repo <url|path>', `Dragonfly git repository [env D7Y_REPO] (default: ${DEFAULT_REPO})`),
  type: () => new Option('--type <type>', 'plugin type').choices(PLUGIN_TYPES),
  name: () =>
    new Option(
      '--name <name>',
      `plugin name, ${PLUGIN_NAME_CHARS} (default: ${FIXED_NAMES}; else the "name" DragonflyPluginInit returns, else the directory name)`,
    ),
  pluginsDir: () => new Option('--plugins-dir <dir>', `where plugins are installed [env D7Y_PLUGINS_DIR] (default: ${DEFAULT_PLUGINS_DIR})`),
  out: () => new Option('--out <dir>', `where the host, plugins and manifest.json are written (default: ${DEFAULT_OUT_DIR})`),
  goImage: () =>
    new Option(
      '--go-image <image>',
      "Go image the container runs (default: the official image of the Go release go.mod asks for, e.g. golang:1.20.14-bookworm; for install, the image manifest.json beside the host's bin/ names)",
    ),
  host: () => new Option('--host <binary>', `the ${HOST_LIST} binary the plugins must load into`),
  json: () => new Option('--json', 'print one JSON document on stdout; logs stay on stderr'),
  keep: () => new Option('--keep', 'keep the container for debugging and print its id'),
  verbose: () => new Option('--verbose', "show the container's output"),
  quiet: () => new Option('--quiet', 'print only warnings, errors and the final paths').conflicts('verbose'),
} satisfies Record<string, () => Option>;
