/** pg returns int8 as a string; strata's positions and versions are bigint. Convert here only. */
export function toBigInt(value: string | number | bigint): bigint {
  return typeof value === 'bigint' ? value : BigInt(value)
}

export function toBigIntOrNull(value: string | number | bigint | null | undefined): bigint | null {
  return value === null || value === undefined ? null : toBigInt(value)
}
