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
export { ProjectionRunner } from './projection-runner.js'
export type { ProjectionProgress, RunnerState, RunProjectionOptions } from './runner-types.js'
export type { ProjectionFailure, ProjectionStatus } from './admin.js'
export type { UntypedDatabase } from '../db/index.js'

// For the facade and the layers above (not re-exported to users).
export { projectionFailures, projectionStatus, resetProjection, setPaused } from './admin.js'
export { InlineProjections } from './inline.js'
export { readModelSearchPath, versionSchema } from './read-model.js'
export { projectionSql } from './sql.js'
export { StoreProjections } from './store-projections.js'
