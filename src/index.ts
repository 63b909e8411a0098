/** d7y-build as a library: what the CLI runs, with typed options, results and errors. */
export { build, type BuildOptions, type BuildResult, type BuiltFile } from './commands/build';
export { RunFailure } from './session/runner';
export { installPrebuilt, type InstallResult } from './commands/install';
export { inspectFile, verifyFiles, type InspectReport, type VerifyReport } from './verify';
export { inspectApi, type InspectApiResult } from './commands/inspect-api';
export { initScaffold, type InitResult } from './commands/init';
export type { ApiMethod, PluginApi } from './scaffold/render';
export { prune, type PruneOptions, type PruneResult } from './commands/prune';
export { loadSecrets, type Secrets } from './secrets';
export {
  resolveApiSpec,
  resolveConfigSpec,
  resolveInitSpec,
  resolveInstallSpec,
  resolveSpec,
  type ApiFlags,
  type ApiSpec,
  type BuildFlags,
  type BuildSpec,
  type ConfigInputs,
  type ConfigSpec,
  type InitFlags,
  type InitSpec,
  type InstallFlags,
  type InstallSpec,
  type PluginSpec,
} from './config';
export { parseConfigFile, readPluginConfig, readUserConfig, type ConfigFile } from './config-files';
export * from './errors';
export { createLogger, nullLogger, type Logger } from './log';
export { PLUGIN_TYPES, type PluginType } from './plugin';
