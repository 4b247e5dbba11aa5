/** Competing-consumer queues over the log (issue 4). Owned by src/consumers/. */
export * from './consumer-group.js'
