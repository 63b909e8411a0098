/**
 * The build container's layout, defined here and nowhere else: Dockerfile.builder receives it as
 * build args, builder/build.sh reads it from the container's environment, and the TypeScript side
 * reads CONTAINER. Changing a path here changes the builder image's tag (the build args are part of
 * its hash), so an image built for another layout is never used.
 */
import path from 'node:path';
import { InternalError } from '../errors';
import { crossPackages, type TargetName } from '../platform';
import { LOADCHECK_COMMAND } from '../validate/loader';

/**
 * Dragonfly's default directories on Linux (pkg/dfpath): where its commands look for plugins and
 * keep their state, in the container as on the machine the plugins are installed on.
 */
export const DRAGONFLY_DIRS = {
  workHome: '/usr/local/dragonfly',
  plugins: '/usr/local/dragonfly/plugins',
  cache: '/var/cache/dragonfly',
  log: '/var/log/dragonfly',
  data: '/var/lib/dragonfly',
  config: '/etc/dragonfly',
} as const;

const WORK = '/work';
const SOURCE = `${WORK}/src`;
const OUT = `${WORK}/out`;
const OUT_BIN = `${OUT}/bin`;
const HOME = '/home/d7y';
const GOPATH = `${HOME}/go`;
const TOOLS = '/usr/local/lib/d7y-build';
const SECRETS = '/run/d7y-secrets';

/** Every path and id inside the build container. */
export const CONTAINER = {
  /** The container's working directory; sources are streamed in below it, it always exists. */
  work: WORK,
  /**
   * Where the source-tree volume of the commit is mounted (src/session/source-tree.ts): the trees
   * uploaded into it, and the link to the one complete tree, made last.
   */
  sourceVolume: SOURCE,
  /** The pinned Dragonfly tree, with cmd/d7y-loadcheck added: a link into the source-tree volume. */
  dragonfly: `${SOURCE}/dragonfly`,
  /** Each plugin's source, as <pluginSources>/<name>. */
  pluginSources: `${WORK}/plugins`,
  /** The Go workspace of each plugin with its own go.mod, as <workspaces>/<name>/go.work. */
  workspaces: `${WORK}/ws`,
  /** What the build produces; collected from here as one tar stream. */
  out: OUT,
  /** The host commands and the loader check. */
  outBin: OUT_BIN,
  /** The plugins, under their file names. */
  outPlugins: `${OUT}/plugins`,
  /** The loader check's program, built beside the host. */
  loadcheck: `${OUT_BIN}/${LOADCHECK_COMMAND}`,
  /** The non-root build user; the build runs as uid:gid and streamed-in files belong to it. */
  user: { name: 'd7y', uid: 10001, gid: 10001, home: HOME },
  /**
   * Go's paths, where the cache volumes are mounted; freshBuildCache is GOCACHE with --no-cache, a
   * directory no earlier build wrote to (the container is new).
   */
  go: { path: GOPATH, modCache: `${GOPATH}/pkg/mod`, buildCache: `${HOME}/.cache/go-build`, freshBuildCache: `${WORK}/go-build` },
  /** Where the host cache volume is mounted: <hostCache>/<key>/bin/<cmd> and SHA256SUMS (see builder/build.sh). */
  hostCache: `${HOME}/.cache/d7y-build-host`,
  /** builder/ as Dockerfile.builder copies it, and what it builds there. */
  tools: { dir: TOOLS, buildSh: `${TOOLS}/build.sh`, apicheck: `${TOOLS}/d7y-apicheck` },
  /** A tmpfs for run-time credentials, and the netrc in it that ~/.netrc points to. */
  secrets: { dir: SECRETS, netrc: `${SECRETS}/netrc` },
  /** Dragonfly's own directories: created in the image, owned by the build user. */
  dragonflyDirs: DRAGONFLY_DIRS,
} as const;

/**
 * The runtime image --image builds: the host in bin, the plugins where Dragonfly looks for them
 * (root's, read-only to the user it runs as), Dragonfly's state directories the user's, and the
 * build container's uid:gid as the user (numeric: the image needs no passwd entry for it).
 */
