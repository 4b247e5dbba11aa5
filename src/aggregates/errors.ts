import {
  formatPath,
  StrataError,
  type ValidationIssue,
  WrongExpectedVersionError,
  describeText,
} from '../errors.js'

/**
 * A command was refused before anything ran: its type is unknown to the aggregate, or its data
 * does not match the command's zod schema. Nothing was read or written.
 */
export class CommandValidationError extends StrataError {
  constructor(
    /** The aggregate's name. */
    readonly aggregate: string,
    /** The command's type, when it has a string one. */
    readonly commandType: string | undefined,
    /** What is wrong; zod issues have their path inside the command (`['data', 'amount']`). */
    readonly issues: readonly ValidationIssue[],
  ) {
    const first = issues[0]
    const where =
      first === undefined ? '' : ` at command${formatPath(first.path)}: ${first.message}`
    super(
      'COMMAND_VALIDATION',
      `Invalid ${commandType === undefined ? '' : `${describeText(commandType)} `}command for aggregate ${describeText(aggregate)}${where}` +
        (issues.length > 1 ? ` (and ${issues.length - 1} more issue(s))` : ''),
    )
  }
}

/**
 * Every attempt of a command lost the race to a concurrent write on the same stream: it was
 * loaded, decided and appended `attempts` times, and each append found the stream moved on.
 * Nothing was written by this command. It is a WrongExpectedVersionError (expected and actual
 * are the last conflict's), so code that handles conflicts handles it; `cause` is that conflict.
 */
export class ConcurrencyRetriesExhaustedError extends WrongExpectedVersionError {
  constructor(
    readonly aggregate: string,
    streamId: string,
    /** How many times the command was decided and appended (maxRetries + 1). */
    readonly attempts: number,
    readonly lastConflict: WrongExpectedVersionError,
  ) {
    super(streamId, lastConflict.expected, lastConflict.actual, {
      code: 'CONCURRENCY_RETRIES_EXHAUSTED',
      message: `Command on aggregate ${describeText(aggregate)} gave up after ${attempts} attempt(s): stream ${describeText(streamId)} kept changing concurrently (last seen at version ${lastConflict.actual}); nothing was written`,
      cause: lastConflict,
    })
  }
}

/**
 * `decide` returned an event of a type the aggregate does not declare in its `events`: evolve
 * would never fold it, so the state after the command would not be the state a reload
 * computes. Thrown before anything is written, whether or not the store's registry knows the
 * type. Declare the type in the aggregate's `events`, or decide another one.
 */
export class UndeclaredEventTypeError extends StrataError {
  constructor(
    /** The aggregate's name. */
    readonly aggregate: string,
    /** The type decide returned. */
    readonly eventType: string,
    /** The event types the aggregate declares. */
    readonly declaredTypes: readonly string[],
    /** Index of the event among those decide returned. */
    readonly index: number,
  ) {
    super(
      'UNDECLARED_EVENT_TYPE',
      `Aggregate ${describeText(aggregate)} decided a ${describeText(eventType)} event (events[${index}]), a type it does not declare (declared: ${declaredTypes.map((t) => describeText(t)).join(', ') || 'none'}), so evolve would never fold it; nothing was written`,
    )
  }
}
