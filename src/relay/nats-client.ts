import type * as JetStreamModule from '@nats-io/jetstream'
import type * as TransportModule from '@nats-io/transport-node'
import { MissingDependencyError } from '../errors.js'
import type { NatsConnectionOptions } from './contract.js'

/** The two packages of nats.js v3 the relay uses, loaded on first use. */
export interface NatsModules {
  readonly transport: typeof TransportModule
  readonly jetstream: typeof JetStreamModule
}

export type NatsConnection = TransportModule.NatsConnection
export type JetStreamClient = JetStreamModule.JetStreamClient
export type JetStreamManager = JetStreamModule.JetStreamManager
export type MsgHdrs = TransportModule.MsgHdrs
export type StoredMsg = JetStreamModule.StoredMsg
export type JsMsg = JetStreamModule.JsMsg
export type Consumer = JetStreamModule.Consumer

export const NATS_PACKAGES = ['@nats-io/transport-node', '@nats-io/jetstream'] as const

let loading: Promise<NatsModules> | undefined

/**
 * Loads the NATS client. It is an optional peer dependency: a store that never relays never
 * loads it, and an install without it works until a relay starts.
 * @throws MissingDependencyError naming the packages when they are not installed.
 */
export function loadNats(feature = 'The relay'): Promise<NatsModules> {
  loading ??= (async () => {
    try {
      // Names in variables: bundlers leave optional peers alone instead of failing the build.
      const [transport, jetstream] = await Promise.all([
        import(NATS_PACKAGES[0]) as Promise<typeof TransportModule>,
        import(NATS_PACKAGES[1]) as Promise<typeof JetStreamModule>,
      ])
      return { transport, jetstream }
    } catch (error) {
      loading = undefined
      const code = (error as { code?: unknown } | null)?.code
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
        throw new MissingDependencyError(
          NATS_PACKAGES.join(' and '),
          `${feature} needs ${NATS_PACKAGES.join(' and ')}, an optional peer dependency of pg-strata: npm install ${NATS_PACKAGES.join(' ')}`,
          { cause: error },
        )
      }
      throw error
    }
  })()
  return loading
}

/** A connection that reconnects forever (unless told otherwise) and names itself. */
export async function connectNats(
  modules: NatsModules,
  options: NatsConnectionOptions,
  name: string,
): Promise<NatsConnection> {
  const settings: TransportModule.NodeConnectionOptions = {
    name,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: 500,
    // A stack trace captured for every request costs more than the publish itself.
    noAsyncTraces: true,
    ...options,
  }
  return modules.transport.connect(settings)
}
