/** d7y-build as a library: what the CLI runs, with typed options, results and errors. */
export { build, type BuildOptions, type BuildResult, type BuiltFile } from './build';
export { RunFailure } from './build/pipeline';
export { installPrebuilt, type InstallResult } from './install';
export { inspectFile, verifyFiles, type InspectReport, type VerifyReport } from './verify';
export { inspectApi, type InspectApiResult } from './scaffold/api';
export { initScaffold, type InitResult } from './scaffold/init';
export type { ApiMethod, PluginApi } from './scaffold/render';
export { prune, type PruneOptions, type PruneResult } from './prune';
export { loadSecrets, type Secrets } from './secrets';
export {
  resolveApiSpec,
  resolveInitSpec,
  resolveInstallSpec,
  resolveSpec,
  type ApiFlags,
  type ApiSpec,
  type BuildFlags,
  type BuildSpec,
  type InitFlags,
  type InitSpec,
  type InstallFlags,
  type InstallSpec,
  type PluginSpec,
} from './config';
export * from './errors';
export { createLogger, nullLogger, type Logger } from './log';
export { PLUGIN_TYPES, type PluginType } from './plugin';
