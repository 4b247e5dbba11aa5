/** The web console (issue 16): a page over a store's streams, projections and groups. Owned by src/console/. */
export { startConsole, type ConsoleHandle, type ConsoleOptions } from './start-console.js'
// For the CLI (not re-exported to users).
export { countEvents, listStreams } from './sql.js'
