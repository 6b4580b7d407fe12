import { defineConfig } from 'vitest/config';

// One vitest run over every workspace package. `source` makes `@silica/*` imports
// resolve to each package's `src/` (see the `exports` maps), so tests need no build.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'tools/*/test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
