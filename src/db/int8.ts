/** pg returns int8 as a string; strata's positions and versions are bigint. Convert here only. */
export function toBigInt(value: string | number | bigint): bigint {
  return typeof value === 'bigint' ? value : BigInt(value)
}

export function toBigIntOrNull(value: string | number | bigint | null | undefined): bigint | null {
  return value === null || value === undefined ? null : toBigInt(value)
}

/**
 * A Postgres array literal of int8 values (`{1,2,3}`), for a `$n::bigint[]` parameter: the
 * digits need no quoting, so this skips pg's per-element escaping (hot in consumers' acks).
 */
export function int8ArrayLiteral(values: ReadonlyArray<bigint>): string {
  return `{${values.join(',')}}`
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * A Postgres array literal of uuids, for a `$n::uuid[]` parameter (no quoting needed either).
 * @throws TypeError for a value that is not a uuid (it would otherwise change the literal).
 */
export function uuidArrayLiteral(values: ReadonlyArray<string>): string {
  for (const value of values) {
    if (!UUID.test(value)) throw new TypeError(`not a uuid: ${JSON.stringify(value)}`)
  }
  return `{${values.join(',')}}`
}
