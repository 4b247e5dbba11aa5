import type { z } from 'zod'
import type { EventDataOf, EventInputOf, EventRegistry, EventTypeOf } from '../events/index.js'
import type { EventMetadata, NewEvent } from '../store/index.js'

/** Command types by name, each with the zod schema of its `data`. */
export type CommandRegistry = { readonly [type: string]: z.ZodType }

/**
 * How an aggregate validates commands: a registry (`{ Deposit: z.object({ amount }) }`, commands
 * are `{ type, data, metadata? }`), or one zod schema for the whole command (typically a
 * `z.discriminatedUnion('type', …)`, for commands of your own shape).
 */
export type CommandSchemas = CommandRegistry | z.ZodType

/** Names of the command types of a registry. */
export type CommandTypeOf<C extends CommandRegistry> = Extract<keyof C, string>

type CommandEnvelope<K extends string, D> = undefined extends D
  ? { readonly type: K; readonly data?: D; readonly metadata?: EventMetadata }
  : { readonly type: K; readonly data: D; readonly metadata?: EventMetadata }

/**
 * A command as callers pass it to `store.handle`: `{ type, data, metadata? }`, with `data` in the
 * zod input shape of its type (optional when the schema accepts undefined).
 */
export type CommandInput<C extends CommandSchemas> = C extends z.ZodType
  ? z.input<C>
  : C extends CommandRegistry
    ? { [K in CommandTypeOf<C>]: CommandEnvelope<K, z.input<C[K]>> }[CommandTypeOf<C>]
    : never

/**
 * A command as `decide` receives it: validated, `data` in the zod output shape, discriminated by
 * `type` (with a whole-command schema: that schema's output).
 */
export type Command<C extends CommandSchemas> = C extends z.ZodType
  ? z.output<C>
  : C extends CommandRegistry
    ? {
        [K in CommandTypeOf<C>]: {
          readonly type: K
          readonly data: z.output<C[K]>
          readonly metadata: EventMetadata
        }
      }[CommandTypeOf<C>]
    : never

/**
 * An event as `evolve` receives it: discriminated by `type`, `data` typed from the registry
 * (upcast to the current version when it was stored under an older one).
 */
export type AggregateEvent<E extends EventRegistry> = {
  [K in EventTypeOf<E>]: {
    readonly type: K
    readonly data: EventDataOf<E, K>
    readonly metadata?: EventMetadata
  }
}[EventTypeOf<E>]

/** An event `decide` returns: `{ type, data, metadata?, id? }`, `data` in the zod input shape. */
export type DecidedEvent<E extends EventRegistry> = {
  [K in EventTypeOf<E>]: NewEvent<K, EventInputOf<E, K>>
}[EventTypeOf<E>]

/** What `decide` returns: the events to append (none, one, or several in order). */
export type Decision<E extends EventRegistry> = DecidedEvent<E> | ReadonlyArray<DecidedEvent<E>>

/** An event appended by `store.handle`, with its version, `data` as stored (and as reads return it). */
export type AppendedEvent<E extends EventRegistry> = {
  [K in EventTypeOf<E>]: {
    /** The event's id (a uuid), as stored. */
    readonly id: string
    readonly streamId: string
    readonly version: bigint
    readonly type: K
    readonly data: EventDataOf<E, K>
    readonly metadata: EventMetadata
  }
}[EventTypeOf<E>]
