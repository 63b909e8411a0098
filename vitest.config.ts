import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The e2e files that copy or wipe every cache volume run first, while the volumes hold only what
 * they make themselves: later they would carry every other file's builds (other commits, other Go
 * versions, arm64) and take minutes longer. bench.test.ts removes the volumes and the builder image
 * (its cold case); cache.test.ts exports and imports them, and leaves the engine warm for the rest.
 */
const CACHES_FIRST = ['test/e2e/bench.test.ts', 'test/e2e/cache.test.ts'];

class CachesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (spec: TestSpecification) => {
      const i = CACHES_FIRST.findIndex((file) => spec.moduleId.endsWith(file));
      return i === -1 ? CACHES_FIRST.length : i;
    };
    // A stable sort: the other files keep vitest's order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    sequence: { sequencer: CachesFirst },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Some steps' tests run real git and write real files many times over: the timeout only
          // catches a hang, and a loaded machine (CI, or end-to-end builds beside) must not trip it.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Engine, Go image, fixture repository and bundle: once, before any e2e test.
          globalSetup: ['test/e2e/global-setup.ts'],
          // One engine, two cores: e2e files run one after another, tests in order, but for those a
          // file marks concurrent (independent builds that mostly wait on the engine), three at a time.
          fileParallelism: false,
          sequence: { concurrent: false },
          maxConcurrency: 3,
          testTimeout: 10 * 60_000,
          hookTimeout: 20 * 60_000,
          retry: 0,
        },
      },
    ],
  },
});
