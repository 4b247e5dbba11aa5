import type pg from 'pg'
import {
  assertSchemaCurrent,
  migrate,
  migrationScript,
  type MigrateOptions,
  type MigrateResult,
} from '../migrate/index.js'
import { componentLogger, type StrataLogger } from '../observability/index.js'

export type MigrateMode = 'check' | 'auto' | 'off'

/**
 * Whether a store's schema is usable, decided once: checked on first use (or migrated, with
 * `migrate: 'auto'`), then cached. A failure is not cached, so the next use asks again.
 */
export class SchemaState {
  #ready: Promise<void> | undefined

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly mode: MigrateMode,
    private readonly logger: StrataLogger,
  ) {}

  async migrate(options: MigrateOptions = {}): Promise<MigrateResult> {
    const result = await migrate(this.pool, this.schema, options)
    if (result.applied.length > 0 && options.dryRun !== true) {
      componentLogger(this.logger, 'migrate').info(
        { schema: this.schema, applied: result.applied },
        'migrations applied',
      )
    }
    if (options.dryRun !== true) this.#ready = Promise.resolve()
    return result
  }

  /** @throws SchemaOutdatedError when migrations are missing (with `migrate: 'check'`). */
  ready(): Promise<void> {
    if (this.#ready !== undefined) return this.#ready
    if (this.mode === 'off') return (this.#ready = Promise.resolve())
    const attempt = (
      this.mode === 'auto'
        ? this.migrate().then(() => undefined)
        : assertSchemaCurrent(this.pool, this.schema)
    ).then(
      () => {
        this.#ready = attempt
      },
      (error: unknown) => {
        this.#ready = undefined
        throw error
      },
    )
    this.#ready = attempt
    return attempt
  }

  script(): Promise<string> {
    return migrationScript(this.schema)
  }

  assertCurrent(): Promise<void> {
    return assertSchemaCurrent(this.pool, this.schema)
  }
}
