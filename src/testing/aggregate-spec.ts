import { randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import {
  decidedEvents,
  fold,
  parseCommand,
  prepareDecision,
  type NormalisedEvent,
  isAggregate,
  untyped,
  type AnyAggregate,
  type CommandOf,
  type EventsOf,
  type StateOf,
  type UntypedAggregate,
  type AppendedEvent,
  type DecidedEvent,
} from '../aggregates/index.js'
import { InvalidArgumentError } from '../errors.js'
import { EventTypes, type EventTypeOf } from '../events/index.js'
import { SpecAssertionError } from './spec-assertion-error.js'

/**
 * An event already in the stream: as appended (`{ type, data }`), or stored under an older
 * schema version (`dataVersion`), which is upcast as a read would.
 */
export type GivenEvent<A> =
  | DecidedEvent<EventsOf<A>>
  | {
      readonly type: EventTypeOf<EventsOf<A>>
      readonly data: unknown
      /** The schema version the payload was stored under (default: the current one). */
      readonly dataVersion: number
    }

/** An error the command should fail with: its class, a predicate, or a pattern for its message. */
export type ErrorExpectation =
  (abstract new (...args: never[]) => Error) | ((error: unknown) => boolean) | RegExp

/** What a spec produced when the command succeeded. */
export interface SpecOutcome<A> {
  /** The decided events, as the store would keep them (no id, stream or version: nothing was stored). */
  readonly events: ReadonlyArray<Pick<AppendedEvent<EventsOf<A>>, 'type' | 'data' | 'metadata'>>
  /** The state after the given events and the decided ones. */
  readonly state: StateOf<A>
}

/** The last step: what should come of the command. */
export interface Then<A> {
  /**
   * Asserts the outcome: pass the expected events (an array, [] for none, or one event), or the
   * error the command should fail with (its class, a predicate, or a RegExp for its message).
   * Events are compared as the store keeps them (zod output, through JSON): `type` and `data`,
   * and `metadata` only when the expected event has it. Throws (synchronously when decide is
   * synchronous) a {@link SpecAssertionError} whose diff vitest prints.
   *
   * Returns the outcome (events and state) for further assertions; `await` it.
   */
  then(
    expected: ReadonlyArray<DecidedEvent<EventsOf<A>>> | DecidedEvent<EventsOf<A>>,
  ): Promise<SpecOutcome<A>>
  /** Asserts the command fails with this error; resolves to the error. */
  then(expected: ErrorExpectation): Promise<unknown>
  /** Asserts the command fails with this error (see {@link Then.then}); resolves to the error. */
  thenThrows(expected: ErrorExpectation): Promise<unknown>
}

/** The second step: the command under test. */
export interface When<A> {
  when(command: CommandOf<A>): Then<A>
}

/**
 * The first step: the events already in the aggregate's stream. Call it, or its `given` method
 * (`spec(events)` and `spec.given(events)` are the same).
 */
export interface Given<A> {
  (events?: ReadonlyArray<GivenEvent<A>>): When<A>
  given(events?: ReadonlyArray<GivenEvent<A>>): When<A>
}

/**
 * Given/when/then specifications for an aggregate's decider, without a database: the given
 * events are validated and folded with evolve, the command is validated and decided, and the
 * decided events are validated, normalised and folded, all as `store.handle` does.
 *
 * @example
 * const given = specFor(account)
 * it('refuses an overdraft', () =>
 *   given([{ type: 'AccountOpened', data: { owner: 'Ada', overdraftLimit: 0 } }])
 *     .when({ type: 'Withdraw', data: { amount: 10 } })
 *     .then(OverdraftError))
 *
 * @throws InvalidArgumentError when `aggregate` was not made by defineAggregate.
 */
export function specFor<A extends AnyAggregate>(aggregate: A): Given<A> {
  if (!isAggregate(aggregate)) {
    throw new InvalidArgumentError('aggregate', aggregate, 'must be made by defineAggregate()')
  }
  const start = (events: ReadonlyArray<GivenEvent<A>> = []) => given(aggregate, events)
  return Object.assign(start, { given: start })
}

/**
 * `given(aggregate, events).when(command).then(expected)`: the same as
 * `specFor(aggregate)(events)`.
 * @throws InvalidArgumentError for an invalid aggregate; the given events' validation errors
 *   (they are the spec's setup, never mistaken for the outcome).
 */
export function given<A extends AnyAggregate>(
  aggregate: A,
  events: ReadonlyArray<GivenEvent<A>> = [],
): When<A> {
  if (!isAggregate(aggregate)) {
    throw new InvalidArgumentError('aggregate', aggregate, 'must be made by defineAggregate()')
  }
  if (!Array.isArray(events)) {
    throw new InvalidArgumentError('given events', events, 'must be an array of { type, data }')
  }
  const decider = untyped(aggregate)
  const types = eventTypesOf(decider)
  const history = events.map((event: GivenEvent<A>, index) => storedForm(types, event, index))
  const start = fold(decider, decider.initialState(), history).state
  return {
    when(command) {
      return thenStep(decider, types, start, command) as Then<A>
    },
  }
}

type Outcome =
  | { readonly ok: true; readonly events: NormalisedEvent[]; readonly state: unknown }
  | { readonly ok: false; readonly error: unknown }

function thenStep(
  aggregate: UntypedAggregate,
  types: EventTypes,
  start: unknown,
  command: unknown,
): Then<UntypedAggregate> {
  const finish = (decision: unknown): Outcome => {
    const decided = decidedEvents(aggregate, decision)
    const { normalised } = prepareDecision(decided, types, undefined)
    return { ok: true, events: normalised, state: fold(aggregate, start, normalised).state }
  }
  // Runs the command once per assertion; synchronously when decide is synchronous.
  const run = (): Outcome | Promise<Outcome> => {
    try {
      const parsed = parseCommand(aggregate, command)
      const decision = aggregate.decide(parsed, start)
      if (isPromiseLike(decision)) {
        return Promise.resolve(decision).then(finish, (error: unknown) => ({ ok: false, error }))
      }
      return finish(decision)
    } catch (error) {
      return { ok: false, error }
    }
  }
  const settle = <T>(check: (outcome: Outcome) => T): Promise<T> => {
    const outcome = run()
    if (isPromiseLike(outcome)) return outcome.then(check)
    return Promise.resolve(check(outcome)) // check throws synchronously: un-awaited specs still fail
  }
  return {
    then(expected: unknown, ...rest: unknown[]): Promise<never> {
      if (typeof rest[0] === 'function') {
        // `await given(...).when(...)` calls then(resolve, reject): say so instead of hanging.
        ;(rest[0] as (error: unknown) => void)(
          new InvalidArgumentError(
            'spec',
            'given(...).when(...)',
            'is not a promise: call .then(expectedEvents | ErrorClass) on it to assert',
          ),
        )
        return new Promise<never>(() => undefined)
      }
      if (isErrorExpectation(expected)) {
        return settle((outcome) => assertFailure(outcome, expected)) as Promise<never>
      }
      const list: unknown[] = Array.isArray(expected) ? expected : [expected]
      const wanted = expectedForm(types, list)
      return settle((outcome) => assertEvents(outcome, wanted)) as Promise<never>
    },
    thenThrows(expected) {
      if (!isErrorExpectation(expected)) {
        throw new InvalidArgumentError(
          'thenThrows',
          expected,
          'expects an Error class, a predicate or a RegExp',
        )
      }
      return settle((outcome) => assertFailure(outcome, expected))
    },
  }
}

function eventTypesOf(aggregate: UntypedAggregate): EventTypes {
  return new EventTypes(aggregate.events, aggregate.events === undefined)
}

function storedForm(types: EventTypes, event: unknown, index: number): NormalisedEvent {
  if (
    typeof event !== 'object' ||
    event === null ||
    typeof (event as { type?: unknown }).type !== 'string'
  ) {
    throw new InvalidArgumentError(`given events[${index}]`, event, 'must be { type, data }')
  }
  const { type, data, dataVersion } = event as {
    type: string
    data: unknown
    dataVersion?: unknown
  }
  if (dataVersion !== undefined && dataVersion !== types.versionOf(type)) {
    if (typeof dataVersion !== 'number' || !Number.isInteger(dataVersion) || dataVersion < 1) {
      throw new InvalidArgumentError(
        `given events[${index}].dataVersion`,
        dataVersion,
        'must be an integer >= 1',
      )
    }
    // Stored under an older version: what a read returns is the upcast payload.
    const upcast = types.upcast(type, JSON.parse(JSON.stringify(data)) as unknown, dataVersion)
    return { id: randomUUID(), type, data: upcast, metadata: {} }
  }
  const { normalised } = prepareDecision([{ type, data }], types, undefined)
  return normalised[0]!
}

interface ExpectedEvent {
  readonly type: string
  readonly data: unknown
  readonly metadata?: unknown
}

function expectedForm(types: EventTypes, events: readonly unknown[]): ExpectedEvent[] {
  return events.map((event, index) => {
    if (
      typeof event !== 'object' ||
      event === null ||
      typeof (event as { type?: unknown }).type !== 'string'
    ) {
      throw new InvalidArgumentError(`expected events[${index}]`, event, 'must be { type, data }')
    }
    const hasMetadata = (event as { metadata?: unknown }).metadata !== undefined
    const [normalised] = prepareDecision(
      [event as DecidedEvent<never>],
      types,
      undefined,
    ).normalised
    return hasMetadata
      ? { type: normalised!.type, data: normalised!.data, metadata: normalised!.metadata }
      : { type: normalised!.type, data: normalised!.data }
  })
}

function assertEvents(outcome: Outcome, wanted: ExpectedEvent[]): SpecOutcome<AnyAggregate> {
  if (!outcome.ok) {
    throw new SpecAssertionError(
      `Expected ${describeEvents(wanted)} but the command failed: ${describeError(outcome.error)}`,
      outcome.error,
      wanted,
      { cause: outcome.error, showDiff: false },
    )
  }
  const actual = outcome.events.map((event, i) =>
    wanted[i]?.metadata === undefined
      ? { type: event.type, data: event.data }
      : { type: event.type, data: event.data, metadata: event.metadata },
  )
  if (!isDeepStrictEqual(actual, wanted)) {
    const at = actual.findIndex((event, i) => !isDeepStrictEqual(event, wanted[i]))
    const where =
      at === -1
        ? `(${actual.length} events instead of ${wanted.length})`
        : `(first difference at index ${at})`
    throw new SpecAssertionError(
      `Expected ${describeEvents(wanted)} but decide returned ${describeEvents(actual)} ${where}`,
      actual,
      wanted,
    )
  }
  return {
    events: outcome.events.map(({ type, data, metadata }) => ({ type, data, metadata })),
    state: outcome.state,
  }
}

function assertFailure(outcome: Outcome, expected: ErrorExpectation): unknown {
  if (outcome.ok) {
    throw new SpecAssertionError(
      `Expected the command to fail with ${describeExpectation(expected)} but decide returned ${describeEvents(outcome.events)}`,
      outcome.events.map(({ type, data }) => ({ type, data })),
      describeExpectation(expected),
      { showDiff: false },
    )
  }
  const { error } = outcome
  if (!matches(error, expected)) {
    throw new SpecAssertionError(
      `Expected the command to fail with ${describeExpectation(expected)} but it failed with ${describeError(error)}`,
      describeError(error),
      describeExpectation(expected),
      { cause: error },
    )
  }
  return error
}

function matches(error: unknown, expected: ErrorExpectation): boolean {
  if (expected instanceof RegExp) return error instanceof Error && expected.test(error.message)
  if (isErrorClass(expected)) return error instanceof expected
  return expected(error) === true
}

function isErrorExpectation(value: unknown): value is ErrorExpectation {
  return value instanceof RegExp || typeof value === 'function'
}

function isErrorClass(value: unknown): value is abstract new (...args: never[]) => Error {
  return (
    typeof value === 'function' &&
    (value === Error || (value as { prototype?: unknown }).prototype instanceof Error)
  )
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

function describeEvents(events: ReadonlyArray<{ readonly type: string }>): string {
  return events.length === 0 ? 'no events' : `[${events.map((e) => e.type).join(', ')}]`
}

function describeExpectation(expected: ErrorExpectation): string {
  if (expected instanceof RegExp) return `an error matching ${String(expected)}`
  if (isErrorClass(expected)) return expected.name
  return `an error satisfying ${expected.name || 'the predicate'}`
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
