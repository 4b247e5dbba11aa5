/** Event types: the zod registry, upcasting, and JSON-safe serialisation. */
export * from './json.js'
export * from './registry.js'