export const RUNTIME_IMAGE = {
  bin: '/usr/local/bin',
  plugins: DRAGONFLY_DIRS.plugins,
  /** Created for the user: what Dragonfly writes at run time. */
  userDirs: [DRAGONFLY_DIRS.cache, DRAGONFLY_DIRS.log, DRAGONFLY_DIRS.data, DRAGONFLY_DIRS.config],
  user: `${CONTAINER.user.uid}:${CONTAINER.user.gid}`,
} as const;

/**
 * The throwaway container of `d7y-build cache` (from an empty image; nothing runs in it): each cache
 * volume is mounted at <volumes>/<volume name>, and read and written through the engine's archive API.
 */
export const CACHE_HELPER = { volumes: '/volumes' } as const;

/** The variables Dockerfile.builder declares as ARG: what the image is built with. */
const IMAGE_VARIABLES = {
  D7Y_USER: CONTAINER.user.name,
  D7Y_UID: String(CONTAINER.user.uid),
  D7Y_GID: String(CONTAINER.user.gid),
  D7Y_HOME: CONTAINER.user.home,
  D7Y_GOPATH: CONTAINER.go.path,
  D7Y_GOMODCACHE: CONTAINER.go.modCache,
  D7Y_GOCACHE: CONTAINER.go.buildCache,
  D7Y_HOST_CACHE: CONTAINER.hostCache,
  D7Y_WORK: CONTAINER.work,
  D7Y_PLUGIN_SOURCES: CONTAINER.pluginSources,
  D7Y_WORKSPACES: CONTAINER.workspaces,
  D7Y_OUT: CONTAINER.out,
  D7Y_TOOLS: CONTAINER.tools.dir,
  D7Y_APICHECK: CONTAINER.tools.apicheck,
  D7Y_SECRET_NETRC: CONTAINER.secrets.netrc,
  D7Y_DRAGONFLY_WORK_HOME: DRAGONFLY_DIRS.workHome,
  D7Y_DRAGONFLY_PLUGIN_DIR: DRAGONFLY_DIRS.plugins,
  D7Y_DRAGONFLY_CACHE_DIR: DRAGONFLY_DIRS.cache,
  D7Y_DRAGONFLY_LOG_DIR: DRAGONFLY_DIRS.log,
  D7Y_DRAGONFLY_DATA_DIR: DRAGONFLY_DIRS.data,
  D7Y_DRAGONFLY_CONFIG_DIR: DRAGONFLY_DIRS.config,
} as const;

/**
 * The layout as the container's environment: every exec sees it, builder/build.sh reads it. The
 * names differ from d7y-build's own D7Y_* settings (D7Y_PLUGINS_DIR is where plugins are installed
 * on this machine, D7Y_DRAGONFLY_PLUGIN_DIR where Dragonfly looks in the container).
 */
export function layoutEnv(): Record<string, string> {
  return {
    ...IMAGE_VARIABLES,
    D7Y_SOURCE_VOLUME: CONTAINER.sourceVolume,
    D7Y_DRAGONFLY: CONTAINER.dragonfly,
    D7Y_OUT_BIN: CONTAINER.outBin,
    D7Y_OUT_PLUGINS: CONTAINER.outPlugins,
    D7Y_LOADCHECK: CONTAINER.loadcheck,
    D7Y_FRESH_GOCACHE: CONTAINER.go.freshBuildCache,
    D7Y_BUILD_SH: CONTAINER.tools.buildSh,
    D7Y_SECRETS: CONTAINER.secrets.dir,
  };
}

/**
 * The build args of the builder image on top of the given Go image: its base, the layout and the
 * target's cross packages (so each cross set has a builder image, and a tag, of its own).
 */
export function builderBuildArgs(goImageId: string, target: TargetName): Record<string, string> {
  return { GO_IMAGE: goImageId, ...IMAGE_VARIABLES, D7Y_CROSS_PACKAGES: crossPackages(target).join(' ') };
}

/**
 * `p` relative to `dir`, which must hold it: the entry name `p` has in a tar stream of `dir`'s
 * contents. Files go in as a stream put into CONTAINER.work with the prefix inside(CONTAINER.work, p);
 * getArchive(d) names its entries inside(path.posix.dirname(d), …).
 */
export function inside(dir: string, p: string): string {
  const rel = path.posix.relative(dir, p);
  if (rel === '' || rel === '..' || rel.startsWith('../') || path.posix.isAbsolute(rel)) {
    throw new InternalError(`container layout: ${p} is not inside ${dir}`);
  }
  return rel;
}
