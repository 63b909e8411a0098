/**
 * The Dragonfly tree stays in the engine: a named volume per commit and loader check program
 * (written into the tree), mounted at CONTAINER.sourceVolume, so a tree is sent once per engine,
 * not once per build.
 *
 * Publishing is one atomic step. A build that finds the volume without a tree uploads one into a
 * directory of its own there (t-<run id>), then creates the link CONTAINER.dragonfly → that
 * directory. Creating a link fails when it exists: of two builds populating one new volume the
 * first publishes and the second removes its copy and uses the first's. The link is made after the
 * last file arrived, so it is the completeness marker: an upload cut short is never used, and its
 * directory is removed by the next build that populates the volume, once its run is over.
 * `cache import` writes a tree (t-import-<hex>) and then its link, in one ordered stream.
 */
import { createHash } from 'node:crypto';
import { LABEL, toolLabels } from '../docker/labels';
import { CONTAINER, inside } from './layout';

export const SOURCE_TREE_ROLE = 'dragonfly-source';
const NAME = /^d7y-build-src-([0-9a-f]{12})-([0-9a-f]{8})$/;

/** The link's name in the volume: the tree builds use. */
export const TREE_LINK = inside(CONTAINER.sourceVolume, CONTAINER.dragonfly);
/** The directory a run uploads its tree into, in the volume. */
export const treeDir = (runId: string): string => `t-${runId}`;
/** What a tree directory's name may be: a run's, or an import's. */
export const TREE_DIR = /^t-[0-9a-z-]{1,64}$/;
export const IMPORTED_TREE_PREFIX = 't-import-';
/** When the volume was last used by a build: seconds since the epoch, written by build.sh. */
export const LAST_USED_FILE = '.last-used';

export interface SourceTreeVolume {
  name: string;
  labels: Record<string, string>;
}

/** The volume of the tree at sha with this loader check program in it. */
export function sourceTreeVolume(sha: string, loadcheckProgram: string): SourceTreeVolume {
  const program = createHash('sha256').update(loadcheckProgram).digest('hex').slice(0, 8);
  return { name: `d7y-build-src-${sha.slice(0, 12)}-${program}`, labels: sourceTreeLabels(sha) };
}

export function sourceTreeLabels(sha: string): Record<string, string> {
  return { ...toolLabels(SOURCE_TREE_ROLE), [LABEL.sha]: sha };
}

export function isSourceTreeVolume(name: string): boolean {
  return NAME.test(name);
}
