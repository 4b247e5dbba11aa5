import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^pg-strata$/, replacement: src('index.ts') },
      { find: /^pg-strata\/testing$/, replacement: src('testing/index.ts') },
      { find: /^pg-strata\/dev$/, replacement: src('local-database/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each file gets its own database, so files run in parallel; most time is spent waiting on
    // Postgres, so more workers than cores pays off.
    pool: 'forks',
    maxWorkers: 4,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
})
