import { InvalidArgumentError, type ValidationIssue, describeText } from '../errors.js'
import { toIssues, type EventTypes } from '../events/index.js'
import { type EventMetadata, type NewEvent, prepareEvents } from '../store/index.js'
import { isZodSchema, type UntypedAggregate } from './define-aggregate.js'
import { CommandValidationError, UndeclaredEventTypeError } from './errors.js'

/** A command after validation, as decide receives it. */
export interface ParsedCommand {
  readonly type: string
  readonly data: unknown
  readonly metadata: EventMetadata
}

/** An event decided by a command, normalised exactly as the store will keep it. */
export interface NormalisedEvent {
  /** The event's id: decide's, or one generated here and appended with it. */
  readonly id: string
  readonly type: string
  /** The payload as a read returns it: zod output, through JSON (what jsonb keeps). */
  readonly data: unknown
  readonly metadata: EventMetadata
}

// Checked again by the append itself; here they only keep a runaway decide from allocating.
const NO_LIMITS = {
  maxEventsPerAppend: Number.MAX_SAFE_INTEGER,
  maxAppendBytes: Number.MAX_SAFE_INTEGER,
}

/**
 * Validates a command against the aggregate's command schemas.
 * @throws CommandValidationError for a non-object, a missing or unknown type, or invalid data.
 */
export function parseCommand(aggregate: UntypedAggregate, command: unknown): ParsedCommand {
  const refuse = (type: string | undefined, issues: ValidationIssue[]) =>
    new CommandValidationError(aggregate.name, type, issues)
  if (typeof command !== 'object' || command === null || Array.isArray(command)) {
    throw refuse(undefined, [
      { path: [], message: 'must be an object { type, data, metadata? }', code: 'invalid_type' },
    ])
  }
  const { type, data, metadata } = command as { type?: unknown; data?: unknown; metadata?: unknown }
  if (isZodSchema(aggregate.commands)) {
    // One schema for whole commands of the user's own shape: decide gets its output.
    const result = aggregate.commands.safeParse(command)
    if (!result.success) {
      throw refuse(typeof type === 'string' ? type : undefined, toIssues(result.error.issues))
    }
    return result.data as ParsedCommand
  }
  if (typeof type !== 'string' || type.length === 0) {
    throw refuse(undefined, [
      { path: ['type'], message: 'must be a non-empty string', code: 'invalid_type' },
    ])
  }
  if (
    metadata !== undefined &&
    (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
  ) {
    throw refuse(type, [{ path: ['metadata'], message: 'must be an object', code: 'invalid_type' }])
  }
  const commands = aggregate.commands
  if (commands === undefined) {
    // No registry: decide gets the command as given (whatever its shape), with metadata.
    return { ...command, type, data, metadata: (metadata ?? {}) as EventMetadata }
  }
  const schema = Object.hasOwn(commands, type) ? commands[type] : undefined
  if (schema === undefined) {
    const known = Object.keys(commands)
    throw refuse(type, [
      {
        path: ['type'],
        message: `unknown command type (known: ${known.map((k) => describeText(k)).join(', ') || 'none'})`,
        code: 'unknown_command',
      },
    ])
  }
  const result = schema.safeParse(data)
  if (!result.success) {
    throw refuse(
      type,
      toIssues(result.error.issues).map((issue) => ({ ...issue, path: ['data', ...issue.path] })),
    )
  }
  return { type, data: result.data, metadata: { ...(metadata as EventMetadata | undefined) } }
}

/**
 * The events a decide call returned, as a list.
 * @throws InvalidArgumentError when decide returned something other than events.
 * @throws UndeclaredEventTypeError for an event of a type the aggregate does not declare.
 */
export function decidedEvents(aggregate: UntypedAggregate, decision: unknown): NewEvent[] {
  const list: unknown[] = Array.isArray(decision) ? decision : [decision]
  for (const [index, event] of list.entries()) {
    if (
      typeof event !== 'object' ||
      event === null ||
      typeof (event as NewEvent).type !== 'string'
    ) {
      throw new InvalidArgumentError(
        `decide result of aggregate ${describeText(aggregate.name)}${Array.isArray(decision) ? `[${index}]` : ''}`,
        event,
        'decide must return an event { type, data }, an array of them, or [] for none',
      )
    }
    const known = foldedTypes(aggregate)
    const { type } = event as NewEvent
    if (known !== null && !known.has(type)) {
      throw new UndeclaredEventTypeError(aggregate.name, type, [...known], index)
    }
  }
  return list as NewEvent[]
}

/** Decided events ready to append, and as a later read will return them. */
export interface PreparedDecision {
  /** What to pass to appendToStream: the decided events with the metadata option merged. */
  readonly appendable: NewEvent[]
  readonly normalised: NormalisedEvent[]
}

/**
 * Validates decided events with the registry the store appends with and normalises them to what
 * a later read returns, so the state `handle` returns is the state a reload computes.
 *
 * Ids are left to the store unless decide gave them: an append with supplied ids runs the
 * store's idempotency check, which costs a lookup per event.
 * @throws EventValidationError, UnknownEventTypeError, EventSerializationError, InvalidArgumentError.
 */
export function prepareDecision(
  events: readonly NewEvent[],
  types: EventTypes,
  metadata: EventMetadata | undefined,
): PreparedDecision {
  if (events.length === 0) return { appendable: [], normalised: [] }
  const merged =
    metadata === undefined
      ? events
      : events.map((e) => ({ ...e, metadata: { ...metadata, ...e.metadata } }))
  const prepared = prepareEvents(merged, types, NO_LIMITS)
  return {
    // With the ids prepareEvents settled on (decide's or generated), so the caller knows them.
    appendable: merged.map((event, i) => ({ ...event, id: prepared.ids[i]! })),
    normalised: prepared.types.map((type, i) => ({
      id: prepared.ids[i]!,
      type,
      data: JSON.parse(prepared.data[i]!) as unknown,
      metadata: JSON.parse(prepared.metadata[i]!) as EventMetadata,
    })),
  }
}

const knownTypes = new WeakMap<UntypedAggregate, ReadonlySet<string> | null>()

/** The event types evolve sees (null: every type). */
function foldedTypes(aggregate: UntypedAggregate): ReadonlySet<string> | null {
  let known = knownTypes.get(aggregate)
  if (known === undefined) {
    known = aggregate.events === undefined ? null : new Set(Object.keys(aggregate.events))
    knownTypes.set(aggregate, known)
  }
  return known
}

/**
 * Folds events into a state with the aggregate's evolve, skipping types it does not declare.
 * @throws InvalidArgumentError when evolve returns undefined (a forgotten `return state`).
 */
export function fold(
  aggregate: UntypedAggregate,
  state: unknown,
  events: Iterable<{ readonly type: string; readonly data: unknown }>,
): { state: unknown; applied: number } {
  const known = foldedTypes(aggregate)
  let applied = 0
  for (const event of events) {
    if (known !== null && !known.has(event.type)) continue
    const next = aggregate.evolve(state, event)
    if (next === undefined && state !== undefined) {
      throw new InvalidArgumentError(
        `evolve result of aggregate ${describeText(aggregate.name)}`,
        next,
        `evolve returned undefined for a ${describeText(event.type)} event; return the state (unchanged for events it ignores)`,
      )
    }
    state = next
    applied++
  }
  return { state, applied }
}
