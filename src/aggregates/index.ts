/** Aggregates, command handling, snapshots and time travel (issue 5). Owned by src/aggregates/. */
export * from './aggregate.js'
