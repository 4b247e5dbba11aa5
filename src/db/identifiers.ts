import { ConfigError } from '../errors.js'

/** Longest schema name: the NOTIFY channel `<schema>_events` must fit in 63 bytes too. */
export const MAX_SCHEMA_NAME_LENGTH = 56
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,55}$/

/**
 * Checks a schema name from configuration. It reaches SQL as a quoted identifier, but we still
 * refuse anything but lower-case letters, digits and underscores so it never needs quoting rules.
 */
export function checkSchemaName(schema: unknown): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new ConfigError(
      'schema',
      schema,
      `a schema name is 1-${MAX_SCHEMA_NAME_LENGTH} characters of a-z, 0-9 and _, not starting with a digit (names derived from it, like its NOTIFY channel <schema>_events, must fit Postgres' 63 bytes)`,
    )
  }
  if (schema.startsWith('pg_')) {
    throw new ConfigError('schema', schema, 'names starting with pg_ are reserved by Postgres')
  }
  return schema
}

/** Quotes an identifier that has already passed a check. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/**
 * Statements bound to a schema, built once per schema (schema-qualified SQL text is the same for
 * every store on that schema).
 */
export function perSchema<T>(build: (schema: string) => T): (schema: string) => T {
  const built = new Map<string, T>()
  return (schema) => {
    let statements = built.get(schema)
    if (statements === undefined) {
      statements = build(schema)
      built.set(schema, statements)
    }
    return statements
  }
}
