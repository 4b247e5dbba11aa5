/**
 * `strata/testing`: helpers for users' own tests. Given/when/then specifications for aggregates
 * (issue 5); projection specs land with projections. Owned by src/testing/.
 */
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
