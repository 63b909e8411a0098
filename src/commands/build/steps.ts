/**
 * The build, in order. Each step reads what the earlier ones put in ctx.state and adds its own;
 * cleanups they register (container, temp dirs) run after the last step or the first failure. Some
 * start work a later step waits for (overlap.ts): the builder image of --go-image while the source
 * resolves, the host while the plugins compile, the artifacts' collection while the plugins validate.
 */
import { checkApi } from './api';
import { collectArtifacts, install, verifyArtifacts } from './artifacts';
import { checkDependencies, compilePlugins } from './compile';
import { replacePlugins, startContainer, uploadSources } from './container';
import type { BuildContext } from './state';
import { prepareImage } from '../../session/image';
import { buildRuntimeImage, pushRuntimeImage } from './image';
import { checkInputs, checkSources } from './inputs';
import {
  collectAfterValidate,
  compileHostAfterPlugins,
  compilePluginsBesideHost,
  installBesideRemoval,
  resolveSourceBesideImage,
  validateBesideArtifacts,
  verifyAfterCollect,
} from './overlap';
import type { BuildSpec } from '../../config';
import type { Step } from '../../session/runner';
import { validatePlugins } from './validate';

export const BUILD_STEPS: ReadonlyArray<Step<BuildContext>> = [
  { name: 'check-inputs', run: checkInputs }, // plugin sources, target dirs, engine: before any work
  { name: 'resolve-source', run: resolveSourceBesideImage }, // ref → SHA (mirror cache), go.mod, host command exists
  { name: 'prepare-image', run: prepareImage }, // Go image present or pulled; builder image built once
  { name: 'start-container', run: startContainer }, // labelled, cache volumes, Go version checked
  { name: 'upload-sources', run: uploadSources }, // Dragonfly tree and plugins as tar, no bind mounts
  { name: 'check-api', run: checkApi }, // each plugin's methods against its loader's interface, from the sources
  { name: 'check-dependencies', run: checkDependencies }, // only plugins with their own go.mod
  { name: 'compile-plugins', run: compilePluginsBesideHost }, // the host from its cache first, or its compile beside them
  { name: 'compile-host', run: compileHostAfterPlugins },
  { name: 'validate', run: validateBesideArtifacts }, // `<host> plugin` in the container, output parsed; the artifacts come out meanwhile
  { name: 'collect-artifacts', run: collectAfterValidate },
  { name: 'verify', run: verifyAfterCollect }, // the static check of d7y-build verify, recorded in manifest.json
  { name: 'install', run: install }, // --out and --plugins-dir together, under install locks, atomically
];

/**
 * A rebuild in watch mode (watch.ts), in the container and with the host of the build before it:
 * the plugin side of the build again, the same step functions, installing only what validates.
 */
export const ROUND_STEPS: ReadonlyArray<Step<BuildContext>> = [
  { name: 'check-sources', run: checkSources }, // the plugin directories read and checked again
  { name: 'upload-plugins', run: replacePlugins }, // the previous plugin sources replaced
  { name: 'check-api', run: checkApi },
  { name: 'check-dependencies', run: checkDependencies },
  { name: 'compile-plugins', run: compilePlugins },
  { name: 'validate', run: validatePlugins },
  { name: 'collect-artifacts', run: collectArtifacts },
  { name: 'verify', run: verifyArtifacts },
  { name: 'install', run: install },
];

/**
 * The steps of a build (not a watch): BUILD_STEPS, whose install removes the container meanwhile.
 * With --image (and --push), the image steps go before install, so a build whose image fails or is
 * refused by the registry installs nothing, and install stays last.
 */
export function buildSteps(spec: Pick<BuildSpec, 'image' | 'push'>): ReadonlyArray<Step<BuildContext>> {
  const image: Array<Step<BuildContext>> = [];
  if (spec.image !== undefined) image.push({ name: 'build-image', run: buildRuntimeImage }); // the host and plugins just built with the libraries they load, run once
  if (spec.image !== undefined && spec.push) image.push({ name: 'push-image', run: pushRuntimeImage }); // to the registry --image names; the local image stays
  return [...BUILD_STEPS.slice(0, -1), ...image, { name: 'install', run: installBesideRemoval }]; // the container, no longer needed, removed meanwhile
}
