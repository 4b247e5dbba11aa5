import type { z } from 'zod'
import { checkOptions, optionKeys } from '../config/index.js'
import {
  ConfigError,
  EventValidationError,
  formatPath,
  StrataError,
  UnknownEventTypeError,
  type ValidationIssue,
  describeText,
} from '../errors.js'

/** One step of an upcaster chain: a payload stored under version n in, a version n+1 payload out. */
export type Upcaster = (data: never) => unknown

/**
 * One event type: its current zod schema, the schema version appended events are stamped with,
 * and upcasters that lift payloads stored under older versions to the current shape on read.
 */
export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  readonly kind: 'strata.event'
  /** The current schema: appends are validated with it, reads return its output type. */
  readonly schema: S
  /** The version new events of this type are stored with (1 unless upcasters exist). */
  readonly version: number
  /** `upcasters[n]` turns a version-n payload into a version-(n+1) payload. */
  readonly upcasters: Readonly<Record<number, Upcaster>>
  /**
   * Known schemas by version (always the current one; every version when built with
   * {@link EventDefinition.nextVersion}). The output of upcaster n is checked and normalised with
   * `schemas[n + 1]` when present.
   */
  readonly schemas: Readonly<Record<number, z.ZodType>>
  /** Whether upcast payloads are checked against the schema of the version they reach (default true). */
  readonly validateUpcasts: boolean
  /**
   * A new version of this event type: `schema` becomes the current shape and `upcast` lifts a
   * payload of the previous version to it. The chain stays fully typed:
   *
   * @example
   * const Deposited = defineEvent(z.object({ amount: z.number() }))            // v1
   *   .nextVersion(z.object({ amount: z.number(), currency: z.string() }),      // v2
   *     (v1) => ({ ...v1, currency: 'EUR' }))
   *   .nextVersion(z.object({ cents: z.number().int(), currency: z.string() }), // v3
   *     (v2) => ({ cents: Math.round(v2.amount * 100), currency: v2.currency }))
   */
  nextVersion<Next extends z.ZodType>(
    schema: Next,
    upcast: (previous: z.output<S>) => z.input<Next>,
  ): EventDefinition<Next>
}

/** Event types by name: a zod schema, or a {@link defineEvent} definition with upcasters. */
export type EventRegistry = { readonly [type: string]: z.ZodType | EventDefinition }

/** The current zod schema of a registry entry (a schema, or a definition's schema). */
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

/** Options of {@link defineEvent}. */
export interface DefineEventOptions {
  /** The current version (default: one past the highest upcaster, or 1). */
  version?: number
  /**
   * `upcast[1]` lifts a v1 payload to v2, `upcast[2]` v2 to v3, and so on. Stored events are
   * never rewritten: the chain runs on every read of an old event.
   */
  upcast?: Record<number, Upcaster>
  /**
   * Check (and normalise, as zod parses) the result of the chain with the current schema, so a
   * faulty upcaster fails loudly with an {@link UpcastError} instead of handing readers a
   * payload of the wrong shape (default true). Turn off for schemas whose transforms are not
   * idempotent (parsing their own output fails).
   */
  validateUpcasts?: boolean
}

/**
 * Declares an event type with a schema version and upcasters, for registries whose stored events
 * outlive their shape. `upcast[1]` lifts a v1 payload to v2, `upcast[2]` v2 to v3, and so on;
 * `version` is the current one (default: one past the highest upcaster). For a chain typed step
 * by step, start from the first schema and add versions with {@link EventDefinition.nextVersion}.
 *
 * @example
 * const Deposited = defineEvent(z.object({ cents: z.number().int(), currency: z.string() }), {
 *   version: 3,
 *   upcast: {
 *     1: (v1: { amount: number }) => ({ ...v1, currency: 'EUR' }),
 *     2: (v2: { amount: number; currency: string }) => ({ cents: v2.amount * 100, currency: v2.currency }),
 *   },
 * })
 *
 * @throws RangeError when the version is not an integer >= 1 or an upcaster of the chain is missing.
 */
const DEFINE_EVENT_OPTIONS = optionKeys<DefineEventOptions>({
  version: true,
  upcast: true,
  validateUpcasts: true,
})

export function defineEvent<S extends z.ZodType>(
  schema: S,
  options: DefineEventOptions = {},
): EventDefinition<S> {
  checkOptions(options, DEFINE_EVENT_OPTIONS, 'an option of defineEvent()', {
    errorClass: ConfigError,
  })
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
  return makeDefinition(schema, version, upcasters, { [version]: schema }, options.validateUpcasts)
}

