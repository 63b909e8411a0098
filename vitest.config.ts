import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
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
          // One engine, two cores: e2e files run one after another, tests in order.
          fileParallelism: false,
          sequence: { concurrent: false },
          testTimeout: 10 * 60_000,
          hookTimeout: 20 * 60_000,
          retry: 0,
        },
      },
    ],
  },
});
