import type { z } from 'zod'
import { EventValidationError, UnknownEventTypeError, type ValidationIssue } from '../errors.js'

/**
 * One event type: its current zod schema, the schema version appended events are stamped with,
 * and upcasters that lift payloads stored under older versions to the current shape on read.
 */
export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  readonly kind: 'strata.event'
  readonly schema: S
  /** The version new events of this type are stored with (1 unless upcasters exist). */
  readonly version: number
  /** `upcasters[n]` turns a version-n payload into a version-(n+1) payload. */
  readonly upcasters: Readonly<Record<number, (data: never) => unknown>>
}

/** Event types by name: a zod schema, or a {@link defineEvent} definition with upcasters. */
export type EventRegistry = { readonly [type: string]: z.ZodType | EventDefinition }

export type EventSchemaOf<E> =
  E extends EventDefinition<infer S> ? S : E extends z.ZodType ? E : never

/** Names of the registered event types. */
export type EventTypeOf<R extends EventRegistry> = Extract<keyof R, string>

/** The payload of event type K as handlers and readers receive it (zod output). */
export type EventDataOf<R extends EventRegistry, K extends EventTypeOf<R>> = z.output<
  EventSchemaOf<R[K]>
>

/** The payload of event type K as an append accepts it (zod input). */
export type EventInputOf<R extends EventRegistry, K extends EventTypeOf<R>> = z.input<
  EventSchemaOf<R[K]>
>

/**
 * Declares an event type with a schema version and upcasters, for registries whose stored events
 * outlive their shape. `upcast[1]` lifts a v1 payload to v2, `upcast[2]` v2 to v3, and so on;
 * `version` is the current one (default: one past the highest upcaster).
 */
export function defineEvent<S extends z.ZodType>(
  schema: S,
  options: { version?: number; upcast?: Record<number, (data: never) => unknown> } = {},
): EventDefinition<S> {
  const upcasters = options.upcast ?? {}
  const steps = Object.keys(upcasters).map(Number)
  const version = options.version ?? (steps.length === 0 ? 1 : Math.max(...steps) + 1)
  if (!Number.isInteger(version) || version < 1) {
    throw new RangeError(`defineEvent: version must be an integer >= 1, got ${version}`)
  }
  for (let from = 1; from < version; from++) {
    if (typeof upcasters[from] !== 'function') {
      throw new RangeError(
        `defineEvent: version ${version} needs an upcaster from every older version; upcast[${from}] is missing`,
      )
    }
  }
  return { kind: 'strata.event', schema, version, upcasters }
}

function isDefinition(entry: z.ZodType | EventDefinition): entry is EventDefinition {
  return (entry as EventDefinition).kind === 'strata.event'
}

/** The registry as the store uses it at run time. */
export class EventTypes {
  readonly #definitions = new Map<string, EventDefinition>()
  readonly allowUnregistered: boolean

  constructor(registry: EventRegistry | undefined, allowUnregistered: boolean | undefined) {
    for (const [type, entry] of Object.entries(registry ?? {})) {
      this.#definitions.set(type, isDefinition(entry) ? entry : defineEvent(entry))
    }
    // With no registry at all the store is untyped; with one, strict unless told otherwise.
    this.allowUnregistered = allowUnregistered ?? this.#definitions.size === 0
  }

  get names(): string[] {
    return [...this.#definitions.keys()]
  }

  has(type: string): boolean {
    return this.#definitions.has(type)
  }

  /** The schema version new events of this type are stored with. */
  versionOf(type: string): number {
    return this.#definitions.get(type)?.version ?? 1
  }

  /** Validates (and normalises, as zod parses) a payload to append. */
  parse(type: string, data: unknown, index: number): unknown {
    const definition = this.#definitions.get(type)
    if (definition === undefined) {
      if (this.allowUnregistered) return data
      throw new UnknownEventTypeError(type, this.names)
    }
    const result = definition.schema.safeParse(data)
    if (!result.success) {
      throw new EventValidationError(type, toIssues(result.error.issues), index)
    }
    return result.data
  }

  /** Lifts a stored payload to the current version of its type. */
  upcast(type: string, data: unknown, storedVersion: number): unknown {
    const definition = this.#definitions.get(type)
    if (definition === undefined || storedVersion >= definition.version) return data
    let current = data
    for (let v = storedVersion; v < definition.version; v++) {
      const step = definition.upcasters[v] as ((data: unknown) => unknown) | undefined
      if (step === undefined) break
      current = step(current)
    }
    return current
  }

  /** Whether any registered type has upcasters (reads skip the work when none does). */
  get hasUpcasters(): boolean {
    for (const definition of this.#definitions.values()) if (definition.version > 1) return true
    return false
  }
}

export function toIssues(issues: readonly z.core.$ZodIssue[]): ValidationIssue[] {
  return issues.map((issue) => ({
    path: issue.path.map((key) => (typeof key === 'symbol' ? key.toString() : key)),
    message: issue.message,
    code: issue.code,
  }))
}
