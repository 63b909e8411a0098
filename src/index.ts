/** d7y-build as a library: the same build the CLI runs, with typed options, results and errors. */
export { build, BuildFailure, type BuildOptions, type BuildResult, type BuiltFile } from './build';
export { resolveSpec, type BuildFlags, type BuildSpec, type PluginSpec } from './config';
export * from './errors';
export { createLogger, nullLogger, type Logger } from './log';
export { PLUGIN_TYPES, type PluginType } from './plugin';