function makeDefinition<S extends z.ZodType>(
  schema: S,
  version: number,
  upcasters: Readonly<Record<number, Upcaster>>,
  schemas: Readonly<Record<number, z.ZodType>>,
  validateUpcasts: boolean | undefined,
): EventDefinition<S> {
  const definition: EventDefinition<S> = {
    kind: 'strata.event',
    schema,
    version,
    upcasters: Object.freeze({ ...upcasters }),
    schemas: Object.freeze({ ...schemas }),
    validateUpcasts: validateUpcasts ?? true,
    nextVersion<Next extends z.ZodType>(
      next: Next,
      upcast: (previous: z.output<S>) => z.input<Next>,
    ): EventDefinition<Next> {
      if (typeof upcast !== 'function') {
        throw new RangeError(`nextVersion: the upcaster from version ${version} must be a function`)
      }
      return makeDefinition(
        next,
        version + 1,
        { ...upcasters, [version]: upcast },
        { ...schemas, [version + 1]: next },
        validateUpcasts,
      )
    },
  }
  return Object.freeze(definition)
}

function isDefinition(entry: z.ZodType | EventDefinition): entry is EventDefinition {
  return (entry as EventDefinition).kind === 'strata.event'
}

/**
 * An upcaster failed on a stored payload: it threw, returned undefined, or its result does not
 * match the schema of the version it lifts to. The stored event is unchanged.
 */
export class UpcastError extends StrataError {
  constructor(
    readonly eventType: string,
    /** The version the failing step started from. */
    readonly fromVersion: number,
    /** The version the failing step was to reach. */
    readonly toVersion: number,
    /** Zod issues of the step's result, when it did not match the schema. */
    readonly issues: readonly ValidationIssue[],
    reason: string,
    options?: ErrorOptions,
  ) {
    super(
      'UPCAST',
      `Upcasting a stored ${describeText(eventType)} event from version ${fromVersion} to ${toVersion} failed: ${reason}`,
      options,
    )
  }
}

/** The registry as the store uses it at run time. */
export class EventTypes {
  readonly #definitions = new Map<string, EventDefinition>()
  /** Whether types missing from the registry may be appended (untyped stores). */
  readonly allowUnregistered: boolean
  /** Whether any registered type has upcasters. */
  readonly hasUpcasters: boolean

  constructor(registry: EventRegistry | undefined, allowUnregistered: boolean | undefined) {
    for (const [type, entry] of Object.entries(registry ?? {})) {
      this.#definitions.set(type, isDefinition(entry) ? entry : defineEvent(entry))
    }
    // With no registry at all the store is untyped; with one, strict unless told otherwise.
    this.allowUnregistered = allowUnregistered ?? this.#definitions.size === 0
    this.hasUpcasters = [...this.#definitions.values()].some((d) => d.version > 1)
  }

  /** The registered type names. */
  get names(): string[] {
    return [...this.#definitions.keys()]
  }

  /** Whether the type is registered. */
  has(type: string): boolean {
    return this.#definitions.has(type)
  }

  /** The schema version new events of this type are stored with. */
  versionOf(type: string): number {
    return this.#definitions.get(type)?.version ?? 1
  }

  /**
   * Validates (and normalises, as zod parses) a payload to append.
   * @throws UnknownEventTypeError, EventValidationError.
   */
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

  /**
   * Lifts a stored payload to the current version of its type, one upcaster at a time. A payload
   * stored under a newer version than this code knows (a rolling deploy) is returned unchanged.
   * @throws UpcastError when a step throws, returns undefined or yields the wrong shape.
   */
  upcast(type: string, data: unknown, storedVersion: number): unknown {
    const definition = this.#definitions.get(type)
    if (definition === undefined || storedVersion >= definition.version) return data
    let current = data
    for (let from = Math.max(1, storedVersion); from < definition.version; from++) {
      const step = definition.upcasters[from] as ((data: unknown) => unknown) | undefined
      if (step === undefined) {
        throw new UpcastError(type, from, from + 1, [], `no upcaster from version ${from}`)
      }
      try {
        current = step(current)
      } catch (error) {
        throw new UpcastError(type, from, from + 1, [], describeThrown(error), { cause: error })
      }
      if (current === undefined) {
        throw new UpcastError(type, from, from + 1, [], 'the upcaster returned undefined')
      }
      const schema = definition.schemas[from + 1]
      if (definition.validateUpcasts && schema !== undefined) {
        const result = schema.safeParse(current)
        if (!result.success) {
          const issues = toIssues(result.error.issues)
          const first = issues[0]
          throw new UpcastError(
            type,
            from,
            from + 1,
            issues,
            `the result does not match the version ${from + 1} schema` +
              (first === undefined ? '' : ` at data${formatPath(first.path)}: ${first.message}`),
          )
        }
        current = result.data
      }
    }
    return current
  }
}

function describeThrown(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** zod issues as strata's ValidationIssue (paths without symbols). */
export function toIssues(issues: readonly z.core.$ZodIssue[]): ValidationIssue[] {
  return issues.map((issue) => ({
    path: issue.path.map((key) => (typeof key === 'symbol' ? key.toString() : key)),
    message: issue.message,
    code: issue.code,
  }))
}
