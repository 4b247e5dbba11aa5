/**
 * `pg-strata/testing`: helpers for users' own tests: given/when/then specifications for
 * aggregates, and projection specs (given events, expect read-model rows).
 */
import '../node-version.js'

export {
  given,
  specFor,
  type ErrorExpectation,
  type Given,
  type GivenEvent,
  type SpecOutcome,
  type Then,
  type When,
} from './aggregate-spec.js'
export { SpecAssertionError } from './spec-assertion-error.js'
export {
  projectionSpec,
  type ProjectionSpec,
  type ProjectionSpecEvent,
  type ProjectionSpecRegistry,
  type ProjectionThen,
} from './projection-spec.js'
