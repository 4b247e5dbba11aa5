/** Projections: read models kept from $all, inline or by runners (issue 3). Owned by src/projections/. */
export {
  defineProjection,
  type AnyProjection,
  type ProjectionDefinition,
  type ProjectionDefinitionInput,
  type ProjectionErrorPolicy,
  type ProjectionHandlers,
  type ReadModelDb,
  type RunnableProjection,
} from './define-projection.js'
export { ProjectionLeaseLostError, ProjectionFailedError } from './errors.js'
export {
  ProjectionRunner,
  type ProjectionProgress,
  type RunnerState,
  type RunProjectionOptions,
} from './projection-runner.js'
export type { ProjectionFailure, ProjectionStatus } from './admin.js'
export type { UntypedDatabase } from '../db/kysely.js'
