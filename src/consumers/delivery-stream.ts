import { Observable } from 'rxjs'
import { InvalidArgumentError } from '../errors.js'
import { ConsumerCore, type Outcome } from './consumer-core.js'
import { DeliveryLeaseLostError } from './errors.js'
import type { GroupRuntime } from './group-runtime.js'
import type { Lease } from './lease.js'
import type { ConsumeSettings } from './options.js'
import { toDeliveryError } from './to-delivery-error.js'
import type { Delivery, NackOptions } from './types.js'

/**
 * The Observable form: each subscription runs a consumer that emits deliveries, at most
 * `concurrency` unsettled at once. Unsubscribing stops it at once: unsettled deliveries are
 * aborted and released for other consumers. The Observable errors only when the consumer
 * cannot run at all (a wrong group definition, a missing schema), and completes when the store
 * closes.
 */
export function deliveryStream<E>(
  runtime: GroupRuntime<E>,
  settings: ConsumeSettings,
): Observable<Delivery<E>> {
  return new Observable<Delivery<E>>((subscriber) => {
    const core: ConsumerCore<E> = new ConsumerCore(runtime, settings, {
      capacity: () => settings.concurrency - core.held,
      deliver: (lease) => {
        lease.started = true
        subscriber.next(toDelivery(core, runtime.name, lease))
      },
    })
    try {
      core.start()
    } catch (error) {
      subscriber.error(error)
      return undefined
    }
    void core.done.then((result) => {
      if (result.error !== undefined) subscriber.error(result.error)
      else subscriber.complete()
    })
    return () => void core.stop({ timeoutMs: 0 })
  })
}

function toDelivery<E>(core: ConsumerCore<E>, group: string, lease: Lease<E>): Delivery<E> {
  const settle = async (outcome: Outcome) => {
    if (!(await core.settle(lease, outcome))) {
      throw new DeliveryLeaseLostError(
        group,
        lease.position,
        lease.state === 'released' ? 'stopped' : 'lost',
      )
    }
  }
  return {
    event: lease.event as E,
    signal: lease.controller.signal,
    attempt: lease.attempt,
    maxAttempts: core.maxAttempts,
    lastError: lease.lastError,
    group,
    consumerId: core.id,
    ack: () => settle({ kind: 'ack' }),
    nack: (options: NackOptions = {}) => {
      const delayMs = options.retryAfterMs
      if (
        delayMs !== undefined &&
        (typeof delayMs !== 'number' || !(delayMs >= 0) || !Number.isFinite(delayMs))
      ) {
        return Promise.reject(
          new InvalidArgumentError('retryAfterMs', delayMs, 'must be a finite number >= 0'),
        )
      }
      return settle({
        kind: 'retry',
        delayMs,
        error: options.error === undefined ? undefined : toDeliveryError(options.error),
      })
    },
    park: (reason: string) => {
      if (typeof reason !== 'string' || reason.length === 0) {
        return Promise.reject(
          new InvalidArgumentError('reason', reason, 'must be a non-empty string'),
        )
      }
      return settle({ kind: 'park', reason, error: undefined })
    },
  }
}
