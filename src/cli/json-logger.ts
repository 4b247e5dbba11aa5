import type { StrataLogger } from '../observability/index.js'
import { toJson } from './output.js'

/**
 * A structured logger for long-running commands: one JSON object per line on stderr (stdout
 * stays for the command's result), `{ time, level, msg, ...fields }`, errors under `err` with
 * their name and message.
 */
export function jsonLinesLogger(
  write: (line: string) => void = (line) => process.stderr.write(line),
  bindings: object = {},
): StrataLogger {
  const log =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (fields: object, message?: string): void => {
      const { err, ...rest } = fields as { err?: unknown }
      const line: Record<string, unknown> = {
        time: new Date().toISOString(),
        level,
        ...(message === undefined ? {} : { msg: message }),
        ...bindings,
        ...rest,
      }
      if (err !== undefined) {
        line.err =
          err instanceof Error
            ? { name: err.name, message: err.message }
            : { message: typeof err === 'string' ? err : toJson(err) }
      }
      write(`${toJson(line)}\n`)
    }
  return {
    debug: () => undefined,
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (more) => jsonLinesLogger(write, { ...bindings, ...more }),
  }
}
