import type { StrataLogger } from '../observability/index.js'

/** One action asked of the console, done or refused. */
export interface AuditEntry {
  readonly at: string
  /** e.g. `dead-letters.replay`, `projections.pause`. */
  readonly action: string
  /** What it acted on (a group's or projection's name), when the request named one. */
  readonly target: string | null
  /** 'done', 'refused' (not allowed: no token, wrong token, actions disabled) or 'failed'. */
  readonly outcome: 'done' | 'refused' | 'failed'
  /** The HTTP status answered. */
  readonly status: number
  /** What it did (counts) or why it was refused or failed. */
  readonly detail: string
  /** The address the request came from. */
  readonly remote: string | null
}

const KEPT = 200

/**
 * Every action, done or refused: written to the logger (info for done, warn otherwise) and kept
 * in memory (the newest KEPT) for the console's own page. Parameters are logged, event data
 * never is (actions take positions and names only).
 */
export class AuditLog {
  readonly #logger: StrataLogger
  #entries: AuditEntry[] = []

  constructor(logger: StrataLogger) {
    this.#logger = logger
  }

  record(entry: Omit<AuditEntry, 'at'>): void {
    const full: AuditEntry = { at: new Date().toISOString(), ...entry }
    this.#entries = [full, ...this.#entries].slice(0, KEPT)
    const fields = { ...full, event: 'console.action' }
    if (entry.outcome === 'done') this.#logger.info(fields, `console action ${entry.action}`)
    else this.#logger.warn(fields, `console action ${entry.action} ${entry.outcome}`)
  }

  /** Newest first. */
  entries(): readonly AuditEntry[] {
    return this.#entries
  }
}
