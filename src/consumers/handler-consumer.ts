import { isStrataError } from '../errors.js'
import { ConsumerCore, type Outcome } from './consumer-core.js'
import { DeliveryLeaseLostError } from './errors.js'
import type { GroupRuntime } from './group-runtime.js'
import type { Lease } from './lease.js'
import type { ConsumeSettings } from './options.js'
import { toDeliveryError } from './to-delivery-error.js'
import type { Consumer, ConsumerHandler, DeliveryContext } from './types.js'

/**
 * Starts a consumer that runs `handler` for each delivery, at most `concurrency` at once, with
 * up to `prefetch` deliveries leased ahead. A handler that resolves acks; one that throws
 * retries (or parks on the last attempt); a NonRetryableError parks at once.
 * @throws StoreClosedError when the store is closed.
 */
export function startHandlerConsumer<E>(
  runtime: GroupRuntime<E>,
  handler: ConsumerHandler<E>,
  settings: ConsumeSettings,
): Consumer {
  const waiting: Array<Lease<E>> = []
  // Handlers running, including any whose lease was lost meanwhile: such a handler still holds
  // its slot (it may not honour its signal), so the consumer does not lease work it cannot start.
  let running = 0

  const core: ConsumerCore<E> = new ConsumerCore(runtime, settings, {
    capacity: () =>
      core.prefetch - running - waiting.filter((lease) => lease.state === 'held').length,
    deliver: (lease) => {
      waiting.push(lease)
      pump()
    },
  })

  const pump = () => {
    while (running < settings.concurrency && waiting.length > 0 && core.accepting) {
      const lease = waiting.shift()!
      if (lease.state !== 'held') continue // released (stop) or lost while it waited
      running++
      void run(lease)
    }
  }

  const run = async (lease: Lease<E>) => {
    lease.started = true
    const context: DeliveryContext = {
      // On first use: an AbortSignal costs more to create than the rest of a delivery's
      // bookkeeping, and most handlers never look at it.
      get signal() {
        return lease.controller.signal
      },
      attempt: lease.attempt,
      maxAttempts: core.maxAttempts,
      lastError: lease.lastError,
      group: runtime.displayName,
      consumerId: core.id,
    }
    let outcome: Outcome | undefined
    const telemetry = runtime.store.telemetry
    try {
      if (telemetry.enabled) {
        await telemetry.span(
          'strata.consumer.process',
          {
            'strata.group': runtime.displayName,
            'strata.position': lease.position.toString(),
            'strata.attempt': lease.attempt,
          },
          async () => {
            await handler(lease.event as E, context)
          },
        )
      } else {
        await handler(lease.event as E, context)
      }
      outcome = { kind: 'ack' }
    } catch (error) {
      outcome = outcomeOfError(error)
    } finally {
      if (telemetry.enabled) {
        telemetry.count('strata.consumer.processed', 1, {
          'strata.group': runtime.displayName,
          'strata.outcome': outcome?.kind ?? 'error',
        })
      }
      // The slot is free as soon as the handler is done: the ack goes on in the background.
      running--
      pump()
    }
    if (lease.state === 'released') return // the consumer stopped and gave it back
    const wasLost = lease.state === 'lost'
    try {
      const held = await core.settle(lease, outcome)
      if (!held && !wasLost) {
        runtime.settings.delivery.onError(
          new DeliveryLeaseLostError(runtime.displayName, lease.position, 'lost'),
        )
      }
    } catch (error) {
      runtime.settings.delivery.onError(error)
    }
  }

  core.start()
  return {
    id: core.id,
    group: runtime.displayName,
    get running() {
      return core.running
    },
    stop: (options) => core.stop(options),
    done: core.done,
  }
}

/** What a handler's error asks for: park (NonRetryableError) or retry. */
export function outcomeOfError(error: unknown): Outcome {
  if (isStrataError(error, 'NON_RETRYABLE')) {
    const cause = (error as Error).cause
    return {
      kind: 'park',
      reason: (error as Error).message,
      error: toDeliveryError(cause ?? error),
    }
  }
  const retryAfterMs = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs
  return {
    kind: 'retry',
    delayMs:
      typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0
        ? retryAfterMs
        : undefined,
    error: toDeliveryError(error),
  }
}
