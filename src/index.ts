/**
 * d7y-build as a library: the CLI's commands as functions with typed options, results, progress
 * events and errors (src/library.ts), and the lower-level pieces they are made of.
 */
export {
  build,
  buildMatrix,
  matrixCells,
  install,
  verify,
  inspect,
  prune,
  type BuildOptions,
  type MatrixOptions,
  type MatrixCellsOptions,
  type InstallOptions,
  type VerifyOptions,
  type VerifyProvenanceOptions,
  type InspectOptions,
  type PruneOptions,
  type ContextOptions,
  type RunContextOptions,
} from './library';
export type { BuildResult, BuiltFile } from './commands/build';
export type { HostCacheOutcome } from './commands/build/host-cache';
export type { CellOutcome, MatrixResult, PushedIndex } from './commands/matrix';
export type { CiCell } from './matrix/spec';
export type { InstallResult } from './commands/install';
export type { PruneResult } from './commands/prune';
export type { InspectReport, VerifyReport } from './verify';
export type { AttestedVerifyReport, ProvenanceReport } from './verify/attested';
export type { ProvenanceMismatch } from './verify/provenance';
export type { ValidationFacts } from './session/session';
export type { StepTiming } from './session/runner';
export type { ProgressEvent, ProgressEventType, Fact, StepStatus } from './events';
export * from './errors';
export { PLUGIN_TYPES, type PluginType } from './plugin';

// The commands that read Dragonfly's plugin interfaces, over resolved specs.
export { RunFailure } from './session/runner';
export { inspectApi, type InspectApiResult } from './commands/inspect-api';
export { initScaffold, type InitResult } from './commands/init';
export type { ApiMethod, PluginApi } from './scaffold/render';
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
export { createLogger, nullLogger, type Logger } from './log';
