/** Scale-out: relay $all to NATS JetStream exactly once, and read it back (issue 15). Owned by src/relay/. */
export { startRelay, Relay, type RelayState } from './relay.js'
export type { RelayOptions } from './options.js'
export type { JetStreamStreamOptions } from './jetstream-target.js'
export type { NatsConnectionOptions } from './nats-client.js'
export { RelayHeaders } from './message.js'
export { relayStatus, RELAY_LAG_CAP, type RelayStatus } from './status.js'
export {
  consumeRelay,
  type ConsumeRelayOptions,
  type RelayedEvent,
  type TypedRelayedEvent,
} from './consume.js'
export { RelayError, RelayLeaseLostError } from './errors.js'
