/** Scale-out: relay $all to NATS JetStream exactly once, and read it back (issue 15). Owned by src/relay/. */
export { startRelay, Relay, type RelayState } from './relay.js'
export type { RelayOptions } from './options.js'
export {
  RelayHeaders,
  type JetStreamStreamOptions,
  type NatsConnectionOptions,
} from './contract.js'
export { relayStatus, RELAY_LAG_CAP, type RelayStatus } from './status.js'
export {
  consumeRelay,
  type ConsumeRelayOptions,
  type RelayedEvent,
  type TypedRelayedEvent,
} from './consume.js'
export { RelayError, RelayLeaseLostError } from './errors.js'
