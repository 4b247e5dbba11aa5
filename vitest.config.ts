import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url))

/**
 * The store's test files that run a second time through PgBouncer in transaction mode (the
 * "pgbouncer" project: test/support/global-setup.ts starts one, useTestDatabase() connects
 * through it with `listen: false`). What does not work through a transaction-mode pooler is in
 * docs/operations.md#pgbouncer-in-transaction-mode.
 */
export const THROUGH_PGBOUNCER = [
  'test/store/append.test.ts',
  'test/store/read.test.ts',
  'test/store/properties.test.ts',
  'test/aggregates/*.test.ts',
  'test/consumers/consumer-group.test.ts',
  'test/store/pgbouncer.test.ts',
  'test/chaos/killed-connections.test.ts',
]

/**
 * Test files that run a third time on a store whose events are partitioned by position (the
 * "partitioned" project: useTestDatabase() runs enable_event_partitioning after migrate).
 */
export const ON_PARTITIONED_EVENTS = [
  'test/store/append.test.ts',
  'test/store/append-outcome.test.ts',
  'test/store/read.test.ts',
  'test/store/properties.test.ts',
  'test/store/fuzz.test.ts',
  'test/store/hardening.test.ts',
  'test/store/bad-input.test.ts',
  'test/store/bad-input-edge.test.ts',
  'test/aggregates/*.test.ts',
  'test/consumers/consumer-group.test.ts',
  'test/subscriptions/wake-up-notify.test.ts',
  'test/operations/runtime-role.test.ts',
  'test/security/strangers-and-roles.test.ts',
  'test/security/tenants.test.ts',
]

export default defineConfig({
  resolve: {
    alias: [
      { find: /^pg-strata$/, replacement: src('index.ts') },
      { find: /^pg-strata\/testing$/, replacement: src('testing/index.ts') },
      { find: /^pg-strata\/dev$/, replacement: src('local-database/index.ts') },
    ],
  },
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    // Each file gets its own database, so files run in parallel; most time is spent waiting on
    // Postgres, so more workers than cores pays off.
    pool: 'forks',
    maxWorkers: 4,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/**/*.test.ts'],
          exclude: ['test/store/pgbouncer.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'pgbouncer',
          include: THROUGH_PGBOUNCER,
          // Type-level tests: nothing to learn from them twice.
          exclude: ['test/aggregates/type-errors.test.ts', 'test/aggregates/types.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'partitioned',
          include: ON_PARTITIONED_EVENTS,
          exclude: ['test/aggregates/type-errors.test.ts', 'test/aggregates/types.test.ts'],
          env: { STRATA_TEST_PARTITION_SIZE: '16' },
        },
      },
    ],
  },
})
