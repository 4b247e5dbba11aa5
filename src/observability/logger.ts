/**
 * The logger strata writes to: pino's method shape (`logger.info({ …fields }, 'message')`), so a
 * pino logger, or anything with the same four methods, plugs in as is. Silent by default.
 */
export interface StrataLogger {
  debug(fields: object, message?: string): void
  info(fields: object, message?: string): void
  warn(fields: object, message?: string): void
  error(fields: object, message?: string): void
  /** pino's child(bindings): used when present so every line carries the component. */
  child?(bindings: object): StrataLogger
}

const noop = () => undefined

/** The default: logs nothing. */
export const silentLogger: StrataLogger = { debug: noop, info: noop, warn: noop, error: noop }

/** A logger for one part of strata (`component` field), through child() when available. */
export function componentLogger(logger: StrataLogger, component: string): StrataLogger {
  if (logger === silentLogger) return logger
  if (typeof logger.child === 'function') return logger.child({ component })
  const withComponent = (fields: object) => ({ component, ...fields })
  return {
    debug: (fields, message) => logger.debug(withComponent(fields), message),
    info: (fields, message) => logger.info(withComponent(fields), message),
    warn: (fields, message) => logger.warn(withComponent(fields), message),
    error: (fields, message) => logger.error(withComponent(fields), message),
  }
}

/** Fields for an error, under `err` (pino's standard serializer key). */
export function errorFields(error: unknown): { err: unknown } {
  return { err: error }
}
